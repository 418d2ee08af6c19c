import {
  DEFAULT_QUEUE_PREFIX,
  revocationFeedKeys,
  revocationFeedMessage,
  userNotBefore,
  type RedisTarget,
} from "@warden/contracts";
import { clusterNodesOf, connectRedis, type RedisClient } from "./redis.js";
import { connectSubscriber, type Subscriber } from "./subscriber.js";

/** Where revoked session ids and per-user not-befores go: the in-memory set every protected call consults. */
export interface RevocationSink {
  add(sessionIds: readonly string[], until: number): void;
  addNotBefore(userId: string, notBefore: number, until: number): void;
}

export interface RevocationFeedOptions {
  /** Where Redis is: a URL, or a Redis Cluster. */
  redis: RedisTarget;
  /** Key prefix shared with the auth servers and the worker (default `{warden}`). */
  prefix?: string;
  sink: RevocationSink;
  onError?: (error: Error) => void;
  now?: () => number;
}

/** Ids per ZADD/PUBLISH: keeps single Redis commands and messages small during mass revocations. */
const CHUNK = 5_000;
/** Longest wait between two attempts to load the snapshot after a (re)connect. */
const RESYNC_RETRY_MAX_MS = 1_000;

/**
 * Keeps a sink current with Warden's revocations: subscribes to the feed channel, then loads the
 * snapshot (sorted set) — at start and after every reconnect (on a cluster, every move of the
 * subscription to another node), so nothing published while the connection was down is missed.
 * Subscribing before loading leaves no gap between the two.
 */
export class RevocationFeed {
  private readonly subscriber: Subscriber;
  private readonly reader: RedisClient;
  private readonly keys: ReturnType<typeof revocationFeedKeys>;
  private readonly now: () => number;
  private firstLoad: Promise<void>;
  private resolveFirstLoad!: () => void;
  private closed = false;
  private resyncs = 0;

  constructor(private readonly options: RevocationFeedOptions) {
    this.keys = revocationFeedKeys(options.prefix ?? DEFAULT_QUEUE_PREFIX);
    this.now = options.now ?? Date.now;
    this.firstLoad = new Promise((resolve) => (this.resolveFirstLoad = resolve));
    const redisOptions = { maxRetriesPerRequest: null, retryStrategy: (n: number) => Math.min(50 * n, 1000) };
    this.reader = connectRedis(options.redis, redisOptions);
    this.subscriber = connectSubscriber(options.redis, redisOptions, () => clusterNodesOf(this.reader));
    for (const client of [this.subscriber, this.reader]) client.on("error", (e: Error) => this.options.onError?.(e));
    this.subscriber.on("message", (_channel: string, text: string) => this.receive(text));
    this.subscriber.on("ready", () => void this.resync());
  }

  /** Resolves once the first snapshot is loaded (the sink is current). */
  ready(): Promise<void> {
    return this.firstLoad;
  }

  /** A message that does not parse is reported and skipped: the feed goes on with the next one. */
  private receive(text: string): void {
    try {
      const message = revocationFeedMessage.parse(JSON.parse(text));
      this.options.sink.add(message.sessionIds, message.until);
      for (const entry of message.notBefore ?? []) this.options.sink.addNotBefore(entry.userId, entry.notBefore, message.until);
    } catch (error) {
      this.options.onError?.(error as Error);
    }
  }

  /** Not-befores of the snapshot; a member that does not parse is reported and skipped. */
  private async loadNotBefores(): Promise<void> {
    const entries = await this.reader.zrange(this.keys.notBefore, this.now(), "+inf", "BYSCORE", "WITHSCORES");
    for (let i = 0; i < entries.length; i += 2) {
      const entry = parseNotBeforeMember(entries[i]!);
      if (entry) this.options.sink.addNotBefore(entry.userId, entry.notBefore, Number(entries[i + 1]));
      else this.options.onError?.(new Error("malformed not-before entry in the revocation feed snapshot"));
    }
  }

