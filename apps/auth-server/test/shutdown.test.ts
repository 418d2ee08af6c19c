import { generateDataKey } from "@warden/auth";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { freePort } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { Redis } from "ioredis";
import {
  baseEnv,
  connectionRefused,
  deleteKeys,
  email,
  PASSWORD,
  spawnNode,
  testPrefix,
  waitFor,
  waitForHealthy,
  type Child,
} from "@warden/testing";
import { afterAll, beforeAll, expect, it } from "vitest";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = testPrefix();
let database: TestDatabase;
let server: Child | undefined;
let port: number;
let url: string;
/** Releases the rows the test holds, if a failure left them held. */
let releaseRows = () => {};

beforeAll(async () => {
  database = await createTestDatabase();
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  // The auth server as its own process, from its TypeScript entry (the packaging test runs the built one).
  server = spawnNode(
    ["--conditions=development", "--import", "tsx", MAIN],
    baseEnv({
      PORT: String(port),
      DATABASE_URL: database.url,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      JWT_ALG: "HS256",
      JWT_SECRET: randomUUID() + randomUUID(),
      WARDEN_DATA_KEY: generateDataKey(),
      RATE_LIMITS: "false",
      LOG_LEVEL: "warn",
    }),
  );
  await waitForHealthy(url, server);
});

afterAll(async () => {
  releaseRows();
  await server?.stop("SIGKILL");
  const redis = new Redis(REDIS_URL);
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await database?.drop();
});

async function post(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/trpc/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** Backends of this test's database waiting for a lock: requests the server is in the middle of. */
async function requestsWaitingOnLocks(): Promise<number> {
  const [row] = await database.sql<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
  return row!.n;
}

it("SIGTERM stops accepting connections, finishes every in-flight request with its full answer, and exits 0", async () => {
  const user = { email: email("shutdown"), password: PASSWORD };
  const signup = await post("auth.signup", user);
  expect(signup.status).toBe(200);
  const { user: created, sessionId, refreshToken } = signup.body.result.data;

  // Hold the user's and the session's rows: a login blocks on inserting its session (the foreign
  // key's share lock on the user), a refresh on locking its session. Both stay in flight until released.
  const released = new Promise<void>((r) => (releaseRows = r));
  let locked!: () => void;
  const held = new Promise<void>((r) => (locked = r));
  const holder = database.sql.begin(async (tx) => {
    await tx`select 1 from users where id = ${created.id} for update`;
    await tx`select 1 from sessions where id = ${sessionId} for update`;
    locked();
    await released;
  });
  holder.catch(() => {}); // awaited below; a failed test drops the database under it
  await held;

  const settled: string[] = [];
  // A request cut off settles too (status 0), so the assertions below say which.
  const track = (name: string, p: ReturnType<typeof post>) =>
    p
      .catch((error: Error) => ({ status: 0, body: `${error.message}: ${String(error.cause)}` }))
      .finally(() => settled.push(name));
  const inFlight = [
    ...[1, 2, 3].map((i) => track(`login ${i}`, post("auth.login", user))),
    track("refresh", post("auth.refresh", { refreshToken })),
  ];
  await waitFor(
    async () => (await requestsWaitingOnLocks()) === inFlight.length,
    30_000,
    "every request waiting on the held rows",
  );

  server!.process.kill("SIGTERM");
  await waitFor(() => connectionRefused(port), 30_000, "new connections refused after SIGTERM");
  // Refused while the requests it had accepted are still waiting.
  expect(settled).toEqual([]);
  expect(server!.process.exitCode).toBeNull();

  releaseRows();
  await holder;
  const answers = await Promise.all(inFlight);
  for (const answer of answers) {
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.result.data).toMatchObject({
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      sessionId: expect.any(String),
    });
  }
  // Three logins made three new sessions; the refresh rotated the existing one.
  expect(new Set(answers.map((a) => a.body.result.data.sessionId)).size).toBe(4);
  expect(answers[3]!.body.result.data.sessionId).toBe(sessionId);

  // The answered clients keep their connections alive; shutting down must not wait for them to hang up.
  const exit = await Promise.race([
    server!.exited,
    new Promise((r) => setTimeout(() => r("still running 20 s after the last answer"), 20_000)),
  ]);
  expect(exit, server!.stderr()).toEqual({ code: 0, signal: null });
  expect(server!.stderr()).toContain("SIGTERM, shutting down");
});
