import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { AUDIT_TYPES, REVOCATION_EVENT_TYPES, auditTypeOf, type RevocationEvent } from "@warden/contracts";
import { auditLog, createDb, type DbHandle } from "@warden/db";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOGIN_SUCCEEDED } from "./audit.js";
import { createAuth } from "./context.js";
import { revokeUserSessions } from "./revoke.js";
import { createSession } from "./sessions.js";
import { createTestAuth, TEST_AUDIENCE, TEST_ISSUER, type TestAuth } from "./testing.js";
import { login, signup } from "./users.js";

let t: TestAuth;
let watched: DbHandle;
const statements: string[] = [];
const password = "correct horse battery";

beforeAll(async () => {
  t = await createTestAuth();
  watched = createDb(t.database.url, { max: 1, debug: (_c, query) => statements.push(query.replace(/\s+/g, " ").trim()) });
});
afterAll(async () => {
  await watched.close();
  await t.close();
});

/** The statements `run` sends through a one-connection pool (postgres.js's debug hook). */
async function statementsOf(run: () => Promise<unknown>): Promise<string[]> {
  statements.length = 0;
  await run().catch(() => {});
  return [...statements];
}

const kind = (q: string) => q.split(" ")[0]!.toLowerCase() + (/audit_log/.test(q) ? " audit_log" : "");

