import type { TRPCError } from "@trpc/server";
import { appRouter, formatError, type ProcedureObserver } from "@warden/api";
import { REFRESH_OUTCOMES, type OutboxBacklog, type RefreshOutcome } from "@warden/auth";
import { REVOCATION_EVENT_TYPES, type RevocationEvent } from "@warden/contracts";
import { createMetricsRegistry, scrapeReading } from "@warden/metrics";
import type { RevocationSet } from "@warden/revocations";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { DEFAULT_RATE_LIMITS, type RateLimitBucket } from "./rate-limit.js";

/** The label of a path that names no procedure: whatever a client sends, label values stay bounded. */
const UNKNOWN = "unknown";
/** The label of an HTTP answer no route matched (404). */
/** The outcome of a call that failed on a bug (HTTP 500): the wire says UNAVAILABLE, metrics tell them apart. */
const INTERNAL_ERROR = "INTERNAL_ERROR";

/** From a cached `auth.me` (well under a millisecond) to an argon2 login under load (seconds). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the scrape-time gauges read, once the process has built it. */
export interface ServerStateSources {
  outboxBacklog(): Promise<OutboxBacklog>;
  revocations: RevocationSet;
  feed: { readonly complete: boolean };
}

/** The auth server's metrics, on a registry of its own (see README, "Metrics"). */
export interface ServerMetrics {
  registry: Registry;
  /** Told of every tRPC call (the api's observer, in the context). */
  procedures: ProcedureObserver;
  /** A call that failed before reaching a procedure (unknown path, wrong method, malformed batch); counted once. */
  callFailed(path: string | undefined, error: TRPCError): void;
  refreshed(outcome: RefreshOutcome): void;
  revoked(event: RevocationEvent, sessionIds: readonly string[]): void;
  rateLimited(bucket: RateLimitBucket): void;
  /** Starts the gauges read at scrape time (PostgreSQL with a timeout, memory). */
  watch(sources: ServerStateSources): void;
}

/** `ok`, the error's reason (a closed set, @warden/contracts' ERROR_REASONS), or INTERNAL_ERROR. */
function outcomeOf(error: TRPCError): string {
  const { data } = formatError(error, undefined);
  return data.httpStatus === 500 ? INTERNAL_ERROR : data.reason;
}

/** A child per label value, made on first use: the hot path does a Map lookup, no label object. */
function children<T>(make: (value: string) => T): (value: string) => T {
  const made = new Map<string, T>();
  return (value) => {
    let child = made.get(value);
    if (child === undefined) {
      child = make(value);
      made.set(value, child);
    }
    return child;
  };
}

