import {
  applyRevocationEvent,
  createWebhookDeliveries,
  deriveDataKeys,
  failureSummary,
  markDeliveriesFailed,
  noteApplyFailure,
  recoverLostDeliveries,
  pruneExpired,
  resealWebhookSecrets,
  startFeedKeeper,
  withTimeout,
  type DataKeys,
  type DeliveryJobState,
} from "@warden/auth";
import {
  EMAIL_JOB_OPTIONS,
  EMAIL_QUEUE,
  MAINTENANCE_QUEUE,
  REVOCATION_QUEUE,
  revocationEvent,
  WEBHOOK_JOB_OPTIONS,
  WEBHOOK_QUEUE,
  webhookJob,
  webhookRetryDelay,
  type EmailJob,
  type RedisTarget,
  type RevocationEvent,
  type WebhookJob,
} from "@warden/contracts";
import { createDb } from "@warden/db";
import {
  advanceFeedHighWaterMark,
  connectRedis,
  publishNotBefore,
  publishRevocations,
  publishUserChanged,
  pruneRevocations,
  watchRedisRequirements,
} from "@warden/revocations";
import { Queue, UnrecoverableError, Worker, type Job } from "bullmq";
import pino, { type Logger } from "pino";
import { createEmailSender, type EmailOutcome, type EmailSettings } from "./email.js";
import { serveWorkerMetrics, type ServedWorkerMetrics, type WorkerMetricsOptions } from "./metrics.js";
import { createWebhookSender, type WebhookOutcome, type WebhookSettings } from "./webhooks.js";

export interface AdminWorkerOptions {
  databaseUrl: string;
  /** Where Redis is: a URL, or a Redis Cluster. */
  redis: RedisTarget;
  prefix: string;
  accessTokenTtlMs: number;
  refreshTokenTtlMs: number;
  concurrency?: number;
  lockDurationMs?: number;
  maintenanceEveryMs?: number;
  retentionMs?: number;
  /** How often the revocation feed is compared with PostgreSQL, and rebuilt when Redis lost it (default 2 s). */
  feedCheckEveryMs?: number;
  /**
   * Send emails over SMTP (SMTP_URL, MAIL_FROM, PUBLIC_URL); absent, email jobs wait in their queue
   * for a worker that has it. Needs `dataKeys`: links are rebuilt with the data key.
   */
  email?: EmailSettings | undefined;
  /** WARDEN_DATA_KEY*: the auth servers' data keys (emailed links are derived from them, webhook secrets sealed under them). */
  dataKeys?: DataKeys | undefined;
  /**
   * Webhook deliveries (WEBHOOKS_ALLOW_LOCAL, and for tests a DNS lookup, a CA and short retries).
   * They are sent only with `dataKeys` (the secrets are sealed under them); without, they wait in their queue.
   */
  webhooks?: WebhookSettings | undefined;
  emailConcurrency?: number;
  /** Attempts and first backoff of an email job (default EMAIL_JOB_OPTIONS: 8, from 2 s, exponential). */
  emailRetry?: { attempts: number; delayMs: number };
  /** Serve Prometheus metrics on this port (METRICS_PORT); absent, no metrics. */
  metrics?: WorkerMetricsOptions | undefined;
  logger?: Logger;
}

export interface AdminWorker {
  revocations: Worker<RevocationEvent, RevocationResult>;
  maintenance: Worker;
  /** Sends emails; undefined without `email` settings. */
  emails: Worker<EmailJob, EmailOutcome> | undefined;
  /** Sends webhook deliveries; undefined without `dataKeys`. */
  webhooks: Worker<WebhookJob, WebhookOutcome> | undefined;
  /** Where the metrics are served, when `metrics` was given. */
  metricsUrl: string | undefined;
  close(): Promise<void>;
}

export interface RevocationResult {
  alreadyApplied: boolean;
  sessionsRevoked: number;
}

export const MAINTENANCE_SCHEDULER_ID = "warden-prune";

/** A job's last failure: its attempts are used up, or it failed with UnrecoverableError (no retry follows). */
function failedForGood(job: Job, err: Error): boolean {
  return err.name === "UnrecoverableError" || job.attemptsMade >= (job.opts.attempts ?? 1);
}
const HOUR_MS = 3_600_000;
/** A Redis emptied under a running worker (FLUSHALL, eviction) gets its maintenance schedule back this late. */
const SCHEDULE_CHECK_EVERY_MS = 5_000;
/** How often pending webhook deliveries are checked for a job Redis lost or failed without marking them. */
const LOST_DELIVERY_CHECK_EVERY_MS = 5_000;
/** Pending deliveries younger than this are not checked: their job is being added, or just was. */
const LOST_DELIVERY_AGE_MS = 60_000;
const LOST_DELIVERY_REDIS_TIMEOUT_MS = 2_000;

