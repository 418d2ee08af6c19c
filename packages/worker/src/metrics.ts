import { appliedHighWaterMark, type FeedCheck } from "@warden/auth";
import {
  EMAIL_KINDS,
  EMAIL_QUEUE,
  MAINTENANCE_QUEUE,
  REVOCATION_QUEUE,
  REVOCATION_EVENT_TYPES,
  WEBHOOK_QUEUE,
  type EmailKind,
  type RevocationEvent,
} from "@warden/contracts";
import type { Database } from "@warden/db";
import { createMetricsRegistry, scrapeReading, serveMetrics } from "@warden/metrics";
import { feedStats, type FeedStats, type RedisClient } from "@warden/revocations";
import { Queue } from "bullmq";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { WEBHOOK_OUTCOMES, type WebhookOutcome } from "./webhooks.js";

/** The job states shown per queue: a backlog (waiting), work in hand, retries waiting their backoff, failures kept for inspection. */
const QUEUE_STATES = ["waiting", "active", "delayed", "failed"] as const;
/** From an event applied within milliseconds to one that waited out a Redis or worker outage. */
const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
/** From a webhook delivered within milliseconds of its event to one that succeeded on a retry hours later. */
const WEBHOOK_LAG_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21_600, 86_400];

interface WorkerStateSources {
  /** Job counts of a queue by state (BullMQ's `getJobCounts`). */
  queues: { name: string; getJobCounts(...states: string[]): Promise<Record<string, number>> }[];
  /** The feed's size and high-water mark in Redis. */
  feed(): Promise<FeedStats>;
  /** The highest outbox `seq` PostgreSQL says is applied. */
  appliedHighWaterMark(): Promise<number>;
}

/** The admin worker's metrics, on a registry of its own (see README, "Metrics"). */
interface WorkerMetrics {
  registry: Registry;
  /** An event went through the worker: applied now (its lag observed), or applied before. */
  applied(event: RevocationEvent, alreadyApplied: boolean, appliedAt: number): void;
  /** A job attempt failed (it is retried with backoff, or kept failed). */
  failed(jobName: string | undefined): void;
  /** A periodic comparison of the feed with PostgreSQL ended (rebuilds are counted). */
  feedChecked(check: FeedCheck): void;
  /** An email job attempt ended: sent, superseded (its link no longer works), not_applicable, failed. */
  emailed(kind: EmailKind | undefined, outcome: EmailOutcomeLabel): void;
  /** A webhook delivery attempt ended; a success observes the time since its event happened. */
  webhookAttempted(outcome: WebhookOutcome, lagSeconds?: number): void;
}

const EMAIL_OUTCOMES = ["sent", "superseded", "not_applicable", "failed"] as const;
type EmailOutcomeLabel = (typeof EMAIL_OUTCOMES)[number];

/** A job's name is its event type, unless the row was malformed: label values stay bounded. */
const typeLabel = (name: string | undefined): string =>
  (REVOCATION_EVENT_TYPES as readonly (string | undefined)[]).includes(name) ? name! : "unknown";

