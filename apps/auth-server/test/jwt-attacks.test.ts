import { createHmac, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { createKeyRing, hs256KeyFromSecret, signAccessToken, verifyAccessToken, type JwtAlgorithm, type KeyRing } from "@warden/auth";
import { createTestAuth, createTestClock, TEST_AUDIENCE, TEST_ISSUER, type TestAuth } from "@warden/auth/testing";
import { email, PASSWORD, startTestServer, type TestServer } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let t: TestAuth;
let server: TestServer;
let realToken: string;
let claims: Record<string, unknown>;
let kid: string;
let privateKey: KeyObject;

const P256_ORDER = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
const b64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
/** ES256 with the low s, as Warden issues them: a refusal below is then never the high-S check's doing. */
const es256 = (key: KeyObject) => (input: string) => {
  const sig = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
  const s = BigInt(`0x${sig.subarray(32).toString("hex")}`);
  if (s <= P256_ORDER >> 1n) return sig;
  return Buffer.concat([sig.subarray(0, 32), Buffer.from((P256_ORDER - s).toString(16).padStart(64, "0"), "hex")]);
};

/** A JWT with any header and payload, signed by `signer` (or unsigned). */
function craft(header: Record<string, unknown>, payload: Record<string, unknown>, signer?: (input: string) => Buffer): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${signer ? signer(input).toString("base64url") : ""}`;
}
const goodHeader = () => ({ alg: "ES256", typ: "at+jwt", kid });
const withRealKey = (header: Record<string, unknown>, payload: Record<string, unknown> = claims) => craft(header, payload, es256(privateKey));

async function me(authorization: string) {
  return server.get("/trpc/auth.me", undefined, { authorization });
}
async function reasonFor(token: string) {
  const res = await me(`Bearer ${token}`);
  return { status: res.status, reason: res.body?.error?.data?.reason as string | undefined };
}
/** The domain check alone, for tokens the HTTP layer already refuses by shape. */
function domainReason(token: string): string {
  try {
    verifyAccessToken(t.auth.keys, { issuer: TEST_ISSUER, audience: TEST_AUDIENCE }, token, { now: Date.now() });
    return "ACCEPTED";
  } catch (error) {
    return (error as { reason?: string }).reason ?? "THROWN";
  }
}

beforeAll(async () => {
  t = await createTestAuth();
  server = await startTestServer(t.auth);
  const signup = await server.post("/trpc/auth.signup", { email: email("jwt"), password: PASSWORD });
  realToken = signup.body.result.data.accessToken;
  claims = JSON.parse(Buffer.from(realToken.split(".")[1]!, "base64url").toString());
  kid = t.auth.keys.current.kid;
  privateKey = t.auth.keys.current.signingKey;
});
afterAll(async () => {
  await server.close();
  await t.close();
});

describe("JWT attacks on auth.me are all TOKEN_INVALID (401)", () => {
  it("the control: a token crafted here with the real key and claims is accepted", async () => {
    expect((await reasonFor(withRealKey(goodHeader()))).status).toBe(200);
  });

  it("alg none, None and NONE, with or without a signature", async () => {
    for (const alg of ["none", "None", "NONE", "nOnE"]) {
      const unsigned = craft({ ...goodHeader(), alg }, claims);
      expect(await reasonFor(unsigned)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
      expect(domainReason(unsigned)).toBe("TOKEN_INVALID");
      const withSig = `${unsigned}${realToken.split(".")[2]}`;
      expect(await reasonFor(withSig)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    }
  });

  it("HS256 signed with the ES256 public key (PEM, DER or JWK x) as the secret", async () => {
    const publicKey = createPublicKey(privateKey);
    const secrets = [
      publicKey.export({ format: "pem", type: "spki" }),
      publicKey.export({ format: "der", type: "spki" }),
      Buffer.from(String(publicKey.export({ format: "jwk" }).x)),
    ];
    for (const secret of secrets) {
      const forged = craft({ ...goodHeader(), alg: "HS256" }, claims, (input) => createHmac("sha256", secret).update(input).digest());
      expect(await reasonFor(forged)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    }
  });

  it("kid injection: path traversal, SQL, missing, non-string, oversized", async () => {
    const kids: unknown[] = ["../../../../dev/null", "/etc/passwd", "' OR '1'='1", "x'; DROP TABLE users; --", undefined, 42, ["a"], "k".repeat(10_000)];
    for (const bad of kids) {
      const header: Record<string, unknown> = { ...goodHeader(), kid: bad };
      if (bad === undefined) delete header.kid;
      expect(await reasonFor(withRealKey(header)), String(bad).slice(0, 30)).toMatchObject({ status: 401, reason: "TOKEN_INVALID" });
    }
  });

  it("kid length: 129 characters are refused even when the ring holds that kid and the token is under 4 KB; an unknown 128-character kid is refused as unknown", async () => {
    const ringWithKid = (length: number) =>
      createKeyRing({ kid: "k".repeat(length), alg: "ES256", signingKey: privateKey, verifyKey: createPublicKey(privateKey) });
    const check = (ring: KeyRing, token: string) => {
      try {
        verifyAccessToken(ring, { issuer: TEST_ISSUER, audience: TEST_AUDIENCE }, token, { now: Date.now() });
        return "ACCEPTED";
      } catch (error) {
        return (error as { reason?: string }).reason ?? "THROWN";
      }
    };
    const subject = { userId: "u", sessionId: "s", role: "user" } as const;
    const at128 = ringWithKid(128);
    const at129 = ringWithKid(129);
    const token128 = signAccessToken(at128, t.auth.settings, subject, Date.now()).token;
    const token129 = signAccessToken(at129, t.auth.settings, subject, Date.now()).token;
    // Far under the 4 KB cap, so only the kid limit can refuse it.
    expect(token129.length).toBeLessThan(1024);
    expect(check(at128, token128)).toBe("ACCEPTED");
    expect(check(at129, token129)).toBe("TOKEN_INVALID");

    // 128 characters pass the limit (above), so this one is refused because no key has that kid:
    // it is signed by the very key the ring holds under another 128-character kid.
    const unknown = { ...goodHeader(), kid: "u".repeat(128) };
    expect(check(at128, craft(unknown, claims, es256(privateKey)))).toBe("TOKEN_INVALID");
    expect(await reasonFor(withRealKey(unknown))).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    expect(await reasonFor(withRealKey({ ...goodHeader(), kid: "k".repeat(129) }))).toEqual({ status: 401, reason: "TOKEN_INVALID" });
  });

  it("jku, x5u and embedded jwk headers naming an attacker's key are never followed", async () => {
    const attacker = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const jwk = attacker.publicKey.export({ format: "jwk" });
    const headers = [
      { ...goodHeader(), jku: "http://127.0.0.1:1/jwks.json" },
      { ...goodHeader(), x5u: "http://127.0.0.1:1/cert.pem" },
      { ...goodHeader(), jwk },
      { alg: "ES256", typ: "at+jwt", jwk, kid: "attacker" },
    ];
    for (const header of headers) {
      expect(await reasonFor(craft(header, claims, es256(attacker.privateKey)))).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    }
  });

  it("a crit header is refused even when the real key signed it", async () => {
    expect(await reasonFor(withRealKey({ ...goodHeader(), crit: ["exp"] }))).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    expect(await reasonFor(withRealKey({ ...goodHeader(), crit: [] }))).toEqual({ status: 401, reason: "TOKEN_INVALID" });
  });

  it("missing or wrong-typed exp, nbf and iat; nbf in the future", async () => {
    const now = Math.floor(Date.now() / 1000);
    const variants: Record<string, unknown>[] = [
      { ...claims, exp: undefined },
      { ...claims, exp: String(claims.exp) },
      { ...claims, exp: (claims.exp as number) + 0.5 },
      { ...claims, exp: null },
      { ...claims, iat: undefined },
      { ...claims, iat: String(claims.iat) },
      { ...claims, nbf: now + 3600 },
      { ...claims, nbf: "0" },
    ];
    for (const payload of variants) {
      const cleaned = JSON.parse(JSON.stringify(payload));
      expect(await reasonFor(withRealKey(goodHeader(), cleaned)), JSON.stringify(cleaned)).toMatchObject({ status: 401, reason: "TOKEN_INVALID" });
    }
  });

  it("aud as an array (even containing ours), iss in another case, a refresh-style typ", async () => {
    const cases: [Record<string, unknown>, Record<string, unknown>][] = [
      [goodHeader(), { ...claims, aud: [TEST_AUDIENCE] }],
      [goodHeader(), { ...claims, aud: [TEST_AUDIENCE, "other"] }],
      [goodHeader(), { ...claims, iss: TEST_ISSUER.toUpperCase() }],
      [goodHeader(), { ...claims, role: "superuser" }],
      [{ ...goodHeader(), typ: "JWT" }, claims],
      [{ ...goodHeader(), typ: undefined }, claims],
    ];
    for (const [header, payload] of cases) {
      const token = withRealKey(JSON.parse(JSON.stringify(header)), payload);
      expect(await reasonFor(token), JSON.stringify([header, payload])).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    }
  });

  it("Authorization header forms: two headers refused, lowercase `bearer` accepted, other schemes refused", async () => {
    expect((await me(`bearer ${realToken}`)).status).toBe(200);
    expect((await me(`BEARER ${realToken}`)).status).toBe(200);
    for (const header of [`Basic ${realToken}`, realToken, `Bearer`, `Bearer  `, `Bearer ${realToken} extra`, `Token ${realToken}`]) {
      expect((await me(header)).body.error.data.reason, header.slice(0, 12)).toMatch(/^TOKEN_(INVALID|MISSING)$/);
    }
    const res = await fetch(`${server.url}/trpc/auth.me`, { headers: [["authorization", `Bearer ${realToken}`], ["authorization", `Bearer ${realToken}`]] });
    // fetch folds duplicates into one "a, b" value; the raw-socket case is in server.test.ts.
    expect(res.status).toBe(401);
  });

  it("a 20 KB Authorization header is refused (401 or 431), never a 500", async () => {
    const huge = `Bearer ${"a".repeat(10_000)}.${"b".repeat(10_000)}.c`;
    const res = await fetch(`${server.url}/trpc/auth.me`, { headers: { authorization: huge } });
    expect([401, 431]).toContain(res.status);
    const big = await reasonFor(`${"a".repeat(3000)}.${"b".repeat(3000)}.c`);
    expect(big).toEqual({ status: 401, reason: "TOKEN_INVALID" });
  });

  it("non-base64url characters, padding and garbage segments", async () => {
    const [h, p, s] = realToken.split(".") as [string, string, string];
    const variants = [`${h}.${p}.${s}=`, `${h}=.${p}.${s}`, `${h}.${p}+.${s}`, `${h}.${p}/.${s}`, `${h}.${p}`, `${h}.${p}.${s}.x`, `${h}..${s}`, `é.${p}.${s}`, `${h}.${p}.${s.slice(0, -1)}`];
    for (const token of variants) {
      expect(await reasonFor(token), token.slice(-8)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    }
    // Padding the signature is refused by the domain check too, not only by the HTTP parser.
    expect(domainReason(`${h}.${p}.${s}=`)).toBe("TOKEN_INVALID");
  });

  it("ECDSA malleability: the high-S twin and a DER-encoded signature are refused; tokens are issued low-S", async () => {
    const [h, p, s] = realToken.split(".") as [string, string, string];
    const sig = Buffer.from(s, "base64url");
    expect(sig.length).toBe(64);
    const low = BigInt(`0x${sig.subarray(32).toString("hex")}`);
    expect(low <= P256_ORDER >> 1n).toBe(true);
    const high = Buffer.from((P256_ORDER - low).toString(16).padStart(64, "0"), "hex");
    const twin = `${h}.${p}.${Buffer.concat([sig.subarray(0, 32), high]).toString("base64url")}`;
    expect(await reasonFor(twin)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    const der = sign("sha256", Buffer.from(`${h}.${p}`), { key: privateKey, dsaEncoding: "der" }).toString("base64url");
    expect(await reasonFor(`${h}.${p}.${der}`)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    // Many signatures: every issued token is low-S (the signer normalises the half that is not).
    for (let i = 0; i < 64; i++) {
      const { token } = signAccessToken(t.auth.keys, t.auth.settings, { userId: "u", sessionId: "s", role: "user" }, Date.now());
      const sBytes = Buffer.from(token.split(".")[2]!, "base64url").subarray(32);
      expect(BigInt(`0x${sBytes.toString("hex")}`) <= P256_ORDER >> 1n).toBe(true);
      expect(domainReason(token)).toBe("ACCEPTED");
    }
  });

  it("a validly signed token naming a session that does not exist gets no data (SESSION_REVOKED)", async () => {
    const token = withRealKey(goodHeader(), { ...claims, sid: "00000000-0000-4000-8000-000000000000" });
    const res = await reasonFor(token);
    expect(res.status).toBe(401);
    expect(res.reason).toBe("SESSION_REVOKED");
  });
});

describe("with JWT_ALG=HS256", () => {
  // Every forgery below is signed with the REAL secret and names the real kid: only the algorithm
  // pinning (the kid's key fixes HS256) stands between it and acceptance.
  let hs: TestAuth;
  let hsServer: TestServer;
  let ring: KeyRing;
  let hsToken: string;
  let hsClaims: Record<string, unknown>;
  const hmac = (hash: string) => (input: string) => createHmac(hash, ring.current.verifyKey).update(input).digest();

  beforeAll(async () => {
    ring = createKeyRing(hs256KeyFromSecret(randomBytes(32)));
    hs = await createTestAuth({ keys: ring });
    hsServer = await startTestServer(hs.auth);
    const signup = await hsServer.post("/trpc/auth.signup", { email: email("jwt-hs"), password: PASSWORD });
    hsToken = signup.body.result.data.accessToken;
    hsClaims = JSON.parse(Buffer.from(hsToken.split(".")[1]!, "base64url").toString());
  });
  afterAll(async () => {
    await hsServer.close();
    await hs.close();
  });

  const hsReason = async (token: string) => {
    const res = await hsServer.get("/trpc/auth.me", undefined, { authorization: `Bearer ${token}` });
    return { status: res.status, reason: res.body?.error?.data?.reason as string | undefined };
  };
  const hsDomainReason = (token: string) => {
    try {
      verifyAccessToken(ring, { issuer: TEST_ISSUER, audience: TEST_AUDIENCE }, token, { now: Date.now() });
      return "ACCEPTED";
    } catch (error) {
      return (error as { reason?: string }).reason ?? "THROWN";
    }
  };

  it("the secret is never published; the real HS256 token and one crafted here with the secret are accepted", async () => {
    expect(ring.jwks.keys).toEqual([]);
    expect((await hsReason(hsToken)).status).toBe(200);
    const header = { alg: "HS256", typ: "at+jwt", kid: ring.current.kid };
    expect((await hsReason(craft(header, hsClaims, hmac("sha256")))).status).toBe(200);
  });

  it("HS384 and HS512 tokens signed with the real secret and naming its kid are refused (algorithm pinning)", async () => {
    for (const [alg, hash] of [["HS384", "sha384"], ["HS512", "sha512"]] as const) {
      const forged = craft({ alg, typ: "at+jwt", kid: ring.current.kid }, hsClaims, hmac(hash));
      // The forgery is genuine: the very same secret, declared as this algorithm, accepts it.
      const declared = createKeyRing({ ...ring.current, alg: alg as JwtAlgorithm });
      expect(() => verifyAccessToken(declared, { issuer: TEST_ISSUER, audience: TEST_AUDIENCE }, forged, { now: Date.now() })).not.toThrow();
      expect(hsDomainReason(forged), alg).toBe("TOKEN_INVALID");
      expect(await hsReason(forged), alg).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    }
  });

  it("ES256 and none headers over the real secret's HMAC, and none unsigned, are refused", async () => {
    const base = { typ: "at+jwt", kid: ring.current.kid };
    const forgeries = [
      craft({ ...base, alg: "ES256" }, hsClaims, hmac("sha256")),
      craft({ ...base, alg: "none" }, hsClaims, hmac("sha256")),
      craft({ ...base, alg: "none" }, hsClaims),
    ];
    for (const forged of forgeries) {
      expect(hsDomainReason(forged)).toBe("TOKEN_INVALID");
      // The unsigned one fails the bearer syntax first; the domain check above refuses it anyway.
      expect(await hsReason(forged)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    }
  });
});

describe("order of the server's checks: signature and claims, then revocation, then expiry", () => {
  const clock = createTestClock();
  let o: TestAuth;
  let oServer: TestServer;
  beforeAll(async () => {
    o = await createTestAuth({ clock });
    oServer = await startTestServer(o.auth);
  });
  afterAll(async () => {
    await oServer.close();
    await o.close();
  });

  it("server side: a revoked and expired token is SESSION_REVOKED, an expired live one TOKEN_EXPIRED, a bad signature TOKEN_INVALID", async () => {
    const e = email("order");
    const a = (await oServer.post("/trpc/auth.signup", { email: e, password: PASSWORD })).body.result.data;
    const b = (await oServer.post("/trpc/auth.login", { email: e, password: PASSWORD })).body.result.data;
    const c = (await oServer.post("/trpc/auth.login", { email: e, password: PASSWORD })).body.result.data;
    const meWith = async (token: string) => {
      const res = await oServer.get("/trpc/auth.me", undefined, { authorization: `Bearer ${token}` });
      return { status: res.status, reason: res.body?.error?.data?.reason as string | undefined };
    };
    // The verified-token cache keeps a token only until its exp, so past it every check below is
    // the full verification, whose order is the one under test.
    expect((await meWith(a.accessToken)).status).toBe(200);
    expect((await oServer.post("/trpc/sessions.revoke", { sessionId: b.sessionId }, { authorization: `Bearer ${a.accessToken}` })).status).toBe(200);
    expect((await oServer.post("/trpc/auth.logout", {}, { authorization: `Bearer ${a.accessToken}` })).status).toBe(200);

    clock.advance(o.auth.settings.accessTokenTtlMs + 1000);
    expect(await meWith(a.accessToken)).toEqual({ status: 401, reason: "SESSION_REVOKED" });
    expect(await meWith(b.accessToken)).toEqual({ status: 401, reason: "SESSION_REVOKED" });
    expect(await meWith(c.accessToken)).toEqual({ status: 401, reason: "TOKEN_EXPIRED" });
    // b's header and claims under c's (valid, but not b's) signature: revoked and expired, yet TOKEN_INVALID first.
    const swapped = `${b.accessToken.split(".").slice(0, 2).join(".")}.${c.accessToken.split(".")[2]}`;
    expect(await meWith(swapped)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
  });
});
