import { deliveryToSend, recordDeliveryAttempt } from "@warden/auth";
import { webhookJob } from "@warden/contracts";
import type { Database } from "@warden/db";
import { UnrecoverableError } from "bullmq";
import { postWebhook, signWebhook, type WebhookClientOptions } from "./webhook-http.js";

export interface WebhookSettings extends WebhookClientOptions {
  /** Attempts and first backoff of a delivery (default WEBHOOK_JOB_OPTIONS: 14, from 15 s, doubling, at most 8 h apart). */
  retry?: { attempts: number; delayMs: number };
  /** Deliveries sent at once by this worker (default 8). */
  concurrency?: number;
  /**
   * The sweep for deliveries whose job Redis lost or failed without marking them (`recoverLostDeliveries`):
   * how often it runs (default 5 s) and how old a pending delivery must be to be looked at (default 1 min).
   */
  lostJobCheck?: { everyMs?: number; olderThanMs?: number };
}

/**
 * How a delivery attempt ended: `succeeded` (a 2xx), `attempt_failed` (another attempt follows),
 * `failed` (attempts used up, a target that may not be called, or the job failed for good outside
 * HTTP: the delivery is failed), `dropped`
 * (the webhook was deleted, or the delivery had ended already).
 */
export const WEBHOOK_OUTCOMES = ["succeeded", "attempt_failed", "failed", "dropped"] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

export interface WebhookSender {
  /**
   * Sends one attempt of a delivery job. Throws when it failed (BullMQ retries it with backoff
   * unless it was the last attempt or the target is refused).
   */
  process(data: unknown, attempt: { last: boolean }): Promise<WebhookOutcome>;
}

const USER_AGENT = "Warden-Webhooks/1 (+https://www.standardwebhooks.com)";

/**
 * Sends the deliveries of the webhook queue. The job holds the delivery id only: the URL, the
 * secret (decrypted with the data key) and the body (stored with the delivery when it was created)
 * are read on each attempt, and every attempt is recorded on the delivery row. `webhook-id` is the
 * delivery's id and the body is the same on every attempt; `webhook-timestamp` and the signature
 * are the attempt's.
 */
export function createWebhookSender(
  db: Database,
  secretKeys: readonly Buffer[],
  settings: WebhookSettings,
  observe: (outcome: WebhookOutcome, lagSeconds?: number) => void = () => {},
  now: () => number = Date.now,
): WebhookSender {
  return {
    async process(data, attempt) {
      const parsed = webhookJob.safeParse(data);
      if (!parsed.success) throw new UnrecoverableError(`malformed webhook job: ${parsed.error.issues[0]?.message ?? "invalid"}`);
      const { deliveryId } = parsed.data;
      const delivery = await deliveryToSend(db, secretKeys, deliveryId);
      if (delivery.state === "gone" || delivery.state === "finished") {
        observe("dropped");
        return "dropped";
      }
      if (delivery.state === "unsendable") {
        await recordDeliveryAttempt(db, deliveryId, { status: "failed", error: delivery.why }, new Date(now()));
        observe("failed");
        throw new UnrecoverableError(delivery.why);
      }
      const { body } = delivery;
      const timestamp = Math.floor(now() / 1000);
      const answer = await postWebhook(
        {
          url: delivery.url,
          body,
          headers: {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": deliveryId,
            "webhook-timestamp": String(timestamp),
            "webhook-signature": signWebhook(delivery.secret, deliveryId, timestamp, body),
          },
        },
        settings,
      );
      const at = new Date(now());
      if (answer.ok) {
        await recordDeliveryAttempt(db, deliveryId, { status: "succeeded", httpStatus: answer.status }, at);
        observe("succeeded", Math.max(0, at.getTime() - delivery.eventAt) / 1000);
        return "succeeded";
      }
      const final = attempt.last || answer.refused === true;
      await recordDeliveryAttempt(
        db,
        deliveryId,
        { status: final ? "failed" : "pending", httpStatus: answer.status, error: answer.error },
        at,
      );
      observe(final ? "failed" : "attempt_failed");
      throw answer.refused ? new UnrecoverableError(answer.error) : new Error(answer.error);
    },
  };
}
