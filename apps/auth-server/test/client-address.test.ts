import { randomBytes } from "node:crypto";
import { generateDataKey, generateEs256PrivateKeyPem } from "@warden/auth";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { Redis } from "ioredis";
import { deleteKeys, email, PASSWORD, testPrefix } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadEnv } from "../src/env.js";
import { rateLimitSource, serverEnvSchema, startAuthServer, type RunningServer } from "@warden/server";

// The test client on 127.0.0.1 plays the proxy: it writes X-Forwarded-For as a proxy that appends
// would, with a client-written entry on the left and the address the proxy saw on the right.
// The addresses in these headers are only text: nothing dials them.

const prefix = testPrefix();
const ADMIN_EMAIL = `admin-${randomBytes(4).toString("hex")}@example.com`;
const ADMIN_PASSWORD = `admin ${randomBytes(12).toString("hex")}`;
let db: TestDatabase;
let redis: Redis;

/** The production wiring (env → server), with the default rate-limit budgets. */
async function startWith(settings: Record<string, string>): Promise<RunningServer> {
  return startAuthServer(
    serverEnvSchema.parse({
      PORT: "0",
      DATABASE_URL: db.url,
      REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
      QUEUE_PREFIX: prefix,
      JWT_PRIVATE_KEY: generateEs256PrivateKeyPem(),
      WARDEN_DATA_KEY: generateDataKey(),
      LOG_LEVEL: "silent",
      WARDEN_ADMIN_EMAIL: ADMIN_EMAIL,
      WARDEN_ADMIN_PASSWORD: ADMIN_PASSWORD,
      ...settings,
    }),
  );
}

async function call(server: RunningServer, path: string, init: { body?: unknown; forwardedFor?: string; token?: string } = {}) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (init.forwardedFor) headers["x-forwarded-for"] = init.forwardedFor;
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const res =
    init.body === undefined
      ? await fetch(`${server.url}/trpc/${path}`, { headers })
      : await fetch(`${server.url}/trpc/${path}`, { method: "POST", headers, body: JSON.stringify(init.body) });
  return { status: res.status, body: (await res.json()) as any };
}

async function adminFind(server: RunningServer, userEmail: string) {
  const admin = await call(server, "auth.login", {
    body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD },
    forwardedFor: "192.0.2.250",
  });
  expect(admin.status).toBe(200);
  const input = encodeURIComponent(JSON.stringify({ email: userEmail }));
  return call(server, `admin.users.find?input=${input}`, { token: admin.body.result.data.accessToken });
}

beforeAll(async () => {
  db = await createTestDatabase();
  redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await db.drop();
});

describe("TRUST_PROXY=1: one proxy in front", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startWith({ TRUST_PROXY: "1" });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("a spoofed leftmost X-Forwarded-For entry does not escape the login budget", async () => {
    const victim = email("spoof");
    expect(
      (await call(server, "auth.signup", { body: { email: victim, password: PASSWORD }, forwardedFor: "198.51.100.1" })).status,
    ).toBe(200);
    const statuses: number[] = [];
    for (let i = 1; i <= 15; i++) {
      const res = await call(server, "auth.login", {
        body: { email: victim, password: "wrong password!" },
        forwardedFor: `203.0.113.${i}, 198.51.100.66`,
      });
      statuses.push(res.status);
    }
    console.log("statuses of 15 wrong passwords with spoofed leftmost entries:", statuses.join(" "));
    // The default account budget is 10 per (email, address): the 11th attempt is refused.
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual(Array(5).fill(429));
  });

  it("the session records the address the proxy saw (the rightmost entry), in sessions.list and the admin view", async () => {
    const user = email("seen");
    const signup = await call(server, "auth.signup", {
      body: { email: user, password: PASSWORD },
      forwardedFor: "203.0.113.7, 198.51.100.20",
    });
    expect(signup.status).toBe(200);
    const list = await call(server, "sessions.list", { token: signup.body.result.data.accessToken });
    expect(list.body.result.data.map((s: { ip: string }) => s.ip)).toEqual(["198.51.100.20"]);
    const found = await adminFind(server, user);
    expect(found.body.result.data.sessions.map((s: { ip: string }) => s.ip)).toEqual(["198.51.100.20"]);
  });
});

