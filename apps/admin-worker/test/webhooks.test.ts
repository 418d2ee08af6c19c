import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { callerFor, signUp } from "@warden/api/testing";
import {
  createAdmin,
  createWebhookDeliveries,
  decryptWebhookSecret,
  deriveDataKeys,
  randomDataKeys,
  type DataKeys,
} from "@warden/auth";
import { createTestKeyRing } from "@warden/auth/testing";
import { WEBHOOK_QUEUE, type RevocationEvent } from "@warden/contracts";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import {
  generateTestCertificate,
  scrapeMetrics,
  startWebhookReceiver,
  type ReceivedWebhook,
  type WebhookReceiver,
} from "@warden/testing";
import { startAdminWorker, type AdminWorker, type WebhookSettings } from "@warden/worker";
import { Queue, UnrecoverableError, Worker } from "bullmq";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCESS_TOKEN_TTL_MS, deletePrefix, REDIS_URL, startInstance, testPrefix, waitFor, type Instance } from "./support.js";

/**
 * Webhooks end to end: an admin call commits its state change and outbox event, the relay
 * publishes it, the worker applies it and delivers it over HTTP(S) to receivers on 127.0.0.1,
 * which verify every signature with the `standardwebhooks` package.
 */
const password = "correct horse battery";

interface System {
  database: TestDatabase;
  instance: Instance;
  worker: AdminWorker;
  prefix: string;
  adminToken: string;
  adminId: string;
  logs: string[];
  close(): Promise<void>;
}

/** An auth-server instance and a worker on a database and prefix of their own. */
async function startSystem(options: {
  serverKeys: DataKeys;
  /** The worker's data keys (default the server's); null: a worker that sends no webhooks. */
  workerKeys?: DataKeys | null;
  webhooks: WebhookSettings;
  maintenanceEveryMs?: number;
}): Promise<System> {
  const database = await createTestDatabase();
  const prefix = testPrefix();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const instance = await startInstance(database, {
    redisUrl: REDIS_URL,
    prefix,
    keys: createTestKeyRing(),
    dataKeys: options.serverKeys,
    webhooksAllowLocal: true,
  });
  const worker = await startAdminWorker({
    databaseUrl: database.url,
    redis: REDIS_URL,
    prefix,
    accessTokenTtlMs: ACCESS_TOKEN_TTL_MS,
    refreshTokenTtlMs: 7 * 86_400_000,
    dataKeys: options.workerKeys === null ? undefined : (options.workerKeys ?? options.serverKeys),
    webhooks: options.webhooks,
    ...(options.maintenanceEveryMs ? { maintenanceEveryMs: options.maintenanceEveryMs } : {}),
    metrics: { port: 0 },
    logger: pino({ level: "debug" }, sink),
  });
  await instance.feed.ready();
  const adminEmail = `admin-${randomUUID()}@example.com`;
  await createAdmin(instance.auth, adminEmail, password);
  const login = await callerFor(instance.auth).auth.login({ email: adminEmail, password });
  return {
    database,
    instance,
    worker,
    prefix,
    adminToken: login.accessToken,
    adminId: login.user.id,
    logs,
    async close() {
      await worker.close();
      await instance.close();
      await deletePrefix(REDIS_URL, prefix);
      await database.drop();
    },
  };
}

const newUser = (system: System) =>
  signUp(system.instance.auth, { email: `u-${randomUUID()}@example.com`, password, deviceName: "kitchen tablet" });
const webhooksOf = (system: System) => callerFor(system.instance.auth, system.adminToken).admin.webhooks;

async function createWebhook(system: System, receiver: WebhookReceiver, events: string[]) {
  const created = await webhooksOf(system).create({ url: receiver.url, events: events as never });
  receiver.secret = created.secret;
  return created;
}

async function lastDeliveryOf(system: System, id: string) {
  return (await webhooksOf(system).list()).find((w) => w.id === id)?.lastDelivery;
}

const cert = generateTestCertificate();
let main: System;
const receivers: WebhookReceiver[] = [];
async function receiver(options: Parameters<typeof startWebhookReceiver>[0] = {}) {
  const started = await startWebhookReceiver(options);
  receivers.push(started);
  return started;
}

