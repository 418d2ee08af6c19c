import {
  revocationEvent,
  WEBHOOK_TEST_TYPE,
  webhookTypeOf,
  type RevocationEvent,
  type WebhookDeliveryStatus,
  type WebhookPayload,
} from "@warden/contracts";
import { outboxEvents, webhookDeliveries, webhooks, type Database } from "@warden/db";
import { and, asc, eq, gt, inArray, lt, sql } from "drizzle-orm";
import { coveredSessions, isNotice } from "./event-kinds.js";
import type { DbOrTx } from "./sessions.js";
import { decryptWebhookSecret } from "./webhook-secrets.js";

/** A user-wide event lists the sessions it ended up to this many; beyond, `sessionIds` is left out. */
export const PAYLOAD_MAX_SESSION_IDS = 1_000;

/**
 * The deliveries an applied event makes, created once: one per webhook subscribed to its type and
 * created before it happened (a redelivery of the event inserts nothing: (webhook, event) is
 * unique), each with the body every attempt will send. A `webhook.tested` event's delivery was
 * written by its request. Returns the ids of the event's deliveries still pending, for the queue
 * (jobId = delivery id, so queuing one twice is one job).
 */
export async function createWebhookDeliveries(db: Database, event: RevocationEvent, at: Date): Promise<string[]> {
  const type = webhookTypeOf(event);
  if (type) {
    const body = await webhookBodyOf(db, event);
    await db.execute(sql`
      insert into ${webhookDeliveries} (id, webhook_id, event_id, body, created_at, updated_at)
      select gen_random_uuid(), ${webhooks.id}, ${event.eventId}::uuid, ${body}, ${at.toISOString()}::timestamptz, ${at.toISOString()}::timestamptz
      from ${webhooks}
      where ${type} = any(${webhooks.events}) and ${webhooks.createdAt} <= ${new Date(event.at).toISOString()}::timestamptz
      on conflict (webhook_id, event_id) do nothing`);
  } else if (event.type !== "webhook.tested") {
    return [];
  }
  const pending = await db
    .select({ id: webhookDeliveries.id })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.eventId, event.eventId), eq(webhookDeliveries.status, "pending")))
    .orderBy(asc(webhookDeliveries.id));
  return pending.map((d) => d.id);
}

/**
 * Sessions an event ended, for the payload: read as applying it reads them (EVENT_KINDS and
 * coveredSessions), so every kind of event that ends sessions lists them. A notice ends none.
 */
async function sessionIdsOf(db: DbOrTx, event: RevocationEvent): Promise<string[] | undefined> {
  if (isNotice(event)) return undefined;
  const ids = await coveredSessions(db, event, PAYLOAD_MAX_SESSION_IDS + 1);
  return ids.length > PAYLOAD_MAX_SESSION_IDS ? undefined : ids;
}

/**
 * The payload of a delivery: ids, the reason and the actor, never a token, an email address or an
 * IP. `timestamp` is when the event happened.
 */
async function webhookPayloadOf(db: DbOrTx, event: RevocationEvent): Promise<WebhookPayload> {
  const type = event.type === "webhook.tested" ? WEBHOOK_TEST_TYPE : webhookTypeOf(event);
  if (!type) throw new Error(`${event.type} events are not delivered to webhooks`);
  const sessionIds = await sessionIdsOf(db, event);
  return {
    type,
    timestamp: new Date(event.at).toISOString(),
    data: {
      eventId: event.eventId,
      ...("userId" in event && event.userId ? { userId: event.userId } : {}),
      ...(sessionIds ? { sessionIds } : {}),
      reason: event.reason,
      actor: event.actor,
    },
  };
}

/**
 * The body of a delivery, built once when the delivery is created and stored with it: every
 * attempt sends these very bytes (and signs them), whatever maintenance prunes meanwhile (the
 * outbox row, the sessions).
 */
export async function webhookBodyOf(db: DbOrTx, event: RevocationEvent): Promise<string> {
  return JSON.stringify(await webhookPayloadOf(db, event));
}

export type DeliveryToSend =
  | { state: "send"; id: string; url: string; secret: Buffer; body: string; eventAt: number }
  /** The webhook was deleted (its deliveries with it). */
  | { state: "gone" }
  /** The delivery already ended (succeeded or failed). */
  | { state: "finished" }
  /** It cannot be sent, ever: the reason is recorded on the delivery. */
  | { state: "unsendable"; why: string };

