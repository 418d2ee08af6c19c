import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startWardenSystem, type WardenSystem } from "@warden/testing";
import { createWardenClient, memoryStore, WardenSessionEndedError, type WardenClient } from "@warden/client";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";

const CHROMIUM = "/usr/bin/chromium";
const CONSOLE_DIR = fileURLToPath(new URL("..", import.meta.url));
const ARTIFACTS = fileURLToPath(new URL("../../../test-artifacts/console", import.meta.url));
const VICTIM = { email: "victim@example.com", password: "victim password 1" };

let system: WardenSystem;
let tmp: string;
let browser: BrowserContext;
let page: Page;
let victim: WardenClient;
let victimPhone: WardenClient;

/** `vite build` into a directory of this run's own; the auth server then serves it at /console. */
function buildConsole(outDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["node_modules/vite/bin/vite.js", "build", "--outDir", outDir, "--logLevel", "warn"], {
      cwd: CONSOLE_DIR,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`vite build failed (${code}): ${stderr}`))));
  });
}

const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

const VIEWPORTS = { phone: { width: 390, height: 844 }, desktop: { width: 1280, height: 800 } } as const;

/** What sticks out of the window: the page's own width, and any element (header, table cell, id) past an edge. */
function overflow() {
  const outside = (root: Element) =>
    [...root.querySelectorAll("*")]
      .filter((el) => {
        const box = el.getBoundingClientRect();
        return box.width > 0 && (box.left < -0.5 || box.right > window.innerWidth + 0.5);
      })
      .map((el) => `${el.tagName.toLowerCase()}${el.className ? `.${String(el.className).replace(/ /g, ".")}` : ""}`);
  const header = document.querySelector("header");
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    outside: outside(document.body),
    header: header && { scrollWidth: header.scrollWidth, clientWidth: header.clientWidth, outside: outside(header) },
  };
}

/**
 * The page as it is now, at phone and desktop size: nothing wider than the window (no sideways
 * scroll, the header's contents all inside it), and a screenshot of each (`<name>-phone.png`, ...).
 * Ends at the desktop size.
 */
