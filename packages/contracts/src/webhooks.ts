import { z } from "zod";
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "./event-types.js";
import type { RevocationEvent } from "./events.js";
import { CONTROL_CHARS, idSchema } from "./inputs.js";

/** The type of the delivery `admin.webhooks.test` sends: to that webhook only, whatever it subscribes to. */
export const WEBHOOK_TEST_TYPE = "webhook.test";
export type WebhookPayloadType = WebhookEventType | typeof WEBHOOK_TEST_TYPE;

/**
 * The webhook event type an outbox event is delivered as, or undefined when it is delivered to no
 * webhook. One type per event, so a webhook gets at most one delivery of it. A lock is `user.locked`
 * (it revokes every session too; the payload lists them), a plain user revocation `user.revoked`.
 * A password change is `password.changed` and a reset `password.reset`: the sessions they end are
 * not announced again as `user.revoked`. The switch is exhaustive: a new outbox event does not
 * compile until it is mapped here.
 */
export function webhookTypeOf(event: RevocationEvent): WebhookEventType | undefined {
  switch (event.type) {
    case "session.revoked":
    case "refresh_token.reused":
    case "user.role_changed":
    case "password.changed":
    case "password.reset":
    case "email.verified":
    case "user.signed_up":
    case "user.unlocked":
    case "user.deleted":
      return event.type;
    case "user.revoked":
      return event.lock ? "user.locked" : "user.revoked";
    case "email.requested":
    case "webhook.created":
    case "webhook.deleted":
    case "webhook.tested":
      return undefined;
    default: {
      const unmapped: never = event;
      return unmapped;
    }
  }
}

/**
 * What a delivery's body carries (Standard Webhooks' `{ type, timestamp, data }`): ids only, never a
 * token, a password, an email address or an IP. `timestamp` is when the event happened (ISO 8601, as
 * Standard Webhooks has it), so every attempt of a delivery sends the same body.
 */
export interface WebhookPayload {
  type: WebhookPayloadType;
  timestamp: string;
  data: {
    /** The outbox event: `admin.revocation` and `admin.audit` know it. */
    eventId: string;
    userId?: string;
    sessionIds?: string[];
    reason?: string;
    actor?: { type: "user" | "admin" | "system"; id: string | null };
  };
}

export const WEBHOOK_URL_MAX_LENGTH = 2048;
export const WEBHOOK_DESCRIPTION_MAX_LENGTH = 200;
/** Secrets are `whsec_` + base64 of this many random bytes (Standard Webhooks: 24 to 64). */
export const WEBHOOK_SECRET_BYTES = 32;
export const WEBHOOK_SECRET_PREFIX = "whsec_";

/**
 * What is wrong with a webhook URL's shape, or undefined. Where it may point (https only, no private
 * or loopback address) depends on WEBHOOKS_ALLOW_LOCAL and is checked by the auth server (`@warden/auth`).
 */
function urlShapeProblem(text: string): string | undefined {
  if (text.length > WEBHOOK_URL_MAX_LENGTH) return `must be at most ${WEBHOOK_URL_MAX_LENGTH} characters`;
  // The URL parser drops tabs and newlines silently: what was typed would not be what is called.
  if (CONTROL_CHARS.test(text) || /\s/u.test(text)) return "must not contain spaces or control characters";
  if (!URL.canParse(text)) return "must be a URL";
  const url = new URL(text);
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must be an https:// URL";
  if (url.username || url.password) return "must not contain a user name or password";
  if (url.hash) return "must not contain a #fragment";
  if (url.href.length > WEBHOOK_URL_MAX_LENGTH) return `must be at most ${WEBHOOK_URL_MAX_LENGTH} characters`;
  return undefined;
}

/** A webhook URL, in the canonical form the URL parser gives it (lower-case host, punycode). */
export const webhookUrlSchema = z
  .string()
  .superRefine((text, ctx) => {
    const problem = urlShapeProblem(text);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .transform((text) => new URL(text).href);

export const webhookEventsSchema = z
  .array(z.enum(WEBHOOK_EVENT_TYPES, { message: `must be one of ${WEBHOOK_EVENT_TYPES.join(", ")}` }))
  .min(1, { message: "must name at least one event type" })
  .max(WEBHOOK_EVENT_TYPES.length, { message: "must not repeat an event type" })
  .refine((types) => new Set(types).size === types.length, { message: "must not repeat an event type" });

export const webhookDescriptionSchema = z
  .string()
  .trim()
  .max(WEBHOOK_DESCRIPTION_MAX_LENGTH, { message: `must be at most ${WEBHOOK_DESCRIPTION_MAX_LENGTH} characters` })
  .refine((v) => !CONTROL_CHARS.test(v), { message: "must not contain control characters" });

export const adminWebhookCreateInput = z.object({
  url: webhookUrlSchema,
  events: webhookEventsSchema,
  description: webhookDescriptionSchema.optional(),
});
export type AdminWebhookCreateInput = z.infer<typeof adminWebhookCreateInput>;
export const adminWebhookIdInput = z.object({ id: idSchema });

export const WEBHOOK_DELIVERY_STATUSES = ["pending", "succeeded", "failed"] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

/** The newest delivery of a webhook, as `admin.webhooks.list` shows it. Times in epoch ms. */
export interface WebhookDeliveryView {
  /** The delivery's id: its `webhook-id` header, the same on every attempt. */
  id: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  /** The last attempt (or the delivery's creation, before any). */
  at: number;
  /** The HTTP status of the last attempt, when it got an answer. */
  lastStatus?: number;
  /** Why the last attempt failed. */
  lastError?: string;
}

export interface WebhookView {
  id: string;
  url: string;
  events: WebhookEventType[];
  description: string | null;
  createdAt: number;
  lastDelivery: WebhookDeliveryView | null;
}

/** Deliveries, sent by the admin worker (one job per delivery, jobId = delivery id). */
export const WEBHOOK_QUEUE = "warden-webhooks";

/** Job data on the webhook queue: the delivery's id only, never the secret or the payload. */
export const webhookJob = z.object({ deliveryId: idSchema });
export type WebhookJob = z.infer<typeof webhookJob>;

/** The longest wait between two attempts of a delivery. */
export const WEBHOOK_MAX_RETRY_DELAY_MS = 8 * 3_600_000;

/**
 * Attempts of a delivery: exponential backoff from 15 s, doubling, at most 8 h apart (`webhookRetryDelay`),
 * so the 14th and last attempt comes about 24.5 h after the first. Then the delivery is failed.
 */
export const WEBHOOK_JOB_OPTIONS = {
  attempts: 14,
  backoff: { type: "webhook", delay: 15_000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
} as const;

/** The wait after the `attemptsMade`-th failed attempt: first delay × 2^(attempts made − 1), capped. */
export function webhookRetryDelay(attemptsMade: number, firstDelayMs: number): number {
  return Math.min(firstDelayMs * 2 ** Math.max(0, attemptsMade - 1), WEBHOOK_MAX_RETRY_DELAY_MS);
}
