import { randomUUID } from "node:crypto";
import type { AdminWebhookCreateInput, WebhookEventType, WebhookView } from "@warden/contracts";
import { webhookDeliveries, webhooks, type Database } from "@warden/db";
import { and, asc, desc, eq, inArray } from "drizzle-orm";
import type { Auth } from "./context.js";
import { AuthError } from "./errors.js";
import { recordRevocationEvent, type MadeBy } from "./revoke.js";
import { webhookBodyOf } from "./webhook-deliveries.js";
import { decryptWebhookSecret, encryptWebhookSecret, generateWebhookSecret } from "./webhook-secrets.js";
import { webhookUrlProblem } from "./webhook-targets.js";

/**
 * Creates a webhook: its row (the secret encrypted) and a `webhook.created` event (with the admin's
 * request beside it, for the audit) in one transaction. The secret is returned once, here, and
 * never again. A URL the policy refuses (http, a private or loopback address) is VALIDATION_FAILED
 * with the reason, and nothing is written.
 */
export async function createWebhook(
  auth: Auth,
  input: AdminWebhookCreateInput,
  { actor, client }: MadeBy,
): Promise<{ id: string; secret: string }> {
  const problem = webhookUrlProblem(new URL(input.url), { allowLocal: auth.settings.webhooksAllowLocal });
  if (problem) throw new AuthError("VALIDATION_FAILED", "input is invalid", { issues: [{ path: "url", message: problem }] });
  const id = randomUUID();
  const secret = generateWebhookSecret();
  const at = auth.clock();
  const event = await auth.db.transaction(async (tx) => {
    await tx.insert(webhooks).values({
      id,
      url: input.url,
      events: input.events,
      description: input.description || null,
      secretCiphertext: encryptWebhookSecret(auth.webhookSecretKeys[0], id, secret.bytes),
      createdAt: new Date(at),
      createdBy: actor.id,
    });
    return recordRevocationEvent(tx, { type: "webhook.created", webhookId: id, reason: `webhook ${id} created`, actor }, at, {
      client,
    });
  });
  auth.afterRevocation(event, []);
  return { id, secret: secret.text };
}

/** Every webhook, oldest first, with its newest delivery. Never the secret. */
export async function listWebhooks(auth: Auth): Promise<WebhookView[]> {
  const rows = await auth.db
    .select({
      id: webhooks.id,
      url: webhooks.url,
      events: webhooks.events,
      description: webhooks.description,
      createdAt: webhooks.createdAt,
    })
    .from(webhooks)
    .orderBy(asc(webhooks.createdAt), asc(webhooks.id));
  if (rows.length === 0) return [];
  const newest = await auth.db
    .selectDistinctOn([webhookDeliveries.webhookId], {
      webhookId: webhookDeliveries.webhookId,
      id: webhookDeliveries.id,
      status: webhookDeliveries.status,
      attempts: webhookDeliveries.attempts,
      updatedAt: webhookDeliveries.updatedAt,
      lastStatus: webhookDeliveries.lastStatus,
      lastError: webhookDeliveries.lastError,
    })
    .from(webhookDeliveries)
    .where(
      inArray(
        webhookDeliveries.webhookId,
        rows.map((r) => r.id),
      ),
    )
    .orderBy(webhookDeliveries.webhookId, desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id));
  const byWebhook = new Map(newest.map((d) => [d.webhookId, d]));
  return rows.map((row) => {
    const d = byWebhook.get(row.id);
    return {
      id: row.id,
      url: row.url,
      events: row.events as WebhookEventType[],
      description: row.description,
      createdAt: row.createdAt.getTime(),
      lastDelivery: d
        ? {
            id: d.id,
            status: d.status,
            attempts: d.attempts,
            at: d.updatedAt.getTime(),
            ...(d.lastStatus === null ? {} : { lastStatus: d.lastStatus }),
            ...(d.lastError === null ? {} : { lastError: d.lastError }),
          }
        : null,
    };
  });
}

/** Deletes a webhook (its pending deliveries go with it) and writes `webhook.deleted`, in one transaction. */
export async function deleteWebhook(auth: Auth, id: string, { actor, client }: MadeBy): Promise<{ ok: true }> {
  const at = auth.clock();
  const event = await auth.db.transaction(async (tx) => {
    const [deleted] = await tx.delete(webhooks).where(eq(webhooks.id, id)).returning({ id: webhooks.id });
    if (!deleted) throw new AuthError("NOT_FOUND", "no such webhook");
    return recordRevocationEvent(tx, { type: "webhook.deleted", webhookId: id, reason: `webhook ${id} deleted`, actor }, at, {
      client,
    });
  });
  auth.afterRevocation(event, []);
  return { ok: true };
}

/**
 * Queues a test delivery to one webhook: the delivery row and a `webhook.tested` event in one
 * transaction (the worker sends it). The webhook row is held FOR SHARE, so a concurrent delete
 * waits or wins: never a delivery of a deleted webhook.
 */
export async function testWebhook(auth: Auth, id: string, { actor, client }: MadeBy): Promise<{ deliveryId: string }> {
  const at = auth.clock();
  const deliveryId = randomUUID();
  const event = await auth.db.transaction(async (tx) => {
    const [webhook] = await tx.select({ id: webhooks.id }).from(webhooks).where(eq(webhooks.id, id)).for("share");
    if (!webhook) throw new AuthError("NOT_FOUND", "no such webhook");
    const event = await recordRevocationEvent(
      tx,
      { type: "webhook.tested", webhookId: id, deliveryId, reason: `webhook ${id} test delivery`, actor },
      at,
      { client },
    );
    await tx.insert(webhookDeliveries).values({
      id: deliveryId,
      webhookId: id,
      eventId: event.eventId,
      body: await webhookBodyOf(tx, event),
      createdAt: new Date(at),
      updatedAt: new Date(at),
    });
    return event;
  });
  auth.afterRevocation(event, []);
  return { deliveryId };
}

/**
 * After a data-key rotation: seals again under the current key every secret that only a previous
 * key opens (maintenance), so the old key can be dropped once this has run. A secret no key opens
 * is left as it is (its deliveries fail saying so). Each row is rewritten only if it is still the
 * ciphertext read (compare-and-swap). Returns how many were re-sealed.
 */
export async function resealWebhookSecrets(db: Database, secretKeys: readonly [Buffer, ...Buffer[]]): Promise<number> {
  const [current, ...previous] = secretKeys;
  if (previous.length === 0) return 0;
  const rows = await db.select({ id: webhooks.id, secretCiphertext: webhooks.secretCiphertext }).from(webhooks);
  let resealed = 0;
  for (const row of rows) {
    if (decryptWebhookSecret([current], row.id, row.secretCiphertext)) continue;
    const secret = decryptWebhookSecret(previous, row.id, row.secretCiphertext);
    if (!secret) continue;
    const updated = await db
      .update(webhooks)
      .set({ secretCiphertext: encryptWebhookSecret(current, row.id, secret) })
      .where(and(eq(webhooks.id, row.id), eq(webhooks.secretCiphertext, row.secretCiphertext)))
      .returning({ id: webhooks.id });
    resealed += updated.length;
  }
  return resealed;
}
