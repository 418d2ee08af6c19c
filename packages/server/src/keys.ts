import { readFileSync } from "node:fs";
import {
  createKeyRing,
  es256KeyFromPem,
  hs256KeyFromSecret,
  loadDataKeys,
  type DataKeys,
  type JwtKey,
  type KeyRing,
} from "@warden/auth";
import type { ServerEnv } from "./config.js";

const PEM_BLOCK = /-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g;

function inlineOrFile(inline: string | undefined, file: string | undefined): string | undefined {
  if (inline) return inline.replace(/\\n/g, "\n");
  if (file) return readFileSync(file, "utf8");
  return undefined;
}

/** Builds the signing key ring from the environment. Throws a one-line message when keys are missing or bad. */
export function loadKeyRing(env: ServerEnv): KeyRing {
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

/**
 * The data keys from the environment. Required: an instance with a key of its own would take a
 * grace retry that reaches it from another instance for a stolen token, and revoke the session.
 */
export function loadServerDataKeys(env: ServerEnv): DataKeys {
  const keys = loadDataKeys({
    key: env.WARDEN_DATA_KEY,
    keyFile: env.WARDEN_DATA_KEY_FILE,
    previous: env.WARDEN_DATA_KEY_PREVIOUS,
  });
  if (!keys) {
    throw new Error(
      "WARDEN_DATA_KEY or WARDEN_DATA_KEY_FILE is required (base64 of 32 random bytes, e.g. `openssl rand -base64 32`, the same on every instance)",
    );
  }
  return keys;
}
