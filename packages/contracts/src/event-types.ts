/**
 * The names of the event, audit and webhook types, as plain lists: the admin console imports them
 * (`@warden/contracts/event-types`) for its filters and checkboxes without pulling in zod, like the
 * client does `./procedures`. The schemas that give each type its shape live beside their use
 * (`events.ts`, `audit.ts`, `webhooks.ts`); `events.ts` checks that this list and its union agree.
 */

/** Every outbox event type (the `type` of the `revocationEvent` union). */
export const REVOCATION_EVENT_TYPES = [
  "session.revoked",
  "user.revoked",
  "refresh_token.reused",
  "user.role_changed",
  "password.changed",
  "password.reset",
  "email.requested",
  "email.verified",
  "user.signed_up",
  "user.unlocked",
  "user.deleted",
  "webhook.created",
  "webhook.deleted",
  "webhook.tested",
] as const;

/**
 * Login attempts. They publish nothing, so they are no outbox events: the auth server writes their
 * audit rows itself (a success in the statement that opens the session, a refusal in one statement).
 * `login.refused`: the password was right but the account is locked or its email unverified.
 */
export const LOGIN_AUDIT_TYPES = ["login.succeeded", "login.failed", "login.refused"] as const;

/**
 * Every type an audit entry can have: each outbox event's (the worker writes one entry per applied
 * event, whatever its type), a lock (`user.revoked` with `lock`, shown as `user.locked`), and the
 * login attempts.
 */
export const AUDIT_TYPES = [...REVOCATION_EVENT_TYPES, "user.locked", ...LOGIN_AUDIT_TYPES] as const;
export type AuditType = (typeof AUDIT_TYPES)[number];

/** What a webhook can subscribe to (SPEC). Each comes from one kind of outbox event: `webhookTypeOf`. */
export const WEBHOOK_EVENT_TYPES = [
  "session.revoked",
  "user.revoked",
  "user.locked",
  "user.unlocked",
  "user.role_changed",
  "user.deleted",
  "refresh_token.reused",
  "password.changed",
  "password.reset",
  "email.verified",
  "user.signed_up",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
