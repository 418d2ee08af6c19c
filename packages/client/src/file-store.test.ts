import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { outboxEvents, sessions } from "@warden/db";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWardenClient, fileStore } from "./node.js";
import { sessionOf, startCountingServer, type CountingServer } from "@warden/testing";

const run = promisify(execFile);
const worker = fileURLToPath(new URL("../test/file-store-worker.ts", import.meta.url));
let s: CountingServer;
let dir: string;

beforeAll(async () => {
  // Short-lived access tokens (real time: the workers are other processes) and no reuse grace:
  // any refresh token presented twice is theft and revokes the session.
  s = await startCountingServer({ settings: { accessTokenTtlMs: 2_000, refreshReuseGraceMs: 0 } });
  dir = await mkdtemp(path.join(os.tmpdir(), "warden-client-"));
});
afterAll(async () => {
  await s?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("file store", () => {
  it("keeps the tokens in a file only its owner can read", async () => {
    const file = path.join(dir, "nested", "session.json");
    const warden = createWardenClient({ url: s.url, store: fileStore(file) });
    const signed = await sessionOf(
      warden.signup({ email: `file-${randomUUID()}@example.com`, password: "correct horse battery" }),
    );
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, "utf8")).refreshToken).toBe(signed.refreshToken);
    await warden.logout();
    await expect(stat(file)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("two processes sharing one file store renew without tripping theft detection", async () => {
    const file = path.join(dir, "shared.json");
    const warden = createWardenClient({ url: s.url, store: fileStore(file) });
    const signed = await sessionOf(
      warden.signup({ email: `shared-${randomUUID()}@example.com`, password: "correct horse battery" }),
    );
    const refreshesBefore = s.requests("auth.refresh");

    const runWorker = () =>
      run(process.execPath, ["--conditions=development", "--import", "tsx", worker, s.url, file, "4"], { timeout: 60_000 }).then(
        ({ stdout }) =>
          JSON.parse(stdout.trim().split("\n").pop()!) as { calls: number; tokens: number; ended?: string; error?: string },
      );
    const results = await Promise.all([runWorker(), runWorker()]);

    for (const result of results) {
      expect(result.error).toBeUndefined();
      expect(result.ended).toBeUndefined();
      expect(result.tokens).toBeGreaterThanOrEqual(4);
    }
    // Both renewed, through the file: the session is alive and no theft was recorded.
    const refreshes = s.requests("auth.refresh") - refreshesBefore;
    expect(refreshes).toBeGreaterThanOrEqual(3);
    const [session] = await s.t.database.db.select().from(sessions).where(eq(sessions.id, signed.sessionId));
    expect(session?.revokedAt).toBeNull();
    const reused = await s.t.database.db.select().from(outboxEvents).where(eq(outboxEvents.type, "refresh_token.reused"));
    expect(reused).toEqual([]);
    // The parent, reading the same file, carries on with the workers' latest tokens.
    expect((await warden.api.auth.me.query()).user.id).toBe(signed.user.id);
  });
});
