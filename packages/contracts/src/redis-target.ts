import { z } from "zod";

/** One seed node of a Redis Cluster. */
export interface RedisClusterNode {
  host: string;
  port: number;
}

/** A Redis Cluster: seed nodes (the client discovers the rest) and the credentials they share. */
export interface RedisClusterTarget {
  cluster: RedisClusterNode[];
  username?: string;
  password?: string;
  tls?: boolean;
}

/** Where Redis is: a `redis://` / `rediss://` URL for one node, or a Redis Cluster. */
export type RedisTarget = string | RedisClusterTarget;

function parseNode(entry: string): { node: RedisClusterNode; username?: string; password?: string; tls: boolean } {
  const url = new URL(/^[a-z]+:\/\//i.test(entry) ? entry : `redis://${entry}`);
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") throw new Error(`"${entry}" is not a redis:// node`);
  const port = Number(url.port || 6379);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`"${entry}" is not host:port`);
  return {
    node: { host, port },
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    tls: url.protocol === "rediss:",
  };
}

/**
 * REDIS_CLUSTER_NODES: comma-separated seed nodes of a Redis Cluster, `host:port` or
 * `redis://[user:password@]host:port` (`rediss://` for TLS). Credentials, when given, apply to
 * every node. Unset: one node at REDIS_URL.
 */
export const redisClusterNodesSetting = z
  .string()
  .optional()
  .transform((text, ctx): RedisClusterTarget | undefined => {
    if (text === undefined || text.trim() === "") return undefined;
    try {
      const nodes = text.split(",").map((entry) => parseNode(entry.trim()));
      const withCredentials = nodes.find((n) => n.password !== undefined || n.username !== undefined);
      return {
        cluster: nodes.map((n) => n.node),
        ...(withCredentials?.username ? { username: withCredentials.username } : {}),
        ...(withCredentials?.password ? { password: withCredentials.password } : {}),
        ...(nodes.some((n) => n.tls) ? { tls: true } : {}),
      };
    } catch (error) {
      ctx.addIssue({
        code: "custom",
        message: `${(error as Error).message}: list the cluster's nodes as host:port,host:port (or redis:// URLs)`,
      });
      return z.NEVER;
    }
  });

/** The Redis a process connects to: the cluster when REDIS_CLUSTER_NODES is set, else REDIS_URL. */
export function redisTargetOf(env: { REDIS_URL: string; REDIS_CLUSTER_NODES?: RedisClusterTarget | undefined }): RedisTarget {
  return env.REDIS_CLUSTER_NODES ?? env.REDIS_URL;
}

/** For logs: where Redis is, without credentials. */
export function describeRedisTarget(target: RedisTarget): string {
  if (typeof target !== "string") return `cluster ${target.cluster.map((n) => `${n.host}:${n.port}`).join(",")}`;
  try {
    const url = new URL(target);
    url.username = "";
    url.password = "";
    return url.toString();
  } catch {
    return "redis";
  }
}
