import { execFile } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { createWardenClient, memoryStore, WardenSessionEndedError, type WardenClient } from "@warden/client";
import { freePort } from "@warden/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWardenSystem, type WardenSystem } from "@warden/testing";
import { expectOneLineError, runWarden, runWardenInTerminal, spawnWarden, tempConfigDir, loginAsAdmin } from "./cli.js";

let system: WardenSystem;
let adminDir: Awaited<ReturnType<typeof tempConfigDir>>;
let userDir: Awaited<ReturnType<typeof tempConfigDir>>;
let victim: WardenClient;
const VICTIM = "victim@example.com";
const PLAIN = "plain@example.com";
const PASSWORD = "victim password 1";

/** `warden` as the signed-in admin, against the test server. */
const asAdmin = (...args: string[]) => runWarden(args, { WARDEN_CONFIG_DIR: adminDir.dir, WARDEN_URL: system.url });

beforeAll(async () => {
  system = await startWardenSystem();
  [adminDir, userDir] = await Promise.all([tempConfigDir(), tempConfigDir()]);
  victim = createWardenClient({ url: system.url, store: memoryStore() });
  await victim.signup({ email: VICTIM, password: PASSWORD, deviceName: "victim laptop" });
  await createWardenClient({ url: system.url, store: memoryStore() }).signup({ email: PLAIN, password: PASSWORD });
  const login = await loginAsAdmin(system, adminDir.dir);
  expect(login.stdout).toContain(`signed in to ${system.url} as ${system.admin.email} (admin)`);
});

afterAll(async () => {
  await system?.close();
  await Promise.all([adminDir?.remove(), userDir?.remove()]);
});

