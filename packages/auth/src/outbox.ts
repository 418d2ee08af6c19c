import { revocationEvent, type RevocationEvent } from "@warden/contracts";
import { outboxEvents, type Database } from "@warden/db";
import type { DbOrTx } from "./sessions.js";
import { and, asc, gt, inArray, isNotNull, isNull, lt, sql } from "drizzle-orm";

/** Events per relay round: bounds one transaction and one queue round trip. */
export const OUTBOX_BATCH_SIZE = 200;
/**
 * How many times one event is handed to the queue (`outbox_events.attempts`): its publish, then
 * again each time its job turns out to be gone while the event is not applied. Bounds the loop of
 * a job that fails for good, is removed after `removeOnFail` and would be published again forever.
 */
export const MAX_PUBLISHES = 5;

/** The event a row carries. A row that does not parse still goes out: the worker fails it visibly. */
function eventOf(row: { id: string; payload: unknown }): RevocationEvent {
  const parsed = revocationEvent.safeParse(row.payload);
  return parsed.success ? parsed.data : ({ ...(row.payload as object), eventId: row.id } as RevocationEvent);
}

/**
 * Hands unpublished outbox events to `publish` and marks them published, in one transaction.
 * Rows are claimed with FOR UPDATE SKIP LOCKED, so several auth servers can relay at once
 * without handing the same row out twice in parallel. When `publish` throws, the transaction
 * rolls back and the rows stay unpublished for the next round: nothing is lost.
 * Returns how many events were published.
 */
export async function publishPendingEvents(
  db: Database,
  publish: (events: RevocationEvent[]) => Promise<void>,
  limit: number = OUTBOX_BATCH_SIZE,
): Promise<number> {
  return db.transaction(async (tx) => {
    const rows = await tx
      .select({ id: outboxEvents.id, payload: outboxEvents.payload })
      .from(outboxEvents)
      .where(isNull(outboxEvents.publishedAt))
      .orderBy(asc(outboxEvents.createdAt))
      .limit(limit)
      .for("update", { skipLocked: true });
    if (rows.length === 0) return 0;
    // The outbox is written only by this package, but a row that does not parse must still go
    // out: the worker fails it visibly instead of it blocking the outbox forever.
    await publish(rows.map(eventOf));
    await tx
      .update(outboxEvents)
      .set({ publishedAt: sql`now()`, attempts: sql`${outboxEvents.attempts} + 1`, lastError: null })
      .where(
        inArray(
          outboxEvents.id,
          rows.map((r) => r.id),
        ),
      );
    return rows.length;
  });
}

/**
 * Records why publishing failed on the oldest pending rows (visible to operators), best effort.
 * `attempts` counts publishes only: an outage of any length must not use up `MAX_PUBLISHES`.
 */
export async function notePublishFailure(db: Database, message: string, limit: number = OUTBOX_BATCH_SIZE): Promise<void> {
  await db.execute(sql`
    update outbox_events set last_error = ${message.slice(0, 500)}
    where id in (select id from outbox_events where published_at is null order by created_at limit ${limit} for update skip locked)`);
}

export interface LostJobsOptions {
  /** For each event id, where its job is: gone, failed for good (all its attempts used), or still in the queue. */
  jobStates: (eventIds: string[]) => Promise<JobState[]>;
  publish: (events: RevocationEvent[]) => Promise<void>;
  /** Moves failed jobs back to waiting, with their attempts renewed. */
  retry: (eventIds: string[]) => Promise<void>;
  /** Rows published more recently are left alone: their job is being worked on. */
  publishedBeforeMs: number;
  /** Resume after this event id (a sweep goes through the rows in id order, a batch per call). */
  after?: string | undefined;
  limit?: number;
}

export interface LostJobsResult {
  republished: string[];
  /** Valid events whose job had failed for good (its attempts used up while a dependency was down). */
  retried: string[];
  /** Where the next call goes on; undefined when this one reached the end (start over). */
  next: string | undefined;
}

const LOST_JOB = "the queue had lost its job (Redis emptied, evicting or failed over?): published again";
const FAILED_JOB = "its job had used up its attempts (PostgreSQL down for minutes?): retried";

export type JobState = "missing" | "failed" | "queued";

/** A valid event fails only for a reason that passes (a dependency down): it is worth retrying. */
function retriable(row: { id: string; payload: unknown }): boolean {
  const parsed = revocationEvent.safeParse(row.payload);
  return parsed.success && parsed.data.eventId === row.id;
}

/**
 * Publishes again the events the outbox calls published whose job the queue no longer has while
 * the event is not applied: Redis came back empty, evicted it, or failed over before replicating.
 * Same jobId, so a job that does exist (another relay was quicker) is left as it is, and applying
 * is idempotent anyway. A job kept in the failed set exists and is not touched: its error is on the
 * row. At most `MAX_PUBLISHES` in all; the last one says so in `last_error` (until the worker
 * records why the job failed), and the row stays unapplied for an operator. Rows are claimed with
 * SKIP LOCKED, as for the first publish.
 */
