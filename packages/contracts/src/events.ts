import { z } from "zod";
import type { REVOCATION_EVENT_TYPES } from "./event-types.js";
import { idSchema, reasonSchema } from "./inputs.js";
import { ROLES } from "./outputs.js";

/** Who caused a revocation. `id` is a user id for users and admins, null for the system. */
export const actorSchema = z.object({
  type: z.enum(["user", "admin", "system"]),
  id: idSchema.nullable(),
});
export type Actor = z.infer<typeof actorSchema>;

const eventBase = {
  eventId: idSchema,
  reason: reasonSchema,
  actor: actorSchema,
  /** Epoch milliseconds when the revoking call committed. */
  at: z.number().int().nonnegative(),
};

export const sessionRevokedEvent = z.object({
  ...eventBase,
  type: z.literal("session.revoked"),
  userId: idSchema,
  sessionId: idSchema,
});
export const userRevokedEvent = z.object({
  ...eventBase,
  type: z.literal("user.revoked"),
  userId: idSchema,
  lock: z.boolean(),
});
export const refreshTokenReusedEvent = z.object({
  ...eventBase,
  type: z.literal("refresh_token.reused"),
  userId: idSchema,
  sessionId: idSchema,
  /** Id (not the token) of the refresh token that was presented again. */
  refreshTokenId: idSchema,
});

/**
 * A user's role changed. Ends no session: the user's access tokens issued before `at` (carrying the
 * old role) are refused everywhere through a per-user not-before, so clients renew.
 */
export const userRoleChangedEvent = z.object({
  ...eventBase,
  type: z.literal("user.role_changed"),
  userId: idSchema,
  role: z.enum(ROLES),
});
export type UserRoleChangedEvent = z.infer<typeof userRoleChangedEvent>;

/**
 * The user changed their password: every other session is revoked (those the producer marked with
 * this event), the one that made the change is kept.
 */
export const passwordChangedEvent = z.object({
  ...eventBase,
  type: z.literal("password.changed"),
  userId: idSchema,
  keptSessionId: idSchema,
});

/** A password reset through an emailed link: every session of the user is revoked. */
export const passwordResetEvent = z.object({
  ...eventBase,
  type: z.literal("password.reset"),
  userId: idSchema,
});

export const EMAIL_KINDS = ["password_reset", "email_verification"] as const;
export type EmailKind = (typeof EMAIL_KINDS)[number];

/**
 * An email to send: the worker queues it. `userId` is null when a reset was asked for an address
 * with no (unlocked) account: the request wrote the same event either way, and nothing is sent.
 * The link's token is not here: the worker rebuilds it from `eventId` with the data key.
 */
export const emailRequestedEvent = z.object({
  ...eventBase,
  type: z.literal("email.requested"),
  kind: z.enum(EMAIL_KINDS),
  userId: idSchema.nullable(),
});
export type EmailRequestedEvent = z.infer<typeof emailRequestedEvent>;

/** The user proved the mailbox (for the audit trail; ends no session). */
export const emailVerifiedEvent = z.object({
  ...eventBase,
  type: z.literal("email.verified"),
  userId: idSchema,
});

/** A new account (written in signup's transaction; ends no session). */
export const userSignedUpEvent = z.object({
  ...eventBase,
  type: z.literal("user.signed_up"),
  userId: idSchema,
});

/** An admin unlocked the account: it may sign in again (its sessions stay revoked). */
export const userUnlockedEvent = z.object({
  ...eventBase,
  type: z.literal("user.unlocked"),
  userId: idSchema,
});

/**
 * An admin deleted the account: every session is revoked (those the producer marked with this
 * event, as for `user.revoked`) and its personal data erased in place; the row stays, anonymised.
 */
export const userDeletedEvent = z.object({
  ...eventBase,
  type: z.literal("user.deleted"),
  userId: idSchema,
});

/** An admin created a webhook (for the audit trail; it is delivered to no webhook). Ids only: never its URL or secret. */
export const webhookCreatedEvent = z.object({
  ...eventBase,
  type: z.literal("webhook.created"),
  webhookId: idSchema,
});

/** An admin deleted a webhook (for the audit trail; it is delivered to no webhook). */
export const webhookDeletedEvent = z.object({
  ...eventBase,
  type: z.literal("webhook.deleted"),
  webhookId: idSchema,
});

/**
 * An admin asked for a test delivery (`admin.webhooks.test`): the request wrote the delivery row,
 * the worker queues it. Goes to that one webhook, whatever it subscribes to.
 */