describe("TRUST_PROXY as a list of proxy addresses/CIDRs", () => {
  let server: RunningServer;
  beforeAll(async () => {
    // The test client connects from 127.0.0.1, inside the trusted 127.0.0.0/8.
    server = await startWith({ TRUST_PROXY: "10.0.0.0/8, 127.0.0.0/8, ::1" });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("the client address is the nearest entry that no trusted proxy wrote", async () => {
    const user = email("cidr");
    // 10.1.2.3 is a trusted proxy of the chain; 198.51.100.30 is the client it saw.
    const signup = await call(server, "auth.signup", {
      body: { email: user, password: PASSWORD },
      forwardedFor: "203.0.113.9, 198.51.100.30, 10.1.2.3",
    });
    expect(signup.status).toBe(200);
    const list = await call(server, "sessions.list", { token: signup.body.result.data.accessToken });
    expect(list.body.result.data.map((s: { ip: string }) => s.ip)).toEqual(["198.51.100.30"]);

    const statuses: number[] = [];
    for (let i = 1; i <= 11; i++) {
      const res = await call(server, "auth.login", {
        body: { email: user, password: "wrong password!" },
        forwardedFor: `203.0.113.${i}, 198.51.100.30, 10.1.2.3`,
      });
      statuses.push(res.status);
    }
    expect(statuses.at(-1)).toBe(429);
  });
});

describe("TRUST_PROXY unset: no proxy", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startWith({});
  });
  afterAll(async () => {
    await server?.close();
  });

  it("X-Forwarded-For is ignored: the client is the socket peer", async () => {
    const signup = await call(server, "auth.signup", {
      body: { email: email("direct"), password: PASSWORD },
      forwardedFor: "203.0.113.8, 198.51.100.40",
    });
    const list = await call(server, "sessions.list", { token: signup.body.result.data.accessToken });
    expect(list.body.result.data.map((s: { ip: string }) => s.ip)).toEqual(["127.0.0.1"]);
  });
});

describe("IPv6 clients behind one proxy (TRUST_PROXY=1)", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startWith({ TRUST_PROXY: "1" });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("addresses of one /64 share the login budget; another /64 has its own", async () => {
    const user = email("v6");
    expect(
      (await call(server, "auth.signup", { body: { email: user, password: PASSWORD }, forwardedFor: "2001:db8:7:1::1" })).status,
    ).toBe(200);
    const wrong = (address: string) =>
      call(server, "auth.login", { body: { email: user, password: "wrong password!" }, forwardedFor: address });
    const statuses: number[] = [];
    // A new address of the same /64 for every attempt, as a host that owns the prefix can do.
    for (let i = 1; i <= 10; i++) statuses.push((await wrong(`2001:db8:7:2::${i.toString(16)}`)).status);
    statuses.push((await wrong("2001:db8:7:2:ffff:ffff:ffff:ffff")).status);
    console.log("statuses of 11 wrong passwords from 11 addresses of one /64:", statuses.join(" "));
    expect(statuses).toEqual([...Array(10).fill(401), 429]);
    expect((await wrong("2001:db8:7:3::1")).status).toBe(401);
  });
});

