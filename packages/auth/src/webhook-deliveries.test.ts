import { randomUUID } from "node:crypto";
import {
  revocationEvent,
  WEBHOOK_EVENT_TYPES,
  webhookRetryDelay,
  webhookTypeOf,
  type RevocationEvent,
  type WebhookPayload,
} from "@warden/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_KINDS } from "./event-kinds.js";
import { markSessionsRevoked, recordRevocationEvent } from "./revoke.js";
import { createTestAuth, type TestAuth } from "./testing.js";
import { login, signup } from "./users.js";
import { createWebhookDeliveries, deliveryToSend, recoverLostDeliveries, type DeliveryJobState } from "./webhook-deliveries.js";
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

describe("webhook deliveries", () => {
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

describe("recoverLostDeliveries", () => {
  it("the lost-job sweep queues a lost delivery again with the attempts it had left, its next when its schedule says; fails one whose job failed or had no attempt left; leaves the rest", async () => {
    const [hook] = await t.database.sql<{ id: string }[]>`select id from webhooks limit 1`;
    const now = Date.now();
    const delivery = async (
      tag: string,
      row: { attempts?: number; ageMs?: number; lastAttemptMsAgo?: number; status?: string },
    ) => {
      const id = randomUUID();
      const createdAt = new Date(now - (row.ageMs ?? 120_000)).toISOString();
      const updatedAt = new Date(now - (row.lastAttemptMsAgo ?? row.ageMs ?? 120_000)).toISOString();
      await t.database.sql`
        insert into webhook_deliveries (id, webhook_id, event_id, status, attempts, body, created_at, updated_at)
        values (${id}, ${hook!.id}, ${randomUUID()}, ${row.status ?? "pending"}, ${row.attempts ?? 0}, ${tag}, ${createdAt}, ${updatedAt})`;
      return id;
    };
    // The deliveries of earlier tests are done with: their jobs count as queued.
    const lostFresh = await delivery("lost before any attempt", {});
    const lostMidway = await delivery("lost after two attempts", { attempts: 2, lastAttemptMsAgo: 10_000 });
    const lostLongAgo = await delivery("lost after two attempts, long ago", { attempts: 2, lastAttemptMsAgo: 3_600_000 });
    const usedUp = await delivery("lost after its last attempt", { attempts: 14 });
    const failedJob = await delivery("its job failed", { attempts: 1 });
    const queued = await delivery("still queued", { attempts: 1 });
    const young = await delivery("just made", { ageMs: 1_000 });
    const ended = await delivery("succeeded", { attempts: 1, status: "succeeded" });
    const states: Record<string, DeliveryJobState> = {
      [lostFresh]: { state: "missing" },
      [lostMidway]: { state: "missing" },
      [lostLongAgo]: { state: "missing" },
      [usedUp]: { state: "missing" },
      [failedJob]: { state: "failed", reason: "job stalled more than allowable limit\n    at somewhere" },
      [queued]: { state: "queued" },
    };
    const asked: string[] = [];
    const requeued: { deliveryId: string; attempts: number; delayMs: number }[] = [];
    const sweep = (after?: string) =>
      recoverLostDeliveries(t.auth.db, {
        jobStates: (ids) => {
          asked.push(...ids);
          return Promise.resolve(ids.map((id) => states[id] ?? { state: "queued" }));
        },
        requeue: (jobs) => {
          requeued.push(...jobs);
          return Promise.resolve();
        },
        createdBeforeMs: 60_000,
        schedule: { attempts: 14, delayAfter: (n) => webhookRetryDelay(n, 15_000) },
        now,
        after,
        limit: 3,
      });
    const results = [];
    let next: string | undefined;
    do {
      const result = await sweep(next);
      results.push(result);
      next = result.next;
    } while (next);
    expect(results.length).toBeGreaterThan(1);
    expect(asked).not.toContain(young);
    expect(asked).not.toContain(ended);
    expect(requeued.sort((x, y) => x.deliveryId.localeCompare(y.deliveryId))).toEqual(
      [
        { deliveryId: lostFresh, attempts: 14, delayMs: 0 },
        // Its third attempt was due 30 s after its second, made 10 s ago.
        { deliveryId: lostMidway, attempts: 12, delayMs: 20_000 },
        { deliveryId: lostLongAgo, attempts: 12, delayMs: 0 },
      ].sort((x, y) => x.deliveryId.localeCompare(y.deliveryId)),
    );
    expect(results.flatMap((r) => r.failed).sort()).toEqual([usedUp, failedJob].sort());
    const rows = await t.database.sql<{ id: string; status: string; last_error: string | null }[]>`
      select id, status, last_error from webhook_deliveries where id in ${t.database.sql([usedUp, failedJob, queued, lostFresh])}`;
    expect(Object.fromEntries(rows.map((r) => [r.id, [r.status, r.last_error]]))).toEqual({
      [usedUp]: ["failed", "not sent: its job was lost after its last attempt"],
      [failedJob]: ["failed", "not sent: its job failed for good: job stalled more than allowable limit"],
      [queued]: ["pending", null],
      [lostFresh]: ["pending", null],
    });
  });
});
