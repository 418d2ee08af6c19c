import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { generateDataKey, generateEs256PrivateKeyPem } from "@warden/auth";
import { createDb, freePort, startEmbeddedPostgres, type DbHandle, type EmbeddedDatabase } from "@warden/db";
import { email, PASSWORD } from "@warden/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AUTH_SERVER_MAIN, spawnNode, waitForHealthy, WORKER_MAIN, type Child } from "./processes.js";
import { deletePrefix, REDIS_URL, testPrefix, waitFor } from "./support.js";

/**
 * PostgreSQL restarts (fast shutdown: every connection is cut) while revocations flow through an
 * auth-server process, whose outbox relay is the only publisher, and an admin-worker process.
 * Neither process is restarted: both must pick up again on their own.
 */
const USERS = 16;
const SESSIONS_PER_USER = 5;
/** Users ended whole with admin.revokeUser (`user.revoked`); the others log out session by session. */
const REVOKED_BY_ADMIN = 4;
/** Successful revocations before the worker is held and PostgreSQL stops. */
const BEFORE_RESTART = 20;
/** Revocations committed while the worker is held: the restart meets at least this backlog. */
const HELD_BACKLOG = 8;
/** Revocations kept for after the restart, however long it takes. */
const AFTER_RESTART = 16;
const DOWN_MS = 2_000;
const APPLY_DEADLINE_MS = 60_000;
const ADMIN = { email: "pg-restart-admin@example.com", password: PASSWORD };

const prefix = testPrefix();
let dir: string;
let port: number;
let pg: EmbeddedDatabase;
let server: Child;
let worker: Child;
let serverUrl: string;
let inspect: DbHandle | undefined;
/** Holds the audit table until PostgreSQL stops; ended in afterAll too, so a failure leaves nothing blocked. */
let holder: DbHandle | undefined;
let loadStopped = false;
/** The same data directory and port every time: a restart, not a new cluster. */
const startPg = () => startEmbeddedPostgres({ dataDir: path.join(dir, "data"), port, persistent: true });

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "warden-pg-restart-"));
  port = await freePort();
  pg = await startPg();
  const env = {
    DATABASE_URL: pg.url,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    JWT_PRIVATE_KEY: generateEs256PrivateKeyPem(),
    WARDEN_DATA_KEY: generateDataKey(),
    LOG_LEVEL: "warn",
  };
  const serverPort = await freePort();
  serverUrl = `http://127.0.0.1:${serverPort}`;
  server = spawnNode(AUTH_SERVER_MAIN, {
    ...env,
    PORT: String(serverPort),
    HOST: "127.0.0.1",
    RATE_LIMITS: "false",
    RELAY_POLL_INTERVAL: "200ms",
    WARDEN_ADMIN_EMAIL: ADMIN.email,
    WARDEN_ADMIN_PASSWORD: ADMIN.password,
  });
  await waitForHealthy(serverUrl, server); // migrates the fresh cluster before the worker starts
  // Info level for its "running" line: the load starts once the worker is up.
  worker = spawnNode(WORKER_MAIN, { ...env, LOG_LEVEL: "info" });
  await waitFor(() => worker.output().includes("admin worker running"), 60_000, "the worker running").catch((error: Error) => {
    throw new Error(`${error.message}:\n${worker.output()}`);
  });
}, 120_000);

