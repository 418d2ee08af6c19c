import { revocationEvent, type RevocationEvent } from "@warden/contracts";
import { outboxEvents, type Database } from "@warden/db";
import { asc, inArray, isNull, sql } from "drizzle-orm";

/** Events per relay round: bounds one transaction and one queue round trip. */
export const OUTBOX_BATCH_SIZE = 200;

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
    const events = rows.map((r) => {
      const parsed = revocationEvent.safeParse(r.payload);
      return parsed.success ? parsed.data : ({ ...(r.payload as object), eventId: r.id } as RevocationEvent);
    });
    await publish(events);
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

/** Records why publishing failed on the oldest pending rows (visible to operators), best effort. */
export async function notePublishFailure(db: Database, message: string, limit: number = OUTBOX_BATCH_SIZE): Promise<void> {
  await db.execute(sql`
    update outbox_events set attempts = attempts + 1, last_error = ${message.slice(0, 500)}
    where id in (select id from outbox_events where published_at is null order by created_at limit ${limit} for update skip locked)`);
}
