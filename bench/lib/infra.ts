import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  createAuth,
  createKeyRing,
  es256KeyFromPem,
  generateDataKey,
  generateEs256PrivateKeyPem,
  generateRefreshToken,
  hashPassword,
  hashToken,
  signAccessToken,
  type Auth,
} from "@warden/auth";
import { createDb, freePort, migrateDb, refreshTokens, sessions, startEmbeddedPostgres, users, type DbHandle } from "@warden/db";
import postgres from "postgres";
import { BENCH_DIR, startChild, type Child, type StartOptions } from "./proc.js";

const LOCAL_URL = "postgres://postgres@127.0.0.1:5432/postgres";
const ISSUER = "warden-bench";
const AUDIENCE = "warden-bench";

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function reachable(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

export interface Postgres {
  adminUrl: string;
  where: string;
  /** A fresh, migrated database for this run. */
  createDatabase(label: string): Promise<string>;
  close(): Promise<void>;
}

/** BENCH_DATABASE_URL, else the local server on 127.0.0.1:5432, else an embedded PostgreSQL. */
export async function startPostgres(): Promise<Postgres> {
  let adminUrl = process.env.BENCH_DATABASE_URL ?? LOCAL_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let where = `PostgreSQL at ${new URL(adminUrl).host}`;
  if (!(await reachable(adminUrl))) {
    const dir = await mkdtemp(path.join(os.tmpdir(), "warden-bench-pg-"));
    const embedded = await startEmbeddedPostgres({ dataDir: path.join(dir, "data"), database: "postgres", persistent: false });
    adminUrl = embedded.url;
    where = "embedded PostgreSQL";
    stopEmbedded = async () => {
      await embedded.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  const created: string[] = [];
  return {
    adminUrl,
    where,
    async createDatabase(label) {
      const name = `warden_bench_${process.pid}_${label}`;
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
      await admin.unsafe(`create database "${name}"`);
      created.push(name);
      const url = withDatabase(adminUrl, name);
      await migrateDb(url);
      return url;
    },
    async close() {
      for (const name of created) await admin.unsafe(`drop database if exists "${name}" with (force)`).catch(() => {});
      await admin.end();
      await stopEmbedded?.();
    },
  };
}

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const newPrefix = () => `{warden-bench-${randomBytes(4).toString("hex")}}`;

export interface BenchKeys {
  pem: string;
  /** WARDEN_DATA_KEY: every instance of a run shares it, as production instances must. */
  dataKey: string;
}

export function newKeys(): BenchKeys {
  return { pem: generateEs256PrivateKeyPem(), dataKey: generateDataKey() };
}

export const ADMIN = { email: "admin@bench.test", password: "bench-admin-password" };
export const USER = { email: "user@bench.test", password: "bench-user-password" };

/** The environment an auth-server instance of this run starts with. */
export function serverEnv(databaseUrl: string, prefix: string, keys: BenchKeys): Record<string, string> {
  return {
    PORT: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    JWT_ALG: "ES256",
    JWT_PRIVATE_KEY: keys.pem,
    WARDEN_DATA_KEY: keys.dataKey,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    WARDEN_ADMIN_EMAIL: ADMIN.email,
    WARDEN_ADMIN_PASSWORD: ADMIN.password,
    COOKIE_SECURE: "false",
    LOG_LEVEL: "silent",
    RATE_LIMITS: "false",
    NODE_ENV: "production",
  };
}

/** Direct access to a bench database, to seed sessions without paying argon2 for each. */
export interface Seeder {
  auth: Auth;
  handle: DbHandle;
  userId: string;
  /**
   * Starts `count` sessions, for the bench user or (`eachOwnUser`) each for a user of its own, as
   * many clients are; returns their access and refresh tokens.
   */
  sessions(
    count: number,
    options?: { eachOwnUser?: boolean },
  ): Promise<Array<{ sessionId: string; accessToken: string; refreshToken: string }>>;
  /** Bulk rows, generated inside PostgreSQL (growth and mass revocation). */
  bulkSessions(count: number, options: { revoked: boolean; userId?: string; withRefreshTokens?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export async function createSeeder(databaseUrl: string, keys: BenchKeys): Promise<Seeder> {
  const handle = createDb(databaseUrl, { max: 4 });
  const auth = createAuth({
    db: handle.db,
    keys: createKeyRing(es256KeyFromPem(keys.pem)),
    settings: { issuer: ISSUER, audience: AUDIENCE },
  });
  const userPasswordHash = await hashPassword(USER.password);
  const [user] = await handle.db
    .insert(users)
    .values({ email: USER.email, passwordHash: userPasswordHash })
    .onConflictDoUpdate({ target: users.email, set: { lockedAt: null } })
    .returning({ id: users.id });
  const benchUserId = user!.id;
  return {
    auth,
    handle,
    userId: benchUserId,
    async sessions(count, options = {}) {
      const now = Date.now();
      const out: Array<{ sessionId: string; accessToken: string; refreshToken: string }> = [];
      for (let start = 0; start < count; start += 1000) {
        const sessionRows: Array<typeof sessions.$inferInsert> = [];
        const tokenRows: Array<typeof refreshTokens.$inferInsert> = [];
        const owners = options.eachOwnUser
          ? (
              await handle.db
                .insert(users)
                .values(
                  Array.from({ length: Math.min(count, start + 1000) - start }, () => ({
                    email: `client-${randomUUID()}@bench.test`,
                    passwordHash: userPasswordHash,
                  })),
                )
                .returning({ id: users.id })
            ).map((u) => u.id)
          : undefined;
        for (let i = start; i < Math.min(count, start + 1000); i++) {
          const userId = owners?.[i - start] ?? benchUserId;
          const sessionId = randomUUID();
          const refreshToken = generateRefreshToken();
          sessionRows.push({
            id: sessionId,
            userId,
            deviceName: "bench",
            createdAt: new Date(now),
            lastSeenAt: new Date(now),
            expiresAt: new Date(now + auth.settings.sessionMaxAgeMs),
          });
          tokenRows.push({
            id: randomUUID(),
            sessionId,
            tokenHash: hashToken(refreshToken),
            createdAt: new Date(now),
            expiresAt: new Date(now + auth.settings.refreshTokenTtlMs),
          });
          const access = signAccessToken(auth.keys, auth.settings, { userId, sessionId, role: "user" }, now);
          out.push({ sessionId, accessToken: access.token, refreshToken });
        }
        await handle.db.insert(sessions).values(sessionRows);
        await handle.db.insert(refreshTokens).values(tokenRows);
      }
      return out;
    },
    async bulkSessions(count, options) {
      const owner = options.userId ?? benchUserId;
      for (let start = 0; start < count; start += 250_000) {
        const n = Math.min(250_000, count - start);
        await handle.sql`
          with s as (
            insert into sessions (id, user_id, device_name, created_at, last_seen_at, expires_at, revoked_at, revoked_reason)
            select gen_random_uuid(), ${owner}, 'bulk', now(), now(), now() + interval '30 days',
                   case when ${options.revoked} then now() end, case when ${options.revoked} then 'bulk' end
            from generate_series(1, ${n})
            returning id
          )
          insert into refresh_tokens (id, session_id, token_hash, created_at, expires_at)
          select gen_random_uuid(), id, encode(sha256(convert_to(id::text, 'UTF8')), 'hex'), now(), now() + interval '7 days'
          from s where ${options.withRefreshTokens ?? true}`;
      }
      await handle.sql`analyze sessions`;
      await handle.sql`analyze refresh_tokens`;
    },
    async close() {
      auth.revocations.close();
      await handle.close();
    },
  };
}

/** The built auth server, run as production runs it: plain `node apps/auth-server/dist/main.js`. */
const AUTH_SERVER_MAIN = "../apps/auth-server/dist/main.js";

/**
 * Builds the auth server and what it depends on (`pnpm build`'s turbo task, cached), so the bench
 * measures the JavaScript production runs.
 */
export function buildAuthServer(): void {
  execFileSync("pnpm", ["exec", "turbo", "run", "build", "--filter=@warden/auth-server", "--output-logs=errors-only"], {
    cwd: path.resolve(BENCH_DIR, ".."),
    stdio: ["ignore", "ignore", "inherit"],
  });
}

/**
 * The servers the auth server is compared with (the tRPC no-op, the Express tutorial server),
 * compiled to `bench/dist/` and run on plain node like the auth server: every side of a comparison
 * runs built JavaScript, none pays for a TypeScript loader. Workspace packages stay external, so the
 * no-op runs the very `dist` code of @warden/server and @warden/api the auth server runs.
 */
export function buildBenchServers(): void {
  execFileSync(
    path.resolve(BENCH_DIR, "../node_modules/.bin/tsup"),
    [
      "servers/noop.ts",
      "baselines/express-jwt/server.ts",
      "--format",
      "esm",
      "--target",
      "node20",
      "--out-dir",
      "dist",
      "--silent",
    ],
    { cwd: BENCH_DIR, stdio: ["ignore", "ignore", "inherit"] },
  );
}

/** A server `buildBenchServers` compiled: `servers/noop.ts` runs from `dist/servers/noop.js`. */
export function builtBenchServer(script: string): string {
  return path.join("dist", script.replace(/\.ts$/, ".js"));
}

/** One auth-server instance, built, on a port of its own; ready once its health answers ok. */
export async function startAuthServer(
  env: Record<string, string>,
  options: Omit<StartOptions, "env" | "healthUrl"> = {},
): Promise<Child> {
  const port = await freePort();
  return startChild(AUTH_SERVER_MAIN, { ...options, env: { ...env, PORT: String(port) }, healthUrl: `http://127.0.0.1:${port}` });
}
