import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { callerFor, reasonOf, signUp } from "@warden/api/testing";
import { randomDataKeys, type DataKeys } from "@warden/auth";
import { createTestKeyRing } from "@warden/auth/testing";
import { EMAIL_QUEUE } from "@warden/contracts";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { scrapeMetrics, startMailbox, tokenOfLink, type Mailbox, type ReceivedMail } from "@warden/testing";
import { startAdminWorker, type AdminWorker } from "@warden/worker";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCESS_TOKEN_TTL_MS, deletePrefix, REDIS_URL, startInstance, testPrefix, waitFor, type Instance } from "./support.js";

/**
 * Emails end to end: the request writes an outbox event, the relay publishes it, the worker queues
 * an email job and sends it over SMTP to a real local SMTP server, the test parses what arrived
 * and follows the link's token through the API of another instance.
 */
const prefix = testPrefix();
const password = "correct horse battery";
const newPassword = "a brand new passphrase";
const PUBLIC_URL = "https://auth.example.test";
let database: TestDatabase;
let mailbox: Mailbox;
let a: Instance;
let b: Instance;
let worker: AdminWorker;
const logLines: string[] = [];
let dataKeys: DataKeys;

function captureLogger() {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  return pino({ level: "debug" }, sink);
}

beforeAll(async () => {
  database = await createTestDatabase();
  mailbox = await startMailbox();
  dataKeys = randomDataKeys();
  const keys = createTestKeyRing();
  a = await startInstance(database, { redisUrl: REDIS_URL, prefix, keys, dataKeys });
  b = await startInstance(database, { redisUrl: REDIS_URL, prefix, keys, dataKeys });
  worker = await startAdminWorker({
    databaseUrl: database.url,
    redis: REDIS_URL,
    prefix,
    accessTokenTtlMs: ACCESS_TOKEN_TTL_MS,
    refreshTokenTtlMs: 7 * 86_400_000,
    dataKeys,
    email: { smtpUrl: mailbox.url, from: "Warden <no-reply@example.test>", publicUrl: PUBLIC_URL },
    metrics: { port: 0 },
    logger: captureLogger(),
  });
  await Promise.all([a.feed.ready(), b.feed.ready()]);
});

afterAll(async () => {
  await worker?.close();
  await a?.close();
  await b?.close();
  await mailbox?.close();
  await deletePrefix(REDIS_URL, prefix);
  await database?.drop();
});

const mailTo = (address: string, subject: RegExp) => (mail: ReceivedMail) =>
  mail.to.includes(address) && subject.test(mail.subject);

