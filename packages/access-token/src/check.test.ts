import { createSecretKey, generateKeyPairSync, randomBytes, randomUUID, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  NOT_BEFORE_MARGIN_MS,
  P256_ORDER,
  VerifiedTokenCache,
  checkAccessToken,
  checkSignatureAndClaims,
  firstAcceptedIat,
  issuedAt,
  issuedBeforeNotBefore,
  parseBearer,
  type RevocationLookup,
  type VerificationKey,
} from "./index.js";

const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const es256: VerificationKey = { alg: "ES256", key: publicKey };
const secret = createSecretKey(randomBytes(32));
const hs256: VerificationKey = { alg: "HS256", key: secret };
const expected = { issuer: "warden", audience: "warden" };
const NOW = 1_800_000_000_000;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

function claims(overrides: Record<string, unknown> = {}) {
  const iat = Math.floor(NOW / 1000);
  return {
    iss: "warden",
    aud: "warden",
    sub: randomUUID(),
    sid: randomUUID(),
    jti: randomUUID(),
    iat,
    exp: iat + 900,
    role: "user",
    ...overrides,
  };
}

function es256Token(payload: Record<string, unknown> = claims(), header: Record<string, unknown> = {}): string {
  const input = `${b64({ alg: "ES256", typ: "at+jwt", kid: "k1", ...header })}.${b64(payload)}`;
  let signature = sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" });
  const s = BigInt(`0x${signature.subarray(32).toString("hex")}`);
  if (s > P256_ORDER >> 1n) {
    signature = Buffer.concat([signature.subarray(0, 32), Buffer.from((P256_ORDER - s).toString(16).padStart(64, "0"), "hex")]);
  }
  return `${input}.${signature.toString("base64url")}`;
}

const keys = (kid: string) => (kid === "k1" ? es256 : kid === "h1" ? hs256 : undefined);
const signatureOptions = { keys, expected };

describe("checkSignatureAndClaims", () => {
  it("accepts a token signed with the key its kid names", () => {
    const verdict = checkSignatureAndClaims(signatureOptions, es256Token(), NOW);
    expect(verdict.ok).toBe(true);
  });

  it("refuses the high-S twin of a valid signature", () => {
    const token = es256Token();
    const [h, p, s] = token.split(".") as [string, string, string];
    const bytes = Buffer.from(s, "base64url");
    const high = (P256_ORDER - BigInt(`0x${bytes.subarray(32).toString("hex")}`)).toString(16).padStart(64, "0");
    const twin = `${h}.${p}.${Buffer.concat([bytes.subarray(0, 32), Buffer.from(high, "hex")]).toString("base64url")}`;
    expect(checkSignatureAndClaims(signatureOptions, twin, NOW)).toMatchObject({ ok: false, reason: "TOKEN_INVALID" });
  });

  it("refuses an aud array even when it contains ours", () => {
    const verdict = checkSignatureAndClaims(signatureOptions, es256Token(claims({ aud: ["warden"] })), NOW);
    expect(verdict).toMatchObject({ ok: false, message: "wrong audience" });
  });

  it("refuses a header naming another algorithm than the key's", () => {
    const verdict = checkSignatureAndClaims(signatureOptions, es256Token(claims(), { kid: "h1" }), NOW);
    expect(verdict).toMatchObject({ ok: false, reason: "TOKEN_INVALID" });
  });

  it("marks an unknown kid, so a JWKS user may refetch", () => {
    expect(checkSignatureAndClaims(signatureOptions, es256Token(claims(), { kid: "nope" }), NOW)).toMatchObject({
      unknownKid: true,
    });
  });

  it("refuses a non-canonical base64url spelling of any segment", () => {
    const token = es256Token();
    const [h, p, s] = token.split(".") as [string, string, string];
    // The last character of a segment can carry unused bits: flip them and the bytes stay the same.
    const respell = (segment: string) => {
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      const last = alphabet.indexOf(segment.at(-1)!);
      const bits = [0, 0, 4, 2][segment.length % 4]!; // unused bits in the last character
      return bits === 0 ? undefined : segment.slice(0, -1) + alphabet[last ^ 1];
    };
    let tried = 0;
    for (const spelled of [
      [respell(h), p, s],
      [h, respell(p), s],
      [h, p, respell(s)],
    ]) {
      if (spelled.includes(undefined)) continue;
      tried++;
      expect(checkSignatureAndClaims(signatureOptions, spelled.join("."), NOW).ok).toBe(false);
    }
    expect(tried).toBeGreaterThan(0);
  });
});