async function fitsPhoneAndDesktop(name: string): Promise<void> {
  for (const [size, viewport] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(viewport);
    const layout = await page.evaluate(overflow);
    expect(layout.scrollWidth, `${name} at ${size}`).toBeLessThanOrEqual(layout.innerWidth);
    expect(layout.outside, `${name} at ${size}`).toEqual([]);
    if (layout.header) {
      expect(layout.header.scrollWidth, `${name}'s header at ${size}`).toBeLessThanOrEqual(layout.header.clientWidth);
      expect(layout.header.outside, `${name}'s header at ${size}`).toEqual([]);
    }
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${size}.png`), fullPage: true });
  }
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "warden-console-"));
  const dist = path.join(tmp, "dist");
  await Promise.all([buildConsole(dist), mkdir(ARTIFACTS, { recursive: true })]);
  system = await startWardenSystem({ consoleDir: dist });
  victim = createWardenClient({ url: system.url, store: memoryStore() });
  await victim.signup({ ...VICTIM, deviceName: "victim laptop" });
  victimPhone = createWardenClient({ url: system.url, store: memoryStore() });
  await victimPhone.login({ ...VICTIM, deviceName: "victim phone" });
  browser = await chromium.launchPersistentContext(path.join(tmp, "profile"), {
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
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(15_000);
});

afterAll(async () => {
  await browser?.close();
  await system?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

it("an admin signs in, finds a user, revokes a session and then the account with a lock, watches pending turn applied, and the user's client loses its session", async () => {
  // Sign in (cookie mode: the refresh token is an httpOnly cookie the page cannot read).
  await page.goto(`${system.url}/console/`);
  await page.getByRole("form", { name: "Sign in" }).waitFor();
  await page.getByLabel("Email").fill(system.admin.email);
  await page.getByLabel("Password").fill("wrong password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").textContent()).resolves.toContain("Wrong email or password");
  await fitsPhoneAndDesktop("01-login");
  // The page's icon, served by the auth server beside the build.
  const icon = await page.locator('link[rel="icon"]').getAttribute("href");
  expect(icon).toBe("/console/favicon.svg");
  const iconResponse = await page.request.get(`${system.url}${icon}`);
  expect(iconResponse.status()).toBe(200);
  expect(iconResponse.headers()["content-type"]).toMatch(/^image\/svg\+xml/);
  expect(await iconResponse.text()).toContain("<svg");
  await page.getByLabel("Password").fill(system.admin.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("whoami").textContent()).resolves.toBe(system.admin.email);
  const refreshCookie = (await browser.cookies(`${system.url}/trpc`)).find((c) => c.name === "warden-refresh");
  expect(refreshCookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/trpc" });
  expect(await page.evaluate(() => document.cookie)).not.toContain("warden-refresh");

  // A reload resumes the session from the cookie.
  await page.reload();
  await expect(page.getByTestId("whoami").textContent()).resolves.toBe(system.admin.email);

  // Find the user: sessions with device, IP, last seen.
  await page.getByLabel("Find a user by email").fill("nobody@example.com");
  await page.getByRole("button", { name: "Find user" }).click();
  await expect(page.getByRole("alert").textContent()).resolves.toContain("No user with that email");
  await page.getByLabel("Find a user by email").fill(VICTIM.email);
  await page.getByRole("button", { name: "Find user" }).click();
  const laptop = page.getByTestId("sessions").locator("tbody tr", { hasText: "victim laptop" });
  const phone = page.getByTestId("sessions").locator("tbody tr", { hasText: "victim phone" });
  await expect(laptop.textContent()).resolves.toMatch(/victim laptop127\.0\.0\.1\d+s ago.*active/);
  await expect(phone.locator(".state").textContent()).resolves.toBe("active");
  await expect(page.getByTestId("lock-state").textContent()).resolves.toBe("not locked");
  await fitsPhoneAndDesktop("02-user");

  // Revoke one session (the phone) after a confirmation; it is applied and that client is out.
  await phone.getByRole("button", { name: "Revoke" }).click();
  await page.getByRole("dialog").getByLabel("Reason").fill("lost phone");
  await page.getByRole("dialog").getByRole("button", { name: "Revoke session" }).click();
  await page.locator("[data-testid=revocation-status][data-state=applied]").waitFor();
  await expect(phone.locator(".state").textContent()).resolves.toBe("revoked");
  await expect(laptop.locator(".state").textContent()).resolves.toBe("active");
  await expect(victimPhone.api.auth.me.query()).rejects.toBeInstanceOf(WardenSessionEndedError);
  await expect(victim.api.auth.me.query()).resolves.toMatchObject({ user: { email: VICTIM.email } });

  // Revoke the whole account, with a reason and a lock, after a confirmation. The worker is
  // stopped first, so the console shows the event pending until the worker is back and applies it.
  await system.stopWorker();
  await page.getByRole("button", { name: "Revoke all sessions…" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Reason").fill("credential stuffing");
  await dialog.getByLabel("Also lock the account").check();
  await fitsPhoneAndDesktop("03-confirm");
  await dialog.getByRole("button", { name: "Revoke all sessions" }).click();

  const status = page.getByTestId("revocation-status").filter({ hasText: "All sessions of victim@example.com (account locked)" });
  await status.and(page.locator("[data-state=pending]")).waitFor();
  await shot("04-pending");
  await system.startWorker();
  await status.and(page.locator("[data-state=applied]")).waitFor();
  await expect(status.textContent()).resolves.toMatch(/applied in \d+ ms/);
  await expect(page.getByTestId("lock-state").textContent()).resolves.toBe("locked");
  await expect(laptop.locator(".state").textContent()).resolves.toBe("revoked");
  await shot("05-applied");
  const eventId = (await status.locator("code").textContent()) ?? "";
  expect(eventId).toMatch(/^[0-9a-f-]{36}$/);

  // The user's own client is told its session is over, and cannot sign in again (locked).
  const ended = new Promise<{ reason: string }>((resolve) => victim.onSessionEnded(resolve));
  await expect(victim.api.auth.me.query()).rejects.toBeInstanceOf(WardenSessionEndedError);
  await expect(ended).resolves.toMatchObject({ reason: expect.stringMatching(/SESSION_REVOKED|REFRESH_TOKEN_REVOKED/) });
  await expect(createWardenClient({ url: system.url, store: memoryStore() }).login(VICTIM)).rejects.toMatchObject({
    reason: "ACCOUNT_LOCKED",
  });

  // The audit view lists the applied revocation.
  await page.getByTestId("tab-audit").click();
  const auditRow = page.locator(`[data-event-id="${eventId}"]`);
  await expect(auditRow.textContent()).resolves.toMatch(/user\.revoked.*credential stuffing/);
  await fitsPhoneAndDesktop("06-audit");
});

it("the auth server answers the console's own pages (the emailed links) with its index.html, and a missing file with a 404", async () => {
  const index = await (await fetch(`${system.url}/console/`)).text();
  for (const page of ["/console/reset-password", "/console/verify-email", "/console/verify-email?from=mail"]) {
    const res = await fetch(`${system.url}${page}`);
    expect(res.status, page).toBe(200);
    expect(res.headers.get("content-type"), page).toBe("text/html; charset=utf-8");
    expect(await res.text(), page).toBe(index);
  }
  const missing = await fetch(`${system.url}/console/assets/no-such-file.js`);
  expect(missing.status).toBe(404);
  expect(((await missing.json()) as { error: { data: { reason: string } } }).error.data.reason).toBe("NOT_FOUND");
});

it("the Vite dev server serves the console and proxies /trpc to the auth server (same origin for the cookie)", async () => {
  const { createServer } = await import("vite");
  process.env.WARDEN_URL = system.url; // read by env.ts (vite.config.ts) for the proxy target
  const dev = await createServer({
    root: CONSOLE_DIR,
    configFile: path.join(CONSOLE_DIR, "vite.config.ts"),
    server: { port: 0 },
    logLevel: "silent",
  });
  try {
    await dev.listen();
    const address = dev.httpServer?.address();
    if (!address || typeof address === "string") throw new Error("dev server has no port");
    const base = `http://127.0.0.1:${address.port}`;
    const html = await fetch(`${base}/console/`);
    expect(html.status).toBe(200);
    expect(await html.text()).toContain('<div id="root">');
    const login = await fetch(`${base}/trpc/auth.login`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-warden-cookie": "1" },
      body: JSON.stringify({ email: system.admin.email, password: system.admin.password }),
    });
    expect(login.status).toBe(200);
    expect(login.headers.get("set-cookie")).toMatch(/warden-refresh=.*HttpOnly.*SameSite=Strict/i);
  } finally {
    await dev.close();
    delete process.env.WARDEN_URL;
  }
});
