import type { RedisClusterNode, RedisTarget } from "@warden/contracts";
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
