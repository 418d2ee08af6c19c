import {
  createHash,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
} from "node:crypto";
import { ACCESS_TOKEN_ALGORITHMS, type AccessTokenAlgorithm, type KeyLookup, type VerificationKey } from "@warden/access-token";

export const JWT_ALGORITHMS = ACCESS_TOKEN_ALGORITHMS;
export type JwtAlgorithm = AccessTokenAlgorithm;

/**
 * One key of the ring. Always KeyObjects: node:crypto given a string or Buffer key parses it on
 * every call (a PEM attempt first), which costs ~40x per signature.
 */
export interface JwtKey {
  kid: string;
  alg: JwtAlgorithm;
  /** Absent for keys kept only to verify tokens signed before a rotation. */
  signingKey?: KeyObject;
  verifyKey: KeyObject;
}

export interface KeyRing {
  /** The key that signs new tokens. */
  current: JwtKey & { signingKey: KeyObject };
  /** Every key whose tokens still verify, by kid (the current one included). */
  byKid: ReadonlyMap<string, JwtKey>;
  /** The same keys as the access-token check takes them: kid -> algorithm and verification key. */
  lookup: KeyLookup;
  /** Public keys for `/.well-known/jwks.json` (empty for HS256). */
  jwks: { keys: JsonWebKey[] };
}

const MIN_HS256_SECRET_BYTES = 32;

export function createKeyRing(current: JwtKey, previous: JwtKey[] = []): KeyRing {
  if (!current.signingKey) throw new Error("the current JWT key must be able to sign");
  const byKid = new Map<string, JwtKey>();
  for (const key of [current, ...previous]) byKid.set(key.kid, key);
  const jwks = [...byKid.values()]
    .filter((k) => k.alg !== "HS256")
    .map((k) => ({ ...k.verifyKey.export({ format: "jwk" }), kid: k.kid, alg: k.alg, use: "sig" }));
  const verification = new Map<string, VerificationKey>([...byKid].map(([kid, k]) => [kid, { alg: k.alg, key: k.verifyKey }]));
  const lookup: KeyLookup = (kid) => verification.get(kid);
  return { current: current as KeyRing["current"], byKid, lookup, jwks: { keys: jwks } };
}

/** RFC 7638 thumbprint of an EC public key: a stable kid that needs no bookkeeping. */
function ecThumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: "jwk" });
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash("sha256").update(canonical).digest("base64url");
}

export function es256KeyFromPem(pem: string): JwtKey {
  if (pem.includes("PRIVATE KEY")) {
    const signingKey = createPrivateKey(pem);
    assertP256(signingKey);
    const verifyKey = createPublicKey(signingKey);
    return { kid: ecThumbprint(verifyKey), alg: "ES256", signingKey, verifyKey };
  }
  const verifyKey = createPublicKey(pem);
  assertP256(verifyKey);
  return { kid: ecThumbprint(verifyKey), alg: "ES256", verifyKey };
}

function assertP256(key: KeyObject) {
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error("ES256 needs a P-256 (prime256v1) EC key");
  }
}

export function hs256KeyFromSecret(secret: string | Buffer): JwtKey {
  const bytes = typeof secret === "string" ? Buffer.from(secret, "utf8") : secret;
  if (bytes.length < MIN_HS256_SECRET_BYTES) {
    throw new Error(`an HS256 secret must be at least ${MIN_HS256_SECRET_BYTES} bytes`);
  }
  const key = createSecretKey(bytes);
  const kid = createHash("sha256").update("warden-kid\0").update(bytes).digest("base64url").slice(0, 16);
  return { kid, alg: "HS256", signingKey: key, verifyKey: key };
}

export function generateEs256PrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return privateKey.export({ format: "pem", type: "pkcs8" }).toString();
}