export const webhookTestedEvent = z.object({
  ...eventBase,
  type: z.literal("webhook.tested"),
  webhookId: idSchema,
  deliveryId: idSchema,
});

/** Job data on the revocation queue (every outbox event travels on it). Ids only: never a token. */
export const revocationEvent = z.discriminatedUnion("type", [
  sessionRevokedEvent,
  userRevokedEvent,
  refreshTokenReusedEvent,
  userRoleChangedEvent,
  passwordChangedEvent,
  passwordResetEvent,
  emailRequestedEvent,
  emailVerifiedEvent,
  userSignedUpEvent,
  userUnlockedEvent,
  userDeletedEvent,
  webhookCreatedEvent,
  webhookDeletedEvent,
  webhookTestedEvent,
]);
export type RevocationEvent = z.infer<typeof revocationEvent>;
export type RevocationEventType = RevocationEvent["type"];

type SameMembers<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** The zod-free list of event types (`event-types.ts`) names every type of the union, and only those. */
const _everyTypeListed: SameMembers<RevocationEventType, (typeof REVOCATION_EVENT_TYPES)[number]> = true;

/**
 * The not-before (epoch ms) an event sets on its user: access tokens of the user issued before it
 * are refused (a role change: they carry the old role; a lock or a deletion: the account is closed).
 */
export function notBeforeOf(event: RevocationEvent): { userId: string; notBefore: number } | undefined {
  if (event.type === "user.role_changed" || event.type === "user.deleted" || (event.type === "user.revoked" && event.lock)) {
    return { userId: event.userId, notBefore: event.at };
  }
  return undefined;
}

/** Queue shared by the outbox relay (producer) and the admin worker (consumer). */
export const REVOCATION_QUEUE = "warden-revocations";
/** Emails sent by the admin worker over SMTP (one job per `email.requested` event, jobId = eventId). */
export const EMAIL_QUEUE = "warden-emails";

/** Job data on the email queue: ids only, never the link's token (rebuilt from the event id). */
export const emailJob = z.object({ eventId: idSchema, kind: z.enum(EMAIL_KINDS), userId: idSchema });
export type EmailJob = z.infer<typeof emailJob>;

export const EMAIL_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: "exponential", delay: 2_000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
} as const;

/** Maintenance jobs (pruning) run by the admin worker. */
export const MAINTENANCE_QUEUE = "warden-maintenance";

/**
 * BullMQ prefix. The braces are a Redis Cluster hash tag: every key of a queue lands in
 * one slot, which BullMQ's multi-key scripts need.
 */
export const DEFAULT_QUEUE_PREFIX = "{warden}";

export const REVOCATION_JOB_OPTIONS = {
  attempts: 10,
  backoff: { type: "exponential", delay: 250 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
} as const;

/** Redis keys and channel of the live revocation feed read by every verifier. */
export function revocationFeedKeys(prefix: string = DEFAULT_QUEUE_PREFIX) {
  return {
    channel: `${prefix}:revocations:feed`,
    /** Sorted set: member = session id, score = epoch ms after which the entry can go. */
    sessions: `${prefix}:revocations:sessions`,
    /** Sorted set: member = `<user id> <not-before epoch ms>`, score = epoch ms after which the entry can go. */
    notBefore: `${prefix}:revocations:not-before`,
  };
}

/** A user's access tokens issued before `notBefore` (epoch ms) are refused. */
export const userNotBefore = z.object({ userId: z.string().min(1).max(200), notBefore: z.number().int().nonnegative() });
export type UserNotBefore = z.infer<typeof userNotBefore>;

/**
 * One message on the feed: session ids whose access tokens must be refused until `until`, and
 * per-user not-befores kept until `until`. A message with only not-befores carries an empty
 * `sessionIds`, so older subscribers read it as nothing to do. `changedUsers`: accounts whose
 * cached views are out of date (a verified email); nothing is refused for them, and they are not
 * kept in the feed's sets (a missed one is stale for one session-cache TTL at most).
 */
export const revocationFeedMessage = z.object({
  sessionIds: z.array(z.string()).max(100_000),
  until: z.number(),
  notBefore: z.array(userNotBefore).max(100_000).optional(),
  changedUsers: z.array(z.string().min(1).max(200)).max(100_000).optional(),
});
export type RevocationFeedMessage = z.infer<typeof revocationFeedMessage>;
