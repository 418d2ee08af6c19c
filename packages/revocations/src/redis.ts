import { revocationFeedKeys, type RedisClusterNode, type RedisTarget } from "@warden/contracts";
import { Cluster, Redis, type RedisOptions } from "ioredis";

/** A connection to one Redis node or to a Redis Cluster: Warden's keys all share one hash tag, so both work alike. */
export type RedisClient = Redis | Cluster;

/**
 * Connects to a Redis target with the given per-connection options. For a cluster, the options
 * that govern the whole client (offline queue, lazy connect, reconnect delay) are moved to the
 * cluster level, and the rest apply to each node.
 */
export function connectRedis(target: RedisTarget, options: RedisOptions = {}): RedisClient {
  if (typeof target === "string") return new Redis(target, options);
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...nodeOptions } = options;
  return new Cluster(target.cluster, {
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    ...(retryStrategy ? { clusterRetryStrategy: (times: number) => retryStrategy(times) } : {}),
    redisOptions: {
      ...nodeOptions,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password ? { password: target.password } : {}),
      ...(target.tls ? { tls: {} } : {}),
    },
  });
}

/** The nodes a cluster client has discovered so far (none for one node). */
export function clusterNodesOf(client: RedisClient): RedisClusterNode[] {
  if (!(client instanceof Cluster)) return [];
  return client.nodes("all").map((node) => ({ host: node.options.host ?? "127.0.0.1", port: node.options.port ?? 6379 }));
}

/**
 * True when the node holding Warden's keys answers (health probes; throws when it does not). A
 * PING to a cluster goes to any master, which may answer while the master of Warden's slot is
 * down; a read of a key under the prefix's hash tag goes to that master. On one node it costs what
 * a PING costs.
 */
export async function redisAnswers(redis: RedisClient, prefix: string): Promise<boolean> {
  await redis.exists(revocationFeedKeys(prefix).sessions);
  return true;
}
