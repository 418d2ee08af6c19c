import { randomUUID } from "node:crypto";
import { appRouter } from "@warden/api";
import { ERROR_REASON_LIST } from "@warden/contracts";
import { serverEnvSchema } from "@warden/server";
import { scrapeMetrics, startWardenSystem, waitFor, type MetricsScrape, type WardenSystem } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const METRICS_TOKEN = `metrics-${randomUUID()}`;
const password = "correct horse battery";
let system: WardenSystem;

beforeAll(async () => {
  system = await startWardenSystem({
    env: { METRICS_TOKEN, RATE_LIMITS: "true", RATE_LIMIT_SIGNUP: "3/1h" },
  });
});
afterAll(() => system?.close());

const scrape = () => scrapeMetrics(`${system.url}/metrics`, METRICS_TOKEN);

async function call(method: "GET" | "POST", path: string, body?: unknown, token?: string) {
  const res = await fetch(`${system.url}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}
const post = (path: string, body: unknown, token?: string) => call("POST", `/trpc/${path}`, body, token);
const data = (res: { body: any }) => res.body.result.data;

/** How much a metric moved between two scrapes. */
function moved(before: MetricsScrape, after: MetricsScrape) {
  return (name: string, labels: Record<string, string> = {}) => after.value(name, labels) - before.value(name, labels);
}

describe("/metrics on the auth server", () => {
  it("METRICS_TOKEN: 401 without it or with another one, 200 with it; the setting refuses short tokens", async () => {
    expect((await scrapeMetrics(`${system.url}/metrics`)).status).toBe(401);
    expect((await scrapeMetrics(`${system.url}/metrics`, `${METRICS_TOKEN}x`)).status).toBe(401);
    const res = await fetch(`${system.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(serverEnvSchema.safeParse({ METRICS_TOKEN: "short" }).success).toBe(false);
  });

  it("the numbers move with the traffic: calls by procedure and outcome, latency, refresh outcomes, revocations, rate limits", async () => {
    const before = await scrape();
    const signupA = data(await post("auth.signup", { email: `a-${randomUUID()}@example.com`, password }));
    const signupB = data(await post("auth.signup", { email: `b-${randomUUID()}@example.com`, password }));
    const login = data(await post("auth.login", { email: signupA.user.email, password }));
    for (let i = 0; i < 3; i++) expect((await call("GET", "/trpc/auth.me", undefined, login.accessToken)).status).toBe(200);
    // A batch goes through tRPC's adapter, not the fast path: counted the same way, per call.
    const batch = await call("GET", "/trpc/auth.me,sessions.list?batch=1", undefined, login.accessToken);
    expect(batch.status).toBe(200);
    expect((await call("GET", "/trpc/auth.me", undefined, "not-a-jwt")).body.error.data.reason).toBe("TOKEN_INVALID");

    const rotated = data(await post("auth.refresh", { refreshToken: signupA.refreshToken }));
    const retried = data(await post("auth.refresh", { refreshToken: signupA.refreshToken }));
    expect(retried.refreshToken).toBe(rotated.refreshToken);
    await post("auth.refresh", { refreshToken: rotated.refreshToken });
    // The grandparent: no grace for older ancestors, it is theft and the session is revoked.
    expect((await post("auth.refresh", { refreshToken: signupA.refreshToken })).body.error.data.reason).toBe(
      "REFRESH_TOKEN_REUSED",
    );
    expect((await post("auth.logout", {}, signupB.accessToken)).status).toBe(200);

    // Whatever paths clients make up, they are one series: `unknown`.
    for (let i = 0; i < 20; i++) expect((await post(`not.a.procedure${i}`, {})).status).toBe(404);
    expect((await call("GET", "/no-such-route")).status).toBe(404);
    // RATE_LIMIT_SIGNUP=3/1h: the third sign-up from this address is the last one allowed.
    expect((await post("auth.signup", { email: `c-${randomUUID()}@example.com`, password })).status).toBe(200);
    expect((await post("auth.signup", { email: `d-${randomUUID()}@example.com`, password })).body.error.data.reason).toBe(
      "RATE_LIMITED",
    );
    const after = await scrape();
    const delta = moved(before, after);
    const calls = "warden_procedure_calls_total";

    expect(delta(calls, { procedure: "auth.signup", outcome: "ok" })).toBe(3);
    expect(delta(calls, { procedure: "auth.signup", outcome: "RATE_LIMITED" })).toBe(1);
    expect(delta(calls, { procedure: "auth.login", outcome: "ok" })).toBe(1);
    expect(delta(calls, { procedure: "auth.me", outcome: "ok" })).toBe(4);
    expect(delta(calls, { procedure: "sessions.list", outcome: "ok" })).toBe(1);
    expect(delta(calls, { procedure: "auth.me", outcome: "TOKEN_INVALID" })).toBe(1);
    expect(delta(calls, { procedure: "auth.refresh", outcome: "ok" })).toBe(3);
    expect(delta(calls, { procedure: "auth.refresh", outcome: "REFRESH_TOKEN_REUSED" })).toBe(1);
    expect(delta(calls, { procedure: "auth.logout", outcome: "ok" })).toBe(1);
    expect(delta(calls, { procedure: "unknown", outcome: "NOT_FOUND" })).toBe(20);
    expect(delta("warden_procedure_duration_seconds_count", { procedure: "auth.me" })).toBe(5);
    expect(delta("warden_procedure_duration_seconds_sum", { procedure: "auth.login" })).toBeGreaterThan(0);

    expect(delta("warden_refreshes_total", { outcome: "rotated" })).toBe(2);
    expect(delta("warden_refreshes_total", { outcome: "grace" })).toBe(1);
    expect(delta("warden_refreshes_total", { outcome: "reused" })).toBe(1);
    expect(delta("warden_revocations_issued_total", { type: "refresh_token.reused" })).toBe(1);
    expect(delta("warden_revocations_issued_total", { type: "session.revoked" })).toBe(1);
    expect(delta("warden_revoked_sessions_total")).toBe(2);
    expect(delta("warden_rate_limit_refusals_total", { bucket: "signup" })).toBe(1);
    expect(after.value("warden_revocation_set_entries", { kind: "sessions" })).toBeGreaterThanOrEqual(2);
    // The worker rebuilds the fresh prefix's feed after start; on a loaded machine that can take a while.
    const completed = await waitFor(
      async () => (await scrape()).value("warden_revocation_feed_complete") === 1,
      15_000,
      "the revocation feed complete",
    );
    expect(completed).toBe(true);
    expect(after.value("warden_process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(after.value("warden_nodejs_heap_size_used_bytes")).toBeGreaterThan(0);

    // Label values stay bounded: procedures of the router or `unknown`; outcomes `ok` or a reason.
    const procedures = after.labelValues(calls, "procedure");
    expect(procedures.filter((p) => p !== "unknown" && !Object.hasOwn(appRouter._def.procedures, p))).toEqual([]);
    expect(after.labelValues(calls, "outcome").filter((o) => o !== "ok" && !(ERROR_REASON_LIST as string[]).includes(o))).toEqual(
      [],
    );
    // Nothing a client sent reaches a label: no email, token or made-up path.
    const secrets = [signupA.user.email, signupA.refreshToken, login.accessToken, "not.a.procedure", "no-such-route"];
    const labelValues = after.series.flatMap((series) => Object.values(series.labels));
    expect(labelValues.filter((value) => secrets.some((secret) => value.includes(secret)))).toEqual([]);
    const refreshes = (outcome: string) => delta("warden_refreshes_total", { outcome });
    console.log("auth server, moved by the traffic:", {
      "auth.me ok": delta(calls, { procedure: "auth.me", outcome: "ok" }),
      "unknown NOT_FOUND": delta(calls, { procedure: "unknown", outcome: "NOT_FOUND" }),
      "refreshes rotated/grace/reused": [refreshes("rotated"), refreshes("grace"), refreshes("reused")].join("/"),
      "revocations issued": delta("warden_revocations_issued_total"),
      "rate-limit refusals": delta("warden_rate_limit_refusals_total"),
      "auth.login seconds": delta("warden_procedure_duration_seconds_sum", { procedure: "auth.login" }),
      "auth.me mean seconds": delta("warden_procedure_duration_seconds_sum", { procedure: "auth.me" }) / 5,
      "procedure label values": procedures.length,
      "series in the scrape": after.series.length,
    });
  });

  it("the outbox gauges show events waiting for a worker, and drop back once it applies them", async () => {
    const user = data(await post("auth.login", system.admin));
    await system.stopWorker();
    try {
      expect((await post("auth.logout", {}, user.accessToken)).status).toBe(200);
      const waiting = await waitFor(
        async () => {
          const s = await scrape();
          return s.value("warden_outbox_unapplied_events") >= 1 && s.value("warden_outbox_oldest_unapplied_age_seconds") > 0 && s;
        },
        10_000,
        "an unapplied event in the outbox gauges",
      );
      expect(waiting.value("warden_outbox_unpublished_events")).toBe(0);
      console.log("worker stopped:", {
        unapplied: waiting.value("warden_outbox_unapplied_events"),
        oldestUnappliedAgeSeconds: waiting.value("warden_outbox_oldest_unapplied_age_seconds"),
      });
    } finally {
      await system.startWorker();
    }
    const drained = await waitFor(
      async () => {
        const s = await scrape();
        return s.value("warden_outbox_unapplied_events") === 0 && s;
      },
      15_000,
      "the outbox drained",
    );
    expect(drained.value("warden_outbox_oldest_unapplied_age_seconds")).toBe(0);
  });
});
