import { describe, expect, it } from "vitest";
import { sharedEnvSchema } from "./env.js";
import { describeRedisTarget, redisTargetOf } from "./redis-target.js";

describe("REDIS_CLUSTER_NODES", () => {
  it("is unset by default: one node at REDIS_URL", () => {
    const env = sharedEnvSchema.parse({});
    expect(redisTargetOf(env)).toBe("redis://127.0.0.1:6379");
  });

  it("takes host:port seeds, IPv6 in brackets and redis:// URLs with shared credentials", () => {
    const env = sharedEnvSchema.parse({ REDIS_CLUSTER_NODES: "127.0.0.1:7000, [::1]:7001,redis://:s%40cret@db.internal:7002" });
    expect(redisTargetOf(env)).toEqual({
      cluster: [
        { host: "127.0.0.1", port: 7000 },
        { host: "::1", port: 7001 },
        { host: "db.internal", port: 7002 },
      ],
      password: "s@cret",
    });
    expect(describeRedisTarget(redisTargetOf(env))).toBe("cluster 127.0.0.1:7000,::1:7001,db.internal:7002");
  });

  it("refuses what is not a node list, naming the setting", () => {
    for (const bad of ["127.0.0.1:99999", "http://x:1", "a:b"]) {
      const result = sharedEnvSchema.safeParse({ REDIS_CLUSTER_NODES: bad });
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.path).toEqual(["REDIS_CLUSTER_NODES"]);
    }
  });

  it("keeps passwords out of the description of a URL", () => {
    expect(describeRedisTarget("redis://user:hunter2@cache:6379/0")).toBe("redis://cache:6379/0");
  });
});
