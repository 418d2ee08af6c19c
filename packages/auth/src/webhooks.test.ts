import { randomDataKeys, deriveDataKeys } from "./data-keys.js";
import { webhooks } from "@warden/db";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestAuth, type TestAuth } from "./testing.js";
import { decryptWebhookSecret } from "./webhook-secrets.js";
import { createWebhook, resealWebhookSecrets } from "./webhooks.js";

const before = randomDataKeys();
const after = { current: randomDataKeys().current, previous: [before.current] };
let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth({ dataKeys: before });
});
afterAll(() => t.close());

it("after a data-key rotation, resealing moves every secret to the new key: the old one can then go", async () => {
  const actor = { type: "admin", id: null } as const;
  const created = await createWebhook(t.auth, { url: "https://hooks.example.com/a", events: ["session.revoked"] }, { actor });
  const secret = Buffer.from(created.secret.slice("whsec_".length), "base64");
  const stored = async () =>
    (await t.auth.db.select({ c: webhooks.secretCiphertext }).from(webhooks).where(eq(webhooks.id, created.id)))[0]!.c;
  const newOnly = deriveDataKeys({ current: after.current, previous: [] }, "webhook-secret");
  expect(decryptWebhookSecret(newOnly, created.id, await stored())).toBeUndefined();

  // Without previous keys there is nothing to move.
  expect(await resealWebhookSecrets(t.auth.db, newOnly)).toBe(0);
  expect(await resealWebhookSecrets(t.auth.db, deriveDataKeys(after, "webhook-secret"))).toBe(1);
  expect(decryptWebhookSecret(newOnly, created.id, await stored())).toEqual(secret);
  // Done once: a second run finds nothing to do.
  expect(await resealWebhookSecrets(t.auth.db, deriveDataKeys(after, "webhook-secret"))).toBe(0);
});
