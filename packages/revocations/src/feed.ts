import {
  DEFAULT_QUEUE_PREFIX,
  revocationFeedKeys,
  revocationFeedMessage,
  userNotBefore,
  type RevocationFeedMessage,
  type RedisTarget,
} from "@warden/contracts";
import { clusterNodesOf, connectRedis, type RedisClient } from "./redis.js";
import { connectSubscriber, type Subscriber } from "./subscriber.js";

/** Where revoked session ids and per-user not-befores go: the in-memory set every protected call consults. */
export interface RevocationSink {
  add(sessionIds: readonly string[], until: number): void;
  addNotBefore(userId: string, notBefore: number, until: number): void;
  /** A change to the user that cached views show (see `revocationFeedMessage`). */
  userChanged?(userId: string): void;
}

export interface RevocationFeedOptions {
  /** Where Redis is: a URL, or a Redis Cluster. */
  redis: RedisTarget;
  /** Key prefix shared with the auth servers and the worker (default `{warden}`). */
  prefix?: string;
  sink: RevocationSink;
  onError?: (error: Error) => void;
  /**
   * Called when a (re)load finds the feed incomplete (Redis lost it: restarted empty, evicted,
   * flushed): the sink keeps what it holds, and the feed loads again once a worker has rebuilt it.
   */
  onIncomplete?: () => void;
  /** How often an incomplete feed looks for the rebuilt one (default 500 ms). */
  incompletePollMs?: number;
  now?: () => number;
}

/** Ids per ZADD/PUBLISH: keeps single Redis commands and messages small during mass revocations. */
const CHUNK = 5_000;
/** Members per ZSCAN round trip when a snapshot is loaded. */
const SCAN_COUNT = 10_000;
/** Longest wait between two attempts to load the snapshot after a (re)connect. */
const RESYNC_RETRY_MAX_MS = 1_000;

/**
 * The member of each feed sorted set that says the set is complete. It lives inside the set, so
 * whatever drops the set (eviction, a restart without persistence, FLUSHALL) drops it too. Its
 * score carries the high-water mark — the highest outbox `seq` whose event the feed holds — above
 * every expiry score, so pruning never removes it.
 */
const MARKER = "#complete";
const MARKER_BASE = 2 ** 52;

type Pairs = string[];

/**
 * Keeps a sink current with Warden's revocations: subscribes to the feed channel, then loads the
 * snapshot (sorted sets) — at start and after every reconnect (on a cluster, every move of the
 * subscription to another node), so nothing published while the connection was down is missed.
 * Subscribing before loading leaves no gap between the two.
 *
 * A snapshot without its completeness marker (Redis came back empty) is loaded all the same, but
 * the feed is not `ready` until a worker has rebuilt it from PostgreSQL; the sink never drops
 * what it already holds.
 */
export class RevocationFeed {
  private readonly subscriber: Subscriber;
  private readonly reader: RedisClient;
  private readonly keys: ReturnType<typeof revocationFeedKeys>;
  private readonly now: () => number;
  private readonly firstLoad: Promise<void>;
  private resolveFirstLoad!: () => void;
  private readonly firstComplete: Promise<void>;
  private resolveFirstComplete!: () => void;
  private pollTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private isComplete = false;
  private resyncs = 0;

  constructor(private readonly options: RevocationFeedOptions) {
    this.keys = revocationFeedKeys(options.prefix ?? DEFAULT_QUEUE_PREFIX);
    this.now = options.now ?? Date.now;
    this.firstLoad = new Promise((resolve) => (this.resolveFirstLoad = resolve));
    this.firstComplete = new Promise((resolve) => (this.resolveFirstComplete = resolve));
    const redisOptions = { maxRetriesPerRequest: null, retryStrategy: (n: number) => Math.min(50 * n, 1000) };
    this.reader = connectRedis(options.redis, redisOptions);
    this.subscriber = connectSubscriber(options.redis, redisOptions, () => clusterNodesOf(this.reader));
    for (const client of [this.subscriber, this.reader]) client.on("error", (e: Error) => this.options.onError?.(e));
    this.subscriber.on("message", (_channel: string, text: string) => this.receive(text));
    this.subscriber.on("ready", () => void this.resync());
  }

  /** Resolves once the feed is complete and loaded: the sink holds every revocation still in force. */
  ready(): Promise<void> {
    return this.firstComplete;
  }

  /** Resolves once a first snapshot is loaded, complete or not. */
  loaded(): Promise<void> {
    return this.firstLoad;
  }

  /** False while the last snapshot loaded lacked its completeness marker. */
  get complete(): boolean {
    return this.isComplete;
  }

