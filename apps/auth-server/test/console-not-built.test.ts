import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startWardenSystem, type WardenSystem } from "@warden/testing";
import { afterAll, beforeAll, expect, it } from "vitest";

/** CONSOLE_DIR names a directory with no build in it: what `pnpm start` gives before the console is built. */
const empty = mkdtempSync(path.join(os.tmpdir(), "warden-console-unbuilt-"));
let system: WardenSystem;

beforeAll(async () => {
  system = await startWardenSystem({ consoleDir: empty });
});
afterAll(async () => {
  await system?.close();
  rmSync(empty, { recursive: true, force: true });
});

it("an unbuilt console answers /console/ with a page saying how to build it, not a JSON 404", async () => {
  for (const at of ["/console/", "/console/users/42", "/console"]) {
    const res = await fetch(`${system.url}${at}`);
    expect(res.status, at).toBe(404);
    expect(res.headers.get("content-type"), at).toBe("text/html; charset=utf-8");
    const page = await res.text();
    expect(page, at).toContain("The Warden admin console is not built");
    expect(page, at).toContain("pnpm --filter @warden/console build");
    expect(page, at).toContain(empty);
  }
  // The API is unaffected.
  expect((await fetch(`${system.url}/trpc/health`)).status).toBe(200);
});
