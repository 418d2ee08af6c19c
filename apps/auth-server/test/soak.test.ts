import v8 from "node:v8";
import vm from "node:vm";
import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import { Redis } from "ioredis";
import { deleteKeys, email, LogCapture, PASSWORD, startTestServer, testPrefix, type TestServer } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, createRateLimiter } from "@warden/server";

/**
 * A bounded soak: mixed load over HTTP for SOAK_SECONDS (default 60) with the rate limiter on
 * Redis in the path. Every answer must be the expected one, and the heap must stop growing with
 * the number of calls: it is sampled after GC throughout the run, and the slope of heap over calls
 * in the second half of the run (after warm-up) must stay under MAX_HEAP_GROWTH_PER_CALL.
 */
const SOAK_MS = Number(process.env.SOAK_SECONDS ?? 60) * 1000;
const WARMUP_MS = Math.min(10_000, SOAK_MS / 6);
const SAMPLE_EVERY_MS = 2000;
const WORKERS = 6;
const MB = 1024 * 1024;
/**
 * Bytes of heap per call the second half may add. What legitimately still grows there are the
 * verified-token and session caches (one entry per new access token until its exp, bounded at 10,000), measured at
 * 400 to 800 B per call at this mix; the rest is headroom for sampling noise on a busy machine.
 * An injected leak of 2 KB per call measured 2.9 to 3.2 KB/call and fails; one of 9 KB, 9.5 KB/call.
 */
const MAX_HEAP_GROWTH_PER_CALL = 2048;

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

let t: TestAuth;
let server: TestServer;
const logs = new LogCapture();
let redis: Redis;
const prefix = testPrefix();

beforeAll(async () => {
  t = await createTestAuth();
  redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  await new Promise((resolve) => redis.once("ready", resolve));
  const roomy = { points: 10_000_000, durationSec: 60 };
  server = await startTestServer(t.auth, {
    // The default capture keeps every info line in memory, which would grow with the calls.
    logger: createLogger("warn", logs),
    rateLimiter: createRateLimiter({
      redis,
      prefix,
      limits: { login: roomy, loginAccount: roomy, signup: roomy, refresh: roomy },
    }),
  });
});
afterAll(async () => {
  await server.close();
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await t.close();
});

type Op = "signup" | "login" | "refresh" | "me" | "revoke";
interface Session {
  email: string;
  accessToken: string;
  refreshToken: string;
  sessionId: string;
}

function memory() {
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

interface Sample {
  ms: number;
  calls: number;
  rss: number;
  heap: number;
}

/** Least-squares slope of y over x (bytes per call), with its standard error. */
function slope(points: { x: number; y: number }[]): { perCall: number; stderr: number } {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  if (n < 3 || sxx === 0) return { perCall: 0, stderr: Infinity };
  const perCall = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0) / sxx;
  const residuals = points.reduce((a, p) => a + (p.y - my - perCall * (p.x - mx)) ** 2, 0);
  return { perCall, stderr: Math.sqrt(residuals / (n - 2) / sxx) };
}
const mb = (bytes: number) => (bytes / MB).toFixed(1);
const perCall = ({ perCall, stderr }: { perCall: number; stderr: number }) =>
  `${perCall.toFixed(0)} ± ${stderr.toFixed(0)} B/call`;