describe("the rate-limit source of a client address", () => {
  it("two addresses of one /64 share a source; different /64s do not", () => {
    expect(rateLimitSource("2001:db8:1:2::1")).toBe(rateLimitSource("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    expect(rateLimitSource("2001:db8:1:2::1")).toBe("2001:db8:1:2:0:0:0:0/64");
    expect(rateLimitSource("2001:db8:1:2::1")).not.toBe(rateLimitSource("2001:db8:1:3::1"));
    expect(rateLimitSource("2001:db8:1:2::1")).not.toBe(rateLimitSource("2001:db9:1:2::1"));
  });

  it("every spelling of an address gives the same source", () => {
    const spellings = [
      "2001:db8:0:2::1",
      "2001:0DB8:0000:0002:0000:0000:0000:0001",
      "2001:db8::2:0:0:0:1",
      "2001:db8:0:2::1%eth0",
    ];
    expect(new Set(spellings.map((ip) => rateLimitSource(ip)))).toEqual(new Set(["2001:db8:0:2:0:0:0:0/64"]));
    expect(rateLimitSource("::1")).toBe("0:0:0:0:0:0:0:0/64");
  });

  it("IPv4-mapped IPv6 addresses count as the IPv4 address, in every spelling", () => {
    for (const mapped of ["::ffff:1.2.3.4", "::FFFF:1.2.3.4", "0:0:0:0:0:ffff:1.2.3.4", "::ffff:102:304"]) {
      expect(rateLimitSource(mapped), mapped).toBe("1.2.3.4");
    }
    expect(rateLimitSource("1.2.3.4")).toBe("1.2.3.4");
    expect(rateLimitSource("1.2.3.5")).not.toBe(rateLimitSource("1.2.3.4"));
  });

  it("the prefix length is configurable, 1 to 128", () => {
    expect(rateLimitSource("2001:db8:1:2::1", 48)).toBe(rateLimitSource("2001:db8:1:ffff::1", 48));
    expect(rateLimitSource("2001:db8:1:2::1", 56)).toBe("2001:db8:1:0:0:0:0:0/56");
    expect(rateLimitSource("2001:db8:1:2ab::1", 56)).toBe("2001:db8:1:200:0:0:0:0/56");
    expect(rateLimitSource("2001:db8:1:2::1", 128)).not.toBe(rateLimitSource("2001:db8:1:2::2", 128));
    expect(rateLimitSource("2001:db8:1:2::1", 1)).toBe(rateLimitSource("7fff::1", 1));
    expect(rateLimitSource("2001:db8:1:2::1", 1)).not.toBe(rateLimitSource("8000::1", 1));
    expect(serverEnvSchema.parse({}).RATE_LIMIT_IPV6_PREFIX).toBe(64);
    expect(serverEnvSchema.parse({ RATE_LIMIT_IPV6_PREFIX: "56" }).RATE_LIMIT_IPV6_PREFIX).toBe(56);
    for (const bad of ["0", "129", "64.5", "sixty-four", ""]) {
      expect(serverEnvSchema.safeParse({ RATE_LIMIT_IPV6_PREFIX: bad }).success, bad).toBe(false);
    }
  });

  it("no address is its own source, never an error", () => {
    expect(rateLimitSource(undefined)).toBe("unknown");
    expect(rateLimitSource("not an address")).toBe("not an address");
  });
});

describe("TRUST_PROXY parsing", () => {
  it("true, false and other junk are refused as ambiguous, with the fix named", () => {
    for (const value of ["true", "false", "yes", "on", "1.2.3.4/33", "10.0.0.0/8,proxy.local", "-1"]) {
      const result = serverEnvSchema.safeParse({ TRUST_PROXY: value });
      expect(result.success, value).toBe(false);
      const issue = result.error!.issues[0]!;
      expect(issue.path).toEqual(["TRUST_PROXY"]);
      expect(issue.message).toMatch(/number of proxies .*addresses\/CIDRs/);
      expect(issue.message).not.toContain("\n");
    }
  });

  it("TRUST_PROXY=true stops the start with one line naming the fix and exit code 1", () => {
    const written: string[] = [];
    const write = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => (written.push(String(chunk)), true));
    const exit = vi.spyOn(process, "exit").mockImplementation((code) => {
      throw new Error(`exit ${code}`);
    });
    try {
      expect(() => loadEnv({ TRUST_PROXY: "true" })).toThrow("exit 1");
    } finally {
      write.mockRestore();
      exit.mockRestore();
    }
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(
      /^warden: invalid configuration: TRUST_PROXY: "true" is ambiguous.*number of proxies in front.*addresses\/CIDRs.*\n$/,
    );
  });

  it("a hop count or an address/CIDR list is accepted; unset means no proxy", () => {
    expect(serverEnvSchema.parse({}).TRUST_PROXY).toBe(0);
    expect(serverEnvSchema.parse({ TRUST_PROXY: "0" }).TRUST_PROXY).toBe(0);
    expect(serverEnvSchema.parse({ TRUST_PROXY: "2" }).TRUST_PROXY).toBe(2);
    expect(serverEnvSchema.parse({ TRUST_PROXY: "10.0.0.0/8, 192.0.2.1,fd00::/8 , ::1" }).TRUST_PROXY).toEqual([
      "10.0.0.0/8",
      "192.0.2.1",
      "fd00::/8",
      "::1",
    ]);
  });
});
