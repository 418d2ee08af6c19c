import v8 from "node:v8";
import vm from "node:vm";
import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRateLimiter } from "../src/rate-limit.js";
import { startTestServer, type TestServer } from "../src/testing.js";
import { deleteKeys, email, PASSWORD, testPrefix } from "./helpers.js";

/**
 * A bounded soak: mixed load over HTTP for SOAK_SECONDS (default 60) with the rate limiter on
 * Redis in the path. Every answer must be the expected one, and memory must end where it
 * started after warm-up (generous bounds: this checks for leaks, not for speed).
 */
const SOAK_MS = Number(process.env.SOAK_SECONDS ?? 60) * 1000;
const WARMUP_MS = Math.min(10_000, SOAK_MS / 6);
const WORKERS = 6;
const MB = 1024 * 1024;

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

let t: TestAuth;
let server: TestServer;
let redis: Redis;
const prefix = testPrefix();

beforeAll(async () => {
  t = await createTestAuth();
  redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  await new Promise((resolve) => redis.once("ready", resolve));
  const roomy = { points: 10_000_000, durationSec: 60 };
  server = await startTestServer(t.auth, {
    rateLimiter: createRateLimiter({ redis, prefix, limits: { login: roomy, loginAccount: roomy, signup: roomy, refresh: roomy } }),
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
  return { rssMb: +(m.rss / MB).toFixed(1), heapMb: +(m.heapUsed / MB).toFixed(1) };
}

describe("soak", () => {
  it(
    "mixed signup, login, refresh, me and revoke load: zero unexpected errors and flat memory",
    async () => {
      const counts: Record<Op, number> = { signup: 0, login: 0, refresh: 0, me: 0, revoke: 0 };
      const unexpected: string[] = [];
      const start = Date.now();
      let warm: ReturnType<typeof memory> | undefined;
      const samples: { s: number; rssMb: number; heapMb: number }[] = [];

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
            const data = expectOk("signup", await server.post("/trpc/auth.signup", { email: e, password: PASSWORD }));
            if (data) mine.push({ email: e, ...data });
          } else if (roll < 10) {
            const s = mine[tick % mine.length]!;
            const data = expectOk("login", await server.post("/trpc/auth.login", { email: s.email, password: PASSWORD }));
            if (data) mine.push({ email: s.email, ...data });
          } else if (roll < 35) {
            const s = mine[tick % mine.length]!;
            const data = expectOk("refresh", await server.post("/trpc/auth.refresh", { refreshToken: s.refreshToken }));
            if (data) Object.assign(s, { accessToken: data.accessToken, refreshToken: data.refreshToken });
          } else if (roll < 92 || mine.length < 3) {
            const s = mine[tick % mine.length]!;
            expectOk("me", await server.get("/trpc/auth.me", undefined, { authorization: `Bearer ${s.accessToken}` }));
          } else {
            // Revoke one session (logout) and check it is dead at once; keep the pool bounded.
            const [s] = mine.splice(tick % mine.length, 1);
            expectOk("revoke", await server.post("/trpc/auth.logout", {}, { authorization: `Bearer ${s!.accessToken}` }));
            const after = await server.get("/trpc/auth.me", undefined, { authorization: `Bearer ${s!.accessToken}` });
            if (after.body?.error?.data?.reason !== "SESSION_REVOKED") unexpected.push(`revoked session still answers: ${after.status}`);
          }
          if (mine.length > 20) mine.shift();
        }
      }

      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        samples.push({ s: Math.round((Date.now() - start) / 1000), rssMb: +(m.rss / MB).toFixed(1), heapMb: +(m.heapUsed / MB).toFixed(1) });
      }, 5000);
      const warmTimer = setTimeout(() => (warm = memory()), WARMUP_MS);
      try {
        await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i)));
      } finally {
        clearInterval(sampler);
        clearTimeout(warmTimer);
      }
      const end = memory();
      const elapsed = (Date.now() - start) / 1000;
      const total = Object.values(counts).reduce((a, b) => a + b, 0);

      console.log(
        [
          `soak: ${elapsed.toFixed(1)} s, ${WORKERS} workers, ${total} successful calls (${(total / elapsed).toFixed(0)}/s), unexpected errors: ${unexpected.length}`,
          `  by kind: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ")}`,
          `  memory after warm-up (${(WARMUP_MS / 1000).toFixed(0)} s, after GC): rss ${warm?.rssMb} MB, heap ${warm?.heapMb} MB`,
          `  memory at the end (after GC):        rss ${end.rssMb} MB, heap ${end.heapMb} MB`,
          `  samples (s: rss/heap MB): ${samples.map((x) => `${x.s}: ${x.rssMb}/${x.heapMb}`).join("  ")}`,
        ].join("\n"),
      );

      expect(unexpected.slice(0, 5)).toEqual([]);
      for (const op of Object.keys(counts) as Op[]) expect(counts[op], op).toBeGreaterThan(0);
      expect(warm).toBeDefined();
      // Generous: a leak of a few KB per call would exceed these over tens of thousands of calls.
      expect(end.heapMb - warm!.heapMb).toBeLessThan(48);
      expect(end.rssMb - warm!.rssMb).toBeLessThan(160);
      // Rotation never left more than one live refresh token per session.
      const [row] = await t.database.sql<{ n: number }[]>`select count(*)::int as n from (
        select session_id from refresh_tokens where rotated_at is null and revoked_at is null group by session_id having count(*) > 1) x`;
      expect(row?.n).toBe(0);
    },
    SOAK_MS + 60_000,
  );
});
