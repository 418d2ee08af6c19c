import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { REVOCATION_EVENT_TYPES, WEBHOOK_EVENT_TYPES } from "./event-types.js";
import { revocationEvent, type RevocationEvent } from "./events.js";
import {
  adminWebhookCreateInput,
  WEBHOOK_JOB_OPTIONS,
  WEBHOOK_MAX_RETRY_DELAY_MS,
  webhookRetryDelay,
  webhookTypeOf,
} from "./webhooks.js";

const base = { eventId: randomUUID(), reason: "why", actor: { type: "admin", id: randomUUID() }, at: 1 } as const;
const userId = randomUUID();
const sessionId = randomUUID();

/** One event of every kind the outbox carries, and the webhook type it is delivered as. */
const MAPPING: [RevocationEvent, string | undefined][] = [
  [{ ...base, type: "session.revoked", userId, sessionId }, "session.revoked"],
  [{ ...base, type: "user.revoked", userId, lock: false }, "user.revoked"],
  [{ ...base, type: "user.revoked", userId, lock: true }, "user.locked"],
  [{ ...base, type: "refresh_token.reused", userId, sessionId, refreshTokenId: randomUUID() }, "refresh_token.reused"],
  [{ ...base, type: "user.role_changed", userId, role: "admin" }, "user.role_changed"],
  [{ ...base, type: "password.changed", userId, keptSessionId: sessionId }, "password.changed"],
  [{ ...base, type: "password.reset", userId }, "password.reset"],
  [{ ...base, type: "email.verified", userId }, "email.verified"],
  [{ ...base, type: "user.signed_up", userId }, "user.signed_up"],
  [{ ...base, type: "user.unlocked", userId }, "user.unlocked"],
  [{ ...base, type: "user.deleted", userId }, "user.deleted"],
  [{ ...base, type: "email.requested", kind: "password_reset", userId }, undefined],
  [{ ...base, type: "webhook.created", webhookId: randomUUID() }, undefined],
  [{ ...base, type: "webhook.deleted", webhookId: randomUUID() }, undefined],
  [{ ...base, type: "webhook.tested", webhookId: randomUUID(), deliveryId: randomUUID() }, undefined],
];

describe("webhookTypeOf", () => {
  it("maps every outbox event to the one webhook type it is delivered as, or none", () => {
    for (const [event, type] of MAPPING) {
      expect(revocationEvent.parse(event)).toEqual(event);
      expect(`${event.type}${"lock" in event && event.lock ? " (lock)" : ""} -> ${webhookTypeOf(event)}`).toBe(
        `${event.type}${"lock" in event && event.lock ? " (lock)" : ""} -> ${type}`,
      );
    }
    // Every outbox event type is covered above, and every type produced is one a webhook can subscribe to.
    expect(new Set(MAPPING.map(([e]) => e.type))).toEqual(new Set(REVOCATION_EVENT_TYPES));
    for (const [, type] of MAPPING) if (type) expect(WEBHOOK_EVENT_TYPES).toContain(type);
  });

  it("a password change or reset is announced as itself, never as a bare user.revoked", () => {
    const types = MAPPING.filter(([e]) => e.type.startsWith("password.")).map(([e]) => webhookTypeOf(e));
    expect(types).toEqual(["password.changed", "password.reset"]);
  });
});

describe("webhook retries", () => {
  it("back off exponentially, at most 8 h apart, for about 24 h in all", () => {
    const delays = Array.from({ length: WEBHOOK_JOB_OPTIONS.attempts - 1 }, (_, i) =>
      webhookRetryDelay(i + 1, WEBHOOK_JOB_OPTIONS.backoff.delay),
    );
    expect(delays[0]).toBe(15_000);
    expect(delays[1]).toBe(30_000);
    expect(Math.max(...delays)).toBe(WEBHOOK_MAX_RETRY_DELAY_MS);
    const totalHours = delays.reduce((a, b) => a + b, 0) / 3_600_000;
    console.log(`webhook retries: ${delays.length} waits, ${totalHours.toFixed(1)} h from the first attempt to the last`);
    expect(totalHours).toBeGreaterThanOrEqual(24);
    expect(totalHours).toBeLessThan(26);
  });
});

describe("admin.webhooks.create input", () => {
  const valid = { url: "https://hooks.example.com/warden", events: ["session.revoked"] };
  const issues = (input: unknown) => {
    const result = adminWebhookCreateInput.safeParse(input);
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };

  it("takes an https URL, known event types and a description; the URL in its canonical form", () => {
    const parsed = adminWebhookCreateInput.parse({ ...valid, url: "HTTPS://Hooks.Example.COM/warden?x=1", description: " ops " });
    expect(parsed).toEqual({ url: "https://hooks.example.com/warden?x=1", events: ["session.revoked"], description: "ops" });
    expect(adminWebhookCreateInput.parse({ ...valid, events: [...WEBHOOK_EVENT_TYPES] }).events).toHaveLength(11);
  });

  it("refuses each bad field with the reason", () => {
    const cases: [unknown, string][] = [
      [{ ...valid, url: "not a url" }, "url: must not contain spaces or control characters"],
      [{ ...valid, url: "hooks.example.com/warden" }, "url: must be a URL"],
      [{ ...valid, url: `https://example.com/${"a".repeat(2048)}` }, "url: must be at most 2048 characters"],
      [{ ...valid, url: "ftp://example.com/x" }, "url: must be an https:// URL"],
      [{ ...valid, url: "https://user:pw@example.com/x" }, "url: must not contain a user name or password"],
      [{ ...valid, url: "https://exa\nmple.com/x" }, "url: must not contain spaces or control characters"],
      [{ ...valid, url: "https://example.com/#x" }, "url: must not contain a #fragment"],
      [{ ...valid, events: [] }, "events: must name at least one event type"],
      [{ ...valid, events: ["session.revoked", "session.revoked"] }, "events: must not repeat an event type"],
      [{ ...valid, events: ["user.created"] }, `events.0: must be one of ${WEBHOOK_EVENT_TYPES.join(", ")}`],
      [{ ...valid, description: "d".repeat(201) }, "description: must be at most 200 characters"],
      [{ ...valid, description: "a\u0000b" }, "description: must not contain control characters"],
    ];
    for (const [input, issue] of cases) expect(issues(input)).toEqual([issue]);
  });
});
