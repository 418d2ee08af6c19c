// The tRPC HTTP path, before and after: this checkout's auth server and tRPC no-op server against
// those of another git ref (default `main`), on the requests the stock httpBatchLink sends.
//   pnpm --filter @warden/bench exec tsx http-path.ts
//   HTTP_PATH_BEFORE=<ref>  HTTP_PATH_REPS=3  HTTP_PATH_SECONDS=5  HTTP_PATH_CONNECTIONS=50
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createSeeder, newKeys, newPrefix, serverEnv, startPostgres } from "./lib/infra.js";
import { BENCH_DIR, CPU, HAS_TASKSET, runJob, startChild, type Child } from "./lib/proc.js";
import { median } from "./lib/stats.js";

const BEFORE_REF = process.env.HTTP_PATH_BEFORE ?? "main";
const REPS = Number(process.env.HTTP_PATH_REPS ?? 3);
const SECONDS = Number(process.env.HTTP_PATH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.HTTP_PATH_CONNECTIONS ?? 50);
const ROOT = path.dirname(BENCH_DIR);

interface Shape {
  name: string;
  server: "warden" | "noop";
  method: "GET" | "POST";
  path: string;
  body?: string;
}

/** Exactly what @trpc/client's httpBatchLink (and so @warden/client) sends. */
const SHAPES: Shape[] = [
  // The only request main's special case (fast-queries.ts) answered; no client sends it.
  { name: "auth.me, no query string", server: "warden", method: "GET", path: "/trpc/auth.me" },
  { name: "auth.me (batch of 1)", server: "warden", method: "GET", path: "/trpc/auth.me?batch=1&input=%7B%7D" },
  {
    name: "auth.me + sessions.list",
    server: "warden",
    method: "GET",
    path: `/trpc/auth.me,sessions.list?batch=1&input=${encodeURIComponent("{}")}`,
  },
  {
    // A mutation through auth, input parsing and the database; the session is not the caller's: 404.
    name: "POST sessions.revoke (404)",
    server: "warden",
    method: "POST",
    path: "/trpc/sessions.revoke?batch=1",
    body: JSON.stringify({ 0: { sessionId: randomUUID() } }),
  },
  { name: "tRPC no-op (batch of 1)", server: "noop", method: "GET", path: "/bench/noop?batch=1&input=%7B%7D" },
];

/** The other ref's tree, with its own dependencies, in a temporary directory. */
function checkoutBefore(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "warden-before-"));
  execFileSync("sh", ["-c", `git -C "${ROOT}" archive "${BEFORE_REF}" | tar -x -C "${dir}"`]);
  execFileSync("pnpm", ["install", "--frozen-lockfile", "--offline", "--silent"], { cwd: dir, stdio: "inherit" });
  // Both sides start their auth server with the same launcher (startAuthServer from TypeScript).
  copyFileSync(path.join(BENCH_DIR, "servers/warden.ts"), path.join(dir, "bench/servers/warden.ts"));
  return dir;
}

interface Run {
  rps: number;
  answeredRps: number;
  /** CPU time (user + system) the server spent per answer: steadier than req/s on a shared machine. */
  cpuUs: number;
  non2xx: number;
  errors: number;
}

async function load(server: Child, shape: Shape, token: string, seconds: number): Promise<Run> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (shape.body) headers["content-type"] = "application/json";
  const cpuBefore = server.cpuSeconds();
  const run = await runJob<Omit<Run, "cpuUs"> & { ok: number }>(
    "load/cannon.ts",
    {
      url: `${server.ready.url as string}${shape.path}`,
      connections: CONNECTIONS,
      durationSec: seconds,
      headers,
      method: shape.method,
      body: shape.body,
    },
    CPU.load,
  );
  const answered = run.answeredRps * seconds;
  return { ...run, cpuUs: ((server.cpuSeconds() - cpuBefore) * 1e6) / answered };
}

