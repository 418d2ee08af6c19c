import { createSecretKey, generateKeyPairSync, randomBytes, randomUUID, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { P256_ORDER, VerifiedTokenCache, checkAccessToken, checkSignatureAndClaims, parseBearer, type VerificationKey } from "./index.js";

const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const es256: VerificationKey = { alg: "ES256", key: publicKey };
const secret = createSecretKey(randomBytes(32));
const hs256: VerificationKey = { alg: "HS256", key: secret };
const expected = { issuer: "warden", audience: "warden" };
const NOW = 1_800_000_000_000;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

function claims(overrides: Record<string, unknown> = {}) {
  const iat = Math.floor(NOW / 1000);
  return { iss: "warden", aud: "warden", sub: randomUUID(), sid: randomUUID(), jti: randomUUID(), iat, exp: iat + 900, role: "user", ...overrides };
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

describe("checkSignatureAndClaims", () => {
  it("accepts a token signed with the key its kid names", () => {
    const verdict = checkSignatureAndClaims(es256Token(), keys, expected, NOW);
    expect(verdict.ok).toBe(true);
  });

  it("refuses the high-S twin of a valid signature", () => {
    const token = es256Token();
    const [h, p, s] = token.split(".") as [string, string, string];
    const bytes = Buffer.from(s, "base64url");
    const high = (P256_ORDER - BigInt(`0x${bytes.subarray(32).toString("hex")}`)).toString(16).padStart(64, "0");
    const twin = `${h}.${p}.${Buffer.concat([bytes.subarray(0, 32), Buffer.from(high, "hex")]).toString("base64url")}`;
    expect(checkSignatureAndClaims(twin, keys, expected, NOW)).toMatchObject({ ok: false, reason: "TOKEN_INVALID" });
  });

  it("refuses an aud array even when it contains ours", () => {
    const verdict = checkSignatureAndClaims(es256Token(claims({ aud: ["warden"] })), keys, expected, NOW);
    expect(verdict).toMatchObject({ ok: false, message: "wrong audience" });
  });

  it("refuses a header naming another algorithm than the key's", () => {
    const verdict = checkSignatureAndClaims(es256Token(claims(), { kid: "h1" }), keys, expected, NOW);
    expect(verdict).toMatchObject({ ok: false, reason: "TOKEN_INVALID" });
  });

  it("marks an unknown kid, so a JWKS user may refetch", () => {
    expect(checkSignatureAndClaims(es256Token(claims(), { kid: "nope" }), keys, expected, NOW)).toMatchObject({ unknownKid: true });
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
      expect(checkSignatureAndClaims(spelled.join("."), keys, expected, NOW).ok).toBe(false);
    }
    expect(tried).toBeGreaterThan(0);
  });
});

describe("checkAccessToken", () => {
  it("checks revocation before expiry and caches only the signature verdict", () => {
    const cache = new VerifiedTokenCache(10);
    const token = es256Token();
    let revoked = false;
    const options = { keys, expected, cache, isSessionRevoked: () => revoked };
    expect(checkAccessToken(options, token, NOW).ok).toBe(true);
    expect(cache.size).toBe(1);
    revoked = true;
    expect(checkAccessToken(options, token, NOW + 3_600_000)).toMatchObject({ ok: false, reason: "SESSION_REVOKED" });
    revoked = false;
    expect(checkAccessToken(options, token, NOW + 3_600_000)).toMatchObject({ ok: false, reason: "TOKEN_EXPIRED" });
  });
});

describe("parseBearer", () => {
  it.each([
    [undefined, "TOKEN_MISSING"],
    ["", "TOKEN_MISSING"],
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
    expect(parseBearer("Bearer abc")).toMatchObject({ message: "the bearer token is malformed" });
  });
});
