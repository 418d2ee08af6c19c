import { randomUUID } from "node:crypto";
import { refreshTokens, users } from "@warden/db";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RefreshOutcome } from "./context.js";
import { revokeSession } from "./revoke.js";
import { rotateInOneStatement, rotateRefreshToken } from "./rotate.js";
import { createTestAuth, createTestClock, type TestAuth } from "./testing.js";
import { deriveSuccessorToken, generateSuccessorSalt, hashToken } from "./tokens.js";
import { signup } from "./users.js";

const clock = createTestClock();
let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth({ clock });
});
afterAll(() => t.close());

const newUser = () => signup(t.auth, { email: `fast-${randomUUID()}@example.com`, password: "correct horse battery" }, {});
const successorOf = (token: string, salt: string) => ({ token: deriveSuccessorToken(t.auth.refreshKeys[0], salt, token), salt });
const rotate = (token: string, salt = generateSuccessorSalt()) =>
  rotateInOneStatement(t.auth, token, successorOf(token, salt), clock());

describe("refresh rotation in one statement", () => {
  it("rotates a live token: marks it rotated and stores exactly one successor", async () => {
    const res = await newUser();
    const salt = generateSuccessorSalt();
    const rotated = await rotate(res.refreshToken, salt);
    expect(rotated).toMatchObject({ sessionId: res.sessionId, userId: res.user.id, role: "user" });
    expect(rotated!.successorExpiresAt).toBe(clock() + t.auth.settings.refreshTokenTtlMs);
    const [parent] = await t.database.db
      .select()
      .from(refreshTokens)
      .where(eq(refreshTokens.tokenHash, hashToken(res.refreshToken)));
    expect(parent?.rotatedAt?.getTime()).toBe(clock());
    expect(parent?.successorSalt).toBe(salt);
    const children = await t.database.db.select().from(refreshTokens).where(eq(refreshTokens.parentId, parent!.id));
    expect(children.map((c) => c.tokenHash)).toEqual([hashToken(successorOf(res.refreshToken, salt).token)]);
  });

  it("leaves every unusual case to the locking transaction: rotated, unknown, expired, revoked, locked", async () => {
    const rotatedOnce = await newUser();
    await rotate(rotatedOnce.refreshToken);
    expect(await rotate(rotatedOnce.refreshToken)).toBeUndefined();
    expect(await rotate("not-a-token")).toBeUndefined();

    const revoked = await newUser();
    await t.database.sql`update sessions set revoked_at = now() where id = ${revoked.sessionId}`;
    expect(await rotate(revoked.refreshToken)).toBeUndefined();

    const locked = await newUser();
    await t.database.db
      .update(users)
      .set({ lockedAt: new Date(clock()) })
      .where(eq(users.id, locked.user.id));
    expect(await rotate(locked.refreshToken)).toBeUndefined();

    const idle = await newUser();
    clock.advance(t.auth.settings.refreshTokenTtlMs);
    expect(await rotate(idle.refreshToken)).toBeUndefined();
  });

  it("of concurrent rotations of one token exactly one succeeds", async () => {
    const res = await newUser();
    const results = await Promise.all(Array.from({ length: 10 }, () => rotate(res.refreshToken)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});

/** The SQL every connection of the test database sends while `run` runs (postgres.js debug hook). */
async function statementsDuring<T>(run: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
  const statements: string[] = [];
  const options = t.database.sql.options;
  const previous = options.debug;
  options.debug = (_connection, query) => statements.push(query);
  try {
    return { result: await run(), statements };
  } finally {
    options.debug = previous;
  }
}

const isRotationStatement = (query: string) => query.includes("insert into refresh_tokens");
const writesRefreshTokens = (query: string) => /\b(insert into|update) "?refresh_tokens"?/i.test(query);

interface LockWaiter {
  pid: number;
  blockers: number[];
}

/**
 * The backend that starts waiting for a lock (other than `known`, or the first that `matches`),
 * and the backends it waits for.
 */
async function nextLockWaiter(known: number[], matches: (waiter: LockWaiter) => boolean = () => true): Promise<LockWaiter> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const rows = await t.database.sql<LockWaiter[]>`
      select pid, pg_blocking_pids(pid) as blockers from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`;
    const waiter = rows.find((r) => !known.includes(r.pid) && matches(r));
    if (waiter) return waiter;
    if (Date.now() > deadline) throw new Error("nothing started waiting for a lock");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("refresh: one rotation, one round trip", () => {
  it("the common case is one round trip: the rotation statement alone, no transaction", async () => {
    const res = await newUser();
    const { result, statements } = await statementsDuring(() => rotateRefreshToken(t.auth, res.refreshToken));
    expect(result.sessionId).toBe(res.sessionId);
    expect(statements).toHaveLength(1);
    expect(isRotationStatement(statements[0]!)).toBe(true);
  });

  it("a grace retry and a theft are the rotation statement, then the classifying transaction, which rotates nothing", async () => {
    const res = await newUser();
    const first = await rotateRefreshToken(t.auth, res.refreshToken);
    const retry = await statementsDuring(() => rotateRefreshToken(t.auth, res.refreshToken));
    expect(retry.result.refreshToken).toBe(first.refreshToken);
    expect(retry.statements.filter(isRotationStatement)).toHaveLength(1);
    expect(retry.statements.filter(writesRefreshTokens)).toHaveLength(1);
    expect(retry.statements.map((q) => q.trim().split(/\s/)[0]!.toLowerCase())).toEqual([
      "with",
      "begin",
      "select",
      "select",
      "commit",
    ]);

    clock.advance(t.auth.settings.refreshReuseGraceMs + 1);
    const theft = await statementsDuring(() =>
      rotateRefreshToken(t.auth, res.refreshToken).catch((err: { reason?: string }) => err.reason),
    );
    expect(theft.result).toBe("REFRESH_TOKEN_REUSED");
    expect(theft.statements.filter(isRotationStatement)).toHaveLength(1);
  });

  it("a live token the statement missed (its session revoked, then restored, meanwhile) is rotated by the statement on a retry", async () => {
    const res = await newUser();
    const revoker = await t.database.sql.reserve();
    const restorer = await t.database.sql.reserve();
    try {
      const [restorerRow] = await restorer<{ pid: number }[]>`select pg_backend_pid() as pid`;
      const restorerPid = restorerRow!.pid;
      await revoker`begin`;
      await revoker`update sessions set revoked_at = now() where id = ${res.sessionId}`;
      const { result, statements } = await statementsDuring(async () => {
        const refreshing = rotateRefreshToken(t.auth, res.refreshToken);
        const statement = await nextLockWaiter([]); // the rotation statement waits for the session row
        await restorer`begin`;
        const restoring = restorer`update sessions set revoked_at = null where id = ${res.sessionId}`.execute();
        await nextLockWaiter([statement.pid]); // the restore queues behind it
        await revoker`commit`; // the statement finds the session revoked and misses
        await restoring; // the restore holds the session row, not yet committed
        // The classification may run on the connection the statement used: found by what it waits for.
        const classifier = await nextLockWaiter([restorerPid], (w) => w.blockers.includes(restorerPid));
        expect(classifier.blockers).toEqual([restorerPid]);
        await restorer`commit`; // the classification finds the token live and never rotated
        return refreshing;
      });
      expect(result.sessionId).toBe(res.sessionId);
      expect(statements.filter(isRotationStatement)).toHaveLength(2);
      expect(statements.filter(writesRefreshTokens)).toHaveLength(2);
      const [parent] = await t.database.db
        .select()
        .from(refreshTokens)
        .where(eq(refreshTokens.tokenHash, hashToken(res.refreshToken)));
      const children = await t.database.db.select().from(refreshTokens).where(eq(refreshTokens.parentId, parent!.id));
      expect(children.map((c) => c.tokenHash)).toEqual([hashToken(result.refreshToken)]);
    } finally {
      revoker.release();
      restorer.release();
    }
  });
});

describe("refreshes that arrive together", () => {
  it("share statements and commits, each rotated to a successor of its own", async () => {
    const clients = await Promise.all(Array.from({ length: 16 }, () => newUser()));
    const { result, statements } = await statementsDuring(() =>
      Promise.all(clients.map((c) => rotateRefreshToken(t.auth, c.refreshToken))),
    );
    expect(result.map((pair) => pair.sessionId)).toEqual(clients.map((c) => c.sessionId));
    expect(new Set(result.map((pair) => pair.refreshToken)).size).toBe(clients.length);
    const rotations = statements.filter(isRotationStatement).length;
    expect(rotations).toBeLessThan(clients.length);
    console.log(`${clients.length} refreshes at once: ${rotations} rotation statements`);
    for (const [i, client] of clients.entries()) {
      const [parent] = await t.database.db
        .select()
        .from(refreshTokens)
        .where(eq(refreshTokens.tokenHash, hashToken(client.refreshToken)));
      const children = await t.database.db.select().from(refreshTokens).where(eq(refreshTokens.parentId, parent!.id));
      expect(children.map((c) => c.tokenHash)).toEqual([hashToken(result[i]!.refreshToken)]);
    }
  });

  it("of a burst of refreshes of one token, one rotates and the rest are its grace retries", async () => {
    const res = await newUser();
    const pairs = await Promise.all(Array.from({ length: 8 }, () => rotateRefreshToken(t.auth, res.refreshToken)));
    expect(new Set(pairs.map((pair) => pair.refreshToken)).size).toBe(1);
    const [parent] = await t.database.db
      .select()
      .from(refreshTokens)
      .where(eq(refreshTokens.tokenHash, hashToken(res.refreshToken)));
    expect(await t.database.db.select().from(refreshTokens).where(eq(refreshTokens.parentId, parent!.id))).toHaveLength(1);
  });
});

describe("refresh outcomes", () => {
  it("auth.onRefresh is told how each refresh ended: rotated, grace, reused, invalid, revoked, expired", async () => {
    const outcomes: RefreshOutcome[] = [];
    t.auth.onRefresh = (outcome) => outcomes.push(outcome);
    const refresh = (token: string) => rotateRefreshToken(t.auth, token).catch(() => undefined);
    try {
      const stolen = await newUser();
      await refresh(stolen.refreshToken);
      await refresh(stolen.refreshToken);
      clock.advance(t.auth.settings.refreshReuseGraceMs + 1);
      await refresh(stolen.refreshToken);
      expect(outcomes.splice(0)).toEqual(["rotated", "grace", "reused"]);

      await refresh("not-a-token");
      const revoked = await newUser();
      await revokeSession(t.auth, { sessionId: revoked.sessionId, reason: "r", actor: { type: "system", id: null } });
      await refresh(revoked.refreshToken);
      const idle = await newUser();
      clock.advance(t.auth.settings.refreshTokenTtlMs);
      await refresh(idle.refreshToken);
      expect(outcomes).toEqual(["invalid", "revoked", "expired"]);
    } finally {
      t.auth.onRefresh = () => {};
    }
  });
});
