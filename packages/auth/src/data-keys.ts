import { hkdfSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { dataKeyProblem, MIN_DATA_KEY_BYTES } from "@warden/contracts";

/**
 * The one secret behind every server-side secret that is not a JWT key (WARDEN_DATA_KEY).
 * `previous` holds keys from before a rotation: what was derived under them is still recognised.
 */
export interface DataKeys {
  current: Buffer;
  previous: Buffer[];
}

/** What a derived key is for. Each purpose gets its own key, so none can stand in for another. */
export type DataKeyPurpose = "refresh-successor" | "one-time-token" | "webhook-secret";

/** A fresh data key as WARDEN_DATA_KEY takes it (base64 of 32 random bytes). */
export function generateDataKey(): string {
  return randomBytes(MIN_DATA_KEY_BYTES).toString("base64");
}

/** A data key that lives as long as this process: for tests and tools that share nothing across processes. */
export function randomDataKeys(): DataKeys {
  return { current: randomBytes(MIN_DATA_KEY_BYTES), previous: [] };
}

/** Decodes a data key's text; throws a message that names the problem, never the key. */
export function parseDataKey(text: string, name = "WARDEN_DATA_KEY"): Buffer {
  const trimmed = text.trim();
  const problem = dataKeyProblem(trimmed);
  if (problem) throw new Error(`${name} ${problem}`);
  return Buffer.from(trimmed, "base64"); // Node reads the standard and the URL-safe alphabet alike
}

/**
 * The data keys a configuration names: the key inline (WARDEN_DATA_KEY) or from a file
 * (WARDEN_DATA_KEY_FILE, same text), and the keys from before a rotation. Undefined when none is given.
 */
export function loadDataKeys(config: {
  key?: string | undefined;
  keyFile?: string | undefined;
  previous?: string[];
}): DataKeys | undefined {
  const current = config.key
    ? parseDataKey(config.key)
    : config.keyFile
      ? parseDataKey(readFileSync(config.keyFile, "utf8"), "WARDEN_DATA_KEY_FILE")
      : undefined;
  if (!current) return undefined;
  return { current, previous: (config.previous ?? []).map((k) => parseDataKey(k, "WARDEN_DATA_KEY_PREVIOUS")) };
}

/** The keys for one purpose, by HKDF-SHA256 from each data key: the current one first, then the previous ones. */
export function deriveDataKeys(keys: DataKeys, purpose: DataKeyPurpose): [current: Buffer, ...previous: Buffer[]] {
  const derive = (key: Buffer) => {
    if (key.length < MIN_DATA_KEY_BYTES) throw new Error(`a data key must be at least ${MIN_DATA_KEY_BYTES} bytes`);
    return Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), `warden-data-key:${purpose}`, 32));
  };
  return [derive(keys.current), ...keys.previous.map(derive)];
}