export async function republishLostEvents(db: Database, options: LostJobsOptions): Promise<LostJobsResult> {
  const limit = options.limit ?? OUTBOX_BATCH_SIZE;
  return db.transaction(async (tx) => {
    const rows = await tx
      .select({ id: outboxEvents.id, payload: outboxEvents.payload })
      .from(outboxEvents)
      .where(
        and(
          isNull(outboxEvents.appliedAt),
          isNotNull(outboxEvents.publishedAt),
          lt(outboxEvents.publishedAt, sql`now() - make_interval(secs => ${options.publishedBeforeMs / 1000})`),
          lt(outboxEvents.attempts, MAX_PUBLISHES),
          options.after === undefined ? undefined : gt(outboxEvents.id, options.after),
        ),
      )
      .orderBy(asc(outboxEvents.id))
      .limit(limit)
      .for("update", { skipLocked: true });
    const next = rows.length < limit ? undefined : rows.at(-1)?.id;
    if (rows.length === 0) return { republished: [], retried: [], next };
    const states = await options.jobStates(rows.map((r) => r.id));
    const lost = rows.filter((_, i) => states[i] === "missing");
    // A malformed event failed at once and for good: it stays in the failed set, visible.
    const failed = rows.filter((row, i) => states[i] === "failed" && retriable(row));
    if (lost.length > 0) await options.publish(lost.map(eventOf));
    if (failed.length > 0) await options.retry(failed.map((r) => r.id));
    for (const [handled, why] of [
      [lost, LOST_JOB],
      [failed, FAILED_JOB],
    ] as const) {
      if (handled.length === 0) continue;
      await tx
        .update(outboxEvents)
        .set({
          publishedAt: sql`now()`,
          attempts: sql`${outboxEvents.attempts} + 1`,
          lastError: sql`case when ${outboxEvents.attempts} + 1 >= ${MAX_PUBLISHES}
            then ${`${why} for the last time (${MAX_PUBLISHES} publishes)`} else ${why} end`,
        })
        .where(
          inArray(
            outboxEvents.id,
            handled.map((r) => r.id),
          ),
        );
    }
    return { republished: lost.map((r) => r.id), retried: failed.map((r) => r.id), next };
  });
}

export interface OutboxBacklog {
  /** Events not handed to the queue yet (Redis down, relays behind), and when the oldest was written (epoch ms). */
  unpublished: number;
  oldestUnpublishedAt: number | undefined;
  /** Events handed to the queue that no worker has applied yet, and when the oldest was written. */
  unapplied: number;
  oldestUnappliedAt: number | undefined;
}

/**
 * What waits in the outbox (metrics, read at scrape time). Each subquery matches a partial index's
 * predicate, so the cost follows the backlog, not the table.
 */
export async function outboxBacklog(db: Database): Promise<OutboxBacklog> {
  const [row] = await db.execute<{
    unpublished: number;
    oldest_unpublished_ms: number | null;
    unapplied: number;
    oldest_unapplied_ms: number | null;
  }>(sql`
    select p.count as unpublished, p.oldest_ms as oldest_unpublished_ms, a.count as unapplied, a.oldest_ms as oldest_unapplied_ms
    from (select count(*)::int as count, (extract(epoch from min(created_at)) * 1000)::float8 as oldest_ms
          from outbox_events where published_at is null) p,
         (select count(*)::int as count, (extract(epoch from min(created_at)) * 1000)::float8 as oldest_ms
          from outbox_events where applied_at is null and published_at is not null) a`);
  return {
    unpublished: row?.unpublished ?? 0,
    oldestUnpublishedAt: row?.oldest_unpublished_ms ?? undefined,
    unapplied: row?.unapplied ?? 0,
    oldestUnappliedAt: row?.oldest_unapplied_ms ?? undefined,
  };
}

/**
 * Clears where the user's requests came from on outbox rows that still hold it (not yet applied:
 * the worker clears it when it copies it into the audit), in the caller's (deletion's)
 * transaction. Same rows as the audit's erasure: about the user unless an admin made them, or made
 * by the user as an admin. The partial index on the rows holding an address keeps this to the few
 * unapplied ones.
 */
export async function eraseOutboxClients(tx: DbOrTx, userId: string): Promise<void> {
  await tx.execute(sql`
    update ${outboxEvents} set ip = null, user_agent = null
    where (ip is not null or user_agent is not null)
      and ((payload->>'userId' = ${userId} and payload->'actor'->>'type' <> 'admin')
        or (payload->'actor'->>'type' = 'admin' and payload->'actor'->>'id' = ${userId}))`);
}
