// Load generator child for stateful flows autocannon cannot express: each refresh presents the
// token the previous one returned; each login posts credentials. Keep-alive HTTP on loopback,
// a fixed number of requests in flight, bounded in time.
import http from "node:http";
import { readJob } from "../lib/job.js";

interface Job {
  kind: "refresh" | "login";
  url: string;
  concurrency: number;
  durationSec: number;
  /** refresh: one live refresh token per session. */
  tokens?: string[];
  /** login: credentials to post. */
  email?: string;
  password?: string;
}
const job = readJob<Job>();
const agent = new http.Agent({ keepAlive: true, maxSockets: job.concurrency });
const target = new URL(job.url);

function post(path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path,
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (data += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const latencies: number[] = [];
let failures = 0;
const firstFailures: string[] = [];
const pool = [...(job.tokens ?? [])];
const deadline = performance.now() + job.durationSec * 1000;
const started = performance.now();
// This process's start (tsx compiling it) is not the load it generates.
const cpuAtStart = process.cpuUsage();

async function worker() {
  while (performance.now() < deadline) {
    let path: string;
    let body: string;
    if (job.kind === "refresh") {
      const token = pool.shift();
      if (!token) return;
      // As @warden/client's batch link sends it (httpBatchLink: ?batch=1, inputs keyed by index).
      path = "/trpc/auth.refresh?batch=1";
      body = JSON.stringify({ 0: { refreshToken: token } });
    } else {
      path = "/trpc/auth.login?batch=1";
      body = JSON.stringify({ 0: { email: job.email, password: job.password } });
    }
    const t0 = performance.now();
    const res = await post(path, body).catch((e: Error) => ({ status: 0, body: e.message }));
    const elapsed = performance.now() - t0;
    if (res.status === 200) {
      latencies.push(elapsed);
      if (job.kind === "refresh")
        pool.push((JSON.parse(res.body) as Array<{ result: { data: { refreshToken: string } } }>)[0]!.result.data.refreshToken);
    } else {
      failures++;
      if (firstFailures.length < 3) firstFailures.push(`${res.status} ${res.body.slice(0, 200)}`);
    }
  }
}

await Promise.all(Array.from({ length: job.concurrency }, worker));
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))] ?? Number.NaN;
const points = [1, 10, 25, 50, 75, 90, 97.5, 99, 99.9];
process.stdout.write(
  `${JSON.stringify({
    rps: latencies.length / seconds,
    ok: latencies.length,
    failures,
    firstFailures,
    p50: pct(50),
    p99: pct(99),
    curve: points.map((p) => [p, pct(p)]),
    cpuSeconds: ((used) => (used.user + used.system) / 1e6)(process.cpuUsage(cpuAtStart)),
  })}\n`,
);
agent.destroy();
