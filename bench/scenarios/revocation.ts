// Scenario 4: revocation propagation between two auth-server instances, and mass revocation.
import { existsSync } from "node:fs";
import path from "node:path";
import type { BenchContext } from "../lib/context.js";
import { ADMIN, createSeeder, serverEnv, startAuthServer } from "../lib/infra.js";
import { BENCH_DIR, CPU, startChild, type Child } from "../lib/proc.js";
import { fmt, type Scenario } from "../lib/report.js";
import { curveOf, percentile } from "../lib/stats.js";

const PROPAGATIONS = 500;
const GIVE_UP_MS = 2_000;
const massSessions = () => Number(process.env.BENCH_MASS_SESSIONS ?? 100_000);
const MASS_GIVE_UP_MS = 60_000;

async function call(url: string, init: { method: "GET" | "POST"; token?: string; body?: unknown }) {
  const res = await fetch(url, {
    method: init.method,
    headers: { "content-type": "application/json", ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    json: text ? (JSON.parse(text) as { result?: { data: any }; error?: { data?: { reason?: string } } }) : {},
  };
}

/** The admin worker, when this checkout has one (it applies revocation events from the queue). */
async function startWorker(ctx: BenchContext): Promise<Child | undefined> {
  const main = path.resolve(BENCH_DIR, "servers/worker.ts");
  if (!existsSync(path.resolve(BENCH_DIR, "../packages/worker/src")) || !existsSync(main)) return undefined;
  return startChild("servers/worker.ts", { env: serverEnv(ctx.databaseUrl, ctx.prefix, ctx.keys) });
}

export async function revocationPropagation(ctx: BenchContext, a: Child): Promise<Scenario> {
  ctx.log(`4. revocation: second instance B on CPU ${CPU.load}; ${PROPAGATIONS} revocations via A, polling B`);
  const b = await startAuthServer(serverEnv(ctx.databaseUrl, ctx.prefix, ctx.keys), { cpu: CPU.load });
  const worker = await startWorker(ctx);
  const rows: Scenario["rows"] = [];
  const notes: string[] = [];
  let curve: Array<[number, number]> | undefined;
  try {
    const aUrl = a.ready.url as string;
    const bUrl = b.ready.url as string;
    const sessions = await ctx.seeder.sessions(PROPAGATIONS);
    const delays: number[] = [];
    let gaveUp = 0;
    let polls = 0;
    for (const s of sessions) {
      const before = await call(`${bUrl}/trpc/auth.me`, { method: "GET", token: s.accessToken });
      if (before.status !== 200) throw new Error(`B refused a live session: ${before.status}`);
      const revoke = await call(`${aUrl}/trpc/auth.logout`, { method: "POST", token: s.accessToken, body: {} });
      if (revoke.status !== 200) throw new Error(`logout via A failed: ${revoke.status}`);
      const returned = performance.now();
      for (;;) {
        polls++;
        const probe = await call(`${bUrl}/trpc/auth.me`, { method: "GET", token: s.accessToken });
        const elapsed = performance.now() - returned;
        if (probe.status === 401) {
          delays.push(elapsed);
          break;
        }
        if (elapsed > GIVE_UP_MS) {
          gaveUp++;
          delays.push(elapsed);
          break;
        }
      }
    }
    delays.sort((x, y) => x - y);
    curve = curveOf(delays);
    const p99 = percentile(delays, 99);
    rows.push(
      {
        metric: `A revokes -> B refuses, p99 (n=${PROPAGATIONS})`,
        figure: fmt.ms(p99),
        baseline: "",
        ratio: "",
        target: "<= 20 ms",
        met: p99 <= 20 && gaveUp === 0,
      },
      {
        metric: "A revokes -> B refuses, p50",
        figure: fmt.ms(percentile(delays, 50)),
        baseline: "",
        ratio: "",
        target: "",
        met: null,
      },
    );
    if (gaveUp > 0) notes.push(`${gaveUp} revocations were still accepted by B after ${GIVE_UP_MS} ms.`);
    notes.push(
      `Each revocation: auth.logout through A; the clock starts when A's answer arrives and stops at B's first 401 (B polled back to back, ${(polls / PROPAGATIONS).toFixed(1)} probes per revocation on average). A on CPU ${CPU.server}, B on CPU ${CPU.load}.`,
    );

    if (!worker) {
      rows.push({
        metric: `mass revocation of ${massSessions().toLocaleString("en-US")} sessions`,
        figure: "not run: no admin worker in this checkout",
        baseline: "",
        ratio: "",
        target: "<= 10 s",
        met: null,
      });
    } else {
      try {
        rows.push(...(await massRevocation(ctx, aUrl)));
      } catch (error) {
        rows.push({
          metric: `mass revocation of ${massSessions().toLocaleString("en-US")} sessions`,
          figure: `failed: ${(error as Error).message.slice(0, 160)}`,
          baseline: "",
          ratio: "",
          target: "<= 10 s",
          met: false,
        });
      }
    }
  } finally {
    await worker?.stop();
    await b.stop();
  }
  return {
    id: 4,
    title: "Revocation propagation",
    rows,
    notes,
    curves: curve?.length ? [{ label: "A revokes -> B refuses", curve }] : [],
  };
}

async function massRevocation(ctx: BenchContext, aUrl: string): Promise<Scenario["rows"]> {
  ctx.log(`   mass revocation: seeding ${massSessions().toLocaleString("en-US")} sessions of one user`);
  const seeder = await createSeeder(ctx.databaseUrl, ctx.keys);
  try {
    const [victim] = await seeder.handle.sql<{ id: string }[]>`
      insert into users (email, password_hash) values ('mass@bench.test', 'x') returning id`;
    await seeder.bulkSessions(massSessions(), { revoked: false, userId: victim!.id });
    const login = await call(`${aUrl}/trpc/auth.login`, { method: "POST", body: ADMIN });
    const adminToken = login.json.result?.data.accessToken as string;
    const started = performance.now();
    const revoke = await call(`${aUrl}/trpc/admin.revokeUser`, {
      method: "POST",
      token: adminToken,
      body: { userId: victim!.id, reason: "bench mass revocation" },
    });
    const returned = performance.now();
    const eventId = revoke.json.result?.data.eventId as string | undefined;
    if (revoke.status !== 200 || !eventId)
      throw new Error(`admin.revokeUser failed: ${revoke.status} ${JSON.stringify(revoke.json)}`);
    let applied = Number.NaN;
    while (performance.now() - started < MASS_GIVE_UP_MS) {
      const [row] = await seeder.handle.sql<
        { applied_at: Date | null }[]
      >`select applied_at from outbox_events where id = ${eventId}`;
      if (row?.applied_at) {
        applied = performance.now() - started;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return [
      {
        metric: `mass revocation of ${massSessions().toLocaleString("en-US")} sessions, until applied`,
        figure: Number.isNaN(applied) ? `> ${MASS_GIVE_UP_MS / 1000} s` : `${(applied / 1000).toFixed(2)} s`,
        baseline: "",
        ratio: "",
        target: "<= 10 s",
        met: applied <= 10_000,
      },
      {
        metric: "  of which the revoking call",
        figure: `${((returned - started) / 1000).toFixed(2)} s`,
        baseline: "",
        ratio: "",
        target: "",
        met: null,
      },
    ];
  } finally {
    await seeder.close();
  }
}
