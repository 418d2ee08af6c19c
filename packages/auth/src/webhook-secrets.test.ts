import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { deriveDataKeys, randomDataKeys } from "./data-keys.js";
import { decryptWebhookSecret, encryptWebhookSecret, generateWebhookSecret } from "./webhook-secrets.js";

describe("webhook secrets at rest", () => {
  it("are whsec_ and 32 random bytes, sealed so that the stored text holds neither", () => {
    const [key] = deriveDataKeys(randomDataKeys(), "webhook-secret");
    const secret = generateWebhookSecret();
    expect(secret.text).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.text.slice("whsec_".length), "base64")).toEqual(secret.bytes);
    const id = randomUUID();
    const stored = encryptWebhookSecret(key, id, secret.bytes);
    expect(stored).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(stored).not.toContain(secret.text.slice("whsec_".length));
    expect(stored).not.toContain(secret.bytes.toString("base64url"));
    expect(stored).not.toContain(secret.bytes.toString("hex"));
    expect(decryptWebhookSecret([key], id, stored)).toEqual(secret.bytes);
    // Two seals of one secret differ (random IV).
    expect(encryptWebhookSecret(key, id, secret.bytes)).not.toBe(stored);
  });

  it("decrypt under a previous data key after a rotation, and not without it; nor on another row", () => {
    const before = randomDataKeys();
    const after = { current: randomDataKeys().current, previous: [before.current] };
    const id = randomUUID();
    const secret = generateWebhookSecret();
    const stored = encryptWebhookSecret(deriveDataKeys(before, "webhook-secret")[0], id, secret.bytes);
    expect(decryptWebhookSecret(deriveDataKeys(after, "webhook-secret"), id, stored)).toEqual(secret.bytes);
    expect(
      decryptWebhookSecret(deriveDataKeys({ current: after.current, previous: [] }, "webhook-secret"), id, stored),
    ).toBeUndefined();
    expect(decryptWebhookSecret(deriveDataKeys(after, "webhook-secret"), randomUUID(), stored)).toBeUndefined();
    // The key is the webhook-secret purpose's own: another purpose's key of the same data key does not open it.
    expect(decryptWebhookSecret(deriveDataKeys(before, "one-time-token"), id, stored)).toBeUndefined();
    expect(decryptWebhookSecret(deriveDataKeys(before, "webhook-secret"), id, "v1.garbage")).toBeUndefined();
  });
});
