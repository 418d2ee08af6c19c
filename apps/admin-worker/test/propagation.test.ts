import { performance } from "node:perf_hooks";
import { startRevocationFeed } from "@warden/revocations";
import {
  createAuth,
  createKeyRing,
  createSession,
  es256KeyFromPem,
  generateDataKey,
  generateEs256PrivateKeyPem,
} from "@warden/auth";
import { outboxEvents } from "@warden/db";
import { freePort } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { count, eq, isNull } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnNode, waitForHealthy, percentile, AUTH_SERVER_MAIN, WORKER_MAIN, type Child } from "./processes.js";
import { deletePrefix, REDIS_URL, testPrefix, waitFor } from "./support.js";

/**
 * Two auth-server instances and one admin worker, each its own process, on one PostgreSQL and one
 * Redis: a revocation made through instance A is refused by instance B.
 */
const REVOCATIONS = 200;
const prefix = testPrefix();
const pem = generateEs256PrivateKeyPem();
const children: Child[] = [];
let database: TestDatabase;
let urlA: string;
let urlB: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const common = {
    DATABASE_URL: database.url,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    JWT_PRIVATE_KEY: pem,
    // The same data key on both instances, as production requires: a grace retry may land on either.
    WARDEN_DATA_KEY: generateDataKey(),
    JWT_ISSUER: "warden-propagation",
    JWT_AUDIENCE: "warden-propagation",
    LOG_LEVEL: "warn",
    HOST: "127.0.0.1",
    RATE_LIMITS: "false",
  };
  const [portA, portB] = [await freePort(), await freePort()];
  urlA = `http://127.0.0.1:${portA}`;
  urlB = `http://127.0.0.1:${portB}`;
  const a = spawnNode(AUTH_SERVER_MAIN, { ...common, PORT: String(portA) });
  children.push(a);
  await waitForHealthy(urlA, a); // A migrates first; B then finds nothing to do
  const b = spawnNode(AUTH_SERVER_MAIN, { ...common, PORT: String(portB) });
  children.push(b, spawnNode(WORKER_MAIN, { ...common, WORKER_CONCURRENCY: "4" }));
  await waitForHealthy(urlB, b);
}, 90_000);

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop()));
  await deletePrefix(REDIS_URL, prefix);
  await database?.drop();
});

async function call(url: string, path: string, token: string, body?: unknown): Promise<{ status: number; reason?: string }> {
  const res = await fetch(`${url}/trpc/${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as { error?: { data?: { reason?: string } } };
  return { status: res.status, ...(json.error?.data?.reason ? { reason: json.error.data.reason } : {}) };
}

it(`a session revoked through instance A is refused by instance B (${REVOCATIONS} revocations, propagation measured)`, async () => {
  // Same key and database as the servers: sessions are made directly, without an argon2 hash each.
  const auth = createAuth({
    db: database.db,
    keys: createKeyRing(es256KeyFromPem(pem)),
    settings: { issuer: "warden-propagation", audience: "warden-propagation" },
  });
  const signup = await fetch(`${urlA}/trpc/auth.signup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "propagation@example.com", password: "correct horse battery" }),
  });
  const user = ((await signup.json()) as { result: { data: { user: { id: string; email: string; role: "user" } } } }).result.data
    .user;

  const delays: number[] = [];
  const pollTimes: number[] = [];
  // A verifier in this (third) process: when each revocation reaches it, without HTTP polling.
  const heardAt = new Map<string, number>();
  const feed = startRevocationFeed({
    redis: REDIS_URL,
    prefix,
    sink: { add: (ids) => ids.forEach((id) => heardAt.has(id) || heardAt.set(id, performance.now())), addNotBefore: () => {} },
  });
  await feed.ready();
  const feedDelays: number[] = [];
  for (let i = 0; i < REVOCATIONS; i++) {
    const pair = await createSession(auth, database.db, user, { deviceName: `d${i}` });
    const before = performance.now();
    expect((await call(urlB, "sessions.list", pair.accessToken)).status).toBe(200);
    pollTimes.push(performance.now() - before);
    expect((await call(urlA, "sessions.revoke", pair.accessToken, { sessionId: pair.sessionId })).status).toBe(200);
    const returned = performance.now();
    for (;;) {
      const answer = await call(urlB, "sessions.list", pair.accessToken);
      if (answer.status === 401) {
        expect(answer.reason).toBe("SESSION_REVOKED");
        break;
      }
      if (performance.now() - returned > 10_000) throw new Error("instance B never refused the revoked session");
    }
    delays.push(performance.now() - returned);
    const heard = await waitFor(() => heardAt.get(pair.sessionId), 10_000, "the verifier heard the revocation");
    // Negative when the message arrived before the HTTP response did: counted as zero.
    feedDelays.push(Math.max(0, heard - returned));
  }
  await feed.close();
  delays.sort((x, y) => x - y);
  pollTimes.sort((x, y) => x - y);
  feedDelays.sort((x, y) => x - y);
  const p50 = percentile(delays, 50);
  const p99 = percentile(delays, 99);
  console.log(
    `revocation propagation A -> B over ${delays.length} revocations: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${delays.at(-1)!.toFixed(2)} ms (from the revoking call's return to B's first refusal, HTTP polling included; one poll of B takes p50 ${percentile(pollTimes, 50).toFixed(2)} ms, p99 ${percentile(pollTimes, 99).toFixed(2)} ms)`,
  );
  console.log(
    `revocation propagation A -> a feed subscriber (verifier) over ${feedDelays.length} revocations: p50 ${percentile(feedDelays, 50).toFixed(2)} ms, p99 ${percentile(feedDelays, 99).toFixed(2)} ms, max ${feedDelays.at(-1)!.toFixed(2)} ms (from the revoking call's return)`,
  );

  // Milliseconds, per the README: 250 ms still holds on a loaded 2-core machine, and a revocation
  // that waited for the worker's durable path (or a poll) instead of the fast path would exceed it.
  // The real figure is `pnpm bench`'s.
  expect(p99).toBeLessThan(250);
  expect(percentile(feedDelays, 99)).toBeLessThan(250);

  // The worker applies every event (the durable path behind the fast one).
  await waitFor(
    async () => {
      const [row] = await database.db.select({ n: count() }).from(outboxEvents).where(isNull(outboxEvents.appliedAt));
      return row!.n === 0;
    },
    30_000,
    "every event applied by the worker process",
  );
  const [all] = await database.db.select({ n: count() }).from(outboxEvents).where(eq(outboxEvents.type, "session.revoked"));
  expect(all!.n).toBe(REVOCATIONS);
}, 180_000);
