import { createHmac, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { createKeyRing, hs256KeyFromSecret, signAccessToken, verifyAccessToken, type KeyRing } from "@warden/auth";
import { createTestAuth, createTestClock, TEST_AUDIENCE, TEST_ISSUER, type TestAuth } from "@warden/auth/testing";
import { createVerifier, isVerifierError, verifyRequest, type Verifier, type VerifierOptions } from "@warden/verifier";
import fc from "fast-check";
import jwt from "jsonwebtoken";
import { email, PASSWORD, startTestServer, type TestServer } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * Every attack below runs against both implementations of the access-token check that Warden
 * ships: the auth server over HTTP (`auth.me`) and @warden/verifier (clock tolerance 0, keys from
 * the server's JWKS; for HS256 the secret). Both must give the same answer and the same reason.
 * Cases only the HTTP host can meet (431, duplicate raw headers, a session row that does not
 * exist) are server tests at the end.
 */
type Target = "server" | "verifier";
const TARGETS: Target[] = ["server", "verifier"];
/** An answer in the server's terms: 200 and no reason, or the refusal's status and reason. */
interface Verdict {
  status: number;
  reason: string | undefined;
}

let t: TestAuth;
let server: TestServer;
let verifier: Verifier;
let realToken: string;
let claims: Record<string, unknown>;
let kid: string;
let privateKey: KeyObject;
const verifiers: Verifier[] = [];

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
const withRealKey = (header: Record<string, unknown>, payload: Record<string, unknown> = claims) =>
  craft(header, payload, es256(privateKey));

async function overHttp(on: TestServer, authorization: string): Promise<Verdict> {
  const res = await on.get("/trpc/auth.me", undefined, { authorization });
  return { status: res.status, reason: res.body?.error?.data?.reason as string | undefined };
}
async function byVerifier(run: () => Promise<unknown>): Promise<Verdict> {
  try {
    await run();
    return { status: 200, reason: undefined };
  } catch (error) {
    if (isVerifierError(error)) return { status: error.status, reason: error.reason };
    throw error;
  }
}
/** The server's domain check alone (no HTTP, no session row), as a reason or ACCEPTED. */
function serverCheck(ring: KeyRing, token: string): string {
  try {
    verifyAccessToken(ring, { issuer: TEST_ISSUER, audience: TEST_AUDIENCE }, token, { now: Date.now() });
    return "ACCEPTED";
  } catch (error) {
    return (error as { reason?: string }).reason ?? "THROWN";
  }
}
async function verifierCheck(v: Verifier, token: string): Promise<string> {
  return (await byVerifier(() => v.verify(token))).reason ?? "ACCEPTED";
}

function newVerifier(options: Partial<VerifierOptions>): Verifier {
  const v = createVerifier({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, clockToleranceSec: 0, ...options });
  verifiers.push(v);
  return v;
}
/** A verifier whose JWKS is this key ring's, as the ring's server would publish it. */
async function verifierForRing(ring: KeyRing): Promise<Verifier> {
  const v = newVerifier({ jwksUrl: "http://jwks.test/.well-known/jwks.json", fetch: async () => Response.json(ring.jwks) });
  await v.ready();
  return v;
}

beforeAll(async () => {
  t = await createTestAuth();
  server = await startTestServer(t.auth);
  const signup = await server.post("/trpc/auth.signup", { email: email("jwt"), password: PASSWORD });
  realToken = signup.body.result.data.accessToken;
  claims = JSON.parse(Buffer.from(realToken.split(".")[1]!, "base64url").toString());
  kid = t.auth.keys.current.kid;
  privateKey = t.auth.keys.current.signingKey;
  verifier = newVerifier({ jwksUrl: `${server.url}/.well-known/jwks.json` });
  await verifier.ready();
});
afterAll(async () => {
  for (const v of verifiers) await v.close();
  await server.close();
  await t.close();
});

describe.each(TARGETS)("JWT attacks are all TOKEN_INVALID (401): %s", (target) => {
  const me = (authorization: string) =>
    target === "server" ? overHttp(server, authorization) : byVerifier(() => verifyRequest(verifier, authorization));
  const reasonFor = (token: string) => me(`Bearer ${token}`);
  /** The check alone, for tokens the Authorization parser already refuses by shape. */
  const domainReason = (token: string) =>
    target === "server" ? Promise.resolve(serverCheck(t.auth.keys, token)) : verifierCheck(verifier, token);

  it("the control: a token crafted here with the real key and claims is accepted", async () => {
    expect((await reasonFor(withRealKey(goodHeader()))).status).toBe(200);
  });

  it("alg none, None and NONE, with or without a signature", async () => {
    for (const alg of ["none", "None", "NONE", "nOnE"]) {
      const unsigned = craft({ ...goodHeader(), alg }, claims);
      expect(await reasonFor(unsigned)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
      expect(await domainReason(unsigned)).toBe("TOKEN_INVALID");
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
      const forged = craft({ ...goodHeader(), alg: "HS256" }, claims, (input) =>
        createHmac("sha256", secret).update(input).digest(),
      );
      expect(await reasonFor(forged)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    }
  });

  it("kid injection: path traversal, SQL, missing, non-string, oversized", async () => {
    const kids: unknown[] = [
      "../../../../dev/null",
      "/etc/passwd",
      "' OR '1'='1",
      "x'; DROP TABLE users; --",
      undefined,
      42,
      ["a"],
      "k".repeat(10_000),
    ];
    for (const bad of kids) {
      const header: Record<string, unknown> = { ...goodHeader(), kid: bad };
      if (bad === undefined) delete header.kid;
      expect(await reasonFor(withRealKey(header)), String(bad).slice(0, 30)).toMatchObject({
        status: 401,
        reason: "TOKEN_INVALID",
      });
    }
  });

  it("kid length: 129 characters are refused even when the ring holds that kid and the token is under 4 KB; an unknown 128-character kid is refused as unknown", async () => {
    const ringWithKid = (length: number) =>
      createKeyRing({ kid: "k".repeat(length), alg: "ES256", signingKey: privateKey, verifyKey: createPublicKey(privateKey) });
    const at128 = ringWithKid(128);
    const at129 = ringWithKid(129);
    const check = async (ring: KeyRing, token: string) =>
      target === "server" ? serverCheck(ring, token) : verifierCheck(await verifierForRing(ring), token);
    const subject = { userId: "u", sessionId: "s", role: "user" } as const;
    const token128 = signAccessToken(at128, t.auth.settings, subject, Date.now()).token;
    const token129 = signAccessToken(at129, t.auth.settings, subject, Date.now()).token;
    // Far under the 4 KB cap, so only the kid limit can refuse it.
    expect(token129.length).toBeLessThan(1024);
    expect(await check(at128, token128)).toBe("ACCEPTED");
    expect(await check(at129, token129)).toBe("TOKEN_INVALID");

    // 128 characters pass the limit (above), so this one is refused because no key has that kid:
    // it is signed by the very key the ring holds under another 128-character kid.
    const unknown = { ...goodHeader(), kid: "u".repeat(128) };
    expect(await check(at128, craft(unknown, claims, es256(privateKey)))).toBe("TOKEN_INVALID");
    expect(await reasonFor(withRealKey(unknown))).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    expect(await reasonFor(withRealKey({ ...goodHeader(), kid: "k".repeat(129) }))).toEqual({
      status: 401,
      reason: "TOKEN_INVALID",
    });
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
      expect(await reasonFor(craft(header, claims, es256(attacker.privateKey)))).toEqual({
        status: 401,
        reason: "TOKEN_INVALID",
      });
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
      expect(await reasonFor(withRealKey(goodHeader(), cleaned)), JSON.stringify(cleaned)).toMatchObject({
        status: 401,
        reason: "TOKEN_INVALID",
      });
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
    for (const header of [`Basic ${realToken}`, realToken, `Bearer`, `Bearer ${realToken} extra`, `Token ${realToken}`]) {
      expect((await me(header)).reason, header.slice(0, 12)).toBe("TOKEN_INVALID");
    }
    // fetch folds two headers into one "a, b" value (the raw-socket case is a server test).
    const twice = `Bearer ${realToken}, Bearer ${realToken}`;
    if (target === "server") {
      const res = await fetch(`${server.url}/trpc/auth.me`, {
        headers: [
          ["authorization", `Bearer ${realToken}`],
          ["authorization", `Bearer ${realToken}`],
        ],
      });
      expect(res.status).toBe(401);
    } else {
      // What the server's host passes on for two raw headers, and even a list of one: refused.
      await expect(verifyRequest(verifier, [`Bearer ${realToken}`, `Bearer ${realToken}`])).rejects.toMatchObject({
        reason: "TOKEN_INVALID",
      });
      await expect(verifyRequest(verifier, [`Bearer ${realToken}`])).rejects.toMatchObject({ reason: "TOKEN_INVALID" });
    }
    expect(await me(twice)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
  });

  it("a token over 4 KB is refused", async () => {
    expect(await reasonFor(`${"a".repeat(3000)}.${"b".repeat(3000)}.c`)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
  });

  it("non-base64url characters, padding and garbage segments", async () => {
    const [h, p, s] = realToken.split(".") as [string, string, string];
    const variants = [
      `${h}.${p}.${s}=`,
      `${h}=.${p}.${s}`,
      `${h}.${p}+.${s}`,
      `${h}.${p}/.${s}`,
      `${h}.${p}`,
      `${h}.${p}.${s}.x`,
      `${h}..${s}`,
      `é.${p}.${s}`,
      `${h}.${p}.${s.slice(0, -1)}`,
    ];
    for (const token of variants) {
      expect(await reasonFor(token), token.slice(-8)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    }
    // Padding the signature is refused by the check too, not only by the Authorization parser.
    expect(await domainReason(`${h}.${p}.${s}=`)).toBe("TOKEN_INVALID");
  });

  it("bearer messages: another scheme, and the right scheme with a malformed token", async () => {
    const message = async (authorization: string) =>
      target === "server"
        ? ((await server.get("/trpc/auth.me", undefined, { authorization })).body.error.message as string)
        : ((await verifyRequest(verifier, authorization).catch((error: Error) => error)) as Error).message;
    expect(await message(`Basic ${realToken}`)).toBe(
      "the Authorization scheme is not Bearer: send 'Authorization: Bearer <access token>'",
    );
    expect(await message(`Bearer ${realToken}=`)).toBe(
      "the bearer token is malformed: an access token is three base64url segments (header.payload.signature)",
    );
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
      expect(await domainReason(token)).toBe("ACCEPTED");
    }
  });
});

describe("JWT attacks the HTTP host alone can meet", () => {
  it("a 20 KB Authorization header is refused (401 or 431), never a 500", async () => {
    const huge = `Bearer ${"a".repeat(10_000)}.${"b".repeat(10_000)}.c`;
    const res = await fetch(`${server.url}/trpc/auth.me`, { headers: { authorization: huge } });
    expect([401, 431]).toContain(res.status);
  });

  it("a validly signed token naming a session that does not exist gets no data (SESSION_REVOKED)", async () => {
    const token = withRealKey(goodHeader(), { ...claims, sid: "00000000-0000-4000-8000-000000000000" });
    expect(await overHttp(server, `Bearer ${token}`)).toEqual({ status: 401, reason: "SESSION_REVOKED" });
  });
});

describe.each(TARGETS)("with JWT_ALG=HS256: %s", (target) => {
  // Every forgery below is signed with the REAL secret and names the real kid: only the algorithm
  // pinning (the kid's key fixes HS256) stands between it and acceptance.
  let hs: TestAuth;
  let hsServer: TestServer;
  let hsVerifier: Verifier;
  let ring: KeyRing;
  let hsToken: string;
  let hsClaims: Record<string, unknown>;
  const hmac = (hash: string) => (input: string) => createHmac(hash, ring.current.verifyKey).update(input).digest();

  beforeAll(async () => {
    ring = createKeyRing(hs256KeyFromSecret(randomBytes(32)));
    hs = await createTestAuth({ keys: ring });
    hsServer = await startTestServer(hs.auth);
    // The secret is never published: the verifier is given it.
    hsVerifier = newVerifier({ publicKey: ring.current.verifyKey, algorithms: ["HS256"] });
    await hsVerifier.ready();
    const signup = await hsServer.post("/trpc/auth.signup", { email: email("jwt-hs"), password: PASSWORD });
    hsToken = signup.body.result.data.accessToken;
    hsClaims = JSON.parse(Buffer.from(hsToken.split(".")[1]!, "base64url").toString());
  });
  afterAll(async () => {
    await hsServer.close();
    await hs.close();
  });

  const hsReason = (token: string) =>
    target === "server" ? overHttp(hsServer, `Bearer ${token}`) : byVerifier(() => verifyRequest(hsVerifier, `Bearer ${token}`));
  const hsDomainReason = (token: string) =>
    target === "server" ? Promise.resolve(serverCheck(ring, token)) : verifierCheck(hsVerifier, token);

  it("the secret is never published; the real HS256 token and one crafted here with the secret are accepted", async () => {
    expect(ring.jwks.keys).toEqual([]);
    expect((await hsReason(hsToken)).status).toBe(200);
    const header = { alg: "HS256", typ: "at+jwt", kid: ring.current.kid };
    expect((await hsReason(craft(header, hsClaims, hmac("sha256")))).status).toBe(200);
  });

  it("HS384 and HS512 tokens signed with the real secret and naming its kid are refused (algorithm pinning)", async () => {
    for (const [alg, hash] of [
      ["HS384", "sha384"],
      ["HS512", "sha512"],
    ] as const) {
      const forged = craft({ alg, typ: "at+jwt", kid: ring.current.kid }, hsClaims, hmac(hash));
      // The forgery is genuine: jsonwebtoken, told to expect this algorithm, accepts it with the very same secret.
      expect(() => jwt.verify(forged, ring.current.verifyKey, { algorithms: [alg] })).not.toThrow();
      expect(await hsDomainReason(forged), alg).toBe("TOKEN_INVALID");
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
      expect(await hsDomainReason(forged)).toBe("TOKEN_INVALID");
      // The unsigned one fails the bearer syntax first; the check above refuses it anyway.
      expect(await hsReason(forged)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    }
  });
});

describe("order of the checks: signature and claims, then revocation, then expiry", () => {
  const clock = createTestClock();
  let o: TestAuth;
  let oServer: TestServer;
  let oVerifier: Verifier;
  beforeAll(async () => {
    o = await createTestAuth({ clock });
    oServer = await startTestServer(o.auth);
    // The verifier hears the server's revocations (here: it shares the revocation set the feed would fill).
    oVerifier = newVerifier({ jwksUrl: `${oServer.url}/.well-known/jwks.json`, revocations: o.auth.revocations, now: clock });
    await oVerifier.ready();
  });
  afterAll(async () => {
    await oServer.close();
    await o.close();
  });

  it.each(TARGETS)(
    "a revoked and expired token is SESSION_REVOKED, an expired live one TOKEN_EXPIRED, a bad signature TOKEN_INVALID: %s",
    async (target) => {
      const e = email("order");
      const a = (await oServer.post("/trpc/auth.signup", { email: e, password: PASSWORD })).body.result.data;
      const b = (await oServer.post("/trpc/auth.login", { email: e, password: PASSWORD })).body.result.data;
      const c = (await oServer.post("/trpc/auth.login", { email: e, password: PASSWORD })).body.result.data;
      const meWith = (token: string) =>
        target === "server"
          ? overHttp(oServer, `Bearer ${token}`)
          : byVerifier(() => verifyRequest(oVerifier, `Bearer ${token}`));
      // The verified-token cache keeps a token only until its exp, so past it every check below is
      // the full verification, whose order is the one under test.
      expect((await meWith(a.accessToken)).status).toBe(200);
      expect(
        (await oServer.post("/trpc/sessions.revoke", { sessionId: b.sessionId }, { authorization: `Bearer ${a.accessToken}` }))
          .status,
      ).toBe(200);
      expect((await oServer.post("/trpc/auth.logout", {}, { authorization: `Bearer ${a.accessToken}` })).status).toBe(200);

      clock.advance(o.auth.settings.accessTokenTtlMs + 1000);
      expect(await meWith(a.accessToken)).toEqual({ status: 401, reason: "SESSION_REVOKED" });
      expect(await meWith(b.accessToken)).toEqual({ status: 401, reason: "SESSION_REVOKED" });
      expect(await meWith(c.accessToken)).toEqual({ status: 401, reason: "TOKEN_EXPIRED" });
      // b's header and claims under c's (valid, but not b's) signature: revoked and expired, yet TOKEN_INVALID first.
      const swapped = `${b.accessToken.split(".").slice(0, 2).join(".")}.${c.accessToken.split(".")[2]}`;
      expect(await meWith(swapped)).toEqual({ status: 401, reason: "TOKEN_INVALID" });
    },
  );
});

describe("parity: random mutations of a valid token get the same verdict from the server and the verifier", () => {
  const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  /** Printable ASCII without space: what survives an HTTP header unchanged (Node trims spaces at the ends). */
  const visible = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
  const now = () => Math.floor(Date.now() / 1000);
  /** The three segments, or undefined once a mutation has changed their number (later ones then leave the token be). */
  const segmentsOf = (token: string) => {
    const parts = token.split(".");
    return parts.length === 3 ? (parts as [string, string, string]) : undefined;
  };

  type Mutation = (token: string) => string;
  /** A mutation that names itself in a counterexample. */
  const mutation = (label: string, apply: Mutation): Mutation => Object.assign(apply, { [fc.toStringMethod]: () => label });
  const json = (segment: string): Record<string, unknown> | undefined => {
    try {
      const value: unknown = JSON.parse(Buffer.from(segment, "base64url").toString());
      return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  /** The token's header and payload with one field changed, signed with the real key (unchanged when no longer JSON). */
  const resign = (token: string, part: "header" | "payload", field: string, value: unknown) => {
    const [h, p] = segmentsOf(token) ?? ["", ""];
    const header = json(h);
    const payload = json(p);
    if (!header || !payload) return token;
    // The session stays the real one, whatever an earlier mutation did to these two claims.
    const session = { sub: claims.sub, sid: claims.sid };
    const changed = JSON.parse(JSON.stringify({ ...(part === "header" ? header : payload), [field]: value }));
    return part === "header"
      ? craft(changed, { ...payload, ...session }, es256(privateKey))
      : craft(header, { ...changed, ...session }, es256(privateKey));
  };
  /** Any character replaced, inserted or removed. */
  const bytes: fc.Arbitrary<Mutation> = fc
    .tuple(fc.nat(), visible, fc.constantFrom("replace", "insert", "remove"))
    .map(([at, char, how]) =>
      mutation(`${how} ${JSON.stringify(char)} at ${at}`, (token) => {
        const i = at % token.length;
        if (how === "insert") return token.slice(0, i) + char + token.slice(i);
        return token.slice(0, i) + (how === "replace" ? char : "") + token.slice(i + 1);
      }),
    );
  /** Another spelling of the same bytes (unused trailing bits set, padding), or a segment cut or doubled. */
  const spelling: fc.Arbitrary<Mutation> = fc
    .tuple(fc.integer({ min: 0, max: 2 }), fc.constantFrom("bits", "pad", "cut", "double", "std"))
    .map(([which, how]) =>
      mutation(`spelling ${how} of segment ${which}`, (token) => {
        const parts = segmentsOf(token);
        if (!parts) return token;
        const segment = parts[which]!;
        if (how === "bits") {
          const last = ALPHABET.indexOf(segment.at(-1)!);
          parts[which] = segment.slice(0, -1) + ALPHABET[last ^ 1];
        } else if (how === "pad") parts[which] = `${segment}=`;
        else if (how === "cut") parts[which] = segment.slice(0, -1);
        else if (how === "double") return `${token}.${parts[which]}`;
        else parts[which] = Buffer.from(segment, "base64url").toString("base64");
        return parts.join(".");
      }),
    );
  const oddValues = fc.constantFrom<unknown>(undefined, null, 0, -1, 1.5, "", "x", [], {}, true, 1e300);
  /** A header field changed, the token then signed with the real key: only the checks can refuse it. */
  const headerValue: fc.Arbitrary<Mutation> = fc
    .tuple(
      fc.constantFrom("alg", "typ", "kid", "crit", "jku", "b64"),
      fc.oneof(oddValues, fc.constantFrom<unknown>("ES256", "HS256", "none", "ES384", "at+jwt", "JWT", "AT+JWT", ["exp"], false)),
    )
    .map(([field, value]) =>
      mutation(`header ${field} = ${JSON.stringify(value)}`, (token) => resign(token, "header", field, value)),
    );
  /** Seconds from the moment the mutation is applied. */
  class Relative {
    constructor(readonly seconds: number) {}
  }
  /**
   * A claim changed and re-signed with the real key. Not sid or sub: a session without a row is
   * the server's own refusal (auth.me reads it), a case above. Times stay well away from now, so
   * the two checks, a few milliseconds apart, see the same side of every boundary.
   */
  const claimValue: fc.Arbitrary<Mutation> = fc
    .tuple(
      fc.constantFrom("iss", "aud", "role", "jti", "extra"),
      fc.oneof(
        oddValues,
        fc.constantFrom<unknown>(
          "admin",
          "user",
          "root",
          TEST_ISSUER,
          TEST_AUDIENCE,
          [TEST_AUDIENCE],
          TEST_AUDIENCE.toUpperCase(),
        ),
      ),
    )
    .map(([field, value]) =>
      mutation(`claim ${field} = ${JSON.stringify(value)}`, (token) => resign(token, "payload", field, value)),
    );
  const claimTime: fc.Arbitrary<Mutation> = fc
    .tuple(
      fc.constantFrom("exp", "iat", "nbf"),
      fc.oneof(
        { arbitrary: oddValues, weight: 1 },
        {
          arbitrary: fc
            .integer({ min: -7200, max: 7200 })
            .filter((d) => Math.abs(d) > 5)
            .map((d) => new Relative(d)),
          weight: 3,
        },
      ),
    )
    .map(([field, value]) =>
      mutation(
        `claim ${field} = ${value instanceof Relative ? `now ${value.seconds > 0 ? "+" : ""}${value.seconds} s` : JSON.stringify(value)}`,
        (token) => resign(token, "payload", field, value instanceof Relative ? now() + value.seconds : value),
      ),
    );
  /** One half of the (r, s) signature replaced: swapped, zero, all ones, n - s, random, or DER. */
  const signatureHalves: fc.Arbitrary<Mutation> = fc
    .tuple(
      fc.constantFrom("r", "s"),
      fc.constantFrom("swap", "zero", "ones", "negate", "random", "der"),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
    )
    .map(([half, how, random]) =>
      mutation(`signature ${how} ${how === "swap" || how === "der" ? "" : half}`, (token) => {
        const parts = segmentsOf(token);
        if (!parts) return token;
        const [h, p, s] = parts;
        const sig = Buffer.from(s, "base64url");
        const r = sig.subarray(0, 32);
        const sv = sig.subarray(32);
        if (how === "der")
          return `${h}.${p}.${sign("sha256", Buffer.from(`${h}.${p}`), { key: privateKey, dsaEncoding: "der" }).toString("base64url")}`;
        if (how === "swap") return `${h}.${p}.${Buffer.concat([sv, r]).toString("base64url")}`;
        const value = BigInt(`0x${(half === "r" ? r : sv).toString("hex")}`);
        const replaced =
          how === "zero"
            ? Buffer.alloc(32)
            : how === "ones"
              ? Buffer.alloc(32, 0xff)
              : how === "negate"
                ? Buffer.from((P256_ORDER - value).toString(16).padStart(64, "0"), "hex")
                : Buffer.from(random);
        const next = half === "r" ? Buffer.concat([replaced, sv]) : Buffer.concat([r, replaced]);
        return `${h}.${p}.${next.toString("base64url")}`;
      }),
    );

  const mutations = fc.array(
    fc.oneof(bytes, spelling, headerValue, claimValue, { arbitrary: claimTime, weight: 2 }, signatureHalves),
    { minLength: 1, maxLength: 3 },
  );

  it("the same status and reason for a few hundred mutated tokens (the Authorization header included)", async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(mutations, async (steps) => {
        const token = steps.reduce((current, step) => step(current), realToken);
        const authorization = `Bearer ${token}`;
        const fromServer = await overHttp(server, authorization);
        const fromVerifier = await byVerifier(() => verifyRequest(verifier, authorization));
        seen.add(fromServer.reason ?? "ACCEPTED");
        expect(fromVerifier, token).toEqual(fromServer);
      }),
      { numRuns: 300 },
    );
    // The mutations reach past the signature: claims and expiry refusals, and acceptances.
    expect([...seen].sort()).toEqual(expect.arrayContaining(["ACCEPTED", "TOKEN_EXPIRED", "TOKEN_INVALID"]));
  });
});
