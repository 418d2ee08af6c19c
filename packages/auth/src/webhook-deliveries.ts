import {
  revocationEvent,
  WEBHOOK_TEST_TYPE,
  webhookTypeOf,
  type RevocationEvent,
  type WebhookDeliveryStatus,
  type WebhookPayload,
} from "@warden/contracts";
import { outboxEvents, webhookDeliveries, webhooks, type Database } from "@warden/db";
import { and, asc, eq, inArray, sql } from "drizzle-orm";
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
