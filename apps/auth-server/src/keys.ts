import { readFileSync } from "node:fs";
import { createKeyRing, es256KeyFromPem, hs256KeyFromSecret, type JwtKey, type KeyRing } from "@warden/auth";
import type { Env } from "./env.js";

const PEM_BLOCK = /-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g;

function inlineOrFile(inline: string | undefined, file: string | undefined): string | undefined {
  if (inline) return inline.replace(/\\n/g, "\n");
  if (file) return readFileSync(file, "utf8");
  return undefined;
}

/** Builds the signing key ring from the environment. Throws a one-line message when keys are missing or bad. */
export function loadKeyRing(env: Env): KeyRing {
  let current: JwtKey;
  if (env.JWT_ALG === "HS256") {
    const secret = inlineOrFile(env.JWT_SECRET, env.JWT_SECRET_FILE);
    if (!secret) throw new Error("JWT_ALG=HS256 needs JWT_SECRET or JWT_SECRET_FILE");
    current = hs256KeyFromSecret(secret.trim());
  } else {
    const pem = inlineOrFile(env.JWT_PRIVATE_KEY, env.JWT_PRIVATE_KEY_FILE);
    if (!pem) throw new Error("JWT_ALG=ES256 needs JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE");
    current = es256KeyFromPem(pem);
  }
  const previous = env.JWT_PREVIOUS_KEYS_FILE
    ? (readFileSync(env.JWT_PREVIOUS_KEYS_FILE, "utf8").match(PEM_BLOCK) ?? []).map((pem) => {
        const key = es256KeyFromPem(pem);
        // Old keys verify only; they never sign again.
        return { kid: key.kid, alg: key.alg, verifyKey: key.verifyKey };
      })
    : [];
  return createKeyRing(current, previous);
}