  /** A message that does not parse is reported and skipped: the feed goes on with the next one. */
  private receive(text: string): void {
    try {
      const message = revocationFeedMessage.parse(JSON.parse(text));
      this.options.sink.add(message.sessionIds, message.until);
      for (const entry of message.notBefore ?? []) this.options.sink.addNotBefore(entry.userId, entry.notBefore, message.until);
      for (const userId of message.changedUsers ?? []) this.options.sink.userChanged?.(userId);
    } catch (error) {
      this.options.onError?.(error as Error);
    }
  }

  /** Session ids of one chunk by expiry; true when the completeness marker was among them. */
  private loadSessions(entries: Pairs, now: number): boolean {
    let marked = false;
    const byUntil = new Map<number, string[]>();
    for (let i = 0; i < entries.length; i += 2) {
      const member = entries[i]!;
      if (member === MARKER) {
        marked = true;
        continue;
      }
      const until = Number(entries[i + 1]);
      if (!(until > now)) continue;
      const list = byUntil.get(until) ?? [];
      list.push(member);
      byUntil.set(until, list);
    }
    for (const [until, ids] of byUntil) this.options.sink.add(ids, until);
    return marked;
  }

  /** Not-befores of one chunk; a member that does not parse is reported and skipped. */
  private loadNotBefores(entries: Pairs, now: number): boolean {
    let marked = false;
    for (let i = 0; i < entries.length; i += 2) {
      const member = entries[i]!;
      if (member === MARKER) {
        marked = true;
        continue;
      }
      const until = Number(entries[i + 1]);
      if (!(until > now)) continue;
      const entry = parseNotBeforeMember(member);
      if (entry) this.options.sink.addNotBefore(entry.userId, entry.notBefore, until);
      else this.options.onError?.(new Error("malformed not-before entry in the revocation feed snapshot"));
    }
    return marked;
  }

  /**
   * Reads a sorted set in chunks (ZSCAN), handing each to `load`; true when some chunk held the
   * marker. A mass revocation puts a million members in the set: read at once, their strings would
   * briefly cost the process hundreds of megabytes. ZSCAN returns every member present from start to
   * end; one added meanwhile also arrives on the channel, subscribed before the scan began.
   */
  private async scan(key: string, load: (entries: Pairs) => boolean): Promise<boolean> {
    let marked = false;
    let cursor = "0";
    do {
      const [next, entries] = await this.reader.zscan(key, cursor, "COUNT", SCAN_COUNT);
      if (load(entries)) marked = true;
      cursor = next;
    } while (cursor !== "0" && !this.closed);
    return marked;
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
        const now = this.now();
        const [sessionsMarked, notBeforesMarked] = await Promise.all([
          this.scan(this.keys.sessions, (entries) => this.loadSessions(entries, now)),
          this.scan(this.keys.notBefore, (entries) => this.loadNotBefores(entries, now)),
        ]);
        if (this.closed) return;
        const complete = sessionsMarked && notBeforesMarked;
        this.isComplete = complete;
        this.resolveFirstLoad();
        if (complete) {
          this.resolveFirstComplete();
          return;
        }
        this.options.onIncomplete?.();
        this.pollForRebuild();
        return;
      } catch (error) {
        if (this.closed) return;
        this.options.onError?.(error as Error);
        await new Promise((r) => setTimeout(r, Math.min(100 * attempt, RESYNC_RETRY_MAX_MS)));
      }
    }
  }

  /** While incomplete: loads again as soon as both markers are back (a worker rebuilt the feed). */
  private pollForRebuild(): void {
    if (this.closed || this.pollTimer) return;
    this.pollTimer = setTimeout(async () => {
      this.pollTimer = undefined;
      if (this.closed) return;
      const mark = await readFeedHighWaterMark(this.reader, this.keys).catch(() => undefined);
      if (mark === undefined) this.pollForRebuild();
      else await this.resync();
    }, this.options.incompletePollMs ?? 500);
    this.pollTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.resolveFirstLoad();
    this.resolveFirstComplete();
    this.subscriber.disconnect();
    this.reader.disconnect();
  }
}

/**
 * The feed's high-water mark: the highest outbox `seq` both sorted sets are known to hold, or
 * undefined when either set lacks its marker (lost, evicted, flushed: it must be rebuilt).
 */
async function readFeedHighWaterMark(
  redis: RedisClient,
  keys: ReturnType<typeof revocationFeedKeys>,
): Promise<number | undefined> {
  const [sessions, notBefore] = await Promise.all([redis.zscore(keys.sessions, MARKER), redis.zscore(keys.notBefore, MARKER)]);
  return markOf(sessions, notBefore);
}

/** The mark both sets carry (the lower of the two), or undefined when either lacks its marker. */
function markOf(sessionsScore: string | null, notBeforeScore: string | null): number | undefined {
  if (sessionsScore === null || notBeforeScore === null) return undefined;
  return Math.min(Number(sessionsScore), Number(notBeforeScore)) - MARKER_BASE;
}

