import { z } from "zod";
import { idSchema, reasonSchema } from "./inputs.js";

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

/** Job data on the revocation queue. Ids only: never a token. */
export const revocationEvent = z.discriminatedUnion("type", [
  sessionRevokedEvent,
  userRevokedEvent,
  refreshTokenReusedEvent,
]);
export type RevocationEvent = z.infer<typeof revocationEvent>;
export type RevocationEventType = RevocationEvent["type"];
export const REVOCATION_EVENT_TYPES = ["session.revoked", "user.revoked", "refresh_token.reused"] as const;

/** Queue shared by the outbox relay (producer) and the admin worker (consumer). */
export const REVOCATION_QUEUE = "warden-revocations";
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
  };
}

/** One message on the feed: session ids whose access tokens must be refused until `until`. */
export const revocationFeedMessage = z.object({
  sessionIds: z.array(z.string()).max(100_000),
  until: z.number(),
});
export type RevocationFeedMessage = z.infer<typeof revocationFeedMessage>;