describe("emails sent by the admin worker over SMTP", () => {
  it("signup's verification email arrives with a working link, in plain text and HTML; the other instance shows the address verified at once", async () => {
    const email = `verify-${randomUUID()}@example.com`;
    const started = performance.now();
    const first = await signUp(a.auth, { email, password });
    // Instance A now holds the session's row, unverified, in its session cache.
    expect((await callerFor(a.auth, first.accessToken).auth.me()).user.emailVerified).toBe(false);
    const mail = await mailbox.waitFor(mailTo(email, /confirm your email/i));
    console.log(`verification email arrived ${Math.round(performance.now() - started)} ms after signup`);
    expect(mail.from).toBe("no-reply@example.test");
    expect(mail.html).toContain("<a href=");
    const [link] = mail.links;
    expect(link).toMatch(new RegExp(`^${PUBLIC_URL}/console/verify-email#token=[A-Za-z0-9_-]{43}$`));
    const verified = performance.now();
    expect(await callerFor(b.auth).auth.verifyEmail({ token: tokenOfLink(link!) })).toEqual({ ok: true });
    // The worker tells every instance through the feed, well within A's session-cache TTL.
    await waitFor(
      async () => (await callerFor(a.auth, first.accessToken).auth.me()).user.emailVerified,
      a.auth.settings.sessionCacheTtlMs / 4,
      "the verified address shown by the other instance",
    );
    console.log(
      `the other instance showed the address verified ${Math.round(performance.now() - verified)} ms after the link was followed`,
    );
  });

  it("a reset email's link sets a new password; every session ends on the other instance too; no token in job data or logs", async () => {
    const email = `reset-${randomUUID()}@example.com`;
    const first = await signUp(a.auth, { email, password });
    await mailbox.waitFor(mailTo(email, /confirm your email/i));
    const started = performance.now();
    expect(await callerFor(b.auth).auth.requestPasswordReset({ email })).toEqual({ ok: true });
    const mail = await mailbox.waitFor(mailTo(email, /reset your password/i));
    console.log(`reset email arrived ${Math.round(performance.now() - started)} ms after the request`);
    const link = mail.links[0]!;
    expect(link.startsWith(`${PUBLIC_URL}/console/reset-password#token=`)).toBe(true);
    const token = tokenOfLink(link);

    // What Redis and the logs hold: ids, never the token or the address.
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    const queue = new Queue(EMAIL_QUEUE, { connection, prefix });
    try {
      const jobs = await queue.getJobs(["completed", "waiting", "active", "delayed", "failed"]);
      expect(jobs.length).toBeGreaterThanOrEqual(2);
      const dump = JSON.stringify(jobs.map((j) => ({ data: j.data, returnvalue: j.returnvalue as unknown })));
      expect(dump).not.toContain(token);
      expect(dump).not.toContain(email);
      const keys = await connection.keys(`${prefix}:${EMAIL_QUEUE}:*`);
      for (const key of keys) {
        const type = await connection.type(key);
        const raw =
          type === "hash" ? JSON.stringify(await connection.hgetall(key)) : type === "string" ? await connection.get(key) : "";
        expect(raw ?? "").not.toContain(token);
      }
    } finally {
      await queue.close();
      connection.disconnect();
    }
    expect(logLines.join("")).not.toContain(token);
    expect(logLines.join("")).not.toContain(email);

    expect(await callerFor(a.auth).auth.resetPassword({ token, newPassword })).toEqual({ ok: true });
    const revokedAt = performance.now();
    // Instance b learns of the revocation from the worker's feed, not from its own call.
    await waitFor(
      async () => (await reasonOf(callerFor(b.auth, first.accessToken).auth.me()).catch(() => "")) === "SESSION_REVOKED",
      10_000,
      "instance b refuses the old session",
    );
    console.log(`the other instance refused the old session ${Math.round(performance.now() - revokedAt)} ms after the reset`);
    expect((await callerFor(b.auth).auth.login({ email, password: newPassword })).user.emailVerified).toBe(true);
    expect(await reasonOf(callerFor(b.auth).auth.resetPassword({ token, newPassword: password }))).toBe("ONE_TIME_TOKEN_INVALID");

    // Each step of the flow has its audit row, written once by the worker (the logins have theirs,
    // without an event). The signup's two events share an instant and may be applied in either order.
    const audited = await waitFor(
      async () => {
        const rows = await database.sql<{ type: string; reason: string; sessions_revoked: number }[]>`
          select type, reason, sessions_revoked from audit_log where user_id = ${first.user.id} and event_id is not null
          order by occurred_at, type`;
        return rows.length >= 4 && rows;
      },
      10_000,
      "the flow's audit rows",
    );
    expect(audited.map((r) => [r.type, r.reason])).toEqual([
      ["email.requested", "verification email"],
      ["user.signed_up", "signed up"],
      ["email.requested", "password reset email"],
      ["password.reset", "password reset"],
    ]);
    expect(audited[3]!.sessions_revoked).toBe(1);
  });

  it("an unknown address gets no email; a superseded link is not sent", async () => {
    const before = mailbox.messages.length;
    const nobody = `nobody-${randomUUID()}@example.com`;
    await callerFor(a.auth).auth.requestPasswordReset({ email: nobody });
    const email = `twice-${randomUUID()}@example.com`;
    await signUp(a.auth, { email, password });
    await mailbox.waitFor(mailTo(email, /confirm/i));
    await callerFor(a.auth).auth.requestPasswordReset({ email });
    await callerFor(a.auth).auth.requestPasswordReset({ email });
    await waitFor(
      async () => {
        const scrape = await scrapeMetrics(worker.metricsUrl!);
        return (
          scrape.value("warden_emails_total", { kind: "password_reset", outcome: "sent" }) +
            scrape.value("warden_emails_total", { kind: "password_reset", outcome: "superseded" }) >=
          3
        );
      },
      15_000,
      "both reset jobs done",
    );
    const resets = mailbox.messages.slice(before).filter((m) => /reset/i.test(m.subject));
    expect(resets.every((m) => m.to.includes(email))).toBe(true);
    expect(mailbox.messages.some((m) => m.to.includes(nobody))).toBe(false);
    // Each link that arrived for the address, but the newest, no longer works.
    const tokens = resets.map((m) => tokenOfLink(m.links[0]!));
    for (const token of tokens.slice(0, -1)) {
      expect(await reasonOf(callerFor(a.auth).auth.resetPassword({ token, newPassword }))).toBe("ONE_TIME_TOKEN_INVALID");
    }
  });
});

describe("an SMTP server that refuses", () => {
  it("retries with backoff, then keeps the job in the failed set and counts it", async () => {
    const failingPrefix = testPrefix();
    const keys = createTestKeyRing();
    // A database of its own: the other instances' relays would publish this signup's event to
    // their own prefix, where a worker with a working mailbox sends it.
    const failingDatabase = await createTestDatabase();
    const instance = await startInstance(failingDatabase, { redisUrl: REDIS_URL, prefix: failingPrefix, keys, dataKeys });
    const refusing = await startMailbox({ refuseWith: "mailbox unavailable, try again later" });
    const failing = await startAdminWorker({
      databaseUrl: failingDatabase.url,
      redis: REDIS_URL,
      prefix: failingPrefix,
      accessTokenTtlMs: ACCESS_TOKEN_TTL_MS,
      refreshTokenTtlMs: 7 * 86_400_000,
      dataKeys,
      email: { smtpUrl: refusing.url, from: "Warden <no-reply@example.test>", publicUrl: PUBLIC_URL },
      emailRetry: { attempts: 3, delayMs: 100 },
      metrics: { port: 0 },
      logger: pino({ level: "silent" }),
    });
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    const queue = new Queue(EMAIL_QUEUE, { connection, prefix: failingPrefix });
    try {
      await signUp(instance.auth, { email: `refused-${randomUUID()}@example.com`, password });
      const failed = await waitFor(
        async () => {
          const jobs = await queue.getFailed();
          return jobs.length > 0 && jobs[0];
        },
        20_000,
        "the email job in the failed set",
      );
      expect(failed.attemptsMade).toBe(3);
      expect(failed.failedReason).toMatch(/451.*mailbox unavailable/);
      const scrape = await scrapeMetrics(failing.metricsUrl!);
      expect(scrape.value("warden_emails_total", { kind: "email_verification", outcome: "failed" })).toBe(3);
      expect(scrape.value("warden_queue_jobs", { queue: EMAIL_QUEUE, state: "failed" })).toBe(1);
    } finally {
      await queue.close();
      connection.disconnect();
      await failing.close();
      await refusing.close();
      await instance.close();
      await failingDatabase.close();
      await deletePrefix(REDIS_URL, failingPrefix);
    }
  });
});