/**
 * Consumes revocation events and runs maintenance. Several workers may run against the same
 * Postgres and Redis: applying an event is idempotent, BullMQ hands each job to one worker at a
 * time, and a job whose worker died is handed out again after its lock expires.
 */
export async function startAdminWorker(options: AdminWorkerOptions): Promise<AdminWorker> {
  const logger = options.logger ?? pino({ level: "info" });
  if (options.email && !options.dataKeys) {
    throw new Error("sending emails needs the auth servers' data key: set WARDEN_DATA_KEY or WARDEN_DATA_KEY_FILE");
  }
  const database = createDb(options.databaseUrl, { max: (options.concurrency ?? 4) + 2 });
  // Workers block on Redis: commands must wait for a reconnect instead of failing.
  const connection = connectRedis(options.redis, { maxRetriesPerRequest: null });
  connection.on("error", () => {});
  // BullMQ and the feed need keys never to be evicted: checked at each (re)connect, logged loudly.
  const redisRequirements = watchRedisRequirements(connection, logger);
  const feed = connectRedis(options.redis, { maxRetriesPerRequest: 3 });
  feed.on("error", () => {});
  let served: ServedWorkerMetrics | undefined;
  try {
    if (options.metrics) {
      served = await serveWorkerMetrics(options.metrics, { connection, feed, db: database.db, prefix: options.prefix });
    }
  } catch (error) {
    redisRequirements.close();
    connection.disconnect();
    feed.disconnect();
    await database.close();
    throw error;
  }
  const metrics = served?.metrics;

  // Every email event is queued here, with or without SMTP settings: jobs wait for a worker that has them.
  const emailQueue = new Queue<EmailJob>(EMAIL_QUEUE, { connection, prefix: options.prefix });
  emailQueue.on("error", (err) => logger.warn({ err: err.message }, "email queue error"));
  const queueEmail = async (job: EmailJob) => {
    await emailQueue.add(job.kind, job, {
      ...EMAIL_JOB_OPTIONS,
      ...(options.emailRetry
        ? { attempts: options.emailRetry.attempts, backoff: { type: "exponential", delay: options.emailRetry.delayMs } }
        : {}),
      jobId: job.eventId,
    });
  };

  // Every applied event's deliveries are queued here, with or without data keys: jobs wait for a worker that has them.
  const webhookQueue = new Queue<WebhookJob>(WEBHOOK_QUEUE, { connection, prefix: options.prefix });
  webhookQueue.on("error", (err) => logger.warn({ err: err.message }, "webhook queue error"));
  const webhookRetry = options.webhooks?.retry;
  const webhookJobOptions = {
    ...WEBHOOK_JOB_OPTIONS,
    ...(webhookRetry
      ? { attempts: webhookRetry.attempts, backoff: { type: WEBHOOK_JOB_OPTIONS.backoff.type, delay: webhookRetry.delayMs } }
      : {}),
  };
  const webhookSchedule = {
    attempts: webhookJobOptions.attempts,
    delayAfter: (attemptsMade: number) => webhookRetryDelay(attemptsMade, webhookJobOptions.backoff.delay),
  };
  const queueWebhooks = async (event: RevocationEvent) => {
    const deliveryIds = await createWebhookDeliveries(database.db, event, new Date());
    if (deliveryIds.length === 0) return;
    await webhookQueue.addBulk(
      deliveryIds.map((deliveryId) => ({
        name: "deliver",
        data: { deliveryId },
        opts: { ...webhookJobOptions, jobId: deliveryId },
      })),
    );
  };

  const processRevocation = async (job: Job<RevocationEvent, RevocationResult>): Promise<RevocationResult> => {
    const parsed = revocationEvent.safeParse(job.data);
    // A malformed event never becomes valid: fail it now, visibly, and move on to the next job.
    if (!parsed.success || parsed.data.eventId !== job.id) {
      throw new UnrecoverableError(
        parsed.success
          ? "job id does not match the event id"
          : `malformed revocation event: ${parsed.error.issues[0]?.message ?? "invalid"}`,
      );
    }
    const event = parsed.data;
    const result = await applyRevocationEvent(database.db, event, {
      accessTokenTtlMs: options.accessTokenTtlMs,
      publish: (ids, until) => publishRevocations(feed, ids, until, options.prefix),
      publishNotBefore: (userId, notBefore, until) => publishNotBefore(feed, userId, notBefore, until, options.prefix),
      publishUserChanged: (userId) => publishUserChanged(feed, userId, options.prefix),
      advanceFeed: (seq) => advanceFeedHighWaterMark(feed, seq, options.prefix),
      queueEmail,
      queueWebhooks,
    });
    metrics?.applied(event, result.alreadyApplied, Date.now());
    logger.info(
      {
        eventId: event.eventId,
        type: event.type,
        sessions: result.sessionIds.length,
        alreadyApplied: result.alreadyApplied,
      },
      "revocation applied",
    );
    return { alreadyApplied: result.alreadyApplied, sessionsRevoked: result.sessionIds.length };
  };

  const revocations = new Worker<RevocationEvent, RevocationResult>(REVOCATION_QUEUE, processRevocation, {
    connection,
    prefix: options.prefix,
    concurrency: options.concurrency ?? 4,
    lockDuration: options.lockDurationMs ?? 30_000,
    // Look for jobs of dead workers as often as a lock can expire.
    stalledInterval: options.lockDurationMs ?? 30_000,
    // A job runs at most twice after crashes of its worker before it is failed for inspection.
    maxStalledCount: 2,
  });
  revocations.on("error", (err) => logger.error({ err: err.message }, "revocation worker error"));
  revocations.on("failed", (job, err) => {
    logger.error({ jobId: job?.id, name: job?.name, attemptsMade: job?.attemptsMade, err: err.message }, "revocation job failed");
    metrics?.failed(job?.name);
    if (job?.id) void noteApplyFailure(database.db, job.id, err.message).catch(() => {});
  });

  let emails: Worker<EmailJob, EmailOutcome> | undefined;
  let closeSender = () => {};
  if (options.email && options.dataKeys) {
    const sender = createEmailSender(database.db, deriveDataKeys(options.dataKeys, "one-time-token"), options.email);
    closeSender = sender.close;
    emails = new Worker<EmailJob, EmailOutcome>(EMAIL_QUEUE, (job) => sender.process(job.data), {
      connection,
      prefix: options.prefix,
      concurrency: options.emailConcurrency ?? 2,
    });
    emails.on("error", (err) => logger.error({ err: err.message }, "email worker error"));
    emails.on("completed", (job, outcome) => {
      metrics?.emailed(job.data.kind, outcome);
      // Ids only: the address and the link stay out of the logs.
      logger.info({ eventId: job.data.eventId, userId: job.data.userId, kind: job.data.kind, outcome }, "email job done");
    });
    emails.on("failed", (job, err) => {
      metrics?.emailed(job?.data.kind, "failed");
      logger.error(
        { eventId: job?.data.eventId, kind: job?.data.kind, attemptsMade: job?.attemptsMade, err: err.message },
        "email not sent (retried with backoff until its attempts are used up, then kept in the failed set)",
      );
    });
  } else {
    logger.warn("SMTP_URL is not set: emails wait in the queue until a worker with SMTP_URL runs");
  }

  /**
   * A delivery whose job failed for good: the sender marks it failed when HTTP was the reason, but a
   * failure outside HTTP (a database error reading it, recording it) leaves it pending. Marked here,
   * counted as failed; if that write fails too, the lost-job sweep finds its job in the failed set.
   */
  const failDelivery = async (data: unknown, err: Error) => {
    const parsed = webhookJob.safeParse(data);
    if (!parsed.success) return;
    const { deliveryId } = parsed.data;
    try {
      const ended = await markDeliveriesFailed(database.db, [deliveryId], `not sent: ${failureSummary(err)}`, new Date());
      if (ended.length > 0) metrics?.webhookAttempted("failed");
    } catch (error) {
      logger.error({ deliveryId, err: failureSummary(error) }, "a failed webhook delivery could not be marked failed");
    }
  };

  let webhooks: Worker<WebhookJob, WebhookOutcome> | undefined;
  if (options.dataKeys) {
    const sender = createWebhookSender(
      database.db,
      deriveDataKeys(options.dataKeys, "webhook-secret"),
      { allowLocal: false, ...options.webhooks },
      (outcome, lagSeconds) => metrics?.webhookAttempted(outcome, lagSeconds),
    );
    webhooks = new Worker<WebhookJob, WebhookOutcome>(
      WEBHOOK_QUEUE,
      (job) => sender.process(job.data, { last: job.attemptsMade + 1 >= (job.opts.attempts ?? 1) }),
      {
        connection,
        prefix: options.prefix,
        concurrency: options.webhooks?.concurrency ?? 8,
        settings: {
          backoffStrategy: (attemptsMade, _type, _err, job) => {
            const backoff = job?.opts.backoff;
            const first = typeof backoff === "object" && backoff.delay ? backoff.delay : WEBHOOK_JOB_OPTIONS.backoff.delay;
            // A job the lost-job sweep added again has only the attempts its delivery had left: the
            // schedule goes on from where the delivery was, not from its start.
            const before = Math.max(0, webhookSchedule.attempts - (job?.opts.attempts ?? webhookSchedule.attempts));
            return webhookRetryDelay(attemptsMade + before, first);
          },
        },
      },
    );
    webhooks.on("error", (err) => logger.error({ err: err.message }, "webhook worker error"));
    // Ids and the outcome only: never the secret, the signature or the payload.
    webhooks.on("completed", (job, outcome) =>
      logger.info({ deliveryId: job.data.deliveryId, outcome }, "webhook delivery done"),
    );
    webhooks.on("failed", (job, err) => {
      logger.warn(
        { deliveryId: job?.data.deliveryId, attemptsMade: job?.attemptsMade, err: err.message },
        "webhook delivery attempt failed (retried with backoff until its attempts are used up, then failed)",
      );
      if (job && failedForGood(job, err)) void failDelivery(job.data, err);
    });
  } else {
    logger.warn("WARDEN_DATA_KEY is not set: webhook deliveries wait in their queue until a worker with it runs");
  }

  const maintenance = new Worker(
    MAINTENANCE_QUEUE,
    async () => {
      const now = Date.now();
      const pruned = await pruneExpired(database.db, {
        now,
        refreshTokenTtlMs: options.refreshTokenTtlMs,
        accessTokenTtlMs: options.accessTokenTtlMs,
        retentionMs: options.retentionMs ?? 30 * 24 * HOUR_MS,
      });
      const feedEntries = await pruneRevocations(feed, now, options.prefix);
      // After a data-key rotation, secrets sealed under the previous key move to the current one.
      const webhookSecretsResealed = options.dataKeys
        ? await resealWebhookSecrets(database.db, deriveDataKeys(options.dataKeys, "webhook-secret"))
        : 0;
      logger.info({ ...pruned, feedEntries, webhookSecretsResealed }, "maintenance: pruned");
      return { ...pruned, feedEntries, webhookSecretsResealed };
    },
    { connection, prefix: options.prefix, concurrency: 1 },
  );
  maintenance.on("error", (err) => logger.error({ err: err.message }, "maintenance worker error"));
  maintenance.on("failed", (job, err) => logger.error({ jobId: job?.id, err: err.message }, "maintenance job failed"));

  // One scheduler however many workers run: upserting with a fixed id is idempotent.
  const scheduler = new Queue(MAINTENANCE_QUEUE, { connection, prefix: options.prefix });
  scheduler.on("error", (err) => logger.warn({ err: err.message }, "maintenance scheduler error"));
  const upsertSchedule = () =>
    scheduler.upsertJobScheduler(
      MAINTENANCE_SCHEDULER_ID,
      { every: options.maintenanceEveryMs ?? HOUR_MS },
      { name: "prune", opts: { removeOnComplete: 100, removeOnFail: 100 } },
    );
  // At start the schedule is upserted (a changed MAINTENANCE_EVERY takes effect); later only when
  // Redis lost it (restarted empty, flushed, failed over), which no reconnect need announce.
  await upsertSchedule();
  await redisRequirements.check();
  let checkingSchedule = false;

  // Redis may come back empty (restart without persistence, eviction, failover): the feed is
  // compared with PostgreSQL every few seconds and rebuilt from it.
  const keeper = startFeedKeeper({
    db: database.db,
    redis: feed,
    prefix: options.prefix,
    accessTokenTtlMs: options.accessTokenTtlMs,
    logger,
    ...(options.feedCheckEveryMs ? { intervalMs: options.feedCheckEveryMs } : {}),
    ...(metrics ? { onCheck: metrics.feedChecked } : {}),
  });

  let closing: Promise<void> | undefined;

  // A job, in whatever state BullMQ keeps it, is the hash at its key: one EXISTS per delivery, and
  // its state only for the few that exist.
  // Both run inside the sweep's transaction: Redis gets a bounded wait, the rows stay pending otherwise.
  const deliveryJobStates = (deliveryIds: string[]) =>
    withTimeout(
      Promise.all(
        deliveryIds.map(async (id): Promise<DeliveryJobState> => {
          if ((await connection.exists(webhookQueue.toKey(id))) === 0) return { state: "missing" };
          if ((await webhookQueue.getJobState(id)) !== "failed") return { state: "queued" };
          return { state: "failed", reason: (await webhookQueue.getJob(id))?.failedReason ?? "" };
        }),
      ),
      LOST_DELIVERY_REDIS_TIMEOUT_MS,
    );
  const requeueDeliveries = async (jobs: { deliveryId: string; attempts: number; delayMs: number }[]) => {
    await withTimeout(
      webhookQueue.addBulk(
        jobs.map((job) => ({
          name: "deliver",
          data: { deliveryId: job.deliveryId },
          opts: { ...webhookJobOptions, attempts: job.attempts, delay: job.delayMs, jobId: job.deliveryId },
        })),
      ),
      LOST_DELIVERY_REDIS_TIMEOUT_MS,
    );
  };
  const lostJobCheck = options.webhooks?.lostJobCheck;
  let sweep: Promise<void> | undefined;
  let sweepAfter: string | undefined;
  const sweepLostDeliveries = (): Promise<void> =>
    (sweep ??= (async () => {
      if (closing || connection.status !== "ready") return;
      try {
        const result = await recoverLostDeliveries(database.db, {
          jobStates: deliveryJobStates,
          requeue: requeueDeliveries,
          createdBeforeMs: lostJobCheck?.olderThanMs ?? LOST_DELIVERY_AGE_MS,
          schedule: webhookSchedule,
          now: Date.now(),
          after: sweepAfter,
        });
        sweepAfter = result.next;
        for (const _ of result.failed) metrics?.webhookAttempted("failed");
        if (result.requeued.length > 0) {
          logger.warn(
            { deliveries: result.requeued.length, deliveryIds: result.requeued.slice(0, 20) },
            "webhook deliveries whose job the queue had lost (Redis emptied, evicting or failed over?) are queued again",
          );
        }
        if (result.failed.length > 0) {
          logger.warn(
            { deliveries: result.failed.length, deliveryIds: result.failed.slice(0, 20) },
            "webhook deliveries whose job had failed for good without them being marked (a stalled job, the database down?) are failed",
          );
        }
      } catch (error) {
        if (!closing)
          logger.warn({ err: failureSummary(error) }, "could not check webhook deliveries for lost jobs; trying again");
      }
    })().finally(() => {
      sweep = undefined;
    }));
  const sweepTimer = setInterval(() => void sweepLostDeliveries(), lostJobCheck?.everyMs ?? LOST_DELIVERY_CHECK_EVERY_MS);
  sweepTimer.unref();

  const ensureSchedule = async () => {
    if (checkingSchedule || closing || connection.status !== "ready") return;
    checkingSchedule = true;
    try {
      if (await scheduler.getJobScheduler(MAINTENANCE_SCHEDULER_ID)) return;
      await upsertSchedule();
      logger.warn(
        { schedulerId: MAINTENANCE_SCHEDULER_ID },
        "maintenance schedule was missing from Redis (emptied?); re-created",
      );
    } catch (error) {
      if (!closing) logger.warn({ err: (error as Error).message }, "could not check the maintenance schedule; trying again");
    } finally {
      checkingSchedule = false;
    }
  };
  // Redis back after a restart may be empty: look at once rather than at the next tick.
  const onReady = () => {
    void ensureSchedule();
    void sweepLostDeliveries();
  };
  connection.on("ready", onReady);
  const scheduleTimer = setInterval(() => void ensureSchedule(), SCHEDULE_CHECK_EVERY_MS);
  scheduleTimer.unref();

  return {
    revocations,
    maintenance,
    emails,
    webhooks,
    metricsUrl: served?.url,
    close: () =>
      (closing ??= (async () => {
        clearInterval(scheduleTimer);
        clearInterval(sweepTimer);
        await sweep;
        connection.off("ready", onReady);
        redisRequirements.close();
        // Lets running jobs finish; jobs not started stay in Redis for the next worker.
        await Promise.all([revocations.close(), maintenance.close(), emails?.close(), webhooks?.close(), keeper.close()]);
        closeSender();
        await Promise.all([scheduler.close(), emailQueue.close(), webhookQueue.close()]);
        await served?.close();
        connection.disconnect();
        feed.disconnect();
        await database.close();
      })()),
  };
}