/**
 * What a delivery job sends: the webhook's URL and secret (decrypted with the current data key or a
 * previous one) and the body stored with the delivery. Read afresh on every attempt, so a deleted
 * webhook gets no further attempt.
 */
export async function deliveryToSend(db: Database, secretKeys: readonly Buffer[], deliveryId: string): Promise<DeliveryToSend> {
  const [row] = await db
    .select({
      status: webhookDeliveries.status,
      eventId: webhookDeliveries.eventId,
      body: webhookDeliveries.body,
      webhookId: webhooks.id,
      url: webhooks.url,
      secretCiphertext: webhooks.secretCiphertext,
    })
    .from(webhookDeliveries)
    .innerJoin(webhooks, eq(webhooks.id, webhookDeliveries.webhookId))
    .where(eq(webhookDeliveries.id, deliveryId));
  if (!row) return { state: "gone" };
  if (row.status !== "pending") return { state: "finished" };
  const body = row.body ?? (await keepBodyFromOutbox(db, deliveryId, row.eventId));
  if (!body) return { state: "unsendable", why: "its event is no longer in the outbox" };
  const secret = decryptWebhookSecret(secretKeys, row.webhookId, row.secretCiphertext);
  if (!secret) {
    return { state: "unsendable", why: "its secret does not decrypt with WARDEN_DATA_KEY or WARDEN_DATA_KEY_PREVIOUS" };
  }
  const eventAt = Date.parse((JSON.parse(body) as WebhookPayload).timestamp);
  return { state: "send", id: deliveryId, url: row.url, secret, body, eventAt };
}

/**
 * A delivery made before bodies were stored: its body is built from its outbox event, once, and
 * kept (the first writer wins), so its later attempts send the same. Undefined when the event is
 * gone from the outbox.
 */
async function keepBodyFromOutbox(db: Database, deliveryId: string, eventId: string): Promise<string | undefined> {
  const [outbox] = await db.select({ payload: outboxEvents.payload }).from(outboxEvents).where(eq(outboxEvents.id, eventId));
  const parsed = revocationEvent.safeParse(outbox?.payload);
  if (!parsed.success) return undefined;
  const [kept] = await db
    .update(webhookDeliveries)
    .set({ body: sql`coalesce(${webhookDeliveries.body}, ${await webhookBodyOf(db, parsed.data)})` })
    .where(eq(webhookDeliveries.id, deliveryId))
    .returning({ body: webhookDeliveries.body });
  return kept?.body ?? undefined;
}

/**
 * Records an attempt on a pending delivery: its HTTP status or why it failed, and the state it is
 * left in (pending while attempts remain). A delivery that ended stays as it ended.
 */
export async function recordDeliveryAttempt(
  db: Database,
  deliveryId: string,
  attempt: { status: WebhookDeliveryStatus; httpStatus?: number | undefined; error?: string | undefined },
  at: Date,
): Promise<void> {
  await db
    .update(webhookDeliveries)
    .set({
      status: attempt.status,
      attempts: sql`${webhookDeliveries.attempts} + 1`,
      lastStatus: attempt.httpStatus ?? null,
      lastError: attempt.error?.slice(0, 500) ?? null,
      updatedAt: at,
    })
    .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.status, "pending")));
}

/**
 * Ends pending deliveries as failed without an attempt of their own: their job failed for good
 * outside HTTP (a database error, a stalled job) or was lost with its attempts used up. Returns the
 * ids it ended; a delivery that ended already is left as it ended.
 */
export async function markDeliveriesFailed(db: DbOrTx, deliveryIds: string[], error: string, at: Date): Promise<string[]> {
  if (deliveryIds.length === 0) return [];
  const ended = await db
    .update(webhookDeliveries)
    .set({ status: "failed", lastError: error.slice(0, 500), updatedAt: at })
    .where(and(inArray(webhookDeliveries.id, deliveryIds), eq(webhookDeliveries.status, "pending")))
    .returning({ id: webhookDeliveries.id });
  return ended.map((d) => d.id);
}

/** Deliveries per sweep round: bounds one transaction and one queue round trip. */
const SWEEP_BATCH_SIZE = 200;

