import { createHmac, hkdfSync, randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthError } from "./errors.js";
import { createAuth, type Auth } from "./context.js";
import { createKeyRing, es256KeyFromPem, generateEs256PrivateKeyPem, hs256KeyFromSecret, type JwtKey } from "./keys.js";
import { rotateRefreshToken } from "./rotate.js";
import { createTestAuth, createTestClock, TEST_AUDIENCE, TEST_ISSUER, type TestAuth } from "./testing.js";
import { signup } from "./users.js";

/**
 * The refresh chain must not follow from a refresh token plus every server key: computing a
 * successor takes the random salt that only the parent's row in the database holds.
 */
const clock = createTestClock();
const hsSecret = randomBytes(32).toString("base64url");
const jwtKey = hs256KeyFromSecret(hsSecret);
const dataKey = randomBytes(32);
let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth({ clock, keys: createKeyRing(jwtKey), dataKeys: { current: dataKey, previous: [] } });
});
afterAll(() => t.close());

const newSession = (auth: Auth) =>
  signup(auth, { email: `chain-${randomUUID()}@example.com`, password: "correct horse battery" }, {});

function reasonOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "OK",
    (err: unknown) => (err instanceof AuthError ? err.reason : String(err)),
  );
}

/** Every secret an attacker holding the JWT keys (an HS256 verifier) and the data key can derive. */
function keysAnAttackerCanDerive(key: JwtKey, data: Buffer): Buffer[] {
  const jwtMaterial = key.alg === "HS256" ? key.signingKey!.export() : key.signingKey!.export({ format: "der", type: "pkcs8" });
  const hkdf = (material: Buffer, info: string) => Buffer.from(hkdfSync("sha256", material, Buffer.alloc(0), info, 32));
  const infos = ["warden:refresh-successor", "warden-data-key:refresh-successor", "refresh-successor"];
  return [jwtMaterial, data, ...infos.flatMap((info) => [hkdf(jwtMaterial, info), hkdf(data, info)])];
}

/** HMAC(key, parent) as the derivation was before the salt, and the salted one with the salt left out. */
function derivationsWithoutTheDatabase(keys: Buffer[], parent: string): string[] {
  const messages = [
    `warden-refresh-successor\0${parent}`,
    parent,
    `warden-refresh-successor\0\0${parent}`,
    `warden:refresh-successor\0\0${parent}`,
  ];
  return keys.flatMap((k) => messages.map((m) => createHmac("sha256", k).update(m).digest("base64url")));
}

describe("refresh-chain secrecy", () => {
  it("a refresh token and every server key do not give its successor: no offline derivation matches or refreshes", async () => {
    const victim = await newSession(t.auth);
    const stolen = victim.refreshToken; // R0, e.g. from an old backup or log
    const r1 = await rotateRefreshToken(t.auth, stolen);
    const candidates = derivationsWithoutTheDatabase(keysAnAttackerCanDerive(jwtKey, dataKey), stolen);
    expect(candidates).not.toContain(r1.refreshToken);

    // Past the grace window the victim's next rotation happens; the attacker tries each candidate.
    clock.advance(t.auth.settings.refreshReuseGraceMs + 1);
    for (const candidate of candidates)
      expect(await reasonOf(rotateRefreshToken(t.auth, candidate))).toBe("REFRESH_TOKEN_INVALID");
    // The chain itself is intact: the victim's real successor still refreshes.
    expect(await reasonOf(rotateRefreshToken(t.auth, r1.refreshToken))).toBe("OK");
  });

  it("each rotation stores a fresh random salt of at least 128 bits in the parent's row", async () => {
    const a = await newSession(t.auth);
    const b = await newSession(t.auth);
    const [ra, rb] = [await rotateRefreshToken(t.auth, a.refreshToken), await rotateRefreshToken(t.auth, b.refreshToken)];
    const rows = await t.database.sql<{ successor_salt: string | null }[]>`
      select successor_salt from refresh_tokens where session_id in (${a.sessionId}, ${b.sessionId}) and rotated_at is not null`;
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(Buffer.from(row.successor_salt ?? "", "base64url").length).toBeGreaterThanOrEqual(16);
    expect(rows[0]!.successor_salt).not.toBe(rows[1]!.successor_salt);
    expect(ra.refreshToken).not.toBe(rb.refreshToken);
  });
});

describe("grace retries survive key rotations", () => {
  const settings = { issuer: TEST_ISSUER, audience: TEST_AUDIENCE };

  it("across a JWT signing-key rotation: the retry on an instance with a new current key gets the same successor", async () => {
    const oldPem = generateEs256PrivateKeyPem();
    const oldKey = es256KeyFromPem(oldPem);
    const dataKeys = { current: randomBytes(32), previous: [] };
    const before = createAuth({ db: t.database.db, clock, keys: createKeyRing(oldKey), dataKeys, settings });
    const verifyOnly = { kid: oldKey.kid, alg: oldKey.alg, verifyKey: oldKey.verifyKey };
    const after = createAuth({
      db: t.database.db,
      clock,
      keys: createKeyRing(es256KeyFromPem(generateEs256PrivateKeyPem()), [verifyOnly]),
      dataKeys,
      settings,
    });
    const session = await newSession(before);
    const first = await rotateRefreshToken(before, session.refreshToken);
    clock.advance(1_000);
    const retry = await rotateRefreshToken(after, session.refreshToken);
    expect(retry.refreshToken).toBe(first.refreshToken);
    expect(retry.sessionId).toBe(session.sessionId);
    expect(await reasonOf(rotateRefreshToken(after, retry.refreshToken))).toBe("OK");
  });

  it("across a WARDEN_DATA_KEY rotation: the retry under the new key, the old one previous, gets the same successor", async () => {
    const oldData = randomBytes(32);
    const keys = createKeyRing(jwtKey);
    const before = createAuth({ db: t.database.db, clock, keys, dataKeys: { current: oldData, previous: [] }, settings });
    const after = createAuth({
      db: t.database.db,
      clock,
      keys,
      dataKeys: { current: randomBytes(32), previous: [oldData] },
      settings,
    });
    const forgetful = createAuth({
      db: t.database.db,
      clock,
      keys,
      dataKeys: { current: randomBytes(32), previous: [] },
      settings,
    });

    const session = await newSession(before);
    const first = await rotateRefreshToken(before, session.refreshToken);
    clock.advance(1_000);
    const retry = await rotateRefreshToken(after, session.refreshToken);
    expect(retry.refreshToken).toBe(first.refreshToken);
    // The next rotation is under the new current key and retries there too.
    const second = await rotateRefreshToken(after, retry.refreshToken);
    expect((await rotateRefreshToken(after, retry.refreshToken)).refreshToken).toBe(second.refreshToken);

    // Without the previous key the retry cannot be recomputed: it is taken for a reuse.
    const other = await newSession(before);
    await rotateRefreshToken(before, other.refreshToken);
    expect(await reasonOf(rotateRefreshToken(forgetful, other.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
  });
});