beforeAll(async () => {
  main = await startSystem({
    serverKeys: randomDataKeys(),
    // Short retries; the generated certificate trusted as the CA (production uses the system store).
    webhooks: { allowLocal: true, retry: { attempts: 3, delayMs: 200 }, ca: cert.cert },
  });
});
afterAll(async () => {
  await main?.close();
  await Promise.all(receivers.map((r) => r.close()));
});

describe("webhook deliveries", () => {
  it("an admin's session revocation reaches the receiver as session.revoked, signed, with ids only", async () => {
    const hooks = await receiver();
    const { id } = await createWebhook(main, hooks, ["session.revoked"]);
    const user = await newUser(main);
    const started = performance.now();
    const { eventId } = await callerFor(main.instance.auth, main.adminToken).admin.revokeSession({
      sessionId: user.sessionId,
      reason: "stolen laptop",
    });
    const returned = performance.now();
    const hook = await hooks.waitFor((h) => h.payload.data.eventId === eventId, 30_000);
    console.log(
      `session.revoked webhook arrived ${Math.round(hook.at - returned)} ms after admin.revokeSession returned (${Math.round(returned - started)} ms call)`,
    );
    expect(hook.verified).toBe(true);
    expect(hook.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(hook.timestamp)).toBeCloseTo(Date.now() / 1000, -2);
    expect(hook.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(hook.payload).toEqual({
      type: "session.revoked",
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      data: {
        eventId,
        userId: user.user.id,
        sessionIds: [user.sessionId],
        reason: "stolen laptop",
        actor: { type: "admin", id: main.adminId },
      },
    });
    // Ids only: no email, token, IP, user agent or device name.
    for (const secretish of [user.user.email, user.accessToken, user.refreshToken, "127.0.0.1", "vitest", "kitchen tablet"]) {
      expect(hook.body).not.toContain(secretish);
    }
    await waitFor(async () => (await lastDeliveryOf(main, id))?.status === "succeeded", 10_000, "the delivery marked succeeded");
    expect(await lastDeliveryOf(main, id)).toEqual({
      id: hook.id,
      status: "succeeded",
      attempts: 1,
      at: expect.any(Number),
      lastStatus: 204,
    });
  });

  it("retries after 500s with the same webhook-id and the same body, then succeeds", async () => {
    const hooks = await receiver({ answer: (n) => (n <= 2 ? 500 : 200) });
    const { id } = await createWebhook(main, hooks, ["user.revoked", "user.locked"]);
    const user = await newUser(main);
    const { eventId } = await callerFor(main.instance.auth, main.adminToken).admin.revokeUser({
      userId: user.user.id,
      reason: "suspicious",
    });
    await waitFor(() => hooks.received.length >= 3, 30_000, "three attempts");
    const attempts = hooks.received.slice(0, 3);
    expect(attempts.map((h) => h.status)).toEqual([500, 500, 200]);
    expect(new Set(attempts.map((h) => h.id)).size).toBe(1);
    expect(new Set(attempts.map((h) => h.body)).size).toBe(1);
    expect(attempts.every((h) => h.verified)).toBe(true);
    expect(attempts[0]!.payload).toMatchObject({
      type: "user.revoked",
      data: { eventId, userId: user.user.id, sessionIds: [user.sessionId] },
    });
    console.log(
      `attempts arrived at +0, +${Math.round(attempts[1]!.at - attempts[0]!.at)}, +${Math.round(attempts[2]!.at - attempts[0]!.at)} ms (backoff from 200 ms)`,
    );
    await waitFor(async () => (await lastDeliveryOf(main, id))?.status === "succeeded", 10_000, "succeeded");
    expect(await lastDeliveryOf(main, id)).toMatchObject({ id: attempts[0]!.id, attempts: 3, lastStatus: 200 });
  });

  it("a retry sends the body stored with the delivery, the same bytes, though its outbox row and sessions were pruned after the first attempt", async () => {
    const hooks = await receiver({ answer: (n) => (n === 1 ? 500 : 200) });
    const { id } = await createWebhook(main, hooks, ["user.revoked"]);
    const user = await newUser(main);
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(WEBHOOK_QUEUE, { connection, prefix: main.prefix });
    try {
      const { eventId } = await callerFor(main.instance.auth, main.adminToken).admin.revokeUser({
        userId: user.user.id,
        reason: "pruned between attempts",
      });
      const first = await hooks.waitFor((h) => h.payload.data.eventId === eventId, 30_000);
      // No worker takes the retry until the pruning below is done.
      await queue.pause();
      await waitFor(async () => (await lastDeliveryOf(main, id))?.attempts === 1, 10_000, "the first attempt recorded");
      await waitFor(
        async () =>
          (await main.database.sql`select 1 from outbox_events where id = ${eventId} and applied_at is not null`).length === 1,
        10_000,
        "the event applied",
      );
      // What maintenance does with a short RETENTION: the applied event and the revoked sessions go.
      await main.database.sql`delete from outbox_events where id = ${eventId}`;
      await main.database.sql`delete from sessions where user_id = ${user.user.id}`;
      await queue.resume();
      const retry = await hooks.waitFor((h) => h.id === first.id && h !== first, 30_000);
      expect(retry.body).toBe(first.body);
      expect(retry.verified).toBe(true);
      expect(first.payload.data).toMatchObject({ eventId, sessionIds: [user.sessionId] });
      await waitFor(async () => (await lastDeliveryOf(main, id))?.status === "succeeded", 10_000, "succeeded");
    } finally {
      await queue.resume();
      await queue.close();
      connection.disconnect();
    }
  });

  it("when every attempt fails the delivery is marked failed: list's lastDelivery and the metrics show it", async () => {
    const before = await scrapeMetrics(main.worker.metricsUrl!);
    const hooks = await receiver({ answer: () => 503 });
    const { id } = await createWebhook(main, hooks, ["user.locked"]);
    const { deliveryId } = await webhooksOf(main).test({ id });
    await waitFor(async () => (await lastDeliveryOf(main, id))?.status === "failed", 30_000, "the delivery failed");
    expect(await lastDeliveryOf(main, id)).toEqual({
      id: deliveryId,
      status: "failed",
      attempts: 3,
      at: expect.any(Number),
      lastStatus: 503,
      lastError: "answered 503",
    });
    expect(hooks.received.map((h) => [h.id, h.payload.type, h.verified])).toEqual(
      Array.from({ length: 3 }, () => [deliveryId, "webhook.test", true]),
    );
    const after = await scrapeMetrics(main.worker.metricsUrl!);
    const delta = (outcome: string) =>
      after.value("warden_webhook_deliveries_total", { outcome }) - before.value("warden_webhook_deliveries_total", { outcome });
    expect(delta("attempt_failed")).toBe(2);
    expect(delta("failed")).toBe(1);
    expect(after.value("warden_queue_jobs", { queue: WEBHOOK_QUEUE, state: "failed" })).toBeGreaterThanOrEqual(1);
  });

  it("a job that fails outside HTTP on its last attempt (a database error) ends the delivery as failed, in list's lastDelivery and in the metrics", async () => {
    const system = await startSystem({
      serverKeys: randomDataKeys(),
      webhooks: { allowLocal: true, retry: { attempts: 3, delayMs: 200 } },
    });
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(WEBHOOK_QUEUE, { connection, prefix: system.prefix });
    try {
      const hooks = await receiver();
      const { id } = await createWebhook(system, hooks, ["session.revoked"]);
      const before = await scrapeMetrics(system.worker.metricsUrl!);
      await queue.pause();
      const { deliveryId } = await webhooksOf(system).test({ id });
      await waitFor(async () => (await queue.getJobState(deliveryId)) !== "unknown", 15_000, "the delivery queued");
      // Every attempt now fails reading the delivery: PostgreSQL answers that the table is not there.
      await system.database.sql`alter table webhooks rename to webhooks_away`;
      try {
        await queue.resume();
        await waitFor(async () => (await queue.getJobState(deliveryId)) === "failed", 15_000, "the job failed for good");
        await waitFor(
          async () =>
            (await system.database.sql`select 1 from webhook_deliveries where id = ${deliveryId} and status = 'failed'`)
              .length === 1,
          15_000,
          "the delivery marked failed",
        );
      } finally {
        await system.database.sql`alter table webhooks_away rename to webhooks`;
      }
      expect(await lastDeliveryOf(system, id)).toEqual({
        id: deliveryId,
        status: "failed",
        attempts: 0,
        at: expect.any(Number),
        lastError: 'not sent: relation "webhooks" does not exist',
      });
      const after = await scrapeMetrics(system.worker.metricsUrl!);
      const delta = (outcome: string) =>
        after.value("warden_webhook_deliveries_total", { outcome }) -
        before.value("warden_webhook_deliveries_total", { outcome });
      expect(delta("failed")).toBe(1);
      expect(hooks.received).toHaveLength(0);
    } finally {
      await queue.close();
      connection.disconnect();
      await system.close();
    }
  });

  it("a password change is delivered as password.changed (the sessions it ended), never as user.revoked", async () => {
    const hooks = await receiver();
    await createWebhook(main, hooks, ["password.changed", "user.revoked", "session.revoked"]);
    const user = await newUser(main);
    const other = await callerFor(main.instance.auth).auth.login({ email: user.user.email, password });
    await callerFor(main.instance.auth, user.accessToken).auth.changePassword({
      currentPassword: password,
      newPassword: "a brand new passphrase",
    });
    const hook = await hooks.waitFor((h) => h.payload.data.userId === user.user.id, 30_000);
    expect(hook.verified).toBe(true);
    expect(hook.payload).toMatchObject({
      type: "password.changed",
      data: { userId: user.user.id, sessionIds: [other.sessionId], actor: { type: "user", id: user.user.id } },
    });
    // A later event delivered to the same webhook: by then a user.revoked for the change would have come first.
    const marker = await newUser(main);
    await callerFor(main.instance.auth, main.adminToken).admin.revokeSession({ sessionId: marker.sessionId, reason: "marker" });
    await hooks.waitFor((h) => h.payload.data.userId === marker.user.id, 30_000);
    expect(hooks.received.filter((h) => h.payload.data.userId === user.user.id).map((h) => h.payload.type)).toEqual([
      "password.changed",
    ]);
  });

  it("https: delivered to a receiver serving a generated certificate, trusted through the worker's CA option", async () => {
    const hooks = await receiver({ tls: cert });
    expect(hooks.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/hook$/);
    const { id } = await createWebhook(main, hooks, ["email.verified"]);
    const { deliveryId } = await webhooksOf(main).test({ id });
    const hook = await hooks.waitFor((h) => h.id === deliveryId, 30_000);
    expect(hook.verified).toBe(true);
    expect(hook.payload).toMatchObject({ type: "webhook.test", data: { actor: { type: "admin", id: main.adminId } } });
    await waitFor(async () => (await lastDeliveryOf(main, id))?.status === "succeeded", 10_000, "succeeded");
  });

  it("created and deleted webhooks are audited by the worker; a deleted webhook gets no further attempt", async () => {
    const hooks = await receiver({ answer: () => 500 });
    const { id } = await createWebhook(main, hooks, ["session.revoked"]);
    const { deliveryId } = await webhooksOf(main).test({ id });
    expect((await hooks.waitFor((h) => h.id === deliveryId, 30_000)).verified).toBe(true);
    await webhooksOf(main).delete({ id });
    const audited = await waitFor(
      async () => {
        const rows = await main.database.sql<{ type: string; actor_type: string; actor_id: string; reason: string }[]>`
          select type, actor_type, actor_id, reason from audit_log where type like 'webhook.%' and reason like ${`%${id}%`} order by id`;
        return rows.length >= 3 && rows;
      },
      15_000,
      "the webhook's audit rows",
    );
    expect(audited.map((r) => [r.type, r.actor_type, r.actor_id])).toEqual([
      ["webhook.created", "admin", main.adminId],
      ["webhook.tested", "admin", main.adminId],
      ["webhook.deleted", "admin", main.adminId],
    ]);
    // The retry after the delete finds no webhook: dropped, nothing sent.
    const sent = hooks.received.length;
    await waitFor(
      async () =>
        (await scrapeMetrics(main.worker.metricsUrl!)).value("warden_webhook_deliveries_total", { outcome: "dropped" }) >= 1,
      15_000,
      "the retry dropped",
    );
    expect(hooks.received.length).toBe(sent);
  });

  it("an event applied twice makes one delivery per webhook; no secret in job data or logs", async () => {
    const hooks = await receiver();
    const { id, secret } = await createWebhook(main, hooks, ["session.revoked"]);
    const event: RevocationEvent = {
      type: "session.revoked",
      eventId: randomUUID(),
      userId: randomUUID(),
      sessionId: randomUUID(),
      reason: "twice",
      actor: { type: "system", id: null },
      at: Date.now(),
    };
    const first = await createWebhookDeliveries(main.database.db, event, new Date());
    const second = await createWebhookDeliveries(main.database.db, event, new Date());
    expect(second).toEqual(first);
    expect(
      await main.database.sql`select id from webhook_deliveries where event_id = ${event.eventId} and webhook_id = ${id}`,
    ).toHaveLength(1);

    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      const keys = await connection.keys(`${main.prefix}:${WEBHOOK_QUEUE}:*`);
      expect(keys.length).toBeGreaterThan(0);
      const bytes = Buffer.from(secret.slice("whsec_".length), "base64");
      for (const key of keys) {
        const type = await connection.type(key);
        const raw =
          type === "hash" ? JSON.stringify(await connection.hgetall(key)) : type === "string" ? await connection.get(key) : "";
        for (const spelling of [secret.slice(6), bytes.toString("base64url"), bytes.toString("hex")])
          expect(raw ?? "").not.toContain(spelling);
      }
    } finally {
      connection.disconnect();
    }
    const logs = main.logs.join("");
    expect(logs).toContain("webhook delivery done");
    for (const r of receivers) if (r.secret) expect(logs).not.toContain(r.secret.slice(6));
    for (const hook of receivers.flatMap((r) => r.received)) expect(logs).not.toContain(hook.signature.slice(3));
  });
});

