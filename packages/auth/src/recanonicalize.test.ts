import { emailSchema, revocationEvent } from "@warden/contracts";
import { auditLog, createDb, outboxEvents, sessions, users } from "@warden/db";
import { eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyRevocationEvent } from "./apply.js";
import { createAuth } from "./context.js";
import { hashPassword } from "./passwords.js";
import { collisionPlaceholderEmail, recanonicalizeEmails, type StepLogger } from "./recanonicalize.js";
import { createSession } from "./sessions.js";
import { createTestAuth, createTestKeyRing, TEST_AUDIENCE, TEST_ISSUER, type TestAuth } from "./testing.js";
import { login } from "./users.js";

const PASSWORD = "correct horse battery";
let t: TestAuth;
let passwordHash = "";

beforeAll(async () => {
  t = await createTestAuth();
  passwordHash = await hashPassword(PASSWORD);
});
afterAll(async () => {
  await t.close();
});

/** Rows as an older Warden (NFC, then lower-case) or an import stored them, straight into the table. */
async function insertUsers(rows: { email: string; createdAt: string }[]): Promise<Record<string, string>> {
  const inserted = await t.auth.db
    .insert(users)
    .values(rows.map((r) => ({ email: r.email, passwordHash, createdAt: new Date(r.createdAt) })))
    .returning({ id: users.id, email: users.email });
  return Object.fromEntries(inserted.map((r) => [r.email, r.id]));
}

async function userRow(id: string) {
  const [row] = await t.auth.db.select().from(users).where(eq(users.id, id));
  return row!;
}

function captureLogger(): StepLogger & { lines: { level: string; details: object; message: string }[] } {
  const lines: { level: string; details: object; message: string }[] = [];
  return {
    lines,
    info: (details, message) => lines.push({ level: "info", details, message }),
    warn: (details, message) => lines.push({ level: "warn", details, message }),
  };
}

