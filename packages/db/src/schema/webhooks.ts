import type { WebhookDeliveryStatus } from "@warden/contracts";
import { sql } from "drizzle-orm";
import { index, integer, pgTable, text, timestamp, unique, uuid } from "drizzle-orm/pg-core";

/**
 * Webhook subscriptions. The signing secret is kept encrypted (AES-256-GCM under a key derived from
 * WARDEN_DATA_KEY, the row id as associated data): signing needs it back, a database dump alone
 * does not give it.
 */
export const webhooks = pgTable("webhooks", {
  id: uuid().primaryKey(),
  url: text().notNull(),
  /** Webhook event types it subscribes to (WEBHOOK_EVENT_TYPES). */
  events: text().array().notNull(),
  description: text(),
  /** `v1.<base64url of iv, ciphertext, tag>` (see webhook-secrets.ts in @warden/auth). */
  secretCiphertext: text().notNull(),
  createdAt: timestamp({ withTimezone: true }).notNull(),
  /** The admin who created it. */
  createdBy: uuid(),
});

/**
 * One delivery of one outbox event to one webhook. Its id is the Standard Webhooks `webhook-id`, the
 * same on every attempt; (webhook, event) is unique, so a redelivered event makes no second one.
 */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    id: uuid().primaryKey(),
    webhookId: uuid()
      .notNull()
      .references(() => webhooks.id, { onDelete: "cascade" }),
    eventId: uuid().notNull(),
    /** One of WEBHOOK_DELIVERY_STATUSES (@warden/contracts), the states `admin.webhooks.list` shows. */
    status: text().$type<WebhookDeliveryStatus>().notNull().default("pending"),
    attempts: integer().notNull().default(0),
    /** HTTP status of the last attempt that got an answer. */
    lastStatus: integer(),
    lastError: text(),
    /**
     * The request body (the payload as JSON: ids only), built when the delivery is created and sent
     * as it is on every attempt, whatever is pruned meanwhile. Null on deliveries made before bodies
     * were stored: their first attempt builds it from the outbox event and keeps it.
     */
    body: text(),
    createdAt: timestamp({ withTimezone: true }).notNull(),
    /** The last attempt, or the creation before any. */
    updatedAt: timestamp({ withTimezone: true }).notNull(),
  },
  (t) => [
    unique("webhook_deliveries_webhook_event_key").on(t.webhookId, t.eventId),
    index("webhook_deliveries_event_idx").on(t.eventId),
    // `admin.webhooks.list` reads each webhook's newest delivery.
    index("webhook_deliveries_newest_idx").on(t.webhookId, t.createdAt.desc()),
    // The worker's sweep for pending deliveries whose job Redis lost or failed: only the pending few.
    index("webhook_deliveries_pending_idx")
      .on(t.id)
      .where(sql`${t.status} = 'pending'`),
    // Maintenance prunes finished deliveries older than the retention.
    index("webhook_deliveries_finished_idx")
      .on(t.updatedAt)
      .where(sql`${t.status} <> 'pending'`),
  ],
);

export type WebhookRow = typeof webhooks.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
