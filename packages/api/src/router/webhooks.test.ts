import { randomUUID } from "node:crypto";
import { createAdmin } from "@warden/auth";
import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import type { WardenErrorData } from "@warden/contracts";
import { outboxEvents } from "@warden/db";
import { desc } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatError } from "../errors.js";
import { callerFor, reasonOf, signUp } from "../testing.js";

let t: TestAuth;
/** The same database, with WEBHOOKS_ALLOW_LOCAL=true. */
let local: TestAuth;
const password = "correct horse battery";
let adminId: string;
let adminToken: string;

beforeAll(async () => {
  t = await createTestAuth();
  await createAdmin(t.auth, "root@example.com", password);
  const login = await callerFor(t.auth).auth.login({ email: "root@example.com", password });
  adminToken = login.accessToken;
  adminId = login.user.id;
  local = await createTestAuth({ settings: { webhooksAllowLocal: true } });
  await createAdmin(local.auth, "root@example.com", password);
});
afterAll(async () => {
  await t.close();
  await local.close();
});

const admin = () => callerFor(t.auth, adminToken).admin.webhooks;
const valid = {
  url: "https://hooks.example.com/warden",
  events: ["session.revoked", "user.locked"] as ("session.revoked" | "user.locked")[],
};

/** `error.data` as the wire shows it. */
async function errorOf(promise: Promise<unknown>): Promise<WardenErrorData> {
  try {
    await promise;
  } catch (error) {
    return formatError(error as never, undefined).data;
  }
  throw new Error("expected the call to fail");
}

/** Every row a webhook call can write. */
async function rowCounts(db = t.database) {
  const [row] = await db.sql`select (select count(*) from webhooks) as webhooks,
    (select count(*) from webhook_deliveries) as deliveries, (select count(*) from outbox_events) as outbox`;
  return row;
}

async function newestEvent() {
  const [row] = await t.database.db
    .select({ type: outboxEvents.type, payload: outboxEvents.payload })
    .from(outboxEvents)
    .orderBy(desc(outboxEvents.seq))
    .limit(1);
  return row!;
}

