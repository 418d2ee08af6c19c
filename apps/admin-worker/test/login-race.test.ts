import { randomUUID } from "node:crypto";
import { callerFor, reasonOf, signUp } from "@warden/api/testing";
import { createAuth, createAdmin, deriveOneTimeToken, hashPassword } from "@warden/auth";
import { createTestKeyRing, TEST_AUDIENCE, TEST_ISSUER } from "@warden/auth/testing";
import { idSchema } from "@warden/contracts";
import { sessions, users } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { and, eq, isNull } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import type { AdminWorker } from "@warden/worker";
import {
  ACCESS_TOKEN_TTL_MS,
  deletePrefix,
  REDIS_URL,
  startInstance,
  startWorker,
  testPrefix,
  waitFor,
  type Instance,
} from "./support.js";

/**
 * A login races an account lock, a revocation, a password change or a password reset. Instance A serves the
 * logins (a pause point, or a trigger inside the statement that starts the session, holds a login
 * at a chosen step), instance B the admin; A learns of
 * revoked sessions only from the worker, so what A refuses is what the worker covered.
 */
const prefix = testPrefix();
const password = "correct horse battery";
const keys = createTestKeyRing();
let database: TestDatabase;
let a: Instance;
let b: Instance;
let worker: AdminWorker;
let adminToken: string;

beforeAll(async () => {
  database = await createTestDatabase();
  a = await startInstance(database, { redisUrl: REDIS_URL, prefix, keys });
  b = await startInstance(database, { redisUrl: REDIS_URL, prefix, keys });
  worker = await startWorker(database, { redisUrl: REDIS_URL, prefix });
  await Promise.all([a.feed.ready(), b.feed.ready()]);
  await createAdmin(b.auth, "admin@example.com", password);
  adminToken = (await callerFor(b.auth).auth.login({ email: "admin@example.com", password })).accessToken;
});

afterEach(() => {
  a.auth.hooks = undefined;
});

afterAll(async () => {
  await worker?.close();
  await a?.close();
  await b?.close();
  await deletePrefix(REDIS_URL, prefix);
  await database?.drop();
});

const admin = () => callerFor(b.auth, adminToken).admin;

/** A pause point: `hook` waits at it until `release()`; `reached` settles when a call arrives there. */
function pausePoint() {
  let arrive!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((r) => (arrive = r));
  const released = new Promise<void>((r) => (release = r));
  return {
    reached,
    release,
    hook: async () => {
      arrive();
      await released;
    },
  };
}

/** The call's result, or the reason it failed with. */
async function outcome<T>(call: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; reason: string }> {
  try {
    return { ok: true, value: await call };
  } catch (error) {
    return { ok: false, reason: await reasonOf(Promise.reject(error)) };
  }
}

async function newUser() {
  const email = `race-${randomUUID()}@example.com`;
  const first = await signUp(b.auth, { email, password });
  return { email, userId: first.user.id, first };
}

/** A reset link's token for the user, as the worker would email it (requested through instance B). */
async function resetToken(u: { email: string; userId: string }): Promise<string> {
  await callerFor(b.auth).auth.requestPasswordReset({ email: u.email });
  const [event] = await database.sql<{ id: string }[]>`
    select id from outbox_events where type = 'email.requested'
    and payload->>'userId' = ${u.userId} and payload->>'kind' = 'password_reset'`;
  return deriveOneTimeToken(b.auth.oneTimeKeys[0], event!.id);
}

async function liveSessions(userId: string): Promise<string[]> {
  const rows = await database.db
    .select({ id: sessions.id })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt)));
  return rows.map((r) => r.id);
}