const rate = (n: number) => `${Math.round(n).toLocaleString("en-US")}/s`;
const pct = (n: number) => `${n >= 0 ? "+" : ""}${(n * 100).toFixed(0)}%`;

/** One line per shape: every run's req/s and CPU per answer, before and after, and the median ratios. */
function report(name: string, runs: { before: Run[]; after: Run[] }) {
  const list = (side: Run[]) => side.map((r) => `${rate(r.answeredRps)} ${r.cpuUs.toFixed(0)}us`).join(", ");
  const rateRatio = median(runs.after.map((a, i) => a.answeredRps / runs.before[i]!.answeredRps));
  const cpuRatio = median(runs.after.map((a, i) => a.cpuUs / runs.before[i]!.cpuUs));
  const failures = [...runs.before, ...runs.after].reduce((n, r) => n + r.errors, 0);
  process.stdout.write(
    `${name}\n  before: ${list(runs.before)}\n  after:  ${list(runs.after)}\n` +
      `  after / before (median of runs): req/s ${rateRatio.toFixed(2)}x, CPU per request ${cpuRatio.toFixed(2)}x` +
      `${failures ? ` (${failures} connection errors)` : ""}\n`,
  );
}

const pg = await startPostgres();
const keys = newKeys();
const databaseUrl = await pg.createDatabase("http_path");
const seeder = await createSeeder(databaseUrl, keys);
const beforeDir = checkoutBefore();
const servers: Record<string, Child> = {};
try {
  const [session] = await seeder.sessions(1);
  const env = serverEnv(databaseUrl, newPrefix(), keys);
  for (const [side, root] of [
    ["before", beforeDir],
    ["after", ROOT],
  ] as const) {
    for (const kind of ["warden", "noop"] as const) {
      servers[`${side} ${kind}`] = await startChild(path.join(root, "bench/servers", `${kind}.ts`), {
        cpu: CPU.server,
        env,
        // Packages that build to dist/ resolve to their sources under this condition.
        nodeArgs: ["--conditions=development"],
      });
    }
  }
  process.stdout.write(
    `${new Date().toISOString()}, Node ${process.version}, ${os.cpus()[0]?.model ?? "cpu"} x ${os.availableParallelism()}, ` +
      `before = ${BEFORE_REF} (${execFileSync("git", ["-C", ROOT, "rev-parse", "--short", BEFORE_REF]).toString().trim()}), ` +
      `after = this checkout; ${CONNECTIONS} connections, ${SECONDS} s per run, ${REPS} alternating runs` +
      `${HAS_TASKSET ? "; servers on CPU 0, autocannon on CPU 1" : ""}\n\n`,
  );
  const results = new Map<string, { before: Run[]; after: Run[] }>();
  for (const shape of SHAPES) {
    const entry = { before: [] as Run[], after: [] as Run[] };
    results.set(shape.name, entry);
    for (const side of ["before", "after"] as const)
      await load(servers[`${side} ${shape.server}`]!, shape, session!.accessToken, 2);
    for (let rep = 0; rep < REPS; rep++) {
      for (const side of ["before", "after"] as const) {
        entry[side].push(await load(servers[`${side} ${shape.server}`]!, shape, session!.accessToken, SECONDS));
      }
    }
    report(shape.name, entry);
  }
  const me = results.get(SHAPES[1]!.name)!;
  const noop = results.get(SHAPES[4]!.name)!;
  for (const side of ["before", "after"] as const) {
    const byRate = median(me[side].map((r, i) => noop[side][i]!.answeredRps / r.answeredRps - 1));
    const byCpu = median(me[side].map((r, i) => r.cpuUs / noop[side][i]!.cpuUs - 1));
    process.stdout.write(
      `\n${side}: auth.me (batch of 1) costs ${pct(byCpu)} CPU per request over the no-op (${pct(byRate)} by req/s)`,
    );
  }
  process.stdout.write("\n");
} finally {
  for (const server of Object.values(servers)) await server.stop();
  await seeder.close();
  await pg.close();
  rmSync(beforeDir, { recursive: true, force: true });
}
