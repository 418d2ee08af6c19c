import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { freePort } from "@warden/db";
import { Cluster, Redis } from "ioredis";

export const PASSWORD = "correct horse battery";
export const email = (tag = "u") => `${tag}-${randomUUID()}@example.com`;
/**
 * The session a signup opened (`warden.signup(...)` of @warden/client, or the API's answer): test
 * servers run without REQUIRE_VERIFIED_EMAIL, so an answer without one is a failure.
 */
export async function sessionOf<T extends object>(signup: T | Promise<T>): Promise<Exclude<T, { verificationRequired: true }>> {
  const result = await signup;
  if ("verificationRequired" in result) throw new Error("signup opened no session (REQUIRE_VERIFIED_EMAIL)");
  return result as Exclude<T, { verificationRequired: true }>;
}

/** Every test file keeps its Redis keys under a prefix of its own. */
export const testPrefix = () => `{warden-t-${randomBytes(6).toString("hex")}}`;

/**
 * Deletes every key under a prefix. SCAN walks one node's keys: on a cluster, every master is
 * scanned (a prefix's keys share its hash tag, so they all sit on one of them).
 */
export async function deleteKeys(redis: Redis | Cluster, prefix: string): Promise<void> {
  for (const node of redis instanceof Cluster ? redis.nodes("master") : [redis]) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length) await node.del(...keys);
    } while (cursor !== "0");
  }
}

/** A redis-server of our own on a free loopback port, which a test may stop and start again. */
export interface OwnRedis {
  url: string;
  port: number;
  /** Starts it again: with `args` (e.g. `["--maxmemory-policy", "allkeys-lru"]`), else those it was made with. */
  start(args?: string[]): Promise<void>;
  stop(): Promise<void>;
}

/** `args`: extra redis-server options, e.g. `["--maxmemory-policy", "allkeys-lru"]`. */
export async function ownRedis(options: { args?: string[] } = {}): Promise<OwnRedis> {
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const ping = async () => {
    const probe = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on("error", () => {});
    try {
      await probe.connect();
      return (await probe.ping()) === "PONG";
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  };
  const self: OwnRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start(args = options.args ?? []) {
      proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...args], {
        stdio: "ignore",
      });
      const deadline = Date.now() + 10_000;
      while (!(await ping())) {
        if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 10 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      if (!proc || proc.exitCode !== null) return;
      const exited = once(proc, "exit");
      proc.kill("SIGKILL");
      await exited;
      proc = undefined;
    },
  };
  await self.start();
  return self;
}