describe("deliveries whose job Redis lost or failed unmarked (the worker's lost-job sweep)", () => {
  /** Swept every 200 ms, pending deliveries older than 300 ms looked at (in production: 5 s, 1 min). */
  const lostJobCheck = { everyMs: 200, olderThanMs: 300 };
  let swept: System;
  let redis: Redis;
  let queue: Queue;
  beforeAll(async () => {
    swept = await startSystem({
      serverKeys: randomDataKeys(),
      webhooks: { allowLocal: true, retry: { attempts: 3, delayMs: 200 }, lostJobCheck },
    });
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue(WEBHOOK_QUEUE, { connection: redis, prefix: swept.prefix });
  });
  afterAll(async () => {
    await queue?.close();
    redis?.disconnect();
    await swept?.close();
  });
  /**
   * What FLUSHALL, a restart without persistence or a failover does to the webhook queue: every key
   * at once, in one script. (Deleted a scan page at a time, a BullMQ script running in between,
   * such as the one moving a failed attempt's job to the delayed set, could leave a half-deleted
   * queue no real loss leaves: the job's id in the delayed set, its hash gone.)
   */
  const loseTheQueue = () =>
    redis.eval(
      `for _, key in ipairs(redis.call("KEYS", ARGV[1])) do redis.call("DEL", key) end return 1`,
      0,
      `${swept.prefix}:${WEBHOOK_QUEUE}:*`,
    );

  it("a delivery whose job Redis lost before its first attempt is queued again and sent, with the same webhook-id", async () => {
    const hooks = await receiver();
    const { id } = await createWebhook(swept, hooks, ["session.revoked"]);
    const user = await newUser(swept);
    await queue.pause();
    const { eventId } = await callerFor(swept.instance.auth, swept.adminToken).admin.revokeSession({
      sessionId: user.sessionId,
      reason: "lost job",
    });
    const deliveryId = await waitFor(
      async () => {
        const [row] = await swept.database.sql<{ id: string }[]>`select id from webhook_deliveries where event_id = ${eventId}`;
        return row && (await queue.getJobState(row.id)) !== "unknown" && row.id;
      },
      15_000,
      "the delivery queued",
    );
    const lostAt = performance.now();
    await loseTheQueue();
    expect(await queue.getJobState(deliveryId)).toBe("unknown");
    const hook = await hooks.waitFor((h) => h.id === deliveryId, 30_000);
    console.log(
      `a delivery whose job was lost was sent ${Math.round(hook.at - lostAt)} ms after the loss (sweep every ${lostJobCheck.everyMs} ms)`,
    );
    expect(hook.verified).toBe(true);
    expect(hook.payload.data).toMatchObject({ eventId, sessionIds: [user.sessionId] });
    await waitFor(async () => (await lastDeliveryOf(swept, id))?.status === "succeeded", 10_000, "succeeded");
    expect(await lastDeliveryOf(swept, id)).toMatchObject({ id: deliveryId, attempts: 1 });
  });

  it("a delivery whose job was lost after an attempt keeps its schedule: only the attempts it had left, then failed", async () => {
    const before = await scrapeMetrics(swept.worker.metricsUrl!);
    const hooks = await receiver({ answer: () => 503 });
    const { id } = await createWebhook(swept, hooks, ["email.verified"]);
    const { deliveryId } = await webhooksOf(swept).test({ id });
    await hooks.waitFor((h) => h.id === deliveryId, 30_000);
    // The retry waits: the queue is lost once the first attempt is recorded.
    await queue.pause();
    await waitFor(async () => (await lastDeliveryOf(swept, id))?.attempts === 1, 10_000, "the first attempt recorded");
    await loseTheQueue();
    await waitFor(async () => (await lastDeliveryOf(swept, id))?.status === "failed", 30_000, "the delivery failed");
    // Three attempts in all, as its schedule says: the sweep gave the job the two it had left.
    expect(hooks.received.map((h) => h.id)).toEqual([deliveryId, deliveryId, deliveryId]);
    expect(await lastDeliveryOf(swept, id)).toMatchObject({ attempts: 3, lastStatus: 503 });
    const after = await scrapeMetrics(swept.worker.metricsUrl!);
    expect(
      after.value("warden_webhook_deliveries_total", { outcome: "failed" }) -
        before.value("warden_webhook_deliveries_total", { outcome: "failed" }),
    ).toBe(1);
  });

  it("a delivery whose job failed for good without the delivery being marked (its worker stalled, the database down) is failed, in list and in the metrics", async () => {
    // A worker that sends no webhooks, beside one that fails every job for good and marks nothing,
    // as a job does that stalls past its limit or fails while PostgreSQL is down.
    const unmarked = await startSystem({
      serverKeys: randomDataKeys(),
      workerKeys: null,
      webhooks: { allowLocal: true, lostJobCheck },
    });
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const failing = new Worker(
      WEBHOOK_QUEUE,
      () => {
        throw new UnrecoverableError("job stalled more than allowable limit");
      },
      { connection, prefix: unmarked.prefix },
    );
    try {
      const before = await scrapeMetrics(unmarked.worker.metricsUrl!);
      const hooks = await receiver();
      const { id } = await createWebhook(unmarked, hooks, ["session.revoked"]);
      const { deliveryId } = await webhooksOf(unmarked).test({ id });
      await waitFor(async () => (await lastDeliveryOf(unmarked, id))?.status === "failed", 30_000, "the delivery failed");
      expect(await lastDeliveryOf(unmarked, id)).toEqual({
        id: deliveryId,
        status: "failed",
        attempts: 0,
        at: expect.any(Number),
        lastError: "not sent: its job failed for good: job stalled more than allowable limit",
      });
      const after = await scrapeMetrics(unmarked.worker.metricsUrl!);
      expect(
        after.value("warden_webhook_deliveries_total", { outcome: "failed" }) -
          before.value("warden_webhook_deliveries_total", { outcome: "failed" }),
      ).toBe(1);
      expect(hooks.received).toHaveLength(0);
    } finally {
      await failing.close();
      connection.disconnect();
      await unmarked.close();
    }
  });
});