describe("warden CLI against a running server", () => {
  it("runs as the package bin and as `pnpm warden` from the repo root", async () => {
    const root = fileURLToPath(new URL("../../..", import.meta.url));
    const run = (cmd: string, args: string[], cwd: string) =>
      new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
        execFile(cmd, args, { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME } }, (error, stdout) =>
          error && typeof error.code !== "number" ? reject(error) : resolve({ code: error ? Number(error.code) : 0, stdout }),
        );
      });
    const [bin, script] = await Promise.all([
      run(process.execPath, [fileURLToPath(new URL("../bin/warden.js", import.meta.url)), "--version"], os.tmpdir()),
      run("pnpm", ["--silent", "warden", "user", "not-an-email"], root),
    ]);
    expect(bin).toMatchObject({ code: 0, stdout: "0.1.0\n" });
    expect(script.code).toBe(1);
  });

  it("whoami prints the signed-in admin, as text and as JSON", async () => {
    const [text, json] = await Promise.all([asAdmin("whoami"), asAdmin("whoami", "--json")]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${system.admin.email} (admin) at ${system.url}`);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ url: system.url, user: { email: system.admin.email, role: "admin" } });
  });

  it("user shows role, lock state and a sessions table; --json gives the same data", async () => {
    const [text, json] = await Promise.all([asAdmin("user", VICTIM), asAdmin("user", "  Victim@Example.com ", "--json")]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/role user\s+not locked/);
    expect(text.stdout).toMatch(/SESSION\s+STATE\s+DEVICE\s+IP\s+LAST SEEN\s+CREATED/);
    expect(text.stdout).toMatch(/active\s+victim laptop\s+127\.0\.0\.1/);
    const found = JSON.parse(json.stdout);
    expect(found.user).toMatchObject({ email: VICTIM, role: "user", locked: false });
    expect(found.sessions).toHaveLength(1);
    expect(found.sessions[0]).toMatchObject({ deviceName: "victim laptop", ip: "127.0.0.1", active: true });
  });

  it("uses colours only on a terminal, and not with NO_COLOR; --wait shows a spinner there", async () => {
    const env = { WARDEN_CONFIG_DIR: adminDir.dir, WARDEN_URL: system.url, NO_COLOR: undefined, TERM: "xterm" };
    const [piped, tty, ttyNoColor] = await Promise.all([
      runWarden(["user", VICTIM], env),
      runWardenInTerminal(["user", VICTIM], env),
      runWardenInTerminal(["user", VICTIM], { ...env, NO_COLOR: "1" }),
    ]);
    expect(piped.code).toBe(0);
    expect(piped.stdout).toContain(VICTIM);
    expect(piped.stdout).not.toContain("\x1b[");
    expect(tty.code).toBe(0);
    expect(tty.stdout).toContain(VICTIM);
    expect(tty.stdout).toContain("\x1b[");
    expect(ttyNoColor.stdout).toContain(VICTIM);
    expect(ttyNoColor.stdout).not.toContain("\x1b[");

    const phone = createWardenClient({ url: system.url, store: memoryStore() });
    const { sessionId } = await phone.login({ email: VICTIM, password: PASSWORD, deviceName: "spare phone" });
    const waited = await runWardenInTerminal(["revoke-session", sessionId, "--reason", "spare", "--wait"], env);
    expect(waited.code).toBe(0);
    expect(waited.stdout).toMatch(/✔.*applied in \d+ ms/);
  });

  it("exits 3 for a user that does not exist and 1 for an email that is not one", async () => {
    const [missing, missingId, bad] = await Promise.all([
      asAdmin("user", "nobody@example.com", "--json"),
      asAdmin("user", randomUUID()),
      asAdmin("user", "not-an-email"),
    ]);
    expectOneLineError(missing, 3, /^warden: no such user\n$/);
    expect(missing.stdout).toBe("");
    expectOneLineError(missingId, 3, /^warden: no such user\n$/);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("user must be an email address or a user id (UUID): must be an email address");
  });

  it("exits 4 when the signed-in account is not an admin", async () => {
    const env = { WARDEN_CONFIG_DIR: userDir.dir, WARDEN_URL: system.url, WARDEN_PASSWORD: PASSWORD };
    const login = await runWarden(["login", "--email", PLAIN], env);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toContain("not an admin");
    const [find, audit] = await Promise.all([runWarden(["user", VICTIM, "--json"], env), runWarden(["audit"], env)]);
    expectOneLineError(find, 4, /forbidden/);
    expectOneLineError(audit, 4, /forbidden/);
  });

  it("exits 5 with one clear line when the server is down", async () => {
    const port = await freePort();
    const result = await runWarden(["user", VICTIM, "--json", "--url", `http://127.0.0.1:${port}`], {
      WARDEN_CONFIG_DIR: adminDir.dir,
    });
    expectOneLineError(result, 5, new RegExp(`cannot reach Warden at http://127\\.0\\.0\\.1:${port}`));
  });

  it("exits 2 when not signed in and 2 for a wrong password", async () => {
    const empty = await tempConfigDir();
    try {
      const [whoami, login] = await Promise.all([
        runWarden(["whoami"], { WARDEN_CONFIG_DIR: empty.dir, WARDEN_URL: system.url }),
        runWarden(["login", "--email", system.admin.email], {
          WARDEN_CONFIG_DIR: empty.dir,
          WARDEN_URL: system.url,
          WARDEN_PASSWORD: "wrong password",
        }),
      ]);
      expectOneLineError(whoami, 2, /not signed in; run `warden login`/);
      expectOneLineError(login, 2, /wrong email or password/);
    } finally {
      await empty.remove();
    }
  });

  it("refuses a revocation without --reason (exit 1) and a malformed session id (exit 1)", async () => {
    const [noReason, badId] = await Promise.all([
      asAdmin("revoke-user", VICTIM),
      asAdmin("revoke-session", "123", "--reason", "x"),
    ]);
    expect(noReason.code).toBe(1);
    expect(noReason.stderr).toContain("--reason");
    expect(badId.code).toBe(1);
    expect(badId.stderr).toContain("must be a UUID");
  });

  it("revoke-session prints the event id and waits until applied; an unknown session id exits 3", async () => {
    const other = createWardenClient({ url: system.url, store: memoryStore() });
    const { sessionId } = await other.login({ email: VICTIM, password: PASSWORD, deviceName: "victim phone" });
    const revoked = await asAdmin("revoke-session", sessionId, "--reason", "lost phone", "--wait");
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`revoked session ${sessionId}; event [0-9a-f-]{36}`));
    expect(revoked.stdout).toMatch(/applied in \d+ ms/);
    await expect(other.api.auth.me.query()).rejects.toBeInstanceOf(WardenSessionEndedError);
    const unknown = await asAdmin("revoke-session", randomUUID(), "--reason", "lost phone", "--json");
    expectOneLineError(unknown, 3, /^warden: /);
  });

  it("revoke-user --lock --wait applies the revocation, ends the user's session, and audit --follow shows it", async () => {
    const follow = startFollow();
    try {
      await follow.firstLine; // the follower has read the log once
      const result = await asAdmin("revoke-user", VICTIM, "--reason", "credential stuffing", "--lock", "--wait", "--json");
      expect(result.code, result.stderr).toBe(0);
      const out = JSON.parse(result.stdout);
      expect(out).toMatchObject({ eventId: expect.stringMatching(/^[0-9a-f-]{36}$/), locked: true, status: "applied" });
      expect(out.waitedMs).toBeGreaterThanOrEqual(0);

      // The user's own client is told its session is over.
      const ended = new Promise((resolve) => victim.onSessionEnded(resolve));
      await expect(victim.api.auth.me.query()).rejects.toBeInstanceOf(WardenSessionEndedError);
      await expect(ended).resolves.toMatchObject({ reason: expect.any(String) });

      const user = JSON.parse((await asAdmin("user", VICTIM, "--json")).stdout);
      expect(user.user.locked).toBe(true);
      expect(user.sessions.every((s: { active: boolean }) => !s.active)).toBe(true);

      const followed = await follow.until((line) => line.includes(out.eventId));
      expect(JSON.parse(followed)).toMatchObject({ eventId: out.eventId, type: "user.locked", reason: "credential stuffing" });

      const audit = await asAdmin("audit", "--json", "--limit", "5");
      expect(audit.code).toBe(0);
      expect(JSON.parse(audit.stdout).items[0]).toMatchObject({
        eventId: out.eventId,
        type: "user.locked",
        userId: user.user.id,
      });
      const text = await asAdmin("audit", "--limit", "5");
      expect(text.stdout).toMatch(/TIME\s+TYPE\s+USER/);
      expect(text.stdout).toContain("credential stuffing");
    } finally {
      follow.stop();
    }
  });

  it("admin create bootstraps an admin straight in the database, who can sign in until their session is revoked (then exit 2)", async () => {
    const dir = await tempConfigDir();
    try {
      const created = await runWarden(["admin", "create", "second-admin@example.com"], {
        DATABASE_URL: system.database.url,
        WARDEN_PASSWORD: "second admin password",
        WARDEN_CONFIG_DIR: dir.dir,
      });
      expect(created.code, created.stderr).toBe(0);
      expect(created.stdout).toMatch(/admin second-admin@example.com ready/);
      const env = { WARDEN_CONFIG_DIR: dir.dir, WARDEN_URL: system.url, WARDEN_PASSWORD: "second admin password" };
      expect((await runWarden(["login", "--email", "second-admin@example.com"], env)).code).toBe(0);
      const me = JSON.parse((await runWarden(["whoami", "--json"], env)).stdout);
      expect(me.user).toMatchObject({ email: "second-admin@example.com", role: "admin" });

      // Once that session is revoked, its commands exit 2 and say so.
      expect((await asAdmin("revoke-user", "second-admin@example.com", "--reason", "rotation")).code).toBe(0);
      const ended = await runWarden(["whoami"], env);
      expectOneLineError(ended, 2, /session ended \(SESSION_REVOKED\); run `warden login`/);
      const noDb = await runWarden(["admin", "create", "x@example.com"], { WARDEN_PASSWORD: "long enough" });
      expectOneLineError(noDb, 1, /DATABASE_URL/);
    } finally {
      await dir.remove();
    }
  });

  it("admin create refuses an email that has an account; --promote-existing revokes its sessions (a squatter's refresh token dies), then makes it admin", async () => {
    // The attack: someone signs up the address the operator will bootstrap, and keeps the refresh token.
    const boss = "boss@corp.test";
    const squatter = await trpc("auth.signup", { email: boss, password: "squatter password" });
    expect(squatter.status).toBe(200);
    let { accessToken, refreshToken } = squatter.data as { accessToken: string; refreshToken: string };
    const userId = (squatter.data as { user: { id: string } }).user.id;
    const env = { DATABASE_URL: system.database.url, WARDEN_PASSWORD: "bootstrap password" };

    const refused = await runWarden(["admin", "create", " Boss@Corp.test"], env);
    expectOneLineError(refused, 1, /an account with email boss@corp\.test already exists.*--promote-existing/);
    // Nothing changed: the account is still a user whose session works.
    const still = await trpc("auth.refresh", { refreshToken });
    expect(still.status).toBe(200);
    ({ accessToken, refreshToken } = still.data as { accessToken: string; refreshToken: string });
    expect((await findAsAdmin(boss)).user).toMatchObject({ role: "user", locked: false });

    const shortPassword = await runWarden(["admin", "create", "other@corp.test"], { ...env, WARDEN_PASSWORD: "short" });
    expectOneLineError(shortPassword, 1, /password must be at least 8 characters/);

    const promoted = await runWarden(["admin", "create", boss, "--promote-existing"], env);
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(promoted.stdout).toMatch(/boss@corp\.test is now an admin.*1 session revoked/s);

    // The squatter's refresh token is dead at once; the access token is refused once the revocation is applied.
    expect(await trpc("auth.refresh", { refreshToken })).toMatchObject({ status: 401, reason: "REFRESH_TOKEN_REVOKED" });
    const userRevoked = await waitFor(async () => {
      const { items } = await (await adminClient()).api.admin.audit.query({ limit: 200 });
      const mine = items.filter((i) => i.userId === userId && i.type === "user.revoked");
      return mine.length > 0 ? mine : undefined;
    });
    expect(userRevoked).toHaveLength(1);
    expect(userRevoked[0]).toMatchObject({ sessionsRevoked: 1, actor: { type: "system" } });
    // The promotion is audited as a role change too.
    const roleChanged = await waitFor(async () => {
      const { items } = await (await adminClient()).api.admin.audit.query({ userId, type: "user.role_changed" });
      return items.length > 0 ? items : undefined;
    });
    expect(roleChanged).toEqual([
      expect.objectContaining({
        actor: expect.objectContaining({ type: "system" }),
        reason: "promoted to admin by `warden admin create`",
      }),
    ]);
    expect(
      await waitFor(async () => {
        const me = await trpc("auth.me", undefined, accessToken);
        return me.status === 401 ? me.reason : undefined;
      }),
    ).toBe("SESSION_REVOKED");

    // The squatter's password no longer signs in; the operator's does, as admin.
    expect(await trpc("auth.login", { email: boss, password: "squatter password" })).toMatchObject({
      status: 401,
      reason: "INVALID_CREDENTIALS",
    });
    const login = await trpc("auth.login", { email: boss, password: "bootstrap password" });
    expect(login.data).toMatchObject({ user: { email: boss, role: "admin" } });
  });

  it("password change keeps the CLI's session, signs the account's other sessions out and says how many", async () => {
    const email = "changer@example.com";
    const newPassword = "a brand new passphrase";
    const laptop = createWardenClient({ url: system.url, store: memoryStore() });
    await laptop.signup({ email, password: PASSWORD, deviceName: "laptop" });
    const phone = createWardenClient({ url: system.url, store: memoryStore() });
    await phone.login({ email, password: PASSWORD, deviceName: "phone" });
    const dir = await tempConfigDir();
    try {
      const env = { WARDEN_CONFIG_DIR: dir.dir, WARDEN_URL: system.url };
      expect((await runWarden(["login", "--email", email], { ...env, WARDEN_PASSWORD: PASSWORD })).code).toBe(0);
      const change = (passwords: Record<string, string>, ...args: string[]) =>
        runWarden(["password", "change", ...args], { ...env, ...passwords });

      const [wrong, short, noPrompt] = await Promise.all([
        change({ WARDEN_PASSWORD: "not the password", WARDEN_NEW_PASSWORD: newPassword }),
        change({ WARDEN_PASSWORD: PASSWORD, WARDEN_NEW_PASSWORD: "short" }),
        change({}),
      ]);
      expectOneLineError(wrong, 2, /^warden: the current password is wrong\n$/);
      expectOneLineError(short, 1, /^warden: new password must be at least 8 characters\n$/);
      expectOneLineError(noPrompt, 1, /current password \(or WARDEN_PASSWORD\) is required \(no terminal to prompt on\)/);
      await expect(phone.api.auth.me.query()).resolves.toMatchObject({ user: { email } });

      const changed = await change({ WARDEN_PASSWORD: PASSWORD, WARDEN_NEW_PASSWORD: newPassword });
      expect(changed.code, changed.stderr).toBe(0);
      expect(changed.stdout).toBe("password changed; 2 other sessions signed out (this one stays signed in)\n");
      for (const output of [wrong, short, changed]) {
        expect(output.stdout + output.stderr).not.toContain(PASSWORD);
        expect(output.stdout + output.stderr).not.toContain(newPassword);
      }
      await expect(laptop.api.auth.me.query()).rejects.toBeInstanceOf(WardenSessionEndedError);
      await expect(phone.api.auth.me.query()).rejects.toBeInstanceOf(WardenSessionEndedError);
      const whoami = await runWarden(["whoami"], env);
      expect(whoami.code, whoami.stderr).toBe(0);
      expect(whoami.stdout).toContain(`${email} (user)`);
      expect(await trpc("auth.login", { email, password: PASSWORD })).toMatchObject({
        status: 401,
        reason: "INVALID_CREDENTIALS",
      });

      // On a terminal it asks for the current password, then the new one twice; --json says the same.
      const prompted = await runWardenInTerminal(["password", "change", "--json"], env, [
        { prompt: "Current password", answer: newPassword },
        { prompt: "New password", answer: PASSWORD },
        { prompt: "Again", answer: PASSWORD },
      ]);
      expect(prompted.code, prompted.stdout).toBe(0);
      expect(prompted.stdout).toMatch(/"revokedSessions": 0/);
      expect(prompted.stdout).not.toContain(PASSWORD);
      expect(prompted.stdout).not.toContain(newPassword);
      expect((await trpc("auth.login", { email, password: PASSWORD })).status).toBe(200);
    } finally {
      await dir.remove();
    }
  });
});

