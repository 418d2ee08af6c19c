import { createHmac, generateKeyPairSync, randomUUID, type KeyObject } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import Fastify from "fastify";
import { P256_ORDER } from "@warden/access-token";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishNotBefore, publishRevocations, writeFeedSnapshot } from "@warden/revocations";
import { revocationFeedKeys } from "@warden/contracts";
import {
  bearerToken,
  createVerifier,
  expressAuth,
  firstAcceptedIat,
  fastifyAuth,
  isVerifierError,
  verifyRequest,
  type Principal,
  type Verifier,
  type VerifierOptions,
} from "./index.js";

const ISSUER = "https://warden.test";
const AUDIENCE = "orders-service";
const SEC = 1000;

function es256Key() {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return { privateKey, publicKey, kid: randomUUID() };
}
type Key = ReturnType<typeof es256Key>;

let now = Date.UTC(2026, 0, 1);
const clock = () => now;

/** ECDSA signatures come in twins, (r, s) and (r, n - s); Warden issues the low s and accepts only that. */
function lowS(token: string): string {
  const dot = token.lastIndexOf(".");
  const signature = Buffer.from(token.slice(dot + 1), "base64url");
  const s = BigInt(`0x${signature.subarray(32).toString("hex")}`);
  if (s <= P256_ORDER >> 1n) return token;
  const low = Buffer.from((P256_ORDER - s).toString(16).padStart(64, "0"), "hex");
  return `${token.slice(0, dot + 1)}${Buffer.concat([signature.subarray(0, 32), low]).toString("base64url")}`;
}

function sign(key: Key, overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}) {
  const iat = Math.floor(now / SEC);
  const claims = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: randomUUID(),
    sid: randomUUID(),
    jti: randomUUID(),
    iat,
    exp: iat + 900,
    role: "user",
    ...overrides,
  };
  return lowS(
    jwt.sign(claims, key.privateKey, { algorithm: "ES256", keyid: key.kid, header: { alg: "ES256", typ: "at+jwt", ...header } }),
  );
}

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return isVerifierError(error) ? error.reason : `not a VerifierError: ${String(error)}`;
  }
}

const key = es256Key();
const verifiers: Verifier[] = [];
function verifierWith(options: Partial<VerifierOptions> = {}) {
  const v = createVerifier({ publicKey: key.publicKey, issuer: ISSUER, audience: AUDIENCE, now: clock, ...options });
  verifiers.push(v);
  return v;
}
afterAll(async () => {
  for (const v of verifiers) await v.close();
});