describe("checkAccessToken", () => {
  const noRevocations: RevocationLookup = { has: () => false, notBefore: () => undefined };

  it("checks revocation before expiry and caches only the signature verdict", () => {
    const cache = new VerifiedTokenCache(10);
    const token = es256Token();
    let revoked = false;
    const options = { keys, expected, cache, revocations: { ...noRevocations, has: () => revoked } };
    expect(checkAccessToken(options, token, NOW).ok).toBe(true);
    expect(cache.size).toBe(1);
    revoked = true;
    expect(checkAccessToken(options, token, NOW + 3_600_000)).toMatchObject({ ok: false, reason: "SESSION_REVOKED" });
    revoked = false;
    expect(checkAccessToken(options, token, NOW + 3_600_000)).toMatchObject({ ok: false, reason: "TOKEN_EXPIRED" });
    // A verdict is not reused past exp: the entry is gone.
    expect(cache.size).toBe(0);
  });

  it("a cached token's signature on another payload or header is checked, not taken from the cache", () => {
    const cache = new VerifiedTokenCache(10);
    const options = { keys, expected, cache, revocations: noRevocations };
    const token = es256Token(claims({ role: "user" }));
    expect(checkAccessToken(options, token, NOW).ok).toBe(true);
    const [header, payload, signature] = token.split(".");
    const admin = b64({ ...JSON.parse(Buffer.from(payload!, "base64url").toString()), role: "admin" });
    expect(checkAccessToken(options, `${header}.${admin}.${signature}`, NOW)).toMatchObject({
      ok: false,
      reason: "TOKEN_INVALID",
    });
    const otherHeader = b64({ alg: "ES256", typ: "at+jwt", kid: "k1", x: 1 });
    expect(checkAccessToken(options, `${otherHeader}.${payload}.${signature}`, NOW)).toMatchObject({ reason: "TOKEN_INVALID" });
    expect(checkAccessToken(options, token, NOW).ok).toBe(true);
    expect(cache.size).toBe(1);
  });

  it("a bad signature is TOKEN_INVALID even for a revoked session and an expired token", () => {
    const token = es256Token(claims({ exp: Math.floor(NOW / 1000) - 60 }));
    const [h, p] = token.split(".");
    const options = { keys, expected, revocations: { ...noRevocations, has: () => true } };
    expect(checkAccessToken(options, token, NOW)).toMatchObject({ reason: "SESSION_REVOKED" });
    expect(checkAccessToken(options, `${h}.${p}.${"A".repeat(86)}`, NOW)).toMatchObject({ reason: "TOKEN_INVALID" });
  });

  it("the clock tolerance extends exp and nbf alike, and the cache keeps a verdict for as long", () => {
    const exp = Math.floor(NOW / 1000) + 10;
    const token = es256Token(claims({ exp, nbf: Math.floor(NOW / 1000) + 3 }));
    const cache = new VerifiedTokenCache(10);
    expect(checkAccessToken({ keys, expected }, token, NOW)).toMatchObject({ message: "token not yet valid" });
    const tolerant = { keys, expected, cache, clockToleranceSec: 5 };
    expect(checkAccessToken(tolerant, token, NOW).ok).toBe(true);
    expect(checkAccessToken(tolerant, token, exp * 1000 + 4_999).ok).toBe(true);
    expect(cache.size).toBe(1);
    expect(checkAccessToken(tolerant, token, exp * 1000 + 5_000)).toMatchObject({ reason: "TOKEN_EXPIRED" });
  });

  it("a token issued before its user's not-before is TOKEN_EXPIRED, after revocation, cached verdict or not", () => {
    const notBefore = NOW + 700;
    const sub = randomUUID();
    const cache = new VerifiedTokenCache(10);
    const token = es256Token(claims({ sub }));
    const revocations = { has: () => false, notBefore: (userId: string) => (userId === sub ? notBefore : undefined) };
    expect(checkAccessToken({ keys, expected, cache }, token, NOW).ok).toBe(true);
    expect(checkAccessToken({ keys, expected, cache, revocations }, token, NOW)).toMatchObject({ reason: "TOKEN_EXPIRED" });
    const renewed = es256Token(claims({ sub, iat: issuedAt(NOW + 800, notBefore) }));
    expect(checkAccessToken({ keys, expected, revocations }, renewed, NOW + 800).ok).toBe(true);
    expect(checkAccessToken({ keys, expected, revocations: { ...revocations, has: () => true } }, token, NOW)).toMatchObject({
      reason: "SESSION_REVOKED",
    });
  });
});