let signedInAdmin: Promise<WardenClient> | undefined;
/** The bootstrap admin as an in-process client, for checks that need no CLI process. */
function adminClient(): Promise<WardenClient> {
  return (signedInAdmin ??= (async () => {
    const client = createWardenClient({ url: system.url, store: memoryStore() });
    await client.login({ email: system.admin.email, password: system.admin.password });
    return client;
  })());
}
async function findAsAdmin(email: string) {
  return (await adminClient()).api.admin.users.find.query({ email });
}

/** One tRPC call over plain HTTP, as any client sends it (no automatic renewal in the way). */
async function trpc(
  path: string,
  input: unknown,
  accessToken?: string,
): Promise<{ status: number; data?: unknown; reason?: string }> {
  const headers: Record<string, string> = accessToken ? { authorization: `Bearer ${accessToken}` } : {};
  const res =
    input === undefined
      ? await fetch(`${system.url}/trpc/${path}`, { headers })
      : await fetch(`${system.url}/trpc/${path}`, {
          method: "POST",
          headers: { ...headers, "content-type": "application/json" },
          body: JSON.stringify(input),
        });
  const body = (await res.json()) as { result?: { data: unknown }; error?: { data?: { reason?: string } } };
  return { status: res.status, data: body.result?.data, reason: body.error?.data?.reason };
}

/** Polls until `check` gives a value; the deadline is generous (the relay and the worker run on a busy machine). */
async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("condition not met before the deadline");
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `warden audit --follow --json` in the background; lines are read as they come. */
function startFollow() {
  const args = ["audit", "--follow", "--json", "--interval", "1"];
  const lines: string[] = [];
  const waiters: { test: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  const child = spawnWarden(args, { WARDEN_CONFIG_DIR: adminDir.dir, WARDEN_URL: system.url });
  let buffer = "";
  child.stdout.on("data", (d: Buffer) => {
    buffer += d.toString();
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (!w.test(line)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const until = (test: (l: string) => boolean) =>
    new Promise<string>((resolve) => {
      const found = lines.find(test);
      if (found) resolve(found);
      else waiters.push({ test, resolve });
    });
  return { firstLine: until(() => true), until, stop: () => child.kill("SIGINT") };
}
