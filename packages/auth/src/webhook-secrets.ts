import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { WEBHOOK_SECRET_BYTES, WEBHOOK_SECRET_PREFIX } from "@warden/contracts";

/** Format tag of the stored ciphertext, so a later format can be told apart. */
const FORMAT = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A fresh signing secret: raw bytes, and the `whsec_<base64>` text shown once to the admin. */
export function generateWebhookSecret(): { bytes: Buffer; text: string } {
  const bytes = randomBytes(WEBHOOK_SECRET_BYTES);
  return { bytes, text: `${WEBHOOK_SECRET_PREFIX}${bytes.toString("base64")}` };
}

/**
 * The secret as stored: AES-256-GCM under the webhook-secret key (HKDF of WARDEN_DATA_KEY), a random
 * IV, and the webhook's id as associated data, so a ciphertext copied onto another row does not
 * decrypt. `v1.<base64url of iv ‖ ciphertext ‖ tag>`.
 */
export function encryptWebhookSecret(key: Buffer, webhookId: string, secret: Buffer): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(webhookId));
  const sealed = Buffer.concat([iv, cipher.update(secret), cipher.final(), cipher.getAuthTag()]);
  return `${FORMAT}.${sealed.toString("base64url")}`;
}

/**
 * The secret back, under the current key or one from before a rotation (WARDEN_DATA_KEY_PREVIOUS):
 * GCM's tag tells which key sealed it. Undefined when none does (the key it was made under is gone).
 */
export function decryptWebhookSecret(keys: readonly Buffer[], webhookId: string, stored: string): Buffer | undefined {
  const [format, body] = stored.split(".");
  if (format !== FORMAT || !body) return undefined;
  const sealed = Buffer.from(body, "base64url");
  if (sealed.length < IV_BYTES + TAG_BYTES) return undefined;
  const iv = sealed.subarray(0, IV_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const ciphertext = sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES);
  for (const key of keys) {
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, iv);
      decipher.setAAD(Buffer.from(webhookId));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      // Sealed under another key: try the next one.
    }
  }
  return undefined;
}
