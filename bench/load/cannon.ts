// Load generator child: autocannon against one URL for a bounded time, result as JSON.
import autocannon from "autocannon";
import { readJob } from "../lib/job.js";

interface Job {
  url: string;
  connections: number;
  durationSec: number;
  headers?: Record<string, string>;
  /** Access tokens to send as `Authorization: Bearer`, one after another: many sessions, not one. */
  tokens?: string[];
  /** Default GET without a body. */
  method?: "GET" | "POST";
  body?: string;
}
const job = readJob<Job>();
const tokens = job.tokens ?? [];
let next = 0;
const result = await autocannon({
  url: job.url,
  connections: job.connections,
  duration: job.durationSec,
  headers: job.headers ?? {},
  method: job.method ?? "GET",
  ...(job.body === undefined ? {} : { body: job.body }),
  pipelining: 1,
  ...(tokens.length > 0
    ? {
        requests: [
          {
            setupRequest: (request: autocannon.Request) => {
              const token = tokens[next++ % tokens.length]!;
              return { ...request, headers: { ...request.headers, authorization: `Bearer ${token}` } };
            },
          },
        ],
      }
    : {}),
});
const latency = result.latency as unknown as Record<string, number>;
const curve: Array<[number, number]> = [
  [1, latency.p1!],
  [10, latency.p10!],
  [25, latency.p25!],
  [50, latency.p50!],
  [75, latency.p75!],
  [90, latency.p90!],
  [97.5, latency.p97_5!],
  [99, latency.p99!],
  [99.9, latency.p99_9!],
];
const ok = result["2xx"];
process.stdout.write(
  `${JSON.stringify({
    rps: ok / result.duration,
    /** Every answer, refusals included. */
    answeredRps: (ok + result.non2xx) / result.duration,
    ok,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    p50: latency.p50,
    p99: latency.p99,
    curve,
  })}\n`,
);