  /** Revoked sessions of the snapshot. */
  private async loadSessions(): Promise<void> {
    const entries = await this.reader.zrange(this.keys.sessions, this.now(), "+inf", "BYSCORE", "WITHSCORES");
    const byUntil = new Map<number, string[]>();
    for (let i = 0; i < entries.length; i += 2) {
      const until = Number(entries[i + 1]);
      const list = byUntil.get(until) ?? [];
      list.push(entries[i]!);
      byUntil.set(until, list);
    }
    for (const [until, ids] of byUntil) this.options.sink.add(ids, until);
  }

  /**
   * Subscribes, then loads the snapshot. Retried until it succeeds or the resync of a newer
   * connection takes over: a subscription may be back before the snapshot can be read (a cluster
   * whose master is being replaced), and the snapshot must still be loaded once it can.
   */
  private async resync(): Promise<void> {
    const run = ++this.resyncs;
    for (let attempt = 1; !this.closed && run === this.resyncs; attempt++) {
      try {
        await this.subscriber.subscribe(this.keys.channel);
        await this.loadSessions();
        await this.loadNotBefores();
        this.resolveFirstLoad();
        return;
      } catch (error) {
        if (this.closed) return;
        this.options.onError?.(error as Error);
        await new Promise((r) => setTimeout(r, Math.min(100 * attempt, RESYNC_RETRY_MAX_MS)));
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.resolveFirstLoad();
    this.subscriber.disconnect();
    this.reader.disconnect();
  }
}

export function startRevocationFeed(options: RevocationFeedOptions): RevocationFeed {
  return new RevocationFeed(options);
}

/**
 * Publishes revoked sessions to every verifier: recorded in the sorted set (for instances that
 * start or reconnect later) and announced on the channel. Idempotent: publishing twice is harmless.
 */
export async function publishRevocations(
  redis: RedisClient,
  sessionIds: readonly string[],
  until: number,
  prefix: string = DEFAULT_QUEUE_PREFIX,
): Promise<void> {
  const keys = revocationFeedKeys(prefix);
  for (let i = 0; i < sessionIds.length; i += CHUNK) {
    const chunk = sessionIds.slice(i, i + CHUNK);
    const args: (string | number)[] = [];
    for (const id of chunk) args.push(until, id);
    await redis
      .multi()
      .zadd(keys.sessions, ...args)
      .publish(keys.channel, JSON.stringify({ sessionIds: chunk, until }))
      .exec();
  }
}

function notBeforeMember(userId: string, notBefore: number): string {
  return `${userId} ${notBefore}`;
}

function parseNotBeforeMember(member: string): { userId: string; notBefore: number } | undefined {
  const space = member.lastIndexOf(" ");
  const parsed = userNotBefore.safeParse({ userId: member.slice(0, space), notBefore: Number(member.slice(space + 1)) });
  return space > 0 && parsed.success ? parsed.data : undefined;
}

/**
 * Publishes a user's not-before (a role change or a lock) to every verifier: the user's access
 * tokens issued before it are refused until `until`. Recorded in the sorted set (for instances
 * that start or reconnect later) and announced on the channel. Idempotent.
 */
export async function publishNotBefore(
  redis: RedisClient,
  userId: string,
  notBefore: number,
  until: number,
  prefix: string = DEFAULT_QUEUE_PREFIX,
): Promise<void> {
  const keys = revocationFeedKeys(prefix);
  await redis
    .multi()
    .zadd(keys.notBefore, until, notBeforeMember(userId, notBefore))
    .publish(keys.channel, JSON.stringify({ sessionIds: [], until, notBefore: [{ userId, notBefore }] }))
    .exec();
}

/** Drops entries whose access tokens have all expired (maintenance). */
export async function pruneRevocations(redis: RedisClient, now: number, prefix: string = DEFAULT_QUEUE_PREFIX): Promise<number> {
  const keys = revocationFeedKeys(prefix);
  const [sessions, notBefores] = await Promise.all([
    redis.zremrangebyscore(keys.sessions, "-inf", now),
    redis.zremrangebyscore(keys.notBefore, "-inf", now),
  ]);
  return sessions + notBefores;
}