/** Sets both markers to `seq` where that raises them; `onlyExisting` leaves a missing marker missing. */
async function raiseMarks(redis: RedisClient, prefix: string, seq: number, onlyExisting: boolean): Promise<void> {
  const keys = revocationFeedKeys(prefix);
  const flags = onlyExisting ? (["XX", "GT"] as const) : (["GT"] as const);
  await redis
    .multi()
    .zadd(keys.sessions, ...flags, MARKER_BASE + seq, MARKER)
    .zadd(keys.notBefore, ...flags, MARKER_BASE + seq, MARKER)
    .exec();
}

export function feedHighWaterMark(redis: RedisClient, prefix: string = DEFAULT_QUEUE_PREFIX): Promise<number | undefined> {
  return readFeedHighWaterMark(redis, revocationFeedKeys(prefix));
}

export interface FeedStats {
  /** Members of each sorted set, markers left out (expired entries count until maintenance prunes them). */
  sessions: number;
  notBefores: number;
  /** The high-water mark, or undefined when either set lacks its marker (the feed is to be rebuilt). */
  highWaterMark: number | undefined;
}

/** The feed's size and high-water mark, in one round trip (metrics, read at scrape time). */
export async function feedStats(redis: RedisClient, prefix: string = DEFAULT_QUEUE_PREFIX): Promise<FeedStats> {
  const keys = revocationFeedKeys(prefix);
  const replies = await redis
    .multi()
    .zcard(keys.sessions)
    .zcard(keys.notBefore)
    .zscore(keys.sessions, MARKER)
    .zscore(keys.notBefore, MARKER)
    .exec();
  const failed = replies?.find(([error]) => error)?.[0];
  if (!replies || failed) throw failed ?? new Error("feed statistics: transaction aborted");
  const [sessions, notBefores, sessionsMark, notBeforeMark] = replies.map(([, value]) => value) as [
    number,
    number,
    string | null,
    string | null,
  ];
  return {
    sessions: sessions - (sessionsMark === null ? 0 : 1),
    notBefores: notBefores - (notBeforeMark === null ? 0 : 1),
    highWaterMark: markOf(sessionsMark, notBeforeMark),
  };
}

/**
 * Records that the feed holds the event with this outbox `seq` (after publishing it). Only raises
 * an existing mark: a feed that lost its marker stays incomplete until it is rebuilt.
 */
export async function advanceFeedHighWaterMark(
  redis: RedisClient,
  seq: number,
  prefix: string = DEFAULT_QUEUE_PREFIX,
): Promise<void> {
  await raiseMarks(redis, prefix, seq, true);
}

export interface FeedSnapshot {
  sessions: { id: string; until: number }[];
  notBefores: { userId: string; notBefore: number; until: number }[];
}

/**
 * Writes a snapshot rebuilt from PostgreSQL into the feed, then marks it complete up to
 * `highWaterMark`. Only adds (ZADD GT keeps a later expiry): entries written meanwhile by the
 * worker stay, so a rebuild racing new revocations loses none.
 */
export async function writeFeedSnapshot(
  redis: RedisClient,
  snapshot: FeedSnapshot,
  highWaterMark: number,
  prefix: string = DEFAULT_QUEUE_PREFIX,
): Promise<void> {
  const keys = revocationFeedKeys(prefix);
  for (let i = 0; i < snapshot.sessions.length; i += CHUNK) {
    const args: (string | number)[] = [];
    for (const entry of snapshot.sessions.slice(i, i + CHUNK)) args.push(entry.until, entry.id);
    await redis.zadd(keys.sessions, "GT", ...args);
  }
  for (let i = 0; i < snapshot.notBefores.length; i += CHUNK) {
    const args: (string | number)[] = [];
    for (const entry of snapshot.notBefores.slice(i, i + CHUNK))
      args.push(entry.until, notBeforeMember(entry.userId, entry.notBefore));
    await redis.zadd(keys.notBefore, "GT", ...args);
  }
  await raiseMarks(redis, prefix, highWaterMark, false);
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

/**
 * Tells every instance that a user changed in a way its cached views show (a verified email).
 * Announced only, not recorded: an instance that misses it shows the old state for one
 * session-cache TTL at most.
 */
export async function publishUserChanged(
  redis: RedisClient,
  userId: string,
  prefix: string = DEFAULT_QUEUE_PREFIX,
): Promise<void> {
  const message: RevocationFeedMessage = { sessionIds: [], until: 0, changedUsers: [userId] };
  await redis.publish(revocationFeedKeys(prefix).channel, JSON.stringify(message));
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