describe("verifier: local checks", () => {
  it("accepts a valid token and returns the typed principal", () => {
    const token = sign(key, { role: "admin" });
    const principal = verifierWith().verifySync(token);
    const claims = jwt.decode(token) as jwt.JwtPayload;
    expect(principal).toMatchObject({ userId: claims.sub, sessionId: claims.sid, role: "admin" });
    expect(principal.claims.jti).toBe(claims.jti);
  });

  it("refuses tampered, forged and malformed tokens as TOKEN_INVALID", () => {
    const v = verifierWith();
    const token = sign(key);
    const [h, p, s] = token.split(".") as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, "base64url").toString());
    const elevated = Buffer.from(JSON.stringify({ ...payload, role: "admin" })).toString("base64url");
    const other = es256Key();
    const hs = jwt.sign({ ...payload }, key.publicKey.export({ format: "pem", type: "spki" }).toString(), {
      algorithm: "HS256",
      header: { alg: "HS256", typ: "at+jwt", kid: key.kid },
    });
    const sig = Buffer.from(s, "base64url");
    const highS = Buffer.from(
      (P256_ORDER - BigInt(`0x${sig.subarray(32).toString("hex")}`)).toString(16).padStart(64, "0"),
      "hex",
    );
    const lastChar = s.at(-1)!;
    const nonCanonical = `${h}.${p}.${s.slice(0, -1)}${lastChar === "A" ? "B" : String.fromCharCode(lastChar.charCodeAt(0) ^ 1)}`;
    const cases: Record<string, string> = {
      "payload changed": `${h}.${elevated}.${s}`,
      "signed by another key": sign({ ...other, kid: key.kid }),
      "HS256 with the public key as secret": hs,
      "alg none": `${Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt", kid: key.kid })).toString("base64url")}.${p}.`,
      "not at+jwt": sign(key, {}, { typ: "JWT" }),
      "no typ": jwt.sign(payload, key.privateKey, { algorithm: "ES256", keyid: key.kid }),
      "wrong issuer": sign(key, { iss: "https://evil.test" }),
      "wrong audience": sign(key, { aud: "another-service" }),
      "aud as an array, even holding ours": sign(key, { aud: [AUDIENCE] }),
      "the high-S twin of the signature": `${h}.${p}.${Buffer.concat([sig.subarray(0, 32), highS]).toString("base64url")}`,
      "missing sid": sign(key, { sid: undefined }),
      "unknown role": sign(key, { role: "root" }),
      "crit header": sign(key, {}, { crit: ["x"] }),
      "padding in signature": `${token}=`,
      "signature bit flipped": nonCanonical,
      "four parts": `${token}.x`,
      garbage: "not a token",
      empty: "",
    };
    for (const [name, bad] of Object.entries(cases))
      expect(
        reasonOf(() => v.verifySync(bad)),
        name,
      ).toBe("TOKEN_INVALID");
  });

  it("refuses an expired token as TOKEN_EXPIRED, allowing the clock tolerance", () => {
    const v = verifierWith({ clockToleranceSec: 5 });
    const token = sign(key, { exp: Math.floor(now / SEC) + 10 });
    expect(v.verifySync(token).claims.exp).toBeGreaterThan(0);
    now += 14 * SEC; // 4 s past exp: within tolerance
    expect(reasonOf(() => v.verifySync(token))).toBeUndefined();
    now += 2 * SEC;
    expect(reasonOf(() => v.verifySync(token))).toBe("TOKEN_EXPIRED");
    // A fresh verifier agrees (no cache involved).
    expect(reasonOf(() => verifierWith({ clockToleranceSec: 5 }).verifySync(token))).toBe("TOKEN_EXPIRED");
  });

  it("checks in the server's order: signature before revocation before expiry", () => {
    const v = verifierWith();
    const sid = randomUUID();
    const expired = sign(key, { sid, exp: Math.floor(now / SEC) - 60 });
    v.revocations.add([sid], now + 60 * SEC);
    expect(reasonOf(() => v.verifySync(expired))).toBe("SESSION_REVOKED");
    const [h, p] = expired.split(".");
    expect(reasonOf(() => v.verifySync(`${h}.${p}.${"A".repeat(86)}`))).toBe("TOKEN_INVALID");
  });

  it("a cached token of a revoked session is refused from then on", () => {
    const v = verifierWith();
    const sid = randomUUID();
    const token = sign(key, { sid });
    expect(v.verifySync(token).sessionId).toBe(sid);
    expect(v.cachedTokens).toBe(1);
    v.revocations.add([sid], now + 60 * SEC);
    expect(reasonOf(() => v.verifySync(token))).toBe("SESSION_REVOKED");
  });

  it("keeps the cache bounded", () => {
    const v = verifierWith({ cacheSize: 10 });
    for (let i = 0; i < 50; i++) v.verifySync(sign(key));
    expect(v.cachedTokens).toBeLessThanOrEqual(10);
  });

  it("pins algorithms: an HS256-only verifier refuses ES256 tokens, and HS256 works with a secret", () => {
    const secret = Buffer.alloc(32, 7);
    const v = verifierWith({ publicKey: secret, algorithms: ["HS256"] });
    expect(reasonOf(() => v.verifySync(sign(key)))).toBe("TOKEN_INVALID");
    const iat = Math.floor(now / SEC);
    const hsToken = jwt.sign(
      { iss: ISSUER, aud: AUDIENCE, sub: "u", sid: "s", jti: "j", iat, exp: iat + 60, role: "user" },
      secret,
      {
        algorithm: "HS256",
        header: { alg: "HS256", typ: "at+jwt", kid: "k" },
      },
    );
    expect(v.verifySync(hsToken).userId).toBe("u");
    const [h, p] = hsToken.split(".");
    const forged = createHmac("sha256", Buffer.alloc(32, 8)).update(`${h}.${p}`).digest("base64url");
    expect(reasonOf(() => v.verifySync(`${h}.${p}.${forged}`))).toBe("TOKEN_INVALID");
  });

  it("turns the Authorization header into a principal or the server's reason", async () => {
    const v = verifierWith();
    const token = sign(key);
    expect((await verifyRequest(v, `Bearer ${token}`)).claims.iss).toBe(ISSUER);
    await expect(verifyRequest(v, undefined)).rejects.toMatchObject({ reason: "TOKEN_MISSING", status: 401 });
    await expect(verifyRequest(v, `Basic abc`)).rejects.toMatchObject({ reason: "TOKEN_INVALID" });
    await expect(verifyRequest(v, [`Bearer ${token}`, `Bearer ${token}`])).rejects.toMatchObject({ reason: "TOKEN_INVALID" });
    // The server's syntax: a list of values is refused even when it holds one, and so is padding.
    await expect(verifyRequest(v, [`Bearer ${token}`])).rejects.toMatchObject({ reason: "TOKEN_INVALID" });
    await expect(verifyRequest(v, `Bearer ${token}=`)).rejects.toMatchObject({
      reason: "TOKEN_INVALID",
      message: "the bearer token is malformed: an access token is three base64url segments (header.payload.signature)",
    });
    await expect(verifyRequest(v, `Basic ${token}`)).rejects.toMatchObject({
      message: "the Authorization scheme is not Bearer: send 'Authorization: Bearer <access token>'",
    });
    expect(bearerToken(`bearer  ${token}`)).toBe(token);
  });
});

