import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { WardenSystem } from "@warden/testing";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { expect } from "vitest";

/**
 * What every browser test of the console shares: the console built as it ships, the system serving
 * it, one headless Chromium with one page, and the layout check with its screenshots. One of each
 * per test file.
 */
const CHROMIUM = "/usr/bin/chromium";
export const CONSOLE_DIR = fileURLToPath(new URL("..", import.meta.url));
const ARTIFACTS = fileURLToPath(new URL("../../../test-artifacts/console", import.meta.url));
const VIEWPORTS = { phone: { width: 390, height: 844 }, desktop: { width: 1280, height: 800 } } as const;
/** Screenshots stop here: enough to see a page's layout, small enough to take in seconds. */
const SHOT_MAX_HEIGHT = 6_000;

/** `vite build` (production mode, as `pnpm --filter @warden/console build`) into a directory of this run's own. */
function buildConsole(outDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["node_modules/vite/bin/vite.js", "build", "--outDir", outDir, "--logLevel", "warn"], {
      cwd: CONSOLE_DIR,
      env: { ...process.env, NODE_ENV: "production" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`vite build failed (${code}): ${stderr}`))));
  });
}

/** What sticks out of the window: the page's own width, and any element (header, table cell, id) past an edge. */
function overflow() {
  const outside = (root: Element) =>
    [...root.querySelectorAll("*")]
      .filter((el) => {
        const box = el.getBoundingClientRect();
        return box.width > 0 && (box.left < -0.5 || box.right > window.innerWidth + 0.5);
      })
      .map((el) => `${el.tagName.toLowerCase()}${el.className ? `.${String(el.className).replace(/ /g, ".")}` : ""}`);
  // A table laid out as a table: each header cell above its column (a table that another rule made
  // a grid or a block shows its header apart from the rows). On phones the header is hidden (1 px): cards.
  const misaligned = [...document.querySelectorAll("table")]
    .filter((table) => table.tHead && table.tHead.getBoundingClientRect().height > 1)
    .flatMap((table) => {
      const heads = [...(table.tHead?.rows[0]?.cells ?? [])];
      const cells = [...(table.tBodies[0]?.rows[0]?.cells ?? [])];
      if (cells.length !== heads.length) return [];
      return heads
        .filter((th, i) => Math.abs(th.getBoundingClientRect().left - cells[i]!.getBoundingClientRect().left) > 0.5)
        .map((th) => `${table.dataset.testid ?? "table"}: ${th.textContent}`);
    });
  const header = document.querySelector("header");
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    outside: outside(document.body),
    misaligned,
    header: header && { scrollWidth: header.scrollWidth, clientWidth: header.clientWidth, outside: outside(header) },
  };
}

export interface ConsoleBrowser {
  system: WardenSystem;
  browser: BrowserContext;
  page: Page;
  /** A full-page screenshot, `test-artifacts/console/<name>.png`. */
  shot(name: string): Promise<void>;
  /**
   * The page as it is now, at phone and desktop size: nothing wider than the window (no sideways
   * scroll, the header's contents all inside it), table headers above their columns, and a
   * screenshot of each (`<name>-phone.png`, ...).
   * Ends at the desktop size.
   */
  fitsPhoneAndDesktop(name: string): Promise<void>;
  /** Phone or desktop size from now on. */
  resize(size: keyof typeof VIEWPORTS): Promise<void>;
  close(): Promise<void>;
}

/** Builds the console, starts the system (given the build's directory) and Chromium. */
export async function startConsoleBrowser(startSystem: (consoleDir: string) => Promise<WardenSystem>): Promise<ConsoleBrowser> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), "warden-console-"));
  const dist = path.join(tmp, "dist");
  await Promise.all([buildConsole(dist), mkdir(ARTIFACTS, { recursive: true })]);
  const system = await startSystem(dist);
  const browser = await chromium.launchPersistentContext(path.join(tmp, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: VIEWPORTS.desktop,
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(15_000);
  // The whole page, up to SHOT_MAX_HEIGHT: a page of a hundred audit rows at phone size is tens of
  // thousands of pixels tall, and encoding that on a loaded machine can outlast any timeout.
  const shot = async (name: string) => {
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    const width = page.viewportSize()?.width ?? VIEWPORTS.desktop.width;
    await page.screenshot({
      path: path.join(ARTIFACTS, `${name}.png`),
      fullPage: true,
      clip: { x: 0, y: 0, width, height: Math.min(height, SHOT_MAX_HEIGHT) },
      timeout: 60_000,
    });
  };
  return {
    system,
    browser,
    page,
    shot,
    resize: (size) => page.setViewportSize(VIEWPORTS[size]),
    async fitsPhoneAndDesktop(name) {
      for (const [size, viewport] of Object.entries(VIEWPORTS)) {
        await page.setViewportSize(viewport);
        const layout = await page.evaluate(overflow);
        expect(layout.scrollWidth, `${name} at ${size}`).toBeLessThanOrEqual(layout.innerWidth);
        expect(layout.outside, `${name} at ${size}`).toEqual([]);
        expect(layout.misaligned, `${name}'s tables at ${size}`).toEqual([]);
        if (layout.header) {
          expect(layout.header.scrollWidth, `${name}'s header at ${size}`).toBeLessThanOrEqual(layout.header.clientWidth);
          expect(layout.header.outside, `${name}'s header at ${size}`).toEqual([]);
        }
        await shot(`${name}-${size}`);
      }
    },
    async close() {
      await browser.close();
      await system.close();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}
