import { randomBytes, randomUUID } from "node:crypto";
import { P256_ORDER } from "@warden/access-token";
import { ACCESS_TOKEN_TYPE } from "@warden/contracts";
import jwt from "jsonwebtoken";
import { describe, expect, it } from "vitest";
import { signAccessToken, verifyAccessToken } from "./access-tokens.js";
import { createKeyRing, hs256KeyFromSecret, type KeyRing } from "./keys.js";
import { createTestKeyRing, TEST_AUDIENCE, TEST_ISSUER } from "./testing.js";

const settings = { issuer: TEST_ISSUER, audience: TEST_AUDIENCE, accessTokenTtlMs: 5 * 60_000 };
const now = Date.UTC(2026, 0, 1, 12);
const subject = () => ({ userId: randomUUID(), sessionId: randomUUID(), role: "user" as const });

const rings: Array<[string, () => KeyRing]> = [
  ["ES256", createTestKeyRing],
  ["HS256", () => createKeyRing(hs256KeyFromSecret(randomBytes(32)))],
];

describe.each(rings)("access tokens signed with %s", (alg, ring) => {
  it("are JWS compact tokens another JWT library verifies: header alg, typ and kid, and the claims signed", () => {
    const keys = ring();
    const who = subject();
    const { token, expiresAt } = signAccessToken(keys, settings, who, now);
    const [header] = token.split(".");
    expect(JSON.parse(Buffer.from(header!, "base64url").toString())).toEqual({
      alg,
      typ: ACCESS_TOKEN_TYPE,
      kid: keys.current.kid,
    });
    const claims = jwt.verify(token, keys.current.verifyKey, {
      algorithms: [alg as jwt.Algorithm],
      issuer: TEST_ISSUER,
      audience: TEST_AUDIENCE,
      clockTimestamp: now / 1000,
    }) as jwt.JwtPayload;
    expect(claims).toEqual({
      iss: TEST_ISSUER,
      aud: TEST_AUDIENCE,
      sub: who.userId,
      sid: who.sessionId,
      jti: expect.any(String),
      iat: now / 1000,
      exp: now / 1000 + 300,
      role: "user",
    });
    expect(expiresAt).toBe(now + 300_000);
    expect(verifyAccessToken(keys, settings, token, { now }).sid).toBe(who.sessionId);
  });

  it("a claim string with characters JSON escapes round-trips", () => {
    const keys = ring();
    const odd = `"quoted" \\ back ${"\u2028"} é ${"\u0000"}`;
    const { token } = signAccessToken(keys, { ...settings, issuer: odd }, subject(), now);
    expect(verifyAccessToken(keys, { ...settings, issuer: odd }, token, { now }).iss).toBe(odd);
  });
});

describe("ES256 signatures", () => {
  it("always carry the low s of the (r, s) / (r, n - s) twins", () => {
    const keys = createTestKeyRing();
    // Half of raw ECDSA signatures have a high s: 200 tokens all low by chance is 2^-200.
    for (let i = 0; i < 200; i++) {
      const { token } = signAccessToken(keys, settings, subject(), now);
      const signature = Buffer.from(token.slice(token.lastIndexOf(".") + 1), "base64url");
      expect(signature).toHaveLength(64);
      expect(BigInt(`0x${signature.subarray(32).toString("hex")}`) <= P256_ORDER >> 1n).toBe(true);
      expect(verifyAccessToken(keys, settings, token, { now }).role).toBe("user");
    }
  });
});
