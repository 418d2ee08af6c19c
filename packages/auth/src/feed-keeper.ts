import { outboxEvents, sessions, users, type Database } from "@warden/db";
import {
  feedHighWaterMark,
  writeFeedSnapshot,
  type FeedSnapshot,
  type RedisClient,
  type RevocationSet,
} from "@warden/revocations";
import { and, gt, isNotNull, sql } from "drizzle-orm";
import { REVOCATION_SLACK_MS } from "./context.js";
import type { StepLogger } from "./recanonicalize.js";

/**
 * Every revocation still in force, from PostgreSQL (the record): sessions revoked and users'
 * not-befores set within one access-token lifetime (plus the verifiers' slack), each with the
 * instant after which no token it covers is accepted anyway.
 */
export async function revocationSnapshot(db: Database, now: number, accessTokenTtlMs: number): Promise<FeedSnapshot> {
  const lifetime = accessTokenTtlMs + REVOCATION_SLACK_MS;
  const since = new Date(now - lifetime);
  const [revoked, notBefores] = await Promise.all([
    db
      .select({ id: sessions.id, at: sessions.revokedAt })
      .from(sessions)
      .where(and(isNotNull(sessions.revokedAt), gt(sessions.revokedAt, since))),
    db
      .select({ userId: users.id, at: users.tokensNotBefore })
      .from(users)
      .where(and(isNotNull(users.tokensNotBefore), gt(users.tokensNotBefore, since))),
  ]);
  return {
    sessions: revoked.map((r) => ({ id: r.id, until: r.at!.getTime() + lifetime })),
    notBefores: notBefores.map((r) => ({ userId: r.userId, notBefore: r.at!.getTime(), until: r.at!.getTime() + lifetime })),
  };
}

/** The highest outbox `seq` whose event is applied (0 when none is). */
export async function appliedHighWaterMark(db: Database): Promise<number> {
  const [row] = await db
    .select({ seq: sql<string | null>`max(${outboxEvents.seq})` })
    .from(outboxEvents)
    .where(isNotNull(outboxEvents.appliedAt));
  return Number(row?.seq ?? 0);
}

/** Revoked sessions per round trip when they are loaded at start (a mass revocation: a million). */
const LOAD_CHUNK = 10_000;

/**
 * Puts every revocation still in force into this process's set, straight from PostgreSQL. An auth
 * server does it at start and whenever its feed finds Redis lost it, so it refuses revoked
 * sessions even before a worker has rebuilt the feed. Sessions are read through a cursor, a chunk
 * at a time: a million rows read at once would briefly cost the process hundreds of megabytes.
 */
export async function loadRevocationsFromDatabase(
  db: Database,
  revocations: RevocationSet,
  options: { now: number; accessTokenTtlMs: number },
): Promise<{ sessions: number; notBefores: number }> {
  const lifetime = options.accessTokenTtlMs + REVOCATION_SLACK_MS;
  const since = new Date(options.now - lifetime).toISOString();
  let sessionCount = 0;
  const revoked = db.$client<{ id: string; until: number }[]>`
    select id, (extract(epoch from revoked_at) * 1000)::float8 + ${lifetime}::float8 as until
    from sessions where revoked_at is not null and revoked_at > ${since}::timestamptz`.cursor(LOAD_CHUNK);
  for await (const chunk of revoked) {
    const byUntil = new Map<number, string[]>();
    for (const row of chunk) {
      const ids = byUntil.get(row.until) ?? [];
      ids.push(row.id);
      byUntil.set(row.until, ids);
    }
    for (const [until, ids] of byUntil) revocations.add(ids, until);
    sessionCount += chunk.length;
  }
  const notBefores = await db
    .select({ userId: users.id, at: users.tokensNotBefore })
    .from(users)
    .where(and(isNotNull(users.tokensNotBefore), gt(users.tokensNotBefore, new Date(since))));
  for (const row of notBefores) revocations.addNotBefore(row.userId, row.at!.getTime(), row.at!.getTime() + lifetime);
  return { sessions: sessionCount, notBefores: notBefores.length };
}