describe("SSRF at delivery time (WEBHOOKS_ALLOW_LOCAL off on the worker)", () => {
  let strict: System;
  /** What the injected DNS answers: names chosen by the test, never looked up for real. */
  const DNS: Record<string, string> = {
    "metadata.example.test": "169.254.169.254",
    "intranet.example.test": "10.20.30.40",
    "loopback.example.test": "127.0.0.1",
  };
  beforeAll(async () => {
    strict = await startSystem({
      serverKeys: randomDataKeys(),
      webhooks: {
        allowLocal: false,
        lookup: (name) => Promise.resolve(DNS[name] ? [{ address: DNS[name], family: 4 }] : []),
        retry: { attempts: 3, delayMs: 200 },
      },
    });
  });
  afterAll(() => strict?.close());

  it("a name resolving to a metadata, private or loopback address is refused at once: failed, and the receiver sees no connection", async () => {
    const hooks = await receiver();
    const port = new URL(hooks.url).port;
    for (const [name, address] of Object.entries(DNS)) {
      const { id } = await webhooksOf(strict).create({ url: `https://${name}:${port}/hook`, events: ["session.revoked"] });
      const { deliveryId } = await webhooksOf(strict).test({ id });
      await waitFor(async () => (await lastDeliveryOf(strict, id))?.status === "failed", 15_000, `${name} refused`);
      const last = await lastDeliveryOf(strict, id);
      expect(last).toMatchObject({ id: deliveryId, attempts: 1 });
      expect(last?.lastError).toMatch(
        new RegExp(`^refused: ${name.replaceAll(".", "\\.")} resolves to ${address.replaceAll(".", "\\.")} is a`),
      );
      expect(last?.lastStatus).toBeUndefined();
    }
    expect(hooks.connections()).toBe(0);
  });
});