describe("verifier: framework helpers", () => {
  it("a Fastify hook sets request.principal or answers 401 with the reason", async () => {
    const v = verifierWith();
    const app = Fastify();
    app.addHook("onRequest", fastifyAuth(v));
    app.get("/orders", async (request) => ({ userId: (request as unknown as { principal: Principal }).principal.userId }));
    const token = sign(key, { sub: "user-1" });
    const ok = await app.inject({ url: "/orders", headers: { authorization: `Bearer ${token}` } });
    expect(ok.json()).toEqual({ userId: "user-1" });
    const missing = await app.inject({ url: "/orders" });
    expect(missing.statusCode).toBe(401);
    expect(missing.json().error.data.reason).toBe("TOKEN_MISSING");
    const expired = await app.inject({ url: "/orders", headers: { authorization: `Bearer ${sign(key, { exp: 1 })}` } });
    expect(expired.json().error.data.reason).toBe("TOKEN_EXPIRED");
    await app.close();
  });

  it("an Express middleware sets req.principal or answers 401 with the reason", async () => {
    const v = verifierWith();
    const run = (authorization?: string) =>
      new Promise<{ status?: number; body?: any; principal?: Principal }>((resolve) => {
        const req: { headers: Record<string, string | undefined>; principal?: Principal } = { headers: { authorization } };
        const res = { status: (status: number) => ({ json: (body: unknown) => resolve({ status, body }) }) };
        expressAuth(v)(req, res, () => resolve({ principal: req.principal! }));
      });
    expect((await run(`Bearer ${sign(key, { sub: "user-2" })}`)).principal?.userId).toBe("user-2");
    const refused = await run("Bearer nope");
    expect(refused).toMatchObject({ status: 401, body: { error: { data: { reason: "TOKEN_INVALID" } } } });
  });
});

describe("verifier: JWKS", () => {
  const keys: Key[] = [key];
  let fetches = 0;
  let server: Server;
  let jwksUrl: string;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      fetches++;
      const list = keys.map((k) => ({
        ...(k.publicKey as KeyObject).export({ format: "jwk" }),
        kid: k.kid,
        alg: "ES256",
        use: "sig",
      }));
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: list }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("verifies with the key its kid names, and refetches the JWKS for a new kid at most once per interval", async () => {
    const v = createVerifier({ jwksUrl, issuer: ISSUER, audience: AUDIENCE, now: clock, jwksRefetchIntervalMs: 60_000 });
    verifiers.push(v);
    await v.ready();
    const before = fetches;
    expect((await v.verify(sign(key))).role).toBe("user");

    // Rotation: the server signs with a new key it now publishes.
    const next = es256Key();
    keys.push(next);
    expect((await v.verify(sign(next))).role).toBe("user");
    expect(fetches).toBe(before + 1);

    // Unknown kids (an attacker's) cause no further fetches within the interval.
    const stranger = es256Key();
    for (let i = 0; i < 5; i++) await expect(v.verify(sign(stranger))).rejects.toMatchObject({ reason: "TOKEN_INVALID" });
    expect(fetches).toBe(before + 1);
  });
});

describe("verifier: per-user not-before", () => {
  it("same second: refuses a token issued earlier in the not-before's second (TOKEN_EXPIRED, cached verdict or not), accepts one from the first accepted second", () => {
    const saved = now;
    now = Date.UTC(2026, 0, 1, 0, 0, 0, 700);
    const v = verifierWith();
    const sub = randomUUID();
    const earlier = sign(key, { sub }); // iat = the same second, floored
    expect(v.verifySync(earlier).userId).toBe(sub); // cached verdict
    const notBefore = now;
    v.revocations.addNotBefore(sub, notBefore, notBefore + 60_000);
    expect(reasonOf(() => v.verifySync(earlier))).toBe("TOKEN_EXPIRED");
    // A signer that knows the not-before issues iat = firstAcceptedIat: accepted at once.
    const renewed = sign(key, { sub, iat: firstAcceptedIat(notBefore), exp: firstAcceptedIat(notBefore) + 900 });
    expect(reasonOf(() => v.verifySync(renewed))).toBeUndefined();
    // A token issued at the not-before's own second without that knowledge is still refused.
    expect(reasonOf(() => v.verifySync(sign(key, { sub })))).toBe("TOKEN_EXPIRED");
    // Other users are not affected; revocation stays first in the order.
    expect(reasonOf(() => v.verifySync(sign(key)))).toBeUndefined();
    const sid = randomUUID();
    const revokedToo = sign(key, { sub, sid });
    v.revocations.add([sid], now + 60_000);
    expect(reasonOf(() => v.verifySync(revokedToo))).toBe("SESSION_REVOKED");
    now = saved;
  });
});

