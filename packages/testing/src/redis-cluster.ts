import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "@warden/db";
import { Redis } from "ioredis";

/** True when `redis-server` and `redis-cli` are on PATH (a cluster can be started). */
export function redisClusterToolsAvailable(): boolean {
  return ["redis-server", "redis-cli"].every((tool) => spawnSync(tool, ["--version"], { stdio: "ignore" }).status === 0);
}

/** One redis-server of a test cluster. */
export interface RedisClusterProcess {
  host: string;
  port: number;
  /** The cluster bus port (given explicitly: port + 10000 overflows for high ephemeral ports). */
  busPort: number;
  /** False once killed or stopped. */
  alive(): boolean;
  /** Runs commands on this node alone, on a connection of their own (no cluster routing). */
  run<T>(commands: (redis: Redis) => Promise<T>): Promise<T>;
  /** SIGKILL, as a crash: no shutdown, no last save. */
  kill(): Promise<void>;
}

export interface RedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** cluster-node-timeout: how long a node may be unreachable before it is failed over. */
  nodeTimeoutMs?: number;
}

export interface TestRedisCluster {
  nodes: RedisClusterProcess[];
  /** `host:port,host:port,...`: the value of REDIS_CLUSTER_NODES. */
  seeds: string;
  /** The hash slot of a key (or a bare `{tag}`), as the cluster computes it. */
  keySlot(key: string): Promise<number>;
  /**
   * The live node that serves the slot as master, as the live nodes report it; while its master is
   * down (before a replica takes over), waits for one up to `timeoutMs`.
   */
  masterOfSlot(slot: number, timeoutMs?: number): Promise<RedisClusterProcess>;
  /** Resolves once every live node reports `cluster_state:ok` (after a failover, for instance). */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  /** Kills every node and removes their files. */
  stop(): Promise<void>;
}

const HOST = "127.0.0.1";

/** Runs one command on one node, on a short-lived connection that never retries. */
async function onNode<T>(port: number, run: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return await run(redis);
  } finally {
    redis.disconnect();
  }
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`redis cluster: ${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function info(text: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, "m").exec(text)?.[1]?.trim();
}

/** The redis-server command line of one cluster node (docs/redis-cluster.md shows the same). */
function serverArgs(port: number, busPort: number, dir: string, nodeTimeoutMs: number): string[] {
  return [
    "--port",
    String(port),
    "--cluster-port",
    String(busPort),
    "--bind",
    HOST,
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    `nodes-${port}.conf`,
    "--cluster-node-timeout",
    String(nodeTimeoutMs),
    "--dir",
    dir,
    "--logfile",
    `redis-${port}.log`,
    "--save",
    "",
    "--appendonly",
    "no",
    // A replica's first sync starts at once instead of after the default 5 s wait for more replicas.
    "--repl-diskless-sync-delay",
    "0",
  ];
}

/**
 * A Redis Cluster of `masters` masters with `replicasPerMaster` replicas each, on free loopback
 * ports, made with `redis-server --cluster-enabled yes` and `redis-cli --cluster create`. Nothing
 * is persisted; every file lives in a temporary directory removed by `stop()`. Resolves once
 * every node reports `cluster_state:ok` and every replica is in sync with its master.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<TestRedisCluster> {
  const masters = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1_000;
  const dir = await mkdtemp(path.join(tmpdir(), "warden-redis-cluster-"));
  const processes: ChildProcess[] = [];
  const nodes: RedisClusterProcess[] = [];

  // A test process that ends without stop() (a crash, an uncaught error) takes its nodes along.
  const killOnExit = () => {
    processes.forEach((child) => child.kill("SIGKILL"));
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", killOnExit);
  const stop = async () => {
    process.off("exit", killOnExit);
    await Promise.all(nodes.map((node) => node.kill()));
    await rm(dir, { recursive: true, force: true });
  };

  try {
    for (let i = 0; i < masters * (1 + replicasPerMaster); i++) {
      const [port, busPort] = [await freePort(), await freePort()];
      const child = spawn("redis-server", serverArgs(port, busPort, dir, nodeTimeoutMs), { stdio: "ignore" });
      processes.push(child);
      nodes.push({
        host: HOST,
        port,
        busPort,
        alive: () => child.exitCode === null && child.signalCode === null,
        run: (commands) => onNode(port, commands),
        async kill() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = once(child, "exit");
          child.kill("SIGKILL");
          await exited;
        },
      });
    }
    for (const node of nodes) {
      await until(async () => (await onNode(node.port, (r) => r.ping())) === "PONG", 10_000, `node ${node.port} answering`);
    }

    // redis-cli assigns the first `masters` nodes the slots and the others as their replicas.
    const create = spawnSync(
      "redis-cli",
      [
        "--cluster",
        "create",
        ...nodes.map((n) => `${n.host}:${n.port}`),
        "--cluster-replicas",
        String(replicasPerMaster),
        "--cluster-yes",
      ],
      { encoding: "utf8", timeout: 30_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${create.stdout}${create.stderr}`);

    const cluster: TestRedisCluster = {
      nodes,
      seeds: nodes.map((n) => `${n.host}:${n.port}`).join(","),
      async keySlot(key) {
        const live = nodes.find((n) => n.alive());
        if (!live) throw new Error("redis cluster: no node is running");
        return Number(await onNode(live.port, (r) => r.call("cluster", "keyslot", key)));
      },
      async masterOfSlot(slot, timeoutMs = 20_000) {
        let owner: RedisClusterProcess | undefined;
        await until(
          async () => {
            for (const node of nodes.filter((n) => n.alive())) {
              const ranges = (await onNode(node.port, (r) => r.call("cluster", "slots")).catch(() => [])) as [
                number,
                number,
                [string, number, ...unknown[]],
              ][];
              const range = ranges.find(([from, to]) => from <= slot && slot <= to);
              owner = range && nodes.find((n) => n.port === Number(range[2][1]));
              if (owner?.alive()) return true;
            }
            return false;
          },
          timeoutMs,
          `a live master for slot ${slot}`,
        );
        return owner!;
      },
      async waitUntilHealthy(timeoutMs = 20_000) {
        await until(
          async () => {
            for (const node of nodes.filter((n) => n.alive())) {
              const text = String(await onNode(node.port, (r) => r.call("cluster", "info")));
              if (info(text, "cluster_state") !== "ok") return false;
            }
            return true;
          },
          timeoutMs,
          "cluster_state:ok on every live node",
        );
      },
      stop,
    };
    await cluster.waitUntilHealthy();
    // A replica that has not finished its first sync cannot take over: wait for every link.
    await until(
      async () => {
        for (const node of nodes) {
          const text = await onNode(node.port, (r) => r.info("replication"));
          if (info(text, "role") === "slave" && info(text, "master_link_status") !== "up") return false;
          if (info(text, "role") === "master" && Number(info(text, "connected_slaves")) < replicasPerMaster) return false;
        }
        return true;
      },
      20_000,
      "every replica in sync",
    );
    return cluster;
  } catch (error) {
    await stop();
    throw error;
  }
}
