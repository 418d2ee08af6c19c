import { randomUUID } from "node:crypto";
import { revocationUntil, startFeedKeeper, type FeedKeeper } from "@warden/auth";
import { TEST_AUDIENCE, TEST_ISSUER } from "@warden/auth/testing";
import { createVerifier, isVerifierError, publishRevocations, verifyRequest, type Verifier } from "@warden/verifier";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWardenClient, memoryStore } from "./node.js";
import { sessionOf, startCountingServer, type CountingServer } from "@warden/testing";

// A worker process in the monorepo: gets tokens from Warden with @warden/client, checks the
// tokens its own callers send with @warden/verifier, hears revocations through the feed.
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = `{warden-t-${randomUUID().slice(0, 8)}}`;
const redis = new Redis(redisUrl);
let s: CountingServer;
let verifier: Verifier;
let keeper: FeedKeeper;

beforeAll(async () => {
  s = await startCountingServer();
  // Until the outbox worker exists, the revoking process publishes to the feed itself.
  s.t.auth.afterRevocation = (event, sessionIds) =>
    void publishRevocations(redis, sessionIds, revocationUntil(s.t.auth, event.at), prefix);
  // What the admin worker runs: marks the feed complete (rebuilt from PostgreSQL).
  keeper = startFeedKeeper({
    db: s.t.auth.db,
    redis,
    prefix,
    accessTokenTtlMs: s.t.auth.settings.accessTokenTtlMs,
    logger: { info() {}, warn() {} },
  });
  verifier = createVerifier({
    jwksUrl: `${s.url}/.well-known/jwks.json`,
    issuer: TEST_ISSUER,
    audience: TEST_AUDIENCE,
    redisUrl,
    queuePrefix: prefix,
  });
  await verifier.ready();
});
afterAll(async () => {
  await verifier?.close();
  await keeper?.close();
  await s?.close();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

async function signedInUser() {
  const warden = createWardenClient({ url: s.url, store: memoryStore() });
  const result = await sessionOf(warden.signup({ email: `v-${randomUUID()}@example.com`, password: "correct horse battery" }));
  return { warden, result };
}

function reasonOf(token: string) {
  try {
    verifier.verifySync(token);
    return undefined;
  } catch (error) {
    return isVerifierError(error) ? error.reason : String(error);
  }
}

describe("@warden/verifier against a running server", () => {
  it("accepts a token the server issued, with the typed principal", async () => {
    const { result } = await signedInUser();
    const principal = await verifyRequest(verifier, `Bearer ${result.accessToken}`);
    expect(principal).toMatchObject({ userId: result.user.id, sessionId: result.sessionId, role: "user" });
  });

  it("refuses tampered, wrong-audience and expired tokens with the server's reasons", async () => {
    const { result } = await signedInUser();
    const [h, p, sig] = result.accessToken.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, role: "admin" })).toString("base64url")}.${sig}`;
    expect(reasonOf(tampered)).toBe("TOKEN_INVALID");

    const elsewhere = createVerifier({
      jwksUrl: `${s.url}/.well-known/jwks.json`,
      issuer: TEST_ISSUER,
      audience: "another-service",
    });
    await elsewhere.ready();
    await expect(elsewhere.verify(result.accessToken)).rejects.toMatchObject({ reason: "TOKEN_INVALID" });
    await elsewhere.close();

    // The same token, read by a verifier whose clock is past exp + tolerance.
    const later = createVerifier({
      jwksUrl: `${s.url}/.well-known/jwks.json`,
      issuer: TEST_ISSUER,
      audience: TEST_AUDIENCE,
      now: () => result.accessTokenExpiresAt + 6_000,
    });
    await later.ready();
    await expect(later.verify(result.accessToken)).rejects.toMatchObject({ reason: "TOKEN_EXPIRED" });
    await later.close();
    // And the server agrees on the reasons.
    const res = await s.server.get("/trpc/auth.me", undefined, { authorization: `Bearer ${tampered}` });
    expect(res.body.error.data.reason).toBe("TOKEN_INVALID");
  });

  it("refuses a revoked session's token after the admin revocation's event, even from its cache", async () => {
    const admin = createWardenClient({ url: s.url, store: memoryStore() });
    await admin.login(await s.makeAdmin());
    const { result } = await signedInUser();
    expect(verifier.verifySync(result.accessToken).sessionId).toBe(result.sessionId); // now cached

    await admin.api.admin.revokeUser.mutate({ userId: result.user.id, reason: "compromised" });
    const deadline = Date.now() + 5_000;
    while (!reasonOf(result.accessToken) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    expect(reasonOf(result.accessToken)).toBe("SESSION_REVOKED");
    // Another user's token is unaffected.
    const other = await signedInUser();
    expect(reasonOf(other.result.accessToken)).toBeUndefined();
  });
});
