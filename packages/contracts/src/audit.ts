import { z } from "zod";
import { AUDIT_TYPES, type AuditType } from "./event-types.js";
import type { RevocationEvent } from "./events.js";
import { idSchema, pageLimitSchema } from "./inputs.js";

/** The audit type of an applied event: its own, but a lock reads as one. */
export function auditTypeOf(event: RevocationEvent): AuditType {
  return event.type === "user.revoked" && event.lock ? "user.locked" : event.type;
}

/** Who an audit entry says acted: `anonymous` is a caller not signed in (a login attempt). */
export const AUDIT_ACTOR_TYPES = ["user", "admin", "system", "anonymous"] as const;
export type AuditActorType = (typeof AUDIT_ACTOR_TYPES)[number];

/** Audit ids are PostgreSQL bigints: a cursor beyond the largest one cannot come from a page. */
const AUDIT_CURSOR_MAX = 2n ** 63n - 1n;
/**
 * The last millisecond of year 9999: later instants serialise as ISO strings with a six-digit year
 * (`+275760-…`), which PostgreSQL does not read.
 */
const EPOCH_MS_MAX = 253_402_300_799_999;
const epochMsSchema = z.number().int().min(0).max(EPOCH_MS_MAX);

export const adminAuditInput = z
  .object({
    cursor: z
      .string()
      .max(64)
      .regex(/^\d+$/, { message: "must be a cursor from a previous page" })
      // Zod runs this even after the regex failed: only digits reach BigInt.
      .refine((v) => !/^\d+$/.test(v) || BigInt(v) <= AUDIT_CURSOR_MAX, { message: "must be a cursor from a previous page" })
      .optional(),
    limit: pageLimitSchema.optional(),
    /** Entries about this user, or made by them as an admin. */
    userId: idSchema.optional(),
    type: z.enum(AUDIT_TYPES).optional(),
    /** Epoch ms: entries that occurred at or after `from` and before `to`. */
    from: epochMsSchema.optional(),
    to: epochMsSchema.optional(),
  })
  .refine((v) => v.from === undefined || v.to === undefined || v.from <= v.to, {
    message: "must not be after to",
    path: ["from"],
  })
  .optional();
export type AdminAuditInput = z.infer<typeof adminAuditInput>;

/** A user an audit entry names, with the email as it is now: null once the account is deleted. */
export interface AuditUserRef {
  id: string;
  email: string | null;
  deleted: boolean;
}

/** One audit entry as admin.audit shows it. Times are epoch ms. */
export interface AuditEntry {
  /** Its place in the log (a bigint as a string): the cursor of the next page. */
  id: string;
  /** The outbox event it records; null for a login attempt. */
  eventId: string | null;
  type: AuditType;
  occurredAt: number;
  /** When the worker applied the event (a login attempt: when it occurred). */
  appliedAt: number;
  actor: { type: AuditActorType; id: string | null; email: string | null };
  /** The account it is about (null for a login attempt with an unknown email). */
  user: AuditUserRef | null;
  /** `user.id`, as older readers of the log take it. */
  userId: string | null;
  sessionId: string | null;
  sessionsRevoked: number;
  /** Where the request that made it came from (null when no request did, or once erased). */
  ip: string | null;
  userAgent: string | null;
  reason: string;
}