describe("soak", () => {
  it(
    "mixed signup, login, refresh, me and revoke load: zero unexpected errors, and the heap stops growing with the calls",
    async () => {
      const counts: Record<Op, number> = { signup: 0, login: 0, refresh: 0, me: 0, revoke: 0 };
      const unexpected: string[] = [];
      const start = Date.now();
      let calls = 0;
      const post = (path: string, body: unknown, headers?: Record<string, string>) => (calls++, server.post(path, body, headers));
      const get = (path: string, headers?: Record<string, string>) => (calls++, server.get(path, undefined, headers));

      const expectOk = (op: Op, res: { status: number; body: any }) => {
        if (res.status !== 200) unexpected.push(`${op}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        else counts[op]++;
        return res.status === 200 ? res.body.result.data : undefined;
      };

      async function worker(id: number) {
        const mine: Session[] = [];
        let tick = 0;
        while (Date.now() - start < SOAK_MS) {
          tick++;
          const roll = (tick * 7919 + id * 104_729) % 100;
          if (mine.length === 0 || roll < 4) {
            const e = email(`soak${id}`);
            const data = expectOk("signup", await post("/trpc/auth.signup", { email: e, password: PASSWORD }));
            if (data) mine.push({ email: e, ...data });
          } else if (roll < 10) {
            const s = mine[tick % mine.length]!;
            const data = expectOk("login", await post("/trpc/auth.login", { email: s.email, password: PASSWORD }));
            if (data) mine.push({ email: s.email, ...data });
          } else if (roll < 35) {
            const s = mine[tick % mine.length]!;
            const data = expectOk("refresh", await post("/trpc/auth.refresh", { refreshToken: s.refreshToken }));
            if (data) Object.assign(s, { accessToken: data.accessToken, refreshToken: data.refreshToken });
          } else if (roll < 92 || mine.length < 3) {
            const s = mine[tick % mine.length]!;
            expectOk("me", await get("/trpc/auth.me", { authorization: `Bearer ${s.accessToken}` }));
          } else {
            // Revoke one session (logout) and check it is dead at once; keep the pool bounded.
            const [s] = mine.splice(tick % mine.length, 1);
            expectOk("revoke", await post("/trpc/auth.logout", {}, { authorization: `Bearer ${s!.accessToken}` }));
            const after = await get("/trpc/auth.me", { authorization: `Bearer ${s!.accessToken}` });
            if (after.body?.error?.data?.reason !== "SESSION_REVOKED")
              unexpected.push(`revoked session still answers: ${after.status}`);
          }
          if (mine.length > 20) mine.shift();
        }
      }

      // Heap and RSS after a full GC, with the number of calls made so far.
      const samples: Sample[] = [];
      const sample = () => samples.push({ ms: Date.now() - start, calls, ...memory() });
      const sampler = setInterval(sample, SAMPLE_EVERY_MS);
      try {
        await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i)));
      } finally {
        clearInterval(sampler);
      }
      sample();
      const elapsed = (Date.now() - start) / 1000;
      const total = Object.values(counts).reduce((a, b) => a + b, 0);

      const steady = samples.filter((x) => x.ms >= WARMUP_MS);
      const middle = (WARMUP_MS + samples.at(-1)!.ms) / 2;
      const halves = [steady.filter((x) => x.ms < middle), steady.filter((x) => x.ms >= middle)] as const;
      const heapSlope = halves.map((half) => slope(half.map((x) => ({ x: x.calls, y: x.heap }))));
      const rssSlope = halves.map((half) => slope(half.map((x) => ({ x: x.calls, y: x.rss }))));
      const [warm, end] = [steady[0]!, samples.at(-1)!];
      const second = halves[1];

      console.log(
        [
          `soak: ${elapsed.toFixed(1)} s, ${WORKERS} workers, ${calls} calls, ${total} expected answers (${(total / elapsed).toFixed(0)}/s), unexpected: ${unexpected.length}`,
          `  by kind: ${Object.entries(counts)
            .map(([k, v]) => `${k} ${v}`)
            .join(", ")}`,
          `  after GC, after warm-up (${(warm.ms / 1000).toFixed(0)} s, ${warm.calls} calls): heap ${mb(warm.heap)} MB, rss ${mb(warm.rss)} MB; at the end (${end.calls} calls): heap ${mb(end.heap)} MB, rss ${mb(end.rss)} MB`,
          `  heap growth per call (least squares over the samples): first half ${perCall(heapSlope[0]!)}, second half ${perCall(heapSlope[1]!)} over ${second.length} samples and ${second.at(-1)!.calls - second[0]!.calls} calls (limit ${MAX_HEAP_GROWTH_PER_CALL})`,
          `  rss growth per call: first half ${perCall(rssSlope[0]!)}, second half ${perCall(rssSlope[1]!)}`,
          `  samples (s calls: heap/rss MB): ${samples.map((x) => `${(x.ms / 1000).toFixed(0)} ${x.calls}: ${mb(x.heap)}/${mb(x.rss)}`).join("  ")}`,
        ].join("\n"),
      );

      expect(unexpected.slice(0, 5)).toEqual([]);
      for (const op of Object.keys(counts) as Op[]) expect(counts[op], op).toBeGreaterThan(0);
      expect(second.length).toBeGreaterThanOrEqual(5);
      expect(heapSlope[1]!.perCall).toBeLessThan(MAX_HEAP_GROWTH_PER_CALL);
      // Native memory is shaped by the allocator (argon2 takes 19 MiB per hash): a gross bound only.
      expect((end.rss - warm.rss) / MB).toBeLessThan(160);
      // Rotation never left more than one live refresh token per session.
      const [row] = await t.database.sql<{ n: number }[]>`select count(*)::int as n from (
        select session_id from refresh_tokens where rotated_at is null and revoked_at is null group by session_id having count(*) > 1) x`;
      expect(row?.n).toBe(0);
    },
    SOAK_MS + 60_000,
  );
});
