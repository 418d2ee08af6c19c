import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { generateDataKey, generateEs256PrivateKeyPem } from "@warden/auth";
import { freePort } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { Redis } from "ioredis";
import {
  baseEnv,
  deleteKeys,
  email,
  PASSWORD,
  ROOT,
  spawnNode,
  testPrefix,
  waitFor,
  waitForHealthy,
  type Child,
} from "@warden/testing";
import { afterAll, beforeAll, expect, it } from "vitest";

/**
 * Production as README gives it: `pnpm build`, `pnpm deploy --prod` of the auth server and of the
 * worker into folders outside the repository, each run with plain `node dist/main.js` against an
 * empty database (the deployed migrations create it) and Redis.
 */
const exec = promisify(execFile);
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = testPrefix();
const ADMIN = { email: "root@example.com", password: "admin password of the deploy test" };
let out: string;
let database: TestDatabase;
let url: string;
const children: Child[] = [];

async function pnpm(args: string[]): Promise<void> {
  await exec("pnpm", args, { cwd: ROOT, env: baseEnv({ CI: "true" }), maxBuffer: 16 * 1024 * 1024 });
}

beforeAll(async () => {
  out = await mkdtemp(path.join(os.tmpdir(), "warden-deploy-"));
  let t = performance.now();
  await pnpm([
    "exec",
    "turbo",
    "run",
    "build",
    "--filter=@warden/auth-server",
    "--filter=@warden/admin-worker",
    "--output-logs=errors-only",
  ]);
  const buildMs = performance.now() - t;
  t = performance.now();
  await Promise.all(
    ["auth-server", "admin-worker"].map((app) => pnpm(["--filter", `@warden/${app}`, "deploy", "--prod", path.join(out, app)])),
  );
  console.log(`pnpm build: ${buildMs.toFixed(0)} ms; pnpm deploy of both: ${(performance.now() - t).toFixed(0)} ms`);

  database = await createTestDatabase({ empty: true });
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const common = {
    DATABASE_URL: database.url,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    JWT_PRIVATE_KEY: generateEs256PrivateKeyPem(),
    WARDEN_DATA_KEY: generateDataKey(),
    LOG_LEVEL: "warn",
  };
  const server = spawnNode(
    [path.join(out, "auth-server/dist/main.js")],
    baseEnv({
      ...common,
      PORT: String(port),
      HOST: "127.0.0.1",
      WARDEN_ADMIN_EMAIL: ADMIN.email,
      WARDEN_ADMIN_PASSWORD: ADMIN.password,
    }),
    { cwd: path.join(out, "auth-server") },
  );
  children.push(server);
  await waitForHealthy(url, server);
  children.push(
    spawnNode([path.join(out, "admin-worker/dist/main.js")], baseEnv(common), { cwd: path.join(out, "admin-worker") }),
  );
}, 300_000);

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop()));
  const redis = new Redis(REDIS_URL);
  await deleteKeys(redis, prefix).finally(() => redis.disconnect());
  await database?.drop();
  if (out) await rm(out, { recursive: true, force: true });
});

/** Package folders under a deployed app's node_modules (`name@version`). */
async function installedPackages(app: string): Promise<string[]> {
  return readdir(path.join(out, app, "node_modules/.pnpm"));
}

it("the deployed folders hold built JavaScript, the migrations and production dependencies only", async () => {
  for (const app of ["auth-server", "admin-worker"]) {
    const packages = await installedPackages(app);
    // (typescript itself is there: @trpc/server names it as a peer dependency; nothing loads it.)
    for (const dev of ["tsx@", "vitest@", "tsup@", "esbuild@", "turbo@", "@warden+testing"]) {
      expect(
        packages.filter((p) => p.startsWith(dev)),
        `${app} has ${dev}`,
      ).toEqual([]);
    }
    const manifest = JSON.parse(await readFile(path.join(out, app, "package.json"), "utf8")) as { devDependencies?: object };
    expect(manifest.devDependencies ?? {}).toEqual({});
    const own = await readdir(path.join(out, app, "node_modules/@warden"));
    expect(own.length).toBeGreaterThan(0);
    for (const name of own) {
      // `files` ships dist only: no TypeScript sources to run by mistake.
      expect(existsSync(path.join(out, app, "node_modules/@warden", name, "src")), `${app}: @warden/${name} ships src`).toBe(
        false,
      );
    }
  }
  // Where the deployed server's @warden/db is (pnpm keeps it under node_modules/.pnpm).
  const db = createRequire(path.join(out, "auth-server/node_modules/@warden/server/package.json")).resolve("@warden/db");
  const migrations = await readdir(path.join(path.dirname(db), "../migrations"));
  expect(migrations.some((f) => f.endsWith(".sql"))).toBe(true);
  // The workspace's patches (pnpm-workspace.yaml, patchedDependencies) travel with the deploy.
  const serverRequire = createRequire(path.join(out, "auth-server/node_modules/@warden/server/package.json"));
  const trpcDist = path.dirname(serverRequire.resolve("@trpc/server"));
  const initTrpc = (await readdir(trpcDist)).find((f) => /^initTRPC-.*\.mjs$/.test(f));
  expect(await readFile(path.join(trpcDist, initTrpc!), "utf8")).toContain("Warden: native object spreads");
});

async function call(method: "GET" | "POST", procedure: string, input: unknown, token?: string) {
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const res =
    method === "GET"
      ? await fetch(`${url}/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify(input))}`, { headers: auth })
      : await fetch(`${url}/trpc/${procedure}`, {
          method,
          headers: { "content-type": "application/json", ...auth },
          body: JSON.stringify(input),
        });
  const body = (await res.json()) as { result?: { data: any }; error?: { data?: { reason?: string } } };
  return { status: res.status, data: body.result?.data, reason: body.error?.data?.reason };
}

it("run with plain node: signup, refresh, an admin revocation applied by the worker, refused everywhere after", async () => {
  const user = await call("POST", "auth.signup", { email: email("deployed"), password: PASSWORD });
  expect(user.status).toBe(200);
  const renewed = await call("POST", "auth.refresh", { refreshToken: user.data.refreshToken });
  expect(renewed.status).toBe(200);
  expect(renewed.data.sessionId).toBe(user.data.sessionId);
  expect((await call("GET", "auth.me", undefined, renewed.data.accessToken)).status).toBe(200);

  const admin = await call("POST", "auth.login", ADMIN);
  expect(admin.status).toBe(200);
  const revoked = await call(
    "POST",
    "admin.revokeSession",
    { sessionId: user.data.sessionId, reason: "deploy test" },
    admin.data.accessToken,
  );
  expect(revoked.status).toBe(200);
  const started = performance.now();
  await waitFor(
    async () =>
      (await call("GET", "admin.revocation", { eventId: revoked.data.eventId }, admin.data.accessToken)).data?.status ===
      "applied",
    30_000,
    "the deployed worker applies the revocation",
  );
  console.log(`revocation applied by the deployed worker in ${(performance.now() - started).toFixed(0)} ms`);
  expect(await call("GET", "auth.me", undefined, renewed.data.accessToken)).toMatchObject({
    status: 401,
    reason: "SESSION_REVOKED",
  });
  expect(await call("POST", "auth.refresh", { refreshToken: renewed.data.refreshToken })).toMatchObject({
    status: 401,
    reason: "REFRESH_TOKEN_REVOKED",
  });
  const status = await readFile(`/proc/${children[0]!.process.pid}/status`, "utf8");
  console.log(`deployed auth server RSS: ${Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024} MB`);
});
