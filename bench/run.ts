// `pnpm bench`: every scenario side by side with its baseline, tables on stdout, results in bench/results/.
//   BENCH_QUICK=1      short runs (1 rep, 2 s, smaller stores) to check the bench itself
//   BENCH_ONLY=1,3     run only these scenarios
//   BENCH_PROFILE=1    write CPU profiles of the auth server to bench/results/profiles/
//   BENCH_UPDATE_README=1  put the tables into README.md's Performance section
import { mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { BenchContext } from "./lib/context.js";
import { serverNodeArgs } from "./lib/context.js";
import {
  buildAuthServer,
  buildBenchServers,
  createSeeder,
  newKeys,
  newPrefix,
  REDIS_URL,
  serverEnv,
  startAuthServer,
  startPostgres,
} from "./lib/infra.js";
import { BENCH_DIR, CORES, CPU, HAS_TASKSET, type Child } from "./lib/proc.js";
import { fmt, formatTable, updateReadme, writeResults, type Scenario } from "./lib/report.js";
import { growth, protectedCall } from "./scenarios/http.js";
import { loginThroughput, refreshRotation } from "./scenarios/flows.js";
import { revocationPropagation } from "./scenarios/revocation.js";
import { inProcessVerify } from "./scenarios/verify.js";
import { webhookDelay } from "./scenarios/webhooks.js";
import { Redis } from "ioredis";
import { revocationFeedKeys } from "@warden/contracts";

const quick = process.env.BENCH_QUICK === "1";
const only = process.env.BENCH_ONLY?.split(",").map(Number);
const wanted = (id: number) => !only || only.includes(id);
if (quick) {
  process.env.BENCH_GROWTH_SIZE ??= "20000";
  process.env.BENCH_MASS_SESSIONS ??= "5000";
}
const resultsDir = path.join(BENCH_DIR, "results");
const started = performance.now();
const log = (message: string) =>
  process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${message}\n`);

log("building the auth server (pnpm build) and the servers it is compared with: every side runs built JavaScript");
buildAuthServer();
buildBenchServers();
const pg = await startPostgres();
const keys = newKeys();
const prefix = newPrefix();
const databaseUrl = await pg.createDatabase("main");
const seeder = await createSeeder(databaseUrl, keys);
const profileDir = process.env.BENCH_PROFILE === "1" ? path.join(resultsDir, "profiles") : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });
const ctx: BenchContext = { pg, keys, databaseUrl, prefix, seeder, reps: quick ? 1 : 3, seconds: quick ? 2 : 5, profileDir, log };

const header = [
  `${new Date().toISOString()}, Node ${process.version}, ${os.cpus()[0]?.model ?? "cpu"} x ${CORES}, ${pg.where}, Redis at ${REDIS_URL}`,
  HAS_TASKSET
    ? `Auth server under test pinned to CPU ${CPU.server} (taskset), load generator (autocannon / keep-alive HTTP client, a separate process on loopback) pinned to CPU ${CPU.load}; PostgreSQL, Redis and this orchestrator unpinned.`
    : "taskset not available: processes are not pinned.",
  `Each pairing repeated ${ctx.reps}x, alternating, median reported.${quick ? " QUICK MODE: short runs, figures are rough." : ""}`,
];
for (const line of header) process.stdout.write(`${line}\n`);

const scenarios: Scenario[] = [];
const rss: { idle?: number; during1?: number; during3?: number } = {};
const IDLE_SETTLE_S = quick ? 5 : 40;
const MB = 1024 * 1024;
let warden: Child | undefined;
const redis = new Redis(REDIS_URL);
try {
  log("seeding 1,000 sessions (the small store) and starting the auth server");
  await seeder.sessions(1000);
  warden = await startAuthServer(serverEnv(databaseUrl, prefix, keys), {
    cpu: CPU.server,
    nodeArgs: serverNodeArgs(ctx, "warden-main"),
  });
  if (wanted(6)) {
    // Idle as an operator sees it: started, serving nothing, settled (V8's memory reducer returns
    // the young generation a server grew at start after some seconds without allocation).
    log(`6. memory: the auth server idle for ${IDLE_SETTLE_S} s`);
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_S * 1000));
    rss.idle = warden.rss();
  }
  const run = async (id: number, body: () => Promise<void>) => {
    if (!wanted(id)) return;
    try {
      await body();
    } catch (error) {
      log(`scenario ${id} failed: ${(error as Error).stack ?? error}`);
      scenarios.push({
        id,
        title: "failed",
        rows: [
          { metric: "error", figure: (error as Error).message.slice(0, 200), baseline: "", ratio: "", target: "", met: false },
        ],
        notes: [],
        curves: [],
      });
    }
  };
  await run(1, async () => {
    const out = await protectedCall(ctx, warden!);
    rss.during1 = out.rss;
    scenarios.push(out.scenario);
  });
  await run(2, async () => void scenarios.push(await inProcessVerify(ctx)));
  await run(3, async () => {
    const out = await refreshRotation(ctx, warden!);
    rss.during3 = out.rss;
    scenarios.push(out.scenario);
  });
  await run(5, async () => void scenarios.push(await loginThroughput(ctx, warden!)));
  await run(4, async () => void scenarios.push(await revocationPropagation(ctx, warden!)));
  await run(6, async () => {
    const rows: Scenario["rows"] = [];
    for (const [label, value, target] of [
      [`idle (${IDLE_SETTLE_S} s after start, no requests)`, rss.idle, 90],
      ["peak during scenario 1 (auth.me load)", rss.during1, 150],
      ["peak during scenario 3 (refresh load)", rss.during3, 150],
    ] as const) {
      if (value !== undefined)
        rows.push({
          metric: `auth-server RSS, ${label}`,
          figure: fmt.mb(value),
          baseline: "",
          ratio: "",
          target: `<= ${target} MB`,
          met: value <= target * MB,
        });
    }
    rows.push({ metric: "auth-server RSS now", figure: fmt.mb(warden!.rss()), baseline: "", ratio: "", target: "", met: null });
    if (profileDir) for (const row of rows) row.met = null;
    const notes = profileDir ? ["BENCH_PROFILE=1: the CPU profiler's samples inflate RSS; these figures are not judged."] : [];
    notes.push(
      "The built auth server on plain node (apps/auth-server/dist/main.js), as production runs it; RSS from /proc, sampled every 100 ms under load.",
    );
    scenarios.push({ id: 6, title: "Memory (auth-server RSS, built JavaScript on plain node)", rows, notes, curves: [] });
  });
  await run(7, async () => void scenarios.push(await growth(ctx)));
  await run(8, async () => void scenarios.push(await webhookDelay(ctx)));
} finally {
  await warden?.stop();
  await redis.del(...Object.values(revocationFeedKeys(prefix))).catch(() => 0);
  const leftovers = await redis.keys(`${prefix}*`).catch(() => [] as string[]);
  if (leftovers.length) await redis.del(...leftovers);
  redis.disconnect();
  await seeder.close();
  await pg.close();
}

scenarios.sort((x, y) => x.id - y.id);
for (const s of scenarios) process.stdout.write(`${formatTable(s)}\n`);
const met = scenarios.flatMap((s) => s.rows).filter((r) => r.met !== null);
const summary = `${met.filter((r) => r.met).length} of ${met.length} targets met; total ${((performance.now() - started) / 1000).toFixed(0)} s`;
header.push(summary);
process.stdout.write(`\n${summary}\n`);
if (!only) writeResults(resultsDir, scenarios, header);
if (!only && process.env.BENCH_UPDATE_README === "1") updateReadme(path.join(BENCH_DIR, "..", "README.md"), scenarios, header);
process.stdout.write(`results: ${path.relative(process.cwd(), resultsDir)}/latest.{json,md}, latency.svg\n`);
