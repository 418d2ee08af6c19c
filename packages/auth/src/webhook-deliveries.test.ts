import { randomUUID } from "node:crypto";
import {
  revocationEvent,
  WEBHOOK_EVENT_TYPES,
  webhookTypeOf,
  type RevocationEvent,
  type WebhookPayload,
} from "@warden/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_KINDS } from "./event-kinds.js";
import { markSessionsRevoked, recordRevocationEvent } from "./revoke.js";
import { createTestAuth, type TestAuth } from "./testing.js";
import { login, signup } from "./users.js";
import { createWebhookDeliveries, deliveryToSend } from "./webhook-deliveries.js";
import { createWebhook } from "./webhooks.js";

let t: TestAuth;
const password = "correct horse battery";
const SYSTEM = { type: "system", id: null } as const;

beforeAll(async () => {
  t = await createTestAuth();
  // One webhook subscribed to everything: every deliverable event gets a delivery.
  await createWebhook(t.auth, { url: "https://hooks.example.com/all", events: [...WEBHOOK_EVENT_TYPES] }, { actor: SYSTEM });
});
afterAll(() => t.close());

/** A user with two live sessions. */
async function userWithTwoSessions() {
  const email = `${randomUUID()}@example.com`;
  const first = await signup(t.auth, { email, password }, {});
  const second = await login(t.auth, { email, password }, {});
  return { userId: first.user.id, sessionIds: [first.sessionId, second.sessionId] };
}

/** An event of `type` about the user, committed with what its kind does to sessions; the sessions it ended. */
async function commitEvent(type: RevocationEvent["type"], user: { userId: string; sessionIds: string[] }) {
  // Every field any event type has: the schema keeps those of this type.
  const event = revocationEvent.parse({
    type,
    eventId: randomUUID(),
    reason: "test",
    actor: SYSTEM,
    at: t.auth.clock(),
    userId: user.userId,
    sessionId: user.sessionIds[0],
    keptSessionId: randomUUID(),
    refreshTokenId: randomUUID(),
    lock: false,
    role: "admin",
    kind: "email_verification",
    webhookId: randomUUID(),
    deliveryId: randomUUID(),
  });
  const kind = EVENT_KINDS[type];
  const ended = await t.auth.db.transaction(async (tx) => {
    const { eventId, at, ...fields } = event;
    await recordRevocationEvent(tx, fields, at, { eventId });
    if (kind === "notice") return [];
    const scope = kind === "one-session" ? { sessionId: user.sessionIds[0]! } : { userId: user.userId };
    return markSessionsRevoked(tx, scope, eventId, "test", at);
  });
  return { event, ended };
}

async function payloadOf(event: RevocationEvent) {
  const [deliveryId] = await createWebhookDeliveries(t.auth.db, event, new Date());
  const delivery = await deliveryToSend(t.auth.db, t.auth.webhookSecretKeys, deliveryId!);
  if (delivery.state !== "send") throw new Error(`delivery ${delivery.state}`);
  return JSON.parse(delivery.body) as WebhookPayload;
}

describe("webhook payloads", () => {
  it("every kind of event that ends sessions lists them (EVENT_KINDS, as applying it reads them); a notice lists none", async () => {
    for (const type of Object.keys(EVENT_KINDS) as RevocationEvent["type"][]) {
      const { event, ended } = await commitEvent(type, await userWithTwoSessions());
      if (!webhookTypeOf(event)) continue;
      const payload = await payloadOf(event);
      if (EVENT_KINDS[type] === "notice") expect(payload.data.sessionIds, type).toBeUndefined();
      else expect(payload.data.sessionIds, type).toEqual([...ended].sort());
    }
  });

  it("a delivery made before bodies were stored gets its body from the outbox event once, and keeps it when the event is pruned", async () => {
    const { event, ended } = await commitEvent("user.revoked", await userWithTwoSessions());
    const [deliveryId] = await createWebhookDeliveries(t.auth.db, event, new Date());
    await t.database.sql`update webhook_deliveries set body = null where id = ${deliveryId!}`;
    const first = await deliveryToSend(t.auth.db, t.auth.webhookSecretKeys, deliveryId!);
    if (first.state !== "send") throw new Error(`delivery ${first.state}`);
    expect(JSON.parse(first.body)).toMatchObject({
      type: "user.revoked",
      data: { eventId: event.eventId, sessionIds: ended.sort() },
    });
    await t.database.sql`delete from outbox_events where id = ${event.eventId}`;
    await t.database.sql`delete from sessions where revoked_event_id = ${event.eventId}`;
    expect(await deliveryToSend(t.auth.db, t.auth.webhookSecretKeys, deliveryId!)).toMatchObject({
      state: "send",
      body: first.body,
    });

    // One the outbox no longer has cannot be built: it is unsendable, saying why.
    const { event: lost } = await commitEvent("session.revoked", await userWithTwoSessions());
    const [lostDelivery] = await createWebhookDeliveries(t.auth.db, lost, new Date());
    await t.database.sql`update webhook_deliveries set body = null where id = ${lostDelivery!}`;
    await t.database.sql`delete from outbox_events where id = ${lost.eventId}`;
    expect(await deliveryToSend(t.auth.db, t.auth.webhookSecretKeys, lostDelivery!)).toEqual({
      state: "unsendable",
      why: "its event is no longer in the outbox",
    });
  });
});
