import { createPublicKey, createSecretKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { ACCESS_TOKEN_ALGORITHMS, type AccessTokenAlgorithm, type VerificationKey } from "@warden/access-token";

export const VERIFIER_ALGORITHMS = ACCESS_TOKEN_ALGORITHMS;
export type VerifierAlgorithm = AccessTokenAlgorithm;

/** The algorithm a key can verify, or undefined if it fits none we accept. */
export function algorithmOf(key: KeyObject): VerifierAlgorithm | undefined {
  if (key.type === "secret") return "HS256";
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "ES256";
  return undefined;
}

/** A configured key: a KeyObject, a PEM public key, a JWK, or an HS256 secret (as a Buffer). */
export type KeyInput = KeyObject | string | JsonWebKey | Buffer;

export function toKeyObject(input: KeyInput): KeyObject {
  if (Buffer.isBuffer(input)) return createSecretKey(input);
  if (typeof input === "string") return createPublicKey(input);
  if ("type" in input && typeof (input as KeyObject).export === "function") return input as KeyObject;
  return createPublicKey({ key: input as JsonWebKey, format: "jwk" });
}

/** Keys of a JWKS document by kid, keeping only those whose algorithm is allowed. */
export function keysFromJwks(document: unknown, allowed: readonly VerifierAlgorithm[]): Map<string, VerificationKey> {
  const keys = new Map<string, VerificationKey>();
  const list = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new Error("JWKS document has no keys array");
  for (const jwk of list as (JsonWebKey & { kid?: unknown; alg?: unknown; use?: unknown })[]) {
    if (typeof jwk?.kid !== "string" || (jwk.use !== undefined && jwk.use !== "sig")) continue;
    try {
      const key = createPublicKey({ key: jwk, format: "jwk" });
      const alg = algorithmOf(key);
      if (!alg || !allowed.includes(alg) || (jwk.alg !== undefined && jwk.alg !== alg)) continue;
      keys.set(jwk.kid, { alg, key });
    } catch {
      // A key we cannot read is a key we do not trust.
    }
  }
  return keys;
}
