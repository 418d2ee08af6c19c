// `pnpm --filter @warden/bench instructions`: what auth.me costs over the no-ops, counted in
// instructions rather than seconds. The no-op host (servers/noop.ts, built) runs under valgrind's
// callgrind; a keep-alive client sends the same requests as scenario 1 (each the next of 2,000
// sessions' tokens), and the counters are reset before and dumped after each block of calls.
// Counts repeat from run to run where timings on a shared machine do not; they leave out the
// kernel and memory stalls, which timings include. Each block's count is split into garbage
// collection, compilation (which moves with what the JIT happens to do) and the rest.
//   INSTRUCTIONS_CALLS=3000    calls per block
//   INSTRUCTIONS_ORDER=me,noop,sized,me,noop,sized   blocks, in order
// Needs valgrind (callgrind_control, callgrind_annotate); a block of 3,000 calls takes about 15 s.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import {
  buildAuthServer,
  buildBenchServers,
  builtBenchServer,
  createSeeder,
  newKeys,
  newPrefix,
  serverEnv,
  startPostgres,
} from "./lib/infra.js";
import { BENCH_DIR } from "./lib/proc.js";

const CALLS = Number(process.env.INSTRUCTIONS_CALLS ?? 3000);
const ORDER = (process.env.INSTRUCTIONS_ORDER ?? "me,noop,sized,me,noop,sized").split(",");
const SESSIONS = 2_000;
const CONNECTIONS = 4;
const BATCH = "?batch=1&input=%7B%7D";
const PATHS: Record<string, string> = {
  me: `/trpc/auth.me${BATCH}`,
  noop: `/trpc/noop${BATCH}`,
  sized: `/trpc/noopSized${BATCH}`,
};
const GC =
  /Scaveng|Marking|Sweeper|MarkCompact|Evacuat|heap::|Heap::|RememberedSet|Pretenuring|LiveObject|IteratePointers|BodyDescriptor|FreeList|WriteBarrier::Marking/;
const COMPILE = /compiler::|maglev::|baseline::|Compiler::|interpreter::|Zone|LiveRange|Parser|Scanner|Deoptimiz/;
/** Frames every instruction is counted under, which callgrind_annotate lists like functions. */
const ROOTS = /^(node::|main\b|\(below main\)|\.\/csu\/|0x0+1ab70)/;

const log = (message: string) => process.stderr.write(`${message}\n`);

buildAuthServer();
buildBenchServers();
const pg = await startPostgres();
const keys = newKeys();
const databaseUrl = await pg.createDatabase("instructions");
const seeder = await createSeeder(databaseUrl, keys);
const tokens = (await seeder.sessions(SESSIONS, { eachOwnUser: true })).map((s) => s.accessToken);
const out = mkdtempSync(path.join(os.tmpdir(), "warden-callgrind-"));
const port = 20_000 + Math.floor(Math.random() * 20_000);
// callgrind_control finds the process by a file named after HOST, which the server's env sets.
// The session cache keeps its rows for the whole run: a block runs for minutes under valgrind.
const env: Record<string, string | undefined> = {
  ...process.env,
  ...serverEnv(databaseUrl, newPrefix(), keys),
  PORT: String(port),
  SESSION_CACHE_TTL: "1h",
};
const child = spawn(
  "valgrind",
  [
    "--tool=callgrind",
    `--callgrind-out-file=${out}/cg.%p`,
    "--dump-instr=no",
    "node",
    // One thread: the garbage collector and the compiler count where the calls run.
    "--single-threaded",
    path.join(BENCH_DIR, builtBenchServer("servers/noop.ts")),
  ],
  { env, stdio: ["ignore", "ignore", "ignore"] },
);
const control = (...args: string[]) =>
  execFileSync("callgrind_control", [...args, String(child.pid)], { stdio: "ignore", env: { ...process.env, HOST: env.HOST } });

const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
let next = 0;
function call(urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${tokens[next++ % tokens.length]!}` };
    http
      .get({ host: "127.0.0.1", port, path: urlPath, agent, headers }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      })
      .on("error", reject);
  });
}
async function load(urlPath: string, calls: number) {
  let sent = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (sent++ < calls) {
        const status = await call(urlPath);
        if (status !== 200) throw new Error(`${urlPath}: ${status}`);
      }
    }),
  );
}

/** Self instructions per function of one dump, as callgrind_annotate lists them. */
function functionsOf(file: string): Map<string, number> {
  const text = execFileSync("callgrind_annotate", ["--inclusive=no", "--threshold=100", file], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  const functions = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^\s*([\d,]+) \([\s\d.]+%\)\s+(?:\?\?\?:)?(.*)$/.exec(line);
    if (!match || line.includes("PROGRAM TOTALS")) continue;
    const name = match[2]!;
    functions.set(name, (functions.get(name) ?? 0) + Number(match[1]!.replaceAll(",", "")));
  }
  return functions;
}

try {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const up = await fetch(`http://127.0.0.1:${port}/trpc/health`).then(
      (res) => res.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error("the no-op host did not start under valgrind");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  log(`no-op host up under callgrind; warming up (${CALLS * 2} calls of each)`);
  for (const urlPath of Object.values(PATHS)) await load(urlPath, CALLS * 2);
  const rows: string[] = [
    "| block | instructions per call | garbage collection | compilation | the rest |",
    "|---|---|---|---|---|",
  ];
  for (const name of ORDER) {
    const urlPath = PATHS[name];
    if (!urlPath) throw new Error(`unknown block ${name}: one of ${Object.keys(PATHS).join(", ")}`);
    control("-z");
    await load(urlPath, CALLS);
    const before = new Set(readdirSync(out));
    control("-d", name);
    let dumped: string | undefined;
    while (!dumped) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      dumped = readdirSync(out).find((file) => !before.has(file));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const file = path.join(out, dumped);
    const total = Number(/^summary: (\d+)/m.exec(readFileSync(file, "utf8"))?.[1] ?? Number.NaN);
    let gc = 0;
    let compile = 0;
    for (const [fn, count] of functionsOf(file)) {
      if (ROOTS.test(fn)) continue;
      if (GC.test(fn)) gc += count;
      else if (COMPILE.test(fn)) compile += count;
    }
    const per = (n: number) => Math.round(n / CALLS).toLocaleString("en-US");
    rows.push(`| ${name} | ${per(total)} | ${per(gc)} | ${per(compile)} | ${per(total - gc - compile)} |`);
    log(rows.at(-1)!);
    rmSync(file);
  }
  process.stdout.write(`${rows.join("\n")}\n`);
} finally {
  child.kill("SIGTERM");
  agent.destroy();
  await seeder.close();
  await pg.close();
  rmSync(out, { recursive: true, force: true });
}