describe("re-canonicalising stored emails (trim, lower-case, then NFC)", () => {
  it("rewrites old-style emails; of two that collide the older keeps the address and the other is locked, revoked and listed", async () => {
    const ids = await insertUsers([
      // ẖ precomposed (older) and h + U+0331, which an older Warden stored for "H̱tag": one address now.
      { email: "\u1E96tag@corp.test", createdAt: "2025-01-01T00:00:00Z" },
      { email: "h\u0331tag@corp.test", createdAt: "2025-02-01T00:00:00Z" },
      // Here the older one is the decomposed spelling (ǰ = j + U+030C): it takes the address from the newer.
      { email: "j\u030Cane@corp.test", createdAt: "2025-01-01T00:00:00Z" },
      { email: "\u01F0ane@corp.test", createdAt: "2025-03-01T00:00:00Z" },
      // No collision: only rewritten.
      { email: "w\u030Aolf@corp.test", createdAt: "2025-01-01T00:00:00Z" },
      { email: "MiXeD@Corp.Test", createdAt: "2025-01-01T00:00:00Z" },
      // Already canonical: untouched.
      { email: "jos\u00e9@corp.test", createdAt: "2025-01-01T00:00:00Z" },
      { email: "plain@corp.test", createdAt: "2025-01-01T00:00:00Z" },
      // Holds a character that is refused now: listed for an admin, cannot sign in.
      { email: "ali\u00ADce@corp.test", createdAt: "2025-01-01T00:00:00Z" },
    ]);
    const olderH = ids["\u1E96tag@corp.test"]!;
    const newerH = ids["h\u0331tag@corp.test"]!;
    const olderJ = ids["j\u030Cane@corp.test"]!;
    const newerJ = ids["\u01F0ane@corp.test"]!;
    // The colliding accounts have live sessions that must end.
    await createSession(t.auth, t.auth.db, { id: newerH }, { deviceName: "phone" });
    await createSession(t.auth, t.auth.db, { id: newerJ }, { deviceName: "laptop" });
    await createSession(t.auth, t.auth.db, { id: olderH }, { deviceName: "desk" });

    const logger = captureLogger();
    const result = await recanonicalizeEmails(t.auth, logger);

    expect((await userRow(olderH)).email).toBe("\u1E96tag@corp.test");
    expect((await userRow(olderJ)).email).toBe("\u01F0ane@corp.test");
    expect((await userRow(ids["w\u030Aolf@corp.test"]!)).email).toBe("\u1E98olf@corp.test");
    expect((await userRow(ids["MiXeD@Corp.Test"]!)).email).toBe("mixed@corp.test");
    expect((await userRow(ids["jos\u00e9@corp.test"]!)).email).toBe("jos\u00e9@corp.test");
    for (const loser of [newerH, newerJ]) {
      const row = await userRow(loser);
      expect(row.email).toBe(collisionPlaceholderEmail(loser));
      // No API call can take or sign in with the placeholder.
      expect(emailSchema.safeParse(row.email).success).toBe(false);
      expect(row.lockedAt).not.toBeNull();
    }
    expect((await userRow(olderH)).lockedAt).toBeNull();
    expect(result.recanonicalized).toBe(3);
    expect(result.collisions.map((c) => [c.userId, c.keptBy]).sort()).toEqual(
      [
        [newerH, olderH],
        [newerJ, olderJ],
      ].sort(),
    );
    expect(result.refusedCharacters).toEqual([ids["ali\u00ADce@corp.test"]]);

    // Sessions of the losers revoked through the normal pipeline; the keeper's stay.
    const live = await t.auth.db.select({ userId: sessions.userId, revokedAt: sessions.revokedAt }).from(sessions);
    expect(live.filter((s) => s.userId === newerH || s.userId === newerJ).every((s) => s.revokedAt !== null)).toBe(true);
    expect(live.find((s) => s.userId === olderH)?.revokedAt).toBeNull();
    const events = await t.auth.db.select().from(outboxEvents);
    expect(events).toHaveLength(2);
    for (const row of events) {
      const event = revocationEvent.parse(row.payload);
      expect(event).toMatchObject({ type: "user.revoked", lock: true, actor: { type: "system", id: null } });
      const collision = result.collisions.find((c) => c.eventId === event.eventId)!;
      expect("userId" in event && event.userId).toBe(collision.userId);
      expect(event.reason).toContain("email collision");
      expect(event.reason).toContain(collision.keptBy);
      expect(event.reason).not.toContain("@");
    }

    // One warning per collision and one for the refused characters: ids only, never an email.
    const warnings = logger.lines.filter((l) => l.level === "warn");
    expect(
      warnings
        .map((w) => (w.details as { userId?: string }).userId)
        .filter(Boolean)
        .sort(),
    ).toEqual([newerH, newerJ].sort());
    expect(JSON.stringify(logger.lines)).not.toMatch(/corp\.test/);

    // The worker applying an event writes the audit row admins read.
    for (const row of events) {
      await applyRevocationEvent(t.auth.db, revocationEvent.parse(row.payload), {
        publish: async () => {},
        publishNotBefore: async () => {},
        accessTokenTtlMs: 60_000,
      });
    }
    const audit = await t.auth.db
      .select()
      .from(auditLog)
      .where(inArray(auditLog.userId, [newerH, newerJ]));
    expect(audit.map((a) => a.reason).every((r) => r.startsWith("email collision"))).toBe(true);
    expect(audit).toHaveLength(2);

    // Either spelling of the address signs in to the account that kept it.
    const signedIn = await login(t.auth, { email: emailSchema.parse("H\u0331TAG@corp.test"), password: PASSWORD }, {});
    expect(signedIn.user.id).toBe(olderH);

    // Idempotent: a second run finds nothing to do and emits nothing.
    const before = await t.auth.db.select({ id: users.id, email: users.email, lockedAt: users.lockedAt }).from(users);
    const again = await recanonicalizeEmails(t.auth, captureLogger());
    expect(again).toMatchObject({ recanonicalized: 0, collisions: [] });
    expect(await t.auth.db.select({ id: users.id, email: users.email, lockedAt: users.lockedAt }).from(users)).toEqual(before);
    expect(await t.auth.db.select().from(outboxEvents)).toHaveLength(2);
  });

  it("processes started together run it one at a time: one event per collision", async () => {
    const ids = await insertUsers([
      { email: "\u1E97om@corp.test", createdAt: "2025-01-01T00:00:00Z" },
      { email: "t\u0308om@corp.test", createdAt: "2025-01-02T00:00:00Z" },
    ]);
    const eventsBefore = (await t.auth.db.select().from(outboxEvents)).length;
    // Three processes: each with a pool of its own, as auth servers and the CLI have.
    const handles = [0, 1, 2].map(() => createDb(t.database.url, { max: 2 }));
    try {
      const results = await Promise.all(
        handles.map((h) =>
          recanonicalizeEmails(
            createAuth({ db: h.db, keys: createTestKeyRing(), settings: { issuer: TEST_ISSUER, audience: TEST_AUDIENCE } }),
            captureLogger(),
          ),
        ),
      );
      expect(results.flatMap((r) => r.collisions).map((c) => c.userId)).toEqual([ids["t\u0308om@corp.test"]]);
    } finally {
      await Promise.all(handles.map((h) => h.close()));
    }
    expect((await t.auth.db.select().from(outboxEvents)).length).toBe(eventsBefore + 1);
    expect((await userRow(ids["\u1E97om@corp.test"]!)).email).toBe("\u1E97om@corp.test");
  });
});
