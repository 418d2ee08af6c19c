import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@warden/db";
import { DEFAULT_RATE_LIMITS } from "@warden/server";
import { startWebhookReceiver } from "@warden/testing";
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const home = mkdtempSync(path.join(os.tmpdir(), "warden-start-"));
let child: ChildProcess | undefined;

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child!.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const keys = await redis.keys(`{warden-t-start-${process.pid}}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  rmSync(home, { recursive: true, force: true });
});

async function waitFor(url: string, timeoutMs: number): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fetch(url);
    } catch (error) {
      if (Date.now() > deadline || child?.exitCode !== null) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

it("`pnpm start` with no DATABASE_URL brings up a working server on an embedded PostgreSQL, and the admin worker beside it", async () => {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    WARDEN_HOME: home,
    // Every request is logged: its output is not a terminal, so as JSON.
    LOG_LEVEL: "info",
    // Its own queue prefix: other test files share this Redis.
    QUEUE_PREFIX: `{warden-t-start-${process.pid}}`,
    WARDEN_ADMIN_EMAIL: "admin@example.com",
    WARDEN_ADMIN_PASSWORD: "admin password 1",
  };
  delete env.DATABASE_URL;
  child = spawn("pnpm", ["start"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  let stdout = "";
  child.stdout!.on("data", (d) => {
    output += d;
    stdout += d;
  });
  child.stderr!.on("data", (d) => (output += d));

  const health = await waitFor(`http://127.0.0.1:${port}/trpc/health`, 60_000).catch((error) => {
    throw new Error(`server did not come up: ${error}\n${output}`);
  });
  expect(await health.json()).toEqual({ result: { data: { ok: true, db: "up", redis: "up", warnings: [] } } });
  expect(output).toContain("embedded PostgreSQL");

  // Where everything is: printed, and recorded for the warden CLI.
  const api = `http://127.0.0.1:${port}`;
  const record = JSON.parse(readFileSync(path.join(home, "dev-server.json"), "utf8")) as { url: string; databaseUrl: string };
  expect(record).toMatchObject({
    url: api,
    databaseUrl: expect.stringMatching(/^postgres:\/\/warden:warden@127\.0\.0\.1:\d+\/warden$/),
  });
  expect(output).toContain(`  API       ${api}/trpc\n`);
  expect(output).toContain(`  JWKS      ${api}/.well-known/jwks.json\n`);
  expect(output).toContain(`  health    ${api}/healthz\n`);
  expect(output).toContain(`  database  DATABASE_URL=${record.databaseUrl}\n`);
  expect(output).toMatch(/ {2}console {3}(http:\/\/\S+\/console\/|not built: pnpm --filter @warden\/console build)/);
  expect((await fetch(`${api}/.well-known/jwks.json`)).status).toBe(200);
  expect((await fetch(`${api}/healthz`)).status).toBe(200);
  // The console: its build, or (not built in this checkout) a page saying how to build it.
  const consolePage = await fetch(`${api}/console/`);
  expect(consolePage.headers.get("content-type")).toMatch(/^text\/html/);
  if (consolePage.status === 404) expect(await consolePage.text()).toContain("pnpm --filter @warden/console build");

  // `pnpm warden admin create` finds the embedded database from the record, `pnpm warden login` the server.
  const cli = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const configDir = path.join(home, "cli-config");
      const run = spawn("pnpm", ["--silent", "run", "warden", ...args], {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          WARDEN_HOME: home,
          WARDEN_CONFIG_DIR: configDir,
          WARDEN_PASSWORD: "dev admin password",
        },
      });
      let stdout = "";
      let stderr = "";
      run.stdout.on("data", (d) => (stdout += d));
      run.stderr.on("data", (d) => (stderr += d));
      run.on("close", (code) => resolve({ code, stdout, stderr }));
    });
  const created = await cli(["admin", "create", "dev-admin@example.com"]);
  expect(created.code, created.stderr).toBe(0);
  const cliLogin = await cli(["login", "--email", "dev-admin@example.com"]);
  expect(cliLogin.stdout, cliLogin.stderr).toContain(`signed in to ${api} as dev-admin@example.com (admin)`);

  // Development rate limits: more sign-ups from localhost than production allows an address in
  // an hour all go through (production's 11th would be refused for an hour, across restarts).
  for (let i = 0; i <= DEFAULT_RATE_LIMITS.signup.points; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/trpc/auth.signup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: `dev-${i}@example.com`, password: "correct horse battery" }),
    });
    expect(res.status, await res.text()).toBe(200);
  }

  const signup = await fetch(`http://127.0.0.1:${port}/trpc/auth.signup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "start@example.com", password: "correct horse battery" }),
  });
  expect(signup.status).toBe(200);
  const { accessToken } = ((await signup.json()) as { result: { data: { accessToken: string } } }).result.data;
  const me = await fetch(`http://127.0.0.1:${port}/trpc/auth.me`, { headers: { authorization: `Bearer ${accessToken}` } });
  expect(me.status).toBe(200);
  const sessionId = ((await me.json()) as { result: { data: { session: { id: string } } } }).result.data.session.id;

  // No SMTP_URL: the verification email lands in the development mailbox, printed with its link.
  const mailDeadline = Date.now() + 30_000;
  let link: RegExpExecArray | null;
  const linkPattern = new RegExp(
    `email to start@example\\.com: Confirm your email address\\n\\s+(${api}/console/verify-email#token=([\\w-]{43}))`,
  );
  while (!(link = linkPattern.exec(output))) {
    if (Date.now() > mailDeadline) throw new Error(`no verification email printed\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const verified = await fetch(`${api}/trpc/auth.verifyEmail`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: link[2] }),
  });
  expect(verified.status, await verified.clone().text()).toBe(200);
  const meAgain = await fetch(`${api}/trpc/auth.me`, { headers: { authorization: `Bearer ${accessToken}` } });
  expect(
    ((await meAgain.json()) as { result: { data: { user: { emailVerified: boolean } } } }).result.data.user.emailVerified,
  ).toBe(true);

  // The worker runs: the logout's event is applied and shows in the audit log.
  const logout = await fetch(`http://127.0.0.1:${port}/trpc/auth.logout`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${accessToken}` },
    body: "{}",
  });
  expect(logout.status).toBe(200);
  const login = await fetch(`http://127.0.0.1:${port}/trpc/auth.login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "admin@example.com", password: "admin password 1" }),
  });
  const adminToken = ((await login.json()) as { result: { data: { accessToken: string } } }).result.data.accessToken;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const audit = await fetch(`http://127.0.0.1:${port}/trpc/admin.audit?input=${encodeURIComponent("{}")}`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    const { items } = (
      (await audit.json()) as { result: { data: { items: { sessionId: string; reason: string; type: string }[] } } }
    ).result.data;
    const item = items.find((i) => i.sessionId === sessionId);
    if (item) {
      expect(item).toMatchObject({ type: "session.revoked", reason: "logout" });
      break;
    }
    if (Date.now() > deadline) throw new Error(`the logout was never applied by a worker\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }

  // WEBHOOKS_ALLOW_LOCAL is on for the server and the worker: a webhook to a receiver on loopback
  // is accepted and delivered, signed with the secret it was created with.
  const hooks = await startWebhookReceiver();
  try {
    const created = await fetch(`${api}/trpc/admin.webhooks.create`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ url: hooks.url, events: ["session.revoked"] }),
    });
    expect(created.status, await created.clone().text()).toBe(200);
    const webhook = ((await created.json()) as { result: { data: { id: string; secret: string } } }).result.data;
    hooks.secret = webhook.secret;
    await fetch(`${api}/trpc/admin.webhooks.test`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ id: webhook.id }),
    });
    expect((await hooks.waitFor((h) => h.payload.type === "webhook.test", 30_000)).verified).toBe(true);
  } finally {
    await hooks.close();
  }

  // Not a terminal: the auth server's and the worker's logs stay JSON, one object per line.
  const records = stdout
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("> ") && !line.startsWith("$ "))
    .map((line) => JSON.parse(line) as { msg: string; app?: string; req?: { path: string }; res?: { statusCode: number } });
  expect(records.find((r) => r.msg === "incoming request" && r.req?.path === "/trpc/auth.signup")).toBeDefined();
  expect(records.find((r) => r.msg === "request completed" && r.res?.statusCode === 200)).toBeDefined();
  expect(records.find((r) => r.app === "admin-worker")).toBeDefined();

  // Stopped: the record goes (the embedded database's port changes at the next start).
  const exited = new Promise((r) => child!.once("exit", r));
  child.kill("SIGTERM");
  await exited;
  expect(existsSync(path.join(home, "dev-server.json"))).toBe(false);
}, 120_000);
