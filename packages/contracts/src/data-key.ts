import { z } from "zod";

/** The smallest data key accepted: 256 bits. */
export const MIN_DATA_KEY_BYTES = 32;

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const HOW_TO = "base64 of at least 32 random bytes, e.g. `openssl rand -base64 32`";

/**
 * What is wrong with the text of a data key (WARDEN_DATA_KEY), or undefined when it is usable.
 * The format is base64 (standard or URL-safe, padding optional) of at least 32 bytes. The
 * message never quotes the key: it is a secret.
 */
export function dataKeyProblem(text: string): string | undefined {
  const digits = text.replace(/=+$/, "").length;
  if (!BASE64.test(text) || digits % 4 === 1) return `must be ${HOW_TO}`;
  if (Math.floor((digits * 3) / 4) < MIN_DATA_KEY_BYTES) return `too short: must be ${HOW_TO}`;
  return undefined;
}

/** An environment setting holding one data key (optional; whether it is required is the app's call). */
export const dataKeySetting = z
  .string()
  .trim()
  .optional()
  .superRefine((text, ctx) => {
    const problem = text === undefined ? undefined : dataKeyProblem(text);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

/** An environment setting holding data keys from before a rotation, comma-separated. */
export const dataKeyListSetting = z
  .string()
  .default("")
  .transform((text, ctx) => {
    const keys = text
      .split(",")
      .map((k) => k.trim())
      .filter(Boolean);
    for (const [i, key] of keys.entries()) {
      const problem = dataKeyProblem(key);
      if (problem) ctx.addIssue({ code: "custom", message: `key ${i + 1}: ${problem}` });
    }
    return keys;
  });