afterAll(async () => {
  loadStopped = true;
  await holder?.sql.end({ timeout: 0 }).catch(() => {});
  await Promise.all([server?.stop(), worker?.stop()]);
  await inspect?.close().catch(() => {});
  await pg?.stop().catch(() => {});
  await deletePrefix(REDIS_URL, prefix);
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

interface Answer {
  status: number;
  reason?: string;
  data?: any;
}

async function call(method: "GET" | "POST", procedure: string, body?: unknown, token?: string): Promise<Answer> {
  try {
    const res = await fetch(`${serverUrl}/trpc/${procedure}`, {
      method,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(method === "POST" ? { body: JSON.stringify(body ?? {}) } : {}),
    });
    const json = (await res.json()) as any;
    return { status: res.status, reason: json.error?.data?.reason, data: json.result?.data };
  } catch (error) {
    // The server is unreachable (it crashed): a failed call like any other, the checks below say why.
    return { status: 0, reason: (error as Error).message };
  }
}

interface Pair {
  userId: string;
  sessionId: string;
  accessToken: string;
  refreshToken: string;
}

/** One revoking call: a user's logout of one session, or an admin ending all of a user's sessions. */
type Revocation = { kind: "logout"; sessions: [Pair] } | { kind: "revokeUser"; userId: string; sessions: Pair[] };

interface Outcome {
  revocation: Revocation;
  sentAt: number;
  answeredAt: number;
  answer: Answer;
}

async function signIn(tag: string): Promise<Pair[]> {
  const address = email(tag);
  const pairs: Pair[] = [];
  const first = await call("POST", "auth.signup", { email: address, password: PASSWORD, deviceName: "d0" });
  expect(first.status).toBe(200);
  pairs.push({ userId: first.data.user.id, ...first.data });
  for (let i = 1; i < SESSIONS_PER_USER; i++) {
    const next = await call("POST", "auth.login", { email: address, password: PASSWORD, deviceName: `d${i}` });
    expect(next.status).toBe(200);
    pairs.push({ userId: next.data.user.id, ...next.data });
  }
  return pairs;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it("PostgreSQL restarting mid-load: every committed revocation is applied exactly once, and the relay and the worker resume without a restart", async () => {
  const serverPid = server.process.pid;
  const workerPid = worker.process.pid;
  const admin = await call("POST", "auth.login", ADMIN);
  expect(admin.status).toBe(200);
  const users = await Promise.all(Array.from({ length: USERS }, (_, i) => signIn(`pg-restart-${i}`)));

  // Logouts in round-robin order over the users, with the admin revocations spread among them.
  const plan: Revocation[] = [];
  for (let s = 0; s < SESSIONS_PER_USER; s++)
    for (const pairs of users.slice(REVOKED_BY_ADMIN)) plan.push({ kind: "logout", sessions: [pairs[s]!] });
  users.slice(0, REVOKED_BY_ADMIN).forEach((pairs, i) => {
    const at = Math.floor(((i + 0.5) * plan.length) / REVOKED_BY_ADMIN);
    plan.splice(at, 0, { kind: "revokeUser", userId: pairs[0]!.userId, sessions: pairs });
  });
  const revoke = (r: Revocation) =>
    r.kind === "logout"
      ? call("POST", "auth.logout", {}, r.sessions[0].accessToken)
      : call("POST", "admin.revokeUser", { userId: r.userId, reason: "pg restart test" }, admin.data.accessToken);
  const succeeded = (a: Answer) => a.status === 200 && (a.data?.ok === true || typeof a.data?.eventId === "string");

  // Two clients revoke back to back, each revocation once; a failed call backs off a little, as a
  // client would. The last revocations wait for PostgreSQL to be back, so the load goes on after it.
  const outcomes: Outcome[] = [];
  const successes = () => outcomes.filter((o) => succeeded(o.answer)).length;
  let next = 0;
  let back = () => {};
  const pgBack = new Promise<void>((resolve) => (back = resolve));
  const lanes = [0, 1].map(async () => {
    while (next < plan.length && !loadStopped) {
      const index = next++;
      if (index >= plan.length - AFTER_RESTART) await pgBack;
      const revocation = plan[index]!;
      const sentAt = Date.now();
      const answer = await revoke(revocation);
      outcomes.push({ revocation, sentAt, answeredAt: Date.now(), answer });
      await sleep(succeeded(answer) ? 40 : 400);
    }
  });

  await waitFor(() => successes() >= BEFORE_RESTART, 30_000, "revocations flowing");
  // Hold the audit table: the worker's jobs stop inside their last transaction (refresh tokens
  // blacklisted, audit row and applied_at not yet written) and the next events queue up behind
  // them, so the restart meets committed events in the middle of being applied, not only finished ones.
  holder = createDb(pg.url, { max: 1 });
  const held = await holder.sql.reserve();
  await held`begin`;
  await held`lock table audit_log in share mode`;
  // A call in flight while the lock was taken may have committed, and its event been applied,
  // before it: one per lane is not counted in the backlog.
  const backlogFrom = successes() + lanes.length;
  const waitingOnAudit = async () =>
    (
      await held<{ n: number }[]>`select count(*)::int as n from pg_locks where relation = 'audit_log'::regclass and not granted`
    )[0]!.n;
  const unapplied = async () =>
    (await held<{ id: string }[]>`select id from outbox_events where applied_at is null`).map((r) => r.id);
  await waitFor(
    async () =>
      successes() >= backlogFrom + HELD_BACKLOG && (await waitingOnAudit()) > 0 && (await unapplied()).length >= HELD_BACKLOG,
    15_000,
    "a backlog behind a worker held mid-job",
  );
  const midJob = await waitingOnAudit();
  // The backlog the stop meets, read under the lock: committed, not applied.
  const pendingAtStop = await unapplied();

  const stopBegan = Date.now();
  await pg.stop(); // fast shutdown, the holder's connection with the rest
  const stopped = Date.now();
  await holder.sql.end({ timeout: 0 }).catch(() => {});
  await sleep(DOWN_MS);
  pg = await startPg();
  const upAt = Date.now();
  back();
  await Promise.all(lanes);

  // What the clients saw: successes before, failures while it was down, successes after.
  const committed = outcomes.filter((o) => succeeded(o.answer));
  const failed = outcomes.filter((o) => !succeeded(o.answer));
  const before = committed.filter((o) => o.answeredAt <= stopBegan);
  const after = committed.filter((o) => o.sentAt >= upAt);
  const failures = new Map<string, number>();
  for (const o of failed) {
    const key = `${o.answer.status} ${o.answer.reason ?? ""}`.trim();
    failures.set(key, (failures.get(key) ?? 0) + 1);
  }
  expect(before.length).toBeGreaterThanOrEqual(BEFORE_RESTART + HELD_BACKLOG);
  expect(failed.length, "no call failed: the outage was not under load").toBeGreaterThan(0);
  // While it was down, calls failed as the API says a missing dependency fails: UNAVAILABLE, never a crash.
  expect([...failures.keys()]).toEqual(["503 UNAVAILABLE"]);
  // Once PostgreSQL is back, the same server process answers every revoking call.
  expect(outcomes.filter((o) => o.sentAt >= upAt && !succeeded(o.answer)).map((o) => o.answer)).toEqual([]);
  expect(after.length).toBeGreaterThanOrEqual(AFTER_RESTART);
  // Within seconds, not after the driver's own reconnect backoff (up to 20 s by default).
  const firstAfterMs = Math.min(...after.map((o) => o.answeredAt)) - upAt;
  expect(firstAfterMs, "first revoking call to succeed after the restart").toBeLessThan(5_000);

  inspect = createDb(pg.url, { max: 2 });
  const { sql } = inspect;
  // The event each committed call wrote: logouts through the session row, admin calls answer it.
  const logoutSessions = committed.filter((o) => o.revocation.kind === "logout").map((o) => o.revocation.sessions[0]!.sessionId);
  const revokedBy = new Map(
    (
      await sql<{ id: string; revoked_event_id: string | null }[]>`
        select id, revoked_event_id from sessions where id in ${sql(logoutSessions)}`
    ).map((r) => [r.id, r.revoked_event_id]),
  );
  const eventOf = new Map<Outcome, string>();
  for (const o of committed) {
    const eventId = o.revocation.kind === "logout" ? revokedBy.get(o.revocation.sessions[0]!.sessionId) : o.answer.data.eventId;
    expect(eventId, "a committed revocation has its event").toBeTruthy();
    eventOf.set(o, eventId!);
  }

  // Every committed event applied, by the same worker process, published by the same relay.
  const eventIds = [...eventOf.values()];
  await waitFor(
    async () => {
      const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from outbox_events where id in ${sql(eventIds)} and applied_at is not null`;
      return row!.n === eventIds.length;
    },
    APPLY_DEADLINE_MS,
    "every committed revocation applied",
  ).catch(async (error: Error) => {
    const pending = await sql`select id, published_at, attempts, last_error from outbox_events where applied_at is null`;
    throw new Error(
      `${error.message}\nnot applied: ${JSON.stringify(pending)}\nserver:\n${server.output()}\nworker:\n${worker.output()}`,
    );
  });
  const recoveredAt = Date.now();

  // None half-applied: every event in the outbox (a failed call's too, had its commit got through)
  // has its applied_at and exactly one audit row, and no revoked session keeps a live refresh token.
  const events = await sql<{ id: string; applied_ms: number | null; audit_rows: number; sessions_revoked: number | null }[]>`
    select e.id, (extract(epoch from e.applied_at) * 1000)::float8 as applied_ms, count(a.id)::int as audit_rows,
      min(a.sessions_revoked) as sessions_revoked
    from outbox_events e left join audit_log a on a.event_id = e.id group by e.id`;
  for (const e of events) expect(e, `event ${e.id}`).toMatchObject({ applied_ms: expect.any(Number), audit_rows: 1 });
  const [live] = await sql<{ n: number }[]>`
    select count(*)::int as n from refresh_tokens t join sessions s on s.id = t.session_id
    where s.revoked_event_id is not null and t.revoked_at is null`;
  expect(live!.n, "refresh tokens left live on revoked sessions").toBe(0);
  // Each committed call's event covers exactly the sessions it revoked, and its audit row says so.
  const byId = new Map(events.map((e) => [e.id, e]));
  for (const [o, eventId] of eventOf) {
    expect(byId.get(eventId)?.sessions_revoked, `event ${eventId}`).toBe(o.revocation.sessions.length);
    const covered = await sql<{ id: string }[]>`select id from sessions where revoked_event_id = ${eventId}`;
    expect(covered.map((r) => r.id).sort()).toEqual(o.revocation.sessions.map((s) => s.sessionId).sort());
  }
  // Committed before the stop, not applied at it (the backlog at least): applied since, once each.
  // (Not compared with the stop's time: a job's applied_at is taken before its last transaction, and
  // the lock's release as PostgreSQL shuts down may let one blocked job commit.)
  expect(pendingAtStop.length).toBeGreaterThanOrEqual(HELD_BACKLOG);
  for (const id of pendingAtStop)
    expect(byId.get(id), `event ${id}`).toMatchObject({ applied_ms: expect.any(Number), audit_rows: 1 });
  const appliedAfterRestart = pendingAtStop.length;

  // The server refuses every revoked session: its access tokens and its refresh tokens.
  for (const o of committed) {
    for (const s of o.revocation.sessions) {
      expect(await call("GET", "auth.me", undefined, s.accessToken), `session ${s.sessionId}`).toMatchObject({
        status: 401,
        reason: "SESSION_REVOKED",
      });
      expect(await call("POST", "auth.refresh", { refreshToken: s.refreshToken })).toMatchObject({
        status: 401,
        reason: "REFRESH_TOKEN_REVOKED",
      });
    }
  }

  // Neither process was restarted, and neither died or left an unhandled rejection on the way.
  expect(server.process.pid).toBe(serverPid);
  expect(worker.process.pid).toBe(workerPid);
  expect(server.process.exitCode, server.output()).toBeNull();
  expect(worker.process.exitCode, worker.output()).toBeNull();
  expect(`${server.output()}${worker.output()}`).not.toMatch(/unhandled|uncaught/i);
  expect((await call("GET", "health")).data).toMatchObject({ db: "up" });

  console.log(
    [
      `PostgreSQL restart mid-load (fast shutdown took ${stopped - stopBegan} ms, down ${upAt - stopped} ms in all):`,
      `  revoking calls: ${outcomes.length} sent, ${committed.length} succeeded (${before.length} answered before the stop, ${after.length} sent after the restart), ${failed.length} failed (${[...failures].map(([k, n]) => `${n}x ${k}`).join(", ")})`,
      `  ${appliedAfterRestart} of the ${before.length} revocations committed before the stop were still unapplied at it (${midJob} held mid-apply in the worker) and were applied after the restart`,
      `  first successful revoking call ${firstAfterMs} ms after PostgreSQL was back; every committed revocation applied ${recoveredAt - upAt} ms after`,
      `  ${events.length} events in the outbox, all applied with one audit row each (${events.length - eventIds.length} from calls that failed but committed)`,
    ].join("\n"),
  );
}, 120_000);