export function createServerMetrics(): ServerMetrics {
  const registry = createMetricsRegistry();
  const registers = [registry];

  const calls = new Counter({
    name: "warden_procedure_calls_total",
    help: "tRPC calls by procedure (unknown for a path that names none) and outcome (ok, or the error reason); each call of a batch counts",
    labelNames: ["procedure", "outcome"] as const,
    registers,
  });
  const durations = new Histogram({
    name: "warden_procedure_duration_seconds",
    help: "Time in the procedure, authorization and input parsing included, by procedure",
    labelNames: ["procedure"] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const procedureNames = Object.keys(appRouter._def.procedures);
  const known = new Set(procedureNames);
  const procedure = children((name) => ({
    duration: durations.labels({ procedure: name }),
    outcome: children((outcome) => calls.labels({ procedure: name, outcome })),
  }));
  // Every procedure's series exists from the start (a rate of nothing is 0, not absent).
  for (const name of procedureNames) procedure(name).outcome("ok").inc(0);
  const seen = new WeakSet<TRPCError>();

  const refreshes = new Counter({
    name: "warden_refreshes_total",
    help: "Refreshes by outcome: rotated, grace (a retry within REFRESH_REUSE_GRACE), reused (theft: the session is revoked), expired, revoked, invalid",
    labelNames: ["outcome"] as const,
    registers,
  });
  const refresh = children((outcome) => refreshes.labels({ outcome }));
  for (const outcome of REFRESH_OUTCOMES) refresh(outcome).inc(0);

  const revocations = new Counter({
    name: "warden_revocations_issued_total",
    help: "Revocation events committed by this instance, by type",
    labelNames: ["type"] as const,
    registers,
  });
  const revokedSessions = new Counter({
    name: "warden_revoked_sessions_total",
    help: "Sessions revoked by this instance's revocation events, by event type",
    labelNames: ["type"] as const,
    registers,
  });
  const revocation = children((type) => ({ events: revocations.labels({ type }), sessions: revokedSessions.labels({ type }) }));
  for (const type of REVOCATION_EVENT_TYPES) {
    revocation(type).events.inc(0);
    revocation(type).sessions.inc(0);
  }

  const refusals = new Counter({
    name: "warden_rate_limit_refusals_total",
    help: "Attempts refused by a rate limit (RATE_LIMITED), by budget",
    labelNames: ["bucket"] as const,
    registers,
  });
  const refusal = children((bucket) => refusals.labels({ bucket }));
  for (const bucket of Object.keys(DEFAULT_RATE_LIMITS)) refusal(bucket).inc(0);

  return {
    registry,
    procedures: {
      called(path, error, seconds) {
        const series = procedure(known.has(path) ? path : UNKNOWN);
        series.duration.observe(seconds);
        if (error === undefined) {
          series.outcome("ok").inc();
          return;
        }
        seen.add(error);
        series.outcome(outcomeOf(error)).inc();
      },
    },
    callFailed(path, error) {
      if (seen.has(error)) return;
      procedure(path !== undefined && known.has(path) ? path : UNKNOWN)
        .outcome(outcomeOf(error))
        .inc();
    },
    refreshed(outcome) {
      refresh(outcome).inc();
    },
    revoked(event, sessionIds) {
      const series = revocation(event.type);
      series.events.inc();
      if (sessionIds.length > 0) series.sessions.inc(sessionIds.length);
    },
    rateLimited(bucket) {
      refusal(bucket).inc();
    },
    watch(sources) {
      watchState(registry, sources);
    },
  };
}

/** Gauges read at scrape time: the outbox from PostgreSQL (NaN when it does not answer within 1 s), the rest from memory. */
function watchState(registry: Registry, sources: ServerStateSources): void {
  const registers = [registry];
  const backlog = scrapeReading(sources.outboxBacklog);
  const ageSeconds = (oldest: number | undefined) => (oldest === undefined ? 0 : Math.max(0, Date.now() - oldest) / 1000);
  const outboxGauge = (name: string, help: string, value: (b: OutboxBacklog) => number) =>
    new Gauge({
      name,
      help,
      registers,
      async collect() {
        const reading = await backlog();
        this.set(reading === undefined ? NaN : value(reading));
      },
    });
  outboxGauge(
    "warden_outbox_unpublished_events",
    "Revocation events not yet handed to the queue (Redis down, relays behind); NaN when PostgreSQL did not answer",
    (b) => b.unpublished,
  );
  outboxGauge(
    "warden_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest event not yet handed to the queue (0 when none)",
    (b) => ageSeconds(b.oldestUnpublishedAt),
  );
  outboxGauge(
    "warden_outbox_unapplied_events",
    "Revocation events handed to the queue that no worker has applied yet",
    (b) => b.unapplied,
  );
  outboxGauge(
    "warden_outbox_oldest_unapplied_age_seconds",
    "Age of the oldest event handed to the queue and not applied (0 when none); one that keeps growing is stuck",
    (b) => ageSeconds(b.oldestUnappliedAt),
  );

  new Gauge({
    name: "warden_revocation_set_entries",
    help: "Entries in this instance's in-memory revocation set: revoked sessions and users' not-befores",
    labelNames: ["kind"] as const,
    registers,
    collect() {
      this.set({ kind: "sessions" }, sources.revocations.size);
      this.set({ kind: "not_before" }, sources.revocations.notBeforeSize);
    },
  });
  new Gauge({
    name: "warden_revocation_feed_complete",
    help: "1 when the revocation feed this instance loaded from Redis was complete, 0 while it waits for a worker to rebuild it",
    registers,
    collect() {
      this.set(sources.feed.complete ? 1 : 0);
    },
  });
}