function createWorkerMetrics(sources: WorkerStateSources): WorkerMetrics {
  const registry = createMetricsRegistry();
  const registers = [registry];

  const jobs = new Counter({
    name: "warden_revocation_jobs_total",
    help: "Revocation jobs by event type and outcome: applied, already_applied (a redelivery), failed (an attempt; retried with backoff)",
    labelNames: ["type", "outcome"] as const,
    registers,
  });
  const lag = new Histogram({
    name: "warden_revocation_apply_lag_seconds",
    help: "From a revocation event's commit to its application by the worker (refresh tokens blacklisted, feed published, audit row), by event type",
    labelNames: ["type"] as const,
    buckets: LAG_BUCKETS,
    registers,
  });
  for (const type of REVOCATION_EVENT_TYPES) {
    for (const outcome of ["applied", "already_applied", "failed"]) jobs.labels({ type, outcome }).inc(0);
  }
  const rebuilds = new Counter({
    name: "warden_revocation_feed_rebuilds_total",
    help: "Rebuilds of the revocation feed from PostgreSQL by this worker: missing (Redis lost it) or behind (Redis lost recent writes)",
    labelNames: ["reason"] as const,
    registers,
  });
  for (const reason of ["missing", "behind"]) rebuilds.labels({ reason }).inc(0);

  const emails = new Counter({
    name: "warden_emails_total",
    help: "Email job attempts by kind and outcome: sent, superseded (a newer link, or used), not_applicable (locked or already verified), failed (retried with backoff)",
    labelNames: ["kind", "outcome"] as const,
    registers,
  });
  for (const kind of EMAIL_KINDS) for (const outcome of EMAIL_OUTCOMES) emails.labels({ kind, outcome }).inc(0);

  const webhookAttempts = new Counter({
    name: "warden_webhook_deliveries_total",
    help: "Webhook delivery attempts by outcome: succeeded (a 2xx), attempt_failed (retried with backoff), failed (attempts used up, target refused, or the job failed for good outside HTTP: the delivery is failed), dropped (webhook deleted)",
    labelNames: ["outcome"] as const,
    registers,
  });
  for (const outcome of WEBHOOK_OUTCOMES) webhookAttempts.labels({ outcome }).inc(0);
  const webhookLag = new Histogram({
    name: "warden_webhook_delivery_lag_seconds",
    help: "From an event's commit to the 2xx of its webhook delivery (retries included)",
    buckets: WEBHOOK_LAG_BUCKETS,
    registers,
  });

  const counts = scrapeReading(() => Promise.all(sources.queues.map((q) => q.getJobCounts(...QUEUE_STATES))));
  new Gauge({
    name: "warden_queue_jobs",
    help: "Jobs in each queue by state (waiting, active, delayed, failed); NaN when Redis did not answer within 1 s",
    labelNames: ["queue", "state"] as const,
    registers,
    async collect() {
      const reading = await counts();
      sources.queues.forEach((queue, i) => {
        for (const state of QUEUE_STATES) this.set({ queue: queue.name, state }, reading?.[i]?.[state] ?? NaN);
      });
    },
  });

  const feed = scrapeReading(sources.feed);
  const applied = scrapeReading(sources.appliedHighWaterMark);
  new Gauge({
    name: "warden_revocation_feed_entries",
    help: "Entries in the revocation feed in Redis: revoked sessions and users' not-befores (expired ones until maintenance prunes them)",
    labelNames: ["set"] as const,
    registers,
    async collect() {
      const stats = await feed();
      this.set({ set: "sessions" }, stats?.sessions ?? NaN);
      this.set({ set: "not_before" }, stats?.notBefores ?? NaN);
    },
  });
  new Gauge({
    name: "warden_revocation_feed_complete",
    help: "1 when the revocation feed in Redis carries its completeness marker, 0 when it is to be rebuilt from PostgreSQL",
    registers,
    async collect() {
      const stats = await feed();
      this.set(stats === undefined ? NaN : stats.highWaterMark === undefined ? 0 : 1);
    },
  });
  new Gauge({
    name: "warden_revocation_feed_lag_events",
    help: "Applied revocation events the feed's high-water mark is behind PostgreSQL by (0 when current; NaN without a marker or a reading)",
    registers,
    async collect() {
      const [stats, mark] = await Promise.all([feed(), applied()]);
      const feedMark = stats?.highWaterMark;
      this.set(feedMark === undefined || mark === undefined ? NaN : Math.max(0, mark - feedMark));
    },
  });

  return {
    registry,
    applied(event, alreadyApplied, appliedAt) {
      const type = typeLabel(event.type);
      jobs.labels({ type, outcome: alreadyApplied ? "already_applied" : "applied" }).inc();
      if (!alreadyApplied) lag.labels({ type }).observe(Math.max(0, appliedAt - event.at) / 1000);
    },
    failed(jobName) {
      jobs.labels({ type: typeLabel(jobName), outcome: "failed" }).inc();
    },
    feedChecked(check) {
      if (check.state === "rebuilt") rebuilds.labels({ reason: check.reason }).inc();
    },
    emailed(kind, outcome) {
      emails.labels({ kind: kind && EMAIL_KINDS.includes(kind) ? kind : "unknown", outcome }).inc();
    },
    webhookAttempted(outcome, lagSeconds) {
      webhookAttempts.labels({ outcome }).inc();
      if (lagSeconds !== undefined) webhookLag.observe(lagSeconds);
    },
  };
}

export interface WorkerMetricsOptions {
  /** METRICS_PORT (0: any free port). */
  port: number;
  /** METRICS_HOST (default 127.0.0.1). */
  host?: string;
  /** METRICS_TOKEN: when set, scrapes need `Authorization: Bearer <token>`. */
  token?: string | undefined;
}

export interface ServedWorkerMetrics {
  metrics: WorkerMetrics;
  /** Where Prometheus scrapes, e.g. `http://127.0.0.1:9464/metrics`. */
  url: string;
  close(): Promise<void>;
}

/**
 * The worker's metrics, served on a port of their own (the worker has no other HTTP server). Queue
 * counts are read through queues of their own on the worker's connection.
 */
export async function serveWorkerMetrics(
  options: WorkerMetricsOptions,
  parts: { connection: RedisClient; feed: RedisClient; db: Database; prefix: string },
): Promise<ServedWorkerMetrics> {
  const queues = [REVOCATION_QUEUE, EMAIL_QUEUE, WEBHOOK_QUEUE, MAINTENANCE_QUEUE].map((name) => {
    const queue = new Queue(name, { connection: parts.connection, prefix: parts.prefix });
    queue.on("error", () => {});
    return queue;
  });
  const closeQueues = () => Promise.all(queues.map((q) => q.close().catch(() => {})));
  const metrics = createWorkerMetrics({
    queues,
    feed: () => feedStats(parts.feed, parts.prefix),
    appliedHighWaterMark: () => appliedHighWaterMark(parts.db),
  });
  try {
    const server = await serveMetrics({
      registry: metrics.registry,
      port: options.port,
      host: options.host ?? "127.0.0.1",
      token: options.token,
    });
    return {
      metrics,
      url: server.url,
      async close() {
        await server.close();
        await closeQueues();
      },
    };
  } catch (error) {
    await closeQueues();
    throw error;
  }
}