describe("verifier: revocation feed", () => {
  it("ready() gives up with a clear error when Redis does not answer", async () => {
    const v = createVerifier({
      publicKey: key.publicKey,
      issuer: ISSUER,
      audience: AUDIENCE,
      redisUrl: "redis://127.0.0.1:9",
      onError: () => {},
    });
    verifiers.push(v);
    await expect(v.ready(200)).rejects.toThrow(/not ready/);
  });

  const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const prefix = `{warden-t-${randomUUID().slice(0, 8)}}`;
  const redis = new Redis(redisUrl);
  // Stands in for the admin worker, which marks a fresh feed complete (rebuilt from PostgreSQL).
  beforeAll(() => writeFeedSnapshot(redis, { sessions: [], notBefores: [] }, 0, prefix));
  afterAll(async () => {
    const stale = await redis.keys(`${prefix}*`);
    if (stale.length) await redis.del(...stale);
    redis.disconnect();
  });

  it("ready() waits for a complete feed: a feed Redis lost is loaded, but ready only once rebuilt", async () => {
    const lostPrefix = `{warden-t-${randomUUID().slice(0, 8)}}`;
    const sid = randomUUID();
    // What survives in a feed that lost its marker (a partial failover) is still refused at once.
    await publishRevocations(redis, [sid], Date.now() + 60_000, lostPrefix);
    const v = createVerifier({ publicKey: key.publicKey, issuer: ISSUER, audience: AUDIENCE, redisUrl, queuePrefix: lostPrefix });
    verifiers.push(v);
    await expect(v.ready(300)).rejects.toThrow(/revocation feed .* incomplete .* worker/);
    now = Date.now();
    expect(reasonOf(() => v.verifySync(sign(key, { sid })))).toBe("SESSION_REVOKED");

    const rebuilt = randomUUID();
    await writeFeedSnapshot(redis, { sessions: [{ id: rebuilt, until: Date.now() + 60_000 }], notBefores: [] }, 7, lostPrefix);
    await v.ready(5_000);
    expect(reasonOf(() => v.verifySync(sign(key, { sid: rebuilt })))).toBe("SESSION_REVOKED");
    expect(reasonOf(() => v.verifySync(sign(key, { sid })))).toBe("SESSION_REVOKED");
    await redis.del(...Object.values(revocationFeedKeys(lostPrefix)));
  });

  it("refuses a revoked session's token once the revocation is published", async () => {
    const v = createVerifier({ publicKey: key.publicKey, issuer: ISSUER, audience: AUDIENCE, redisUrl, queuePrefix: prefix });
    verifiers.push(v);
    await v.ready();
    now = Date.now();
    const sid = randomUUID();
    const token = sign(key, { sid });
    expect(v.verifySync(token).sessionId).toBe(sid);
    await publishRevocations(redis, [sid], Date.now() + 60_000, prefix);
    const deadline = Date.now() + 5_000;
    while (!reasonOf(() => v.verifySync(token)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    expect(reasonOf(() => v.verifySync(token))).toBe("SESSION_REVOKED");
  });

  it("refuses a user's tokens issued before a published not-before, from the message and from the snapshot", async () => {
    now = Date.now();
    const sub = randomUUID();
    const token = sign(key, { sub });
    const running = createVerifier({
      publicKey: key.publicKey,
      issuer: ISSUER,
      audience: AUDIENCE,
      redisUrl,
      queuePrefix: prefix,
    });
    verifiers.push(running);
    await running.ready();
    expect(running.verifySync(token).userId).toBe(sub);
    await publishNotBefore(redis, sub, Date.now(), Date.now() + 60_000, prefix);
    const deadline = Date.now() + 5_000;
    while (!reasonOf(() => running.verifySync(token)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    expect(reasonOf(() => running.verifySync(token))).toBe("TOKEN_EXPIRED");

    const later = createVerifier({ publicKey: key.publicKey, issuer: ISSUER, audience: AUDIENCE, redisUrl, queuePrefix: prefix });
    verifiers.push(later);
    await later.ready();
    expect(reasonOf(() => later.verifySync(token))).toBe("TOKEN_EXPIRED");
  });
});