describe("admin.webhooks", () => {
  it("create answers the id and the secret once; list shows the webhook without it; the row holds only ciphertext", async () => {
    const created = await admin().create({ ...valid, description: "fraud team" });
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const listed = (await admin().list()).find((w) => w.id === created.id);
    expect(listed).toEqual({
      id: created.id,
      url: valid.url,
      events: ["session.revoked", "user.locked"],
      description: "fraud team",
      createdAt: expect.any(Number),
      lastDelivery: null,
    });
    expect(JSON.stringify(await admin().list())).not.toContain(created.secret.slice(6));

    // Neither the secret's text nor its bytes in any spelling sit in the database.
    const bytes = Buffer.from(created.secret.slice("whsec_".length), "base64");
    const dump =
      JSON.stringify(await t.database.sql`select * from webhooks`) +
      JSON.stringify(await t.database.sql`select * from outbox_events`);
    for (const spelling of [created.secret.slice(6), bytes.toString("base64url"), bytes.toString("hex")]) {
      expect(dump).not.toContain(spelling);
    }

    // The change and its event in one transaction; the event carries ids only.
    const event = await newestEvent();
    expect(event.type).toBe("webhook.created");
    expect(event.payload).toMatchObject({ webhookId: created.id, actor: { type: "admin", id: adminId } });
    expect(JSON.stringify(event.payload)).not.toContain("hooks.example.com");
  });

  it("test queues a delivery, shown pending as the webhook's lastDelivery, with its webhook.tested event", async () => {
    const { id } = await admin().create(valid);
    const { deliveryId } = await admin().test({ id });
    expect((await admin().list()).find((w) => w.id === id)?.lastDelivery).toEqual({
      id: deliveryId,
      status: "pending",
      attempts: 0,
      at: expect.any(Number),
    });
    const event = await newestEvent();
    expect(event).toMatchObject({ type: "webhook.tested", payload: { webhookId: id, deliveryId } });
  });

  it("delete removes the webhook and its deliveries, with a webhook.deleted event; then it is NOT_FOUND", async () => {
    const { id } = await admin().create(valid);
    await admin().test({ id });
    expect(await admin().delete({ id })).toEqual({ ok: true });
    expect((await admin().list()).map((w) => w.id)).not.toContain(id);
    expect(await t.database.sql`select id from webhook_deliveries where webhook_id = ${id}`).toHaveLength(0);
    expect(await newestEvent()).toMatchObject({ type: "webhook.deleted", payload: { webhookId: id } });
    const before = await rowCounts();
    expect(await reasonOf(admin().delete({ id }))).toBe("NOT_FOUND");
    expect(await reasonOf(admin().test({ id }))).toBe("NOT_FOUND");
    expect(await reasonOf(admin().test({ id: randomUUID() }))).toBe("NOT_FOUND");
    expect(await rowCounts()).toEqual(before);
  });

  it("bad input is VALIDATION_FAILED with the reason, and nothing is written", async () => {
    const cases: [unknown, string][] = [
      [{ ...valid, url: "not-a-url" }, "url: must be a URL"],
      [{ ...valid, url: `https://example.com/${"x".repeat(2048)}` }, "url: must be at most 2048 characters"],
      [
        { ...valid, url: "http://hooks.example.com/x" },
        "url: must be an https:// URL (http:// only for loopback with WEBHOOKS_ALLOW_LOCAL=true)",
      ],
      [{ ...valid, url: "https://127.0.0.1:8443/x" }, "url: must not point to a loopback address (WEBHOOKS_ALLOW_LOCAL is off)"],
      [{ ...valid, url: "http://localhost:8080/x" }, "url: must not point to a loopback address (WEBHOOKS_ALLOW_LOCAL is off)"],
      [
        { ...valid, url: "https://169.254.169.254/latest" },
        "url: must not point to a private address: 169.254.169.254 is a linkLocal address: webhooks may only call public addresses",
      ],
      [
        { ...valid, url: "https://[::ffff:10.0.0.1]/x" },
        "url: must not point to a private address: 10.0.0.1 is a private address: webhooks may only call public addresses",
      ],
      [{ ...valid, url: "https://ops:hunter2@hooks.example.com/" }, "url: must not contain a user name or password"],
      [{ ...valid, events: [] }, "events: must name at least one event type"],
      [{ ...valid, events: ["user.revoked", "user.revoked"] }, "events: must not repeat an event type"],
      [{ ...valid, events: ["email.requested"] }, "events.0: must be one of"],
      [{ ...valid, description: "x".repeat(201) }, "description: must be at most 200 characters"],
      [{ events: valid.events }, "url: "],
    ];
    const before = await rowCounts();
    for (const [input, expected] of cases) {
      const data = await errorOf(admin().create(input as never));
      expect(data.reason).toBe("VALIDATION_FAILED");
      expect(data.httpStatus).toBe(400);
      const issues = (data.issues ?? []).map((i) => `${i.path}: ${i.message}`);
      expect(
        issues.some((issue) => issue.startsWith(expected)),
        `${JSON.stringify(issues)} for ${expected}`,
      ).toBe(true);
    }
    for (const input of [{}, { id: "nope" }, null]) {
      expect(await reasonOf(admin().delete(input as never))).toBe("VALIDATION_FAILED");
      expect(await reasonOf(admin().test(input as never))).toBe("VALIDATION_FAILED");
    }
    expect(await rowCounts()).toEqual(before);
  });

  it("with WEBHOOKS_ALLOW_LOCAL loopback http(s) is accepted; private addresses still are not", async () => {
    const token = (await callerFor(local.auth).auth.login({ email: "root@example.com", password })).accessToken;
    const webhooks = callerFor(local.auth, token).admin.webhooks;
    for (const url of ["http://127.0.0.1:8080/hook", "https://[::1]:8443/hook", "http://localhost:9000/"]) {
      expect((await webhooks.create({ url, events: ["user.revoked"] })).secret).toMatch(/^whsec_/);
    }
    const data = await errorOf(webhooks.create({ url: "http://192.168.1.20/hook", events: ["user.revoked"] }));
    expect(data.issues).toEqual([
      { path: "url", message: "must be an https:// URL (http:// only for loopback with WEBHOOKS_ALLOW_LOCAL=true)" },
    ]);
    expect(
      (await errorOf(webhooks.create({ url: "https://192.168.1.20/hook", events: ["user.revoked"] }))).issues?.[0]?.message,
    ).toMatch(/private address/);
  });

  it("a non-admin gets FORBIDDEN whatever the input (authorization first), anonymous TOKEN_MISSING; nothing written", async () => {
    const { id } = await admin().create(valid);
    const user = await signUp(t.auth, { email: `u-${randomUUID()}@example.com`, password });
    const before = await rowCounts();
    for (const [token, reason] of [
      [user.accessToken, "FORBIDDEN"],
      [undefined, "TOKEN_MISSING"],
    ] as const) {
      const webhooks = callerFor(t.auth, token).admin.webhooks;
      const calls = {
        create: () => webhooks.create(valid),
        "create (garbage)": () => webhooks.create({ url: 5 } as never),
        list: () => webhooks.list(),
        delete: () => webhooks.delete({ id }),
        "delete (garbage)": () => webhooks.delete({ id: "x" }),
        test: () => webhooks.test({ id }),
        "test (garbage)": () => webhooks.test({} as never),
      };
      for (const [name, call] of Object.entries(calls)) expect(`${name}: ${await reasonOf(call())}`).toBe(`${name}: ${reason}`);
    }
    expect(await rowCounts()).toEqual(before);
  });
});
