// Scenarios 3 (refresh rotation), 6 (RSS during 3) and 5 (login vs raw argon2id).
import type { BenchContext } from "../lib/context.js";
import { USER } from "../lib/infra.js";
import { CPU, peakRss, cpuSecondsOf, runJob, type Child } from "../lib/proc.js";
import { fmt, type Scenario } from "../lib/report.js";
import { median } from "../lib/stats.js";

interface FlowResult {
  rps: number;
  ok: number;
  failures: number;
  firstFailures: string[];
  p50: number;
  p99: number;
  curve: Array<[number, number]>;
  /** CPU seconds the load generator used. */
  cpuSeconds: number;
}

/** CPU microseconds per rotation, by process: where the time of a refresh goes. */
interface CpuSplit {
  server: number;
  postgres: number;
  load: number;
}

const REFRESH_SESSIONS = 2_000;
const REFRESH_CONCURRENCY = 32;

export async function refreshRotation(ctx: BenchContext, warden: Child): Promise<{ scenario: Scenario; rss: number }> {
  ctx.log(`3. refresh rotation: ${REFRESH_SESSIONS} sessions per run, ${REFRESH_CONCURRENCY} in flight`);
  const url = warden.ready.url as string;
  const runs: FlowResult[] = [];
  const splits: CpuSplit[] = [];
  let rss = 0;
  // Warm-up on its own sessions.
  const warm = await ctx.seeder.sessions(200);
  await runJob<FlowResult>(
    "load/flow.ts",
    { kind: "refresh", url, concurrency: 8, durationSec: 2, tokens: warm.map((s) => s.refreshToken) },
    CPU.load,
  );
  for (let rep = 0; rep < ctx.reps; rep++) {
    const sessions = await ctx.seeder.sessions(REFRESH_SESSIONS, { eachOwnUser: true });
    const job = {
      kind: "refresh",
      url,
      concurrency: REFRESH_CONCURRENCY,
      durationSec: ctx.seconds + 2,
      tokens: sessions.map((s) => s.refreshToken),
    };
    // The PostgreSQL backends serving this database (the server's pool is open by now).
    const backends = (
      await ctx.seeder.handle.sql<{ pid: number }[]>`select pid from pg_stat_activity where datname = current_database()`
    ).map((r) => r.pid);
    const [serverBefore, postgresBefore] = [warden.cpuSeconds(), cpuSecondsOf(backends)];
    const measured = await peakRss(warden.pid, () => runJob<FlowResult>("load/flow.ts", job, CPU.load));
    rss = Math.max(rss, measured.peak);
    const r = measured.result;
    if (r.failures > 0) throw new Error(`refresh failures: ${r.failures}: ${r.firstFailures.join(" | ")}`);
    runs.push(r);
    const perRotation = (seconds: number) => (seconds * 1e6) / r.ok;
    const split = {
      server: perRotation(warden.cpuSeconds() - serverBefore),
      postgres: perRotation(cpuSecondsOf(backends) - postgresBefore),
      load: perRotation(r.cpuSeconds),
    };
    splits.push(split);
    ctx.log(
      `   rep ${rep + 1}: ${fmt.rate(r.rps)}, p50 ${fmt.ms(r.p50)}, p99 ${fmt.ms(r.p99)}; CPU per rotation: server ${split.server.toFixed(0)} µs, PostgreSQL ${split.postgres.toFixed(0)} µs, load ${split.load.toFixed(0)} µs`,
    );
  }
  const rps = median(runs.map((r) => r.rps));
  const p50 = median(runs.map((r) => r.p50));
  const p99 = median(runs.map((r) => r.p99));
  const cpu = (key: keyof CpuSplit) => `${median(splits.map((s) => s[key])).toFixed(0)} µs`;
  return {
    rss,
    scenario: {
      id: 3,
      title: "Refresh rotation (auth.refresh over HTTP, PostgreSQL on the same machine)",
      rows: [
        { metric: "rotations/s", figure: fmt.rate(rps), baseline: "", ratio: "", target: ">= 1,500/s", met: rps >= 1500 },
        { metric: "latency p99", figure: fmt.ms(p99), baseline: "", ratio: "", target: "<= 50 ms", met: p99 <= 50 },
        { metric: "latency p50", figure: fmt.ms(p50), baseline: "", ratio: "", target: "", met: null },
        {
          metric: "CPU per rotation: server / PostgreSQL / load",
          figure: `${cpu("server")} / ${cpu("postgres")} / ${cpu("load")}`,
          baseline: "",
          ratio: "",
          target: "",
          met: null,
        },
      ],
      notes: [
        `${REFRESH_CONCURRENCY} refreshes in flight over ${REFRESH_SESSIONS} sessions, each presenting the token the previous rotation returned; ${ctx.seconds + 2} s per run, median of ${ctx.reps} runs.`,
      ],
      curves: [{ label: "auth.refresh", curve: runs[0]!.curve }],
    },
  };
}

interface HashResult {
  rate: number;
}

const LOGIN_CONCURRENCY = 4;

export async function loginThroughput(ctx: BenchContext, warden: Child): Promise<Scenario> {
  ctx.log("5. login vs raw argon2id (same core, same parameters, same concurrency)");
  const url = warden.ready.url as string;
  const seconds = Math.max(3, ctx.seconds - 1);
  const logins: FlowResult[] = [];
  const raws: HashResult[] = [];
  await runJob<FlowResult>(
    "load/flow.ts",
    { kind: "login", url, concurrency: LOGIN_CONCURRENCY, durationSec: 1, email: USER.email, password: USER.password },
    CPU.load,
  );
  for (let rep = 0; rep < ctx.reps; rep++) {
    const login = await runJob<FlowResult>(
      "load/flow.ts",
      { kind: "login", url, concurrency: LOGIN_CONCURRENCY, durationSec: seconds, email: USER.email, password: USER.password },
      CPU.load,
    );
    if (login.failures > 0) throw new Error(`login failures: ${login.failures}: ${login.firstFailures.join(" | ")}`);
    logins.push(login);
    raws.push(await runJob<HashResult>("load/argon2.ts", { concurrency: LOGIN_CONCURRENCY, durationSec: seconds }, CPU.server));
    ctx.log(`   rep ${rep + 1}: logins ${logins[rep]!.rps.toFixed(1)}/s, raw argon2id ${raws[rep]!.rate.toFixed(1)}/s`);
  }
  const ratio = median(logins.map((l, i) => l.rps / raws[i]!.rate));
  return {
    id: 5,
    title: "Login vs raw argon2id (m=19 MiB, t=2, p=1)",
    rows: [
      {
        metric: "logins/s vs argon2id hashes/s",
        figure: `${median(logins.map((r) => r.rps)).toFixed(1)}/s`,
        baseline: `${median(raws.map((r) => r.rate)).toFixed(1)}/s`,
        ratio: fmt.pct(ratio),
        target: ">= 80%",
        met: ratio >= 0.8,
      },
      {
        metric: "login latency p50 / p99",
        figure: `${fmt.ms(median(logins.map((r) => r.p50)))} / ${fmt.ms(median(logins.map((r) => r.p99)))}`,
        baseline: "",
        ratio: "",
        target: "",
        met: null,
      },
    ],
    notes: [
      `Both on CPU ${CPU.server} (the auth server's core; argon2 runs on libuv's pool there), ${LOGIN_CONCURRENCY} in flight, ${seconds} s per run.`,
    ],
    curves: [],
  };
}