describe("data-key rotation", () => {
  it("a webhook made under the old data key is delivered by a worker whose current key is new and the old one previous; maintenance re-seals it", async () => {
    const old = randomDataKeys();
    const rotated = { current: randomDataKeys().current, previous: [old.current] };
    const system = await startSystem({ serverKeys: old, workerKeys: rotated, webhooks: { allowLocal: true } });
    try {
      const hooks = await receiver();
      const { id } = await createWebhook(system, hooks, ["session.revoked"]);
      const { deliveryId } = await webhooksOf(system).test({ id });
      const hook: ReceivedWebhook = await hooks.waitFor((h) => h.id === deliveryId, 30_000);
      expect(hook.verified).toBe(true);

      // The worker's maintenance moves the secret to the new key: then the old key can be dropped.
      const newOnly = deriveDataKeys({ current: rotated.current, previous: [] }, "webhook-secret");
      const sealed = async () =>
        (await system.database.sql<{ c: string }[]>`select secret_ciphertext as c from webhooks where id = ${id}`)[0]!.c;
      expect(decryptWebhookSecret(newOnly, id, await sealed())).toBeUndefined();
      await system.worker.maintenance.close();
      const maintained = await startAdminWorker({
        databaseUrl: system.database.url,
        redis: REDIS_URL,
        prefix: system.prefix,
        accessTokenTtlMs: ACCESS_TOKEN_TTL_MS,
        refreshTokenTtlMs: 7 * 86_400_000,
        dataKeys: rotated,
        maintenanceEveryMs: 200,
        logger: pino({ level: "silent" }),
      });
      try {
        await waitFor(
          async () => decryptWebhookSecret(newOnly, id, await sealed()),
          15_000,
          "the secret re-sealed under the new key",
        );
      } finally {
        await maintained.close();
      }
      expect(decryptWebhookSecret(newOnly, id, await sealed())).toEqual(Buffer.from(hooks.secret!.slice(6), "base64"));
    } finally {
      await system.close();
    }
  });

  it("without the old key the secret cannot be read: the delivery fails saying so, and nothing is sent", async () => {
    const system = await startSystem({
      serverKeys: randomDataKeys(),
      workerKeys: randomDataKeys(),
      webhooks: { allowLocal: true },
    });
    try {
      const hooks = await receiver();
      const { id } = await createWebhook(system, hooks, ["session.revoked"]);
      await webhooksOf(system).test({ id });
      await waitFor(async () => (await lastDeliveryOf(system, id))?.status === "failed", 15_000, "failed");
      expect((await lastDeliveryOf(system, id))?.lastError).toBe(
        "its secret does not decrypt with WARDEN_DATA_KEY or WARDEN_DATA_KEY_PREVIOUS",
      );
      expect(hooks.received).toHaveLength(0);
    } finally {
      await system.close();
    }
  });
});
