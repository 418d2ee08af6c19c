import { REVOCATION_JOB_OPTIONS, REVOCATION_QUEUE, type RedisTarget, type RevocationEvent } from "@warden/contracts";
import type { Database } from "@warden/db";
import { Job, Queue } from "bullmq";
import { connectRedis } from "@warden/revocations";
import { notePublishFailure, publishPendingEvents, republishLostEvents, type JobState } from "./outbox.js";
import type { StepLogger } from "./recanonicalize.js";

export interface OutboxRelayOptions {
  db: Database;
  /** Where Redis is: a URL, or a Redis Cluster. */
  redis: RedisTarget;
  /** BullMQ prefix, a Redis Cluster hash tag such as `{warden}`. */
  prefix: string;
  logger: StepLogger;
  /** Catch-up poll: picks up what a failed round, another instance or a Redis outage left behind. */
  pollIntervalMs?: number;
  /** How often published, unapplied events are checked for a job the queue lost (Redis emptied, evicting, failed over). */
  lostJobCheckMs?: number;
}

export interface OutboxRelay {
  /** Publish now (called after each revoking commit); rounds never overlap, extra wakes coalesce. */
  wake(): void;
  /** One round until the outbox is drained or publishing fails; resolves with the count published. */
  drain(): Promise<number>;
  close(): Promise<void>;
}

const DEFAULT_POLL_INTERVAL_MS = 1_000;
const DEFAULT_LOST_JOB_CHECK_MS = 5_000;
/** Events published this recently are not checked: the worker is about to apply them. */
const LOST_JOB_GRACE_MS = 1_000;
/** A round never waits longer than this on Redis: the rows stay in the outbox for the next one. */
const PUBLISH_TIMEOUT_MS = 2_000;

/** The promise, or a rejection after `ms`: what waits on Redis inside a database transaction is bounded. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`queue did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Publishes outbox events to the revocation queue (jobId = eventId, so a second publish of the
 * same event is a no-op in BullMQ). The producer connection fails fast: with Redis down a round
 * fails at once, the events stay in the outbox and the poll publishes them once Redis is back.
 * Published events whose job Redis lost before the worker applied them (restart without
 * persistence, FLUSHALL, eviction, a failover) are published again: see `republishLostEvents`.
 * Nothing here runs inside a request.
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { db, logger } = options;
  const connection = connectRedis(options.redis, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 100, 1_000),
  });
  connection.on("error", () => {});
  // Made once the connection is ready, and again after a failure: a Queue whose first command met
  // a disconnected fail-fast connection keeps failing, so it is replaced rather than reused.
  let queue: Queue<RevocationEvent> | undefined;
  const dropQueue = () => {
    const old = queue;
    queue = undefined;
    void old?.close().catch(() => {});
  };
  const readyQueue = (): Queue<RevocationEvent> => {
    if (connection.status !== "ready") throw new Error(`redis is ${connection.status}`);
    if (!queue) {
      queue = new Queue<RevocationEvent>(REVOCATION_QUEUE, { connection, prefix: options.prefix, skipWaitingForReady: true });
      queue.on("error", () => {});
    }
    return queue;
  };

  const publish = async (events: RevocationEvent[]) => {
    const target = readyQueue();
    try {
      await withTimeout(
        target.addBulk(
          // A malformed row has no usable type: a name is still required, or the whole batch fails.
          events.map((e) => ({
            name: typeof e.type === "string" ? e.type : "malformed",
            data: e,
            opts: { ...REVOCATION_JOB_OPTIONS, jobId: e.eventId },
          })),
        ),
        PUBLISH_TIMEOUT_MS,
      );
    } catch (error) {
      dropQueue();
      throw error;
    }
  };
  // A job, in whatever state BullMQ keeps it, is the hash at its key: one EXISTS per event, and
  // its state only for the few that exist.
  const jobStates = async (eventIds: string[]): Promise<JobState[]> => {
    const target = readyQueue();
    return withTimeout(
      Promise.all(
        eventIds.map(async (id): Promise<JobState> => {
          if ((await connection.exists(target.toKey(id))) === 0) return "missing";
          return (await target.getJobState(id)) === "failed" ? "failed" : "queued";
        }),
      ),
      PUBLISH_TIMEOUT_MS,
    );
  };
  const retry = async (eventIds: string[]) => {
    const target = readyQueue();
    for (const id of eventIds) {
      const job = await Job.fromId(target, id);
      await job?.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
    }
  };

  let running: Promise<number> | undefined;
  let again = false;
  let closed = false;
  let failing = false;

  const round = async (): Promise<number> => {
    let total = 0;
    for (;;) {
      const published = await publishPendingEvents(db, publish);
      total += published;
      if (published === 0) return total;
    }
  };

  const drain = (): Promise<number> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let total = 0;
      do {
        again = false;
        try {
          const published = await round();
          total += published;
          if (failing && published > 0) {
            logger.info({}, "outbox relay publishing again");
            failing = false;
          }
        } catch (error) {
          const message = (error as Error).message;
          if (!failing) logger.warn({ err: message }, "outbox relay could not publish; events stay in the outbox");
          failing = true;
          await notePublishFailure(db, message).catch(() => {});
          again = false;
        }
      } while (again && !closed);
      return total;
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  const lostJobCheckMs = options.lostJobCheckMs ?? DEFAULT_LOST_JOB_CHECK_MS;
  let checking: Promise<void> | undefined;
  let after: string | undefined;
  let checkFailing = false;
  const republishLost = (): Promise<void> =>
    (checking ??= (async () => {
      if (closed || connection.status !== "ready") return;
      try {
        const result = await republishLostEvents(db, { jobStates, publish, retry, publishedBeforeMs: LOST_JOB_GRACE_MS, after });
        after = result.next;
        checkFailing = false;
        if (result.republished.length > 0) {
          logger.warn(
            { events: result.republished.length, eventIds: result.republished.slice(0, 20) },
            "outbox relay: the queue had lost the jobs of published, unapplied events (Redis emptied, evicting or failed over?); published them again",
          );
        }
        if (result.retried.length > 0) {
          logger.warn(
            { events: result.retried.length, eventIds: result.retried.slice(0, 20) },
            "outbox relay: valid events whose jobs had used up their attempts (a dependency down for minutes?) are retried",
          );
        }
      } catch (error) {
        if (!checkFailing && !closed)
          logger.warn({ err: (error as Error).message }, "outbox relay could not check for lost jobs");
        checkFailing = true;
      }
    })().finally(() => {
      checking = undefined;
    }));

  // Redis back after a restart may be empty: look at once rather than at the next tick.
  connection.on("ready", () => void republishLost());
  const timer = setInterval(() => void drain(), options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS);
  timer.unref();
  const lostJobTimer = setInterval(() => void republishLost(), lostJobCheckMs);
  lostJobTimer.unref();
  void drain();

  return {
    wake: () => void drain(),
    drain,
    async close() {
      closed = true;
      clearInterval(timer);
      clearInterval(lostJobTimer);
      await running?.catch(() => {});
      await checking?.catch(() => {});
      await queue?.close().catch(() => {});
      connection.disconnect();
    },
  };
}
