import { EventEmitter } from "node:events";
import type { RedisClusterNode, RedisClusterTarget, RedisTarget } from "@warden/contracts";
import { Redis, type RedisOptions } from "ioredis";

/**
 * The feed's pub/sub connection: emits 'ready' after every (re)connection, then 'message' for
 * each message of the channels subscribed since.
 */
export interface Subscriber extends EventEmitter {
  subscribe(channel: string): Promise<unknown>;
  disconnect(): void;
}

/**
 * A pub/sub connection to a target. One node: a plain connection, which reconnects by itself and
 * is 'ready' again after each reconnect. A cluster: a `ClusterSubscriber`; `knownNodes` gives the
 * nodes the cluster has reported besides the seeds.
 */
export function connectSubscriber(target: RedisTarget, options: RedisOptions, knownNodes: () => RedisClusterNode[]): Subscriber {
  if (typeof target === "string") return new Redis(target, options);
  return new ClusterSubscriber(target, options, knownNodes);
}

/**
 * Subscribes through one node of a Redis Cluster at a time (a PUBLISH on any node reaches the
 * subscribers of every node) and moves to another node when its node goes away, emitting 'ready'
 * on the new connection. ioredis' Cluster moves its subscriber without a word: what was
 * published during the move was lost for good, since the feed reloads its snapshot only on
 * 'ready'.
 */
class ClusterSubscriber extends EventEmitter implements Subscriber {
  private connection: Redis;
  private next: number;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly target: RedisClusterTarget,
    private readonly options: RedisOptions,
    private readonly knownNodes: () => RedisClusterNode[],
  ) {
    super();
    // A random first node spreads the instances' subscriptions over the cluster.
    this.next = Math.floor(Math.random() * target.cluster.length);
    this.connection = this.open();
  }

  /** The nodes the cluster has reported, then the seeds (in case none of those answers). */
  private candidates(): RedisClusterNode[] {
    const byAddress = new Map<string, RedisClusterNode>();
    for (const node of [...this.knownNodes(), ...this.target.cluster]) byAddress.set(`${node.host}:${node.port}`, node);
    return [...byAddress.values()];
  }

  private open(): Redis {
    const nodes = this.candidates();
    const node = nodes[this.next++ % nodes.length]!;
    const { retryStrategy, ...nodeOptions } = this.options;
    const connection = new Redis({
      ...nodeOptions,
      host: node.host,
      port: node.port,
      ...(this.target.username ? { username: this.target.username } : {}),
      ...(this.target.password ? { password: this.target.password } : {}),
      ...(this.target.tls ? { tls: {} } : {}),
      // Never back to the same node: a lost connection moves to the next one.
      retryStrategy: () => null,
    });
    connection.on("error", (error: Error) => this.emit("error", error));
    connection.on("message", (channel: string, text: string) => this.emit("message", channel, text));
    connection.on("ready", () => {
      this.failures = 0;
      this.emit("ready");
    });
    connection.once("end", () => {
      if (this.closed) return;
      // The first move is immediate (while unsubscribed, messages pass by); a cluster that
      // answers nowhere is tried again with the caller's backoff.
      const backoff = this.failures++ === 0 ? 0 : retryStrategy?.(this.failures);
      setTimeout(
        () => {
          if (!this.closed) this.connection = this.open();
        },
        typeof backoff === "number" ? backoff : 1_000,
      );
    });
    return connection;
  }

  subscribe(channel: string): Promise<unknown> {
    return this.connection.subscribe(channel);
  }

  disconnect(): void {
    this.closed = true;
    this.connection.disconnect();
  }
}