describe("audit rows of logins", () => {
  it("a login writes its row in the statement that opens the session; a refused one writes one statement, the same with or without an account", async () => {
    const auth = createAuth({ db: watched.db, keys: t.auth.keys, settings: { issuer: TEST_ISSUER, audience: TEST_AUDIENCE } });
    const email = `audited-${randomUUID()}@example.com`;
    await signup(t.auth, { email, password }, {});
    const client = { ip: "192.0.2.1", userAgent: "Audited/1.0" };
    await login(auth, { email, password }, client); // warms the connection (its first statements are type lookups)

    const success = await statementsOf(() => login(auth, { email, password }, client));
    expect(success.map(kind)).toEqual(["select", "with audit_log"]);

    const wrong = await statementsOf(() => login(auth, { email, password: "wrong password!" }, client));
    const unknown = await statementsOf(() => login(auth, { email: `nobody-${randomUUID()}@example.com`, password }, client));
    expect(wrong.map(kind)).toEqual(["select", "insert audit_log"]);
    expect(unknown).toEqual(wrong);
    console.log(
      `login: ${success.length} statements (the second opens the session and writes its audit row); ` +
        `a refused login: ${wrong.length} (1 for the audit), the same with or without an account`,
    );
    const rows = await t.database.db
      .select({ type: auditLog.type, ip: auditLog.ip })
      .from(auditLog)
      .where(eq(auditLog.ip, client.ip));
    expect(rows.map((r) => r.type).sort()).toEqual(["login.failed", "login.failed", "login.succeeded", "login.succeeded"]);
  });

  it("a refused login whose audit row cannot be written still answers its refusal, and the failure is logged without the email or password", async () => {
    const warnings: { details: object; message: string }[] = [];
    const settings = { issuer: TEST_ISSUER, audience: TEST_AUDIENCE };
    const logger = { warn: (details: object, message: string) => warnings.push({ details, message }) };
    const auth = createAuth({ db: t.database.db, keys: t.auth.keys, settings, logger });
    const strict = createAuth({
      db: t.database.db,
      keys: t.auth.keys,
      settings: { ...settings, requireVerifiedEmail: true },
      logger,
    });
    const email = `unaudited-${randomUUID()}@example.com`;
    const locked = `locked-${randomUUID()}@example.com`;
    await signup(t.auth, { email, password }, {});
    const { user } = await signup(t.auth, { email: locked, password }, {});
    await revokeUserSessions(t.auth, { userId: user.id, reason: "fraud", actor: { type: "system", id: null }, lock: true });
    // PostgreSQL itself refuses the refusals' rows (a full disk, a lost privilege would do the same).
    await t.database.sql.unsafe(`
      create function refuse_login_audit() returns trigger language plpgsql as $$
        begin raise exception 'audit_log is not writable'; end $$;
      create trigger refuse_login_audit before insert on audit_log
        for each row when (new.type in ('login.failed', 'login.refused')) execute function refuse_login_audit()`);
    try {
      const refusalOf = (attempt: Promise<unknown>) =>
        attempt.then(
          () => "OK",
          (error: { reason?: string }) => error.reason ?? String(error),
        );
      expect(await refusalOf(login(auth, { email, password: "wrong password!" }, { ip: "192.0.2.9" }))).toBe(
        "INVALID_CREDENTIALS",
      );
      expect(await refusalOf(login(auth, { email: `nobody-${randomUUID()}@example.com`, password }, {}))).toBe(
        "INVALID_CREDENTIALS",
      );
      expect(await refusalOf(login(auth, { email: locked, password }, {}))).toBe("ACCOUNT_LOCKED");
      expect(await refusalOf(login(strict, { email, password }, {}))).toBe("EMAIL_UNVERIFIED");
    } finally {
      await t.database.sql.unsafe(`drop trigger refuse_login_audit on audit_log; drop function refuse_login_audit()`);
    }
    expect(warnings).toEqual(
      ["INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "ACCOUNT_LOCKED", "EMAIL_UNVERIFIED"].map((refusal) => ({
        message: "a refused login could not be audited",
        details: { refusal, err: "audit_log is not writable" },
      })),
    );
    expect(JSON.stringify(warnings)).not.toMatch(/example\.com|wrong password|correct horse/);
  });

  it("what the audit row adds to a login, measured (printed, not asserted)", async () => {
    const email = `timed-${randomUUID()}@example.com`;
    const { user } = await signup(t.auth, { email, password }, {});
    const logins: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      await login(t.auth, { email, password }, { ip: "192.0.2.2" });
      logins.push(performance.now() - started);
    }
    // The statement that opens a session, prepared, as the login sends it: with its audit row and without.
    const runs = 300;
    const timed = async (audit: boolean) => {
      const started = performance.now();
      for (let i = 0; i < runs; i++) {
        await createSession(
          t.auth,
          t.auth.db,
          user,
          { ip: "192.0.2.3", userAgent: "Timed/1.0" },
          audit ? { audit: LOGIN_SUCCEEDED } : {},
        );
      }
      return (performance.now() - started) / runs;
    };
    await timed(true);
    const withAudit = await timed(true);
    const without = await timed(false);
    const inserted = withAudit - without;
    const median = logins.sort((x, y) => x - y)[Math.floor(logins.length / 2)]!;
    console.log(
      `login median ${median.toFixed(1)} ms over ${logins.length}; its audit insert ${(inserted * 1000).toFixed(0)} µs ` +
        `(${((inserted / median) * 100).toFixed(2)}% of a login; the statement without it ${(without * 1000).toFixed(0)} µs; ` +
        `means of ${runs})`,
    );
    expect(withAudit).toBeGreaterThan(0);
  });
});

describe("audit types", () => {
  it("every outbox event has an audit type, its own but for a lock, which reads as user.locked", () => {
    for (const type of REVOCATION_EVENT_TYPES) expect(AUDIT_TYPES).toContain(type);
    const base = {
      eventId: randomUUID(),
      reason: "r",
      actor: { type: "admin" as const, id: randomUUID() },
      at: 0,
      userId: randomUUID(),
    };
    const revoked = (lock: boolean): RevocationEvent => ({ ...base, type: "user.revoked", lock });
    expect(auditTypeOf(revoked(true))).toBe("user.locked");
    expect(auditTypeOf(revoked(false))).toBe("user.revoked");
    expect(auditTypeOf({ ...base, type: "user.deleted" })).toBe("user.deleted");
  });
});
