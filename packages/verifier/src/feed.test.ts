import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { revocationFeedKeys } from "@warden/contracts";
import { publishNotBefore, publishRevocations, startRevocationFeed } from "./feed.js";
import { RevocationSet } from "./revocation-set.js";

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = `{warden-test-${randomUUID().slice(0, 8)}}`;
const redis = new Redis(redisUrl);

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

async function until(check: () => boolean, timeoutMs = 2000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("revocation feed", () => {
  it("a running subscriber hears a published revocation within milliseconds", async () => {
    const set = new RevocationSet({ sweep: false });
    const feed = startRevocationFeed({ redisUrl, prefix, sink: set });
    await feed.ready();
    const sid = randomUUID();
    await publishRevocations(redis, [sid], Date.now() + 60_000, prefix);
    await until(() => set.has(sid));
    await feed.close();
  });

  it("a subscriber that starts later loads earlier revocations, but not expired ones", async () => {
    const live = randomUUID();
    const expired = randomUUID();
    await publishRevocations(redis, [live], Date.now() + 60_000, prefix);
    await publishRevocations(redis, [expired], Date.now() - 1, prefix);
    const set = new RevocationSet({ sweep: false });
    const feed = startRevocationFeed({ redisUrl, prefix, sink: set });
    await feed.ready();
    expect(set.has(live)).toBe(true);
    expect(set.has(expired)).toBe(false);
    await feed.close();
  });

  it("carries per-user not-befores live and in the snapshot; expired ones are not loaded", async () => {
    const live = randomUUID();
    const expired = randomUUID();
    const notBefore = Date.now();
    await publishNotBefore(redis, expired, notBefore, Date.now() - 1, prefix);
    const set = new RevocationSet({ sweep: false });
    const feed = startRevocationFeed({ redisUrl, prefix, sink: set });
    await feed.ready();
    await publishNotBefore(redis, live, notBefore, Date.now() + 60_000, prefix);
    await until(() => set.issuedBeforeNotBefore(live, Math.floor(notBefore / 1000)));
    await feed.close();

    const later = new RevocationSet({ sweep: false });
    const reloaded = startRevocationFeed({ redisUrl, prefix, sink: later });
    await reloaded.ready();
    expect(later.issuedBeforeNotBefore(live, Math.floor(notBefore / 1000))).toBe(true);
    expect(later.firstAcceptedIat(expired)).toBeUndefined();
    await reloaded.close();
  });

  it("a malformed feed message or snapshot entry is reported and skipped; the feed goes on", async () => {
    const keys = revocationFeedKeys(prefix);
    const user = randomUUID();
    const notBefore = Date.now();
    // Garbage in the snapshot, next to a good entry.
    await redis.zadd(keys.notBefore, Date.now() + 60_000, "no-separator", Date.now() + 60_000, `${user} not-a-number`);
    await publishNotBefore(redis, user, notBefore, Date.now() + 60_000, prefix);
    const errors: string[] = [];
    const set = new RevocationSet({ sweep: false });
    const feed = startRevocationFeed({ redisUrl, prefix, sink: set, onError: (e) => errors.push(e.message) });
    await feed.ready();
    expect(set.issuedBeforeNotBefore(user, Math.floor(notBefore / 1000))).toBe(true);
    expect(errors.length).toBeGreaterThanOrEqual(2);

    // Garbage on the channel: not JSON, wrong shapes, a not-before without a user.
    for (const text of ["{not json", "null", "[]", JSON.stringify({ sessionIds: "x", until: 1 }), JSON.stringify({ sessionIds: [], until: 1, notBefore: [{ notBefore: 5 }] })]) {
      await redis.publish(keys.channel, text);
    }
    const sid = randomUUID();
    await publishRevocations(redis, [sid], Date.now() + 60_000, prefix);
    await until(() => set.has(sid));
    expect(errors.length).toBeGreaterThanOrEqual(7);
    await feed.close();
  });
});