export type FeedCheck =
  | { state: "complete"; highWaterMark: number }
  | { state: "rebuilt"; reason: "missing" | "behind"; sessions: number; notBefores: number; ms: number }
  | { state: "busy" };

export interface FeedKeeperOptions {
  db: Database;
  redis: RedisClient;
  prefix: string;
  accessTokenTtlMs: number;
  logger: StepLogger;
  /** How often the feed is compared with PostgreSQL (default 2 s). */
  intervalMs?: number;
  now?: () => number;
  /** Told the outcome of each periodic comparison (metrics count the rebuilds). */
  onCheck?: (check: FeedCheck) => void;
}

export interface FeedKeeper {
  /** One comparison (and a rebuild when the feed is missing or behind). */
  check(): Promise<FeedCheck>;
  close(): Promise<void>;
}

/**
 * Compares the revocation feed with PostgreSQL and rebuilds it when Redis lost it.
 *
 * PostgreSQL is read first: every event applied by then was published (and its mark raised)
 * before `applied_at` was set, so a feed whose mark is missing or lower than PostgreSQL's lost
 * writes. The rebuild runs under a transaction-scoped advisory lock (one at a time, however many
 * workers notice; released even if the process dies), reads the high-water mark before the
 * snapshot, and only adds: a revocation committed meanwhile is published by the worker as usual.
 */
export function startFeedKeeper(options: FeedKeeperOptions): FeedKeeper {
  const { db, redis, prefix, logger } = options;
  const now = options.now ?? Date.now;
  const lockName = `warden:feed-rebuild:${prefix}`;

  const rebuild = async (reason: "missing" | "behind"): Promise<FeedCheck> =>
    db.transaction(async (tx) => {
      const [lock] = await tx.execute<{ locked: boolean }>(
        sql`select pg_try_advisory_xact_lock(hashtext(${lockName})) as locked`,
      );
      if (!lock?.locked) return { state: "busy" } as const;
      const started = performance.now();
      const highWaterMark = await appliedHighWaterMark(db);
      const current = await feedHighWaterMark(redis, prefix);
      if (current !== undefined && current >= highWaterMark) return { state: "complete", highWaterMark: current } as const;
      const snapshot = await revocationSnapshot(db, now(), options.accessTokenTtlMs);
      await writeFeedSnapshot(redis, snapshot, highWaterMark, prefix);
      const result = {
        state: "rebuilt",
        reason,
        sessions: snapshot.sessions.length,
        notBefores: snapshot.notBefores.length,
        ms: Math.round(performance.now() - started),
      } as const;
      logger.warn(
        { ...result, highWaterMark, feedHighWaterMark: current ?? null },
        reason === "missing"
          ? "revocation feed was missing from Redis (restarted empty, evicted or flushed): rebuilt from PostgreSQL"
          : "revocation feed was behind PostgreSQL (Redis lost recent writes): rebuilt from PostgreSQL",
      );
      return result;
    });

  const compare = async (): Promise<FeedCheck> => {
    const applied = await appliedHighWaterMark(db);
    const mark = await feedHighWaterMark(redis, prefix);
    if (mark !== undefined && mark >= applied) return { state: "complete", highWaterMark: mark };
    return rebuild(mark === undefined ? "missing" : "behind");
  };
  // One comparison at a time in this process: a call during one shares its outcome.
  let current: Promise<FeedCheck> | undefined;
  const check = (): Promise<FeedCheck> => (current ??= compare().finally(() => (current = undefined)));

  let running: Promise<unknown> | undefined;
  let failing = false;
  const tick = () => {
    if (running) return;
    running = check()
      .then((outcome) => {
        options.onCheck?.(outcome);
        if (failing) logger.info({}, "revocation feed check working again");
        failing = false;
      })
      .catch((error: Error) => {
        if (!failing) logger.warn({ err: error.message }, "revocation feed check failed; retrying");
        failing = true;
      })
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, options.intervalMs ?? 2_000);
  timer.unref();
  tick();

  return {
    check,
    async close() {
      clearInterval(timer);
      await running;
    },
  };
}