/** Backends of this database waiting for a lock: a row's (a revocation queued behind a login), or the hold's. */
async function lockWaiters(kind: "row" | "advisory"): Promise<number> {
  const [row] = await database.sql<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity
    where datname = current_database() and wait_event_type = 'Lock'
      and (wait_event = 'advisory') = ${kind === "advisory"}`;
  return row!.n;
}

const HOLD_KEY = 7_340_001;

/**
 * Holds the user's next session insert inside the statement that starts the session, where the
 * user row is already held FOR SHARE: a trigger on sessions waits for an advisory lock this test
 * holds on a connection of its own. `reached` settles once a login waits there.
 */
async function holdSessionInsert(userId: string) {
  const holder = await database.sql.reserve();
  await holder`select pg_advisory_lock(${HOLD_KEY})`;
  await database.sql.unsafe(`
    create function hold_session_insert() returns trigger language plpgsql as $$
      begin perform pg_advisory_xact_lock(${HOLD_KEY}); return new; end $$;
    create trigger hold_session_insert before insert on sessions for each row
      when (new.user_id = '${idSchema.parse(userId)}') execute function hold_session_insert()`);
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await holder`select pg_advisory_unlock(${HOLD_KEY})`;
    holder.release();
  };
  return {
    reached: waitFor(async () => (await lockWaiters("advisory")) > 0, 15_000, "a login held inside its statement"),
    release,
    /** Releases the hold if still held, and removes the trigger. */
    async end() {
      await release();
      await database.sql.unsafe(`drop trigger hold_session_insert on sessions; drop function hold_session_insert()`);
    },
  };
}

async function applied(eventId: string) {
  await waitFor(async () => (await admin().revocation({ eventId })).status === "applied", 15_000, `event ${eventId} applied`);
}

describe("a login racing a lock, a revocation or a password change", () => {
  it("a lock committed while the login is past its password check: ACCOUNT_LOCKED, and no live session", async () => {
    const u = await newUser();
    const pause = pausePoint();
    a.auth.hooks = { afterPasswordCheck: pause.hook };
    const login = outcome(callerFor(a.auth).auth.login({ email: u.email, password }));
    await pause.reached;

    const { eventId } = await admin().revokeUser({ userId: u.userId, reason: "fraud", lock: true });
    pause.release();

    const result = await login;
    expect(result.ok ? "a session" : result.reason).toBe("ACCOUNT_LOCKED");
    expect(await liveSessions(u.userId)).toEqual([]);
    await applied(eventId);
    expect(await liveSessions(u.userId)).toEqual([]);
  });

  it("a lock racing a login that holds the user row waits for it, then revokes the new session on every instance", async () => {
    const u = await newUser();
    const hold = await holdSessionInsert(u.userId);
    onTestFinished(() => hold.end());
    const login = outcome(callerFor(a.auth).auth.login({ email: u.email, password }));
    await hold.reached;

    let returned = false;
    const revocation = admin()
      .revokeUser({ userId: u.userId, reason: "fraud", lock: true })
      .finally(() => (returned = true));
    // The revocation must queue behind the login's row lock rather than commit past it.
    const seen = await waitFor(
      async () => (returned ? "returned" : (await lockWaiters("row")) > 0 && "waiting"),
      15_000,
      "revocation waiting",
    );
    await hold.release();

    const result = await login;
    if (!result.ok) throw new Error(`login failed: ${result.reason}`);
    const pair = result.value;
    const { eventId } = await revocation;
    await applied(eventId);

    // A knows of the session only through the worker: its access token is refused once applied.
    const refused = await waitFor(
      async () => {
        const me = await outcome(callerFor(a.auth, pair.accessToken).sessions.list());
        return !me.ok && me.reason;
      },
      5_000,
      "instance A refusing the access token of the session opened during the lock",
    );
    expect(refused).toBe("SESSION_REVOKED");
    const refreshed = await outcome(callerFor(a.auth).auth.refresh({ refreshToken: pair.refreshToken }));
    expect(refreshed.ok ? "rotated" : refreshed.reason).toBe("REFRESH_TOKEN_REVOKED");
    expect(await liveSessions(u.userId)).toEqual([]);
    expect(seen).toBe("waiting");
  });

  it("a password change committed while the login is past its password check: INVALID_CREDENTIALS, and no session", async () => {
    const u = await newUser();
    const pause = pausePoint();
    a.auth.hooks = { afterPasswordCheck: pause.hook };
    const login = outcome(callerFor(a.auth).auth.login({ email: u.email, password }));
    await pause.reached;

    await database.db
      .update(users)
      .set({ passwordHash: await hashPassword("a brand new password") })
      .where(eq(users.id, u.userId));
    pause.release();

    const result = await login;
    expect(result.ok ? "a session" : result.reason).toBe("INVALID_CREDENTIALS");
    expect(await liveSessions(u.userId)).toEqual([u.first.sessionId]);
  });

  it("a password reset committed while the login is past its password check: INVALID_CREDENTIALS, and no live session", async () => {
    const u = await newUser();
    const token = await resetToken(u);
    const pause = pausePoint();
    a.auth.hooks = { afterPasswordCheck: pause.hook };
    const login = outcome(callerFor(a.auth).auth.login({ email: u.email, password }));
    await pause.reached;

    await callerFor(b.auth).auth.resetPassword({ token, newPassword: "a brand new password" });
    pause.release();

    const result = await login;
    expect(result.ok ? "a session" : result.reason).toBe("INVALID_CREDENTIALS");
    expect(await liveSessions(u.userId)).toEqual([]);
  });

  it("a password reset racing a login that holds the user row waits for it, then revokes the new session on every instance", async () => {
    const u = await newUser();
    const token = await resetToken(u);
    const hold = await holdSessionInsert(u.userId);
    onTestFinished(() => hold.end());
    const login = outcome(callerFor(a.auth).auth.login({ email: u.email, password }));
    await hold.reached;

    let returned = false;
    const reset = callerFor(b.auth)
      .auth.resetPassword({ token, newPassword: "a brand new password" })
      .finally(() => (returned = true));
    const seen = await waitFor(
      async () => (returned ? "returned" : (await lockWaiters("row")) > 0 && "waiting"),
      15_000,
      "reset waiting",
    );
    await hold.release();

    const result = await login;
    if (!result.ok) throw new Error(`login failed: ${result.reason}`);
    await reset;
    const refused = await waitFor(
      async () => {
        const me = await outcome(callerFor(a.auth, result.value.accessToken).sessions.list());
        return !me.ok && me.reason;
      },
      10_000,
      "instance A refusing the access token of the session opened during the reset",
    );
    expect(refused).toBe("SESSION_REVOKED");
    const refreshed = await outcome(callerFor(a.auth).auth.refresh({ refreshToken: result.value.refreshToken }));
    expect(refreshed.ok ? "rotated" : refreshed.reason).toBe("REFRESH_TOKEN_REVOKED");
    expect(await liveSessions(u.userId)).toEqual([]);
    expect(seen).toBe("waiting");
  });

  it("a login committed after a revocation stays alive when the worker applies it, even from a server whose clock is behind", async () => {
    const u = await newUser();
    // A server whose clock runs a minute behind the revoking one.
    const lagging = createAuth({
      db: database.db,
      keys,
      settings: { issuer: TEST_ISSUER, audience: TEST_AUDIENCE, accessTokenTtlMs: ACCESS_TOKEN_TTL_MS },
      clock: () => Date.now() - 60_000,
    });
    // The event waits in the queue until the login has committed.
    await worker.revocations.pause();
    const { eventId } = await admin().revokeUser({ userId: u.userId, reason: "compromised" });
    const fresh = await callerFor(lagging)
      .auth.login({ email: u.email, password })
      .finally(() => {
        void worker.revocations.resume();
        lagging.revocations.close();
      });
    await applied(eventId);

    expect(await liveSessions(u.userId)).toEqual([fresh.sessionId]);
    expect((await outcome(callerFor(a.auth, fresh.accessToken).sessions.list())).ok).toBe(true);
    expect((await outcome(callerFor(a.auth).auth.refresh({ refreshToken: fresh.refreshToken }))).ok).toBe(true);
  });
});
