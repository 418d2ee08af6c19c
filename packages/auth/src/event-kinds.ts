import type { RevocationEvent } from "@warden/contracts";
import { sessions } from "@warden/db";
import { asc, eq } from "drizzle-orm";
import type { DbOrTx } from "./sessions.js";

/**
 * What each kind of event does to sessions. Every event type is listed (the compiler refuses a new
 * one until it is): `one-session` and `user-wide` events end sessions (a user-wide producer marked
 * every session it revoked with the event's id); a `notice` ends none (a role change, an email, a
 * signup, an unlock). Applying an event and the webhook payload that lists the sessions it ended
 * both read it from here.
 */
export const EVENT_KINDS = {
  "session.revoked": "one-session",
  "refresh_token.reused": "one-session",
  "user.revoked": "user-wide",
  "password.changed": "user-wide",
  "password.reset": "user-wide",
  "user.deleted": "user-wide",
  "user.role_changed": "notice",
  "email.requested": "notice",
  "email.verified": "notice",
  "user.signed_up": "notice",
  "user.unlocked": "notice",
  "webhook.created": "notice",
  "webhook.deleted": "notice",
  "webhook.tested": "notice",
} as const satisfies Record<RevocationEvent["type"], "one-session" | "user-wide" | "notice">;
type KindOf<K> = { [T in keyof typeof EVENT_KINDS]: (typeof EVENT_KINDS)[T] extends K ? T : never }[keyof typeof EVENT_KINDS];
/** An event that ends sessions: one, or those of a user its producer marked. */
export type SessionEndingEvent = Extract<RevocationEvent, { type: KindOf<"one-session" | "user-wide"> }>;
export type UserWideEvent = Extract<SessionEndingEvent, { type: KindOf<"user-wide"> }>;
export type Notice = Extract<RevocationEvent, { type: KindOf<"notice"> }>;

export function isUserWide(event: SessionEndingEvent): event is UserWideEvent {
  return EVENT_KINDS[event.type] === "user-wide";
}

export function isNotice(event: RevocationEvent): event is Notice {
  return EVENT_KINDS[event.type] === "notice";
}

/**
 * Sessions the event covers: exactly those its producer revoked. A user revocation holds the user
 * row FOR UPDATE and a login holds it FOR SHARE until its session commits, so the producer already
 * saw every session committed before it, and every later one is a new login that stays alive (no
 * comparison of one server's clock with another's). A plain read, so a redelivery finds the same
 * set. With `limit`, at most that many, in id order.
 */
export async function coveredSessions(tx: DbOrTx, event: SessionEndingEvent, limit?: number): Promise<string[]> {
  if (!isUserWide(event)) {
    // The producer marked this session revoked in the event's own transaction.
    return [event.sessionId];
  }
  const covered = tx.select({ id: sessions.id }).from(sessions).where(eq(sessions.revokedEventId, event.eventId));
  const rows = limit === undefined ? await covered : await covered.orderBy(asc(sessions.id)).limit(limit);
  return rows.map((r) => r.id);
}
