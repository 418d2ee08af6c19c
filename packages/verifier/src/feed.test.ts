import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { publishRevocations, startRevocationFeed } from "./feed.js";
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
});