describe("the per-user not-before rule", () => {
  it("refuses iat < ceil((not-before + margin) / 1000); signers that know it issue exactly that iat", () => {
    const notBefore = Date.UTC(2026, 0, 1, 0, 0, 0, 700);
    const first = Math.ceil((notBefore + NOT_BEFORE_MARGIN_MS) / 1000);
    expect(firstAcceptedIat(notBefore)).toBe(first);
    expect(issuedBeforeNotBefore(first - 1, notBefore)).toBe(true);
    expect(issuedBeforeNotBefore(first, notBefore)).toBe(false);
    expect(issuedBeforeNotBefore(0, undefined)).toBe(false);
    expect(issuedAt(notBefore + 1, notBefore)).toBe(first);
    expect(issuedAt(notBefore + 10_000, notBefore)).toBe(Math.floor((notBefore + 10_000) / 1000));
    expect(issuedAt(notBefore, undefined)).toBe(Math.floor(notBefore / 1000));
  });
});

describe("VerifiedTokenCache", () => {
  it("stays within its size, dropping expired entries and then the oldest", () => {
    const cache = new VerifiedTokenCache(3);
    const c = claims() as never;
    cache.set("a", c, NOW + 10, NOW);
    cache.set("b", c, NOW + 1_000, NOW);
    cache.set("c", c, NOW + 1_000, NOW);
    cache.set("d", c, NOW + 1_000, NOW + 20);
    expect(cache.size).toBe(3);
    expect(cache.get("a", NOW + 20)).toBeUndefined();
    expect(cache.get("d", NOW + 20)).toBe(c);
    cache.set("e", c, NOW + 1_000, NOW + 20);
    expect(cache.get("b", NOW + 20)).toBeUndefined();
    cache.set("x", c, NOW, NOW);
    expect(cache.get("x", NOW - 1)).toBeUndefined();
  });
});

describe("parseBearer", () => {
  it.each([
    [undefined, "TOKEN_MISSING"],
    ["", "TOKEN_MISSING"],
    [[], "TOKEN_INVALID"],
    [["Bearer a.b.c"], "TOKEN_INVALID"],
    [["Bearer a.b.c", "Bearer a.b.c"], "TOKEN_INVALID"],
    ["Basic a.b.c", "TOKEN_INVALID"],
    ["Bearer a.b.c=", "TOKEN_INVALID"],
    ["Bearer a.b", "TOKEN_INVALID"],
    ["Bearer a+b.c.d", "TOKEN_INVALID"],
  ])("%j is refused with %s", (header, reason) => {
    expect(parseBearer(header as string)).toMatchObject({ ok: false, reason });
  });

  it("accepts the scheme in any case and says when the token itself is malformed", () => {
    expect(parseBearer("bearer a.b.c")).toEqual({ ok: true, token: "a.b.c" });
    expect(parseBearer("Bearer abc")).toMatchObject({
      reason: "TOKEN_INVALID",
      message: "the bearer token is malformed: an access token is three base64url segments (header.payload.signature)",
    });
  });

  it("says whether the scheme or the token is wrong, never echoing the header", () => {
    expect(parseBearer("Basic abc")).toMatchObject({
      reason: "TOKEN_INVALID",
      message: "the Authorization scheme is not Bearer: send 'Authorization: Bearer <access token>'",
    });
    expect(parseBearer("abc")).toMatchObject({
      message: "the Authorization scheme is not Bearer: send 'Authorization: Bearer <access token>'",
    });
    // What `curl -H "Authorization: Bearer $TOKEN"` sends when TOKEN is unset.
    expect(parseBearer("Bearer")).toMatchObject({
      reason: "TOKEN_INVALID",
      message: "the bearer token is empty: send 'Authorization: Bearer <access token>'",
    });
    expect(parseBearer("Bearer   ")).toMatchObject({
      message: "the bearer token is empty: send 'Authorization: Bearer <access token>'",
    });
  });
});