/** Where a delivery's job is: gone from Redis, failed for good (BullMQ's reason), or still queued. */
export type DeliveryJobState = { state: "missing" } | { state: "failed"; reason: string } | { state: "queued" };

export interface LostDeliveriesOptions {
  jobStates: (deliveryIds: string[]) => Promise<DeliveryJobState[]>;
  /** Adds the jobs again (jobId = delivery id): the attempts each has left, and the wait before its next. */
  requeue: (jobs: { deliveryId: string; attempts: number; delayMs: number }[]) => Promise<void>;
  /** Deliveries created more recently are left alone: their job is being added. */
  createdBeforeMs: number;
  /** A delivery's attempts in all, and the wait after its n-th failed one (WEBHOOK_JOB_OPTIONS, webhookRetryDelay). */
  schedule: { attempts: number; delayAfter: (attemptsMade: number) => number };
  now: number;
  /** Resume after this delivery id (a sweep goes through the pending deliveries in id order, a batch per call). */
  after?: string | undefined;
  limit?: number;
}

export interface LostDeliveriesResult {
  /** Deliveries whose job Redis had lost, queued again with the attempts they had left. */
  requeued: string[];
  /** Deliveries whose job had failed for good (or was lost after its last attempt), now failed. */
  failed: string[];
  /** Where the next call goes on; undefined when this one reached the end (start over). */
  next: string | undefined;
}

/**
 * A delivery lives through its BullMQ job: when Redis loses the job (FLUSHALL, a restart without
 * persistence, a failover) or the job fails for good without the worker marking the delivery (it
 * stalled, the database was down), the delivery would stay pending forever. This sweep, modelled on
 * the outbox relay's `republishLostEvents`, takes pending deliveries created over `createdBeforeMs`
 * ago and checks their jobs: a missing one is added again with the same jobId (a job another
 * worker re-added meanwhile is kept) and the attempts the delivery has left, its next attempt when
 * the schedule would have made it; one in the failed set ends the delivery as failed. Rows are
 * claimed with SKIP LOCKED, so workers sweeping at once share the work.
 */
export async function recoverLostDeliveries(db: Database, options: LostDeliveriesOptions): Promise<LostDeliveriesResult> {
  const limit = options.limit ?? SWEEP_BATCH_SIZE;
  return db.transaction(async (tx) => {
    const rows = await tx
      .select({ id: webhookDeliveries.id, attempts: webhookDeliveries.attempts, updatedAt: webhookDeliveries.updatedAt })
      .from(webhookDeliveries)
      .where(
        and(
          eq(webhookDeliveries.status, "pending"),
          lt(webhookDeliveries.createdAt, sql`now() - make_interval(secs => ${options.createdBeforeMs / 1000})`),
          options.after === undefined ? undefined : gt(webhookDeliveries.id, options.after),
        ),
      )
      .orderBy(asc(webhookDeliveries.id))
      .limit(limit)
      .for("update", { skipLocked: true });
    const next = rows.length < limit ? undefined : rows.at(-1)?.id;
    if (rows.length === 0) return { requeued: [], failed: [], next };
    const states = await options.jobStates(rows.map((r) => r.id));
    const at = new Date(options.now);
    const { attempts, delayAfter } = options.schedule;
    const lost = rows.filter((_, i) => states[i]?.state === "missing");
    const resumable = lost.filter((r) => r.attempts < attempts);
    if (resumable.length > 0) {
      await options.requeue(
        resumable.map((r) => ({
          deliveryId: r.id,
          attempts: attempts - r.attempts,
          delayMs: r.attempts === 0 ? 0 : Math.max(0, r.updatedAt.getTime() + delayAfter(r.attempts) - options.now),
        })),
      );
    }
    const failed = await markDeliveriesFailed(
      tx,
      lost.filter((r) => r.attempts >= attempts).map((r) => r.id),
      "not sent: its job was lost after its last attempt",
      at,
    );
    for (const [i, row] of rows.entries()) {
      const state = states[i];
      if (state?.state !== "failed") continue;
      const reason = state.reason.split("\n")[0]!.slice(0, 200);
      failed.push(...(await markDeliveriesFailed(tx, [row.id], `not sent: its job failed for good: ${reason}`, at)));
    }
    return { requeued: resumable.map((r) => r.id), failed, next };
  });
}
