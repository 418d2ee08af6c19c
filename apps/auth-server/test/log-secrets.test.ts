import { createAdmin, createAuth, deriveOneTimeToken, hashToken } from "@warden/auth";
import { createTestAuth, createTestClock, TEST_AUDIENCE, TEST_ISSUER, type TestAuth } from "@warden/auth/testing";
import { createDb } from "@warden/db";
import { email, LogCapture, startTestServer, type TestServer } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@warden/server";

const clock = createTestClock(Date.now());
let t: TestAuth;
let server: TestServer;
const logs = new LogCapture();

beforeAll(async () => {
  t = await createTestAuth({ clock, settings: { refreshReuseGraceMs: 10_000 } });
  // The most talkative level: whatever any level would write, this run writes.
  server = await startTestServer(t.auth, { logger: createLogger("trace", logs) });
});
afterAll(async () => {
  await server.close();
  await t.close();
});

describe("no secret in logs", () => {
  it("database errors are logged without their query parameters", () => {
    const capture = new LogCapture();
    const logger = createLogger("info", capture);
    const failed = Object.assign(
      new Error('Failed query: insert into "users" values ($1, $2)\nparams: a@example.com,$argon2id$v=19$secret-hash'),
      {
        query: 'insert into "users" values ($1, $2)',
        params: ["a@example.com", "$argon2id$v=19$secret-hash"],
      },
    );
    logger.error({ err: new Error("transaction failed", { cause: failed }) }, "procedure failed");
    logger.error({ err: failed }, "procedure failed");
    expect(capture.text).toContain("Failed query: insert into");
    expect(capture.text).not.toContain("secret-hash");
  });

  it("a full flow, its failures and an outage leave no password, token, refresh token or hash in the logs, the audit or the outbox", async () => {
    const secrets: string[] = [];
    const keep = (...values: string[]) => secrets.push(...values.filter(Boolean));
    const password = "Sup3r-secret-passphrase-\u00e9";
    const adminPassword = "admin-passphrase-42!";
    keep(password, adminPassword);
    const userEmail = email("logs");
    const adminEmail = email("logs-admin");
    await createAdmin(t.auth, adminEmail, adminPassword);

    const signup = (await server.post("/trpc/auth.signup", { email: userEmail, password, deviceName: "laptop" })).body.result
      .data;
    keep(signup.accessToken, signup.refreshToken);
    const cookieSignup = await server.post("/trpc/auth.login", { email: userEmail, password }, { "x-warden-cookie": "1" });
    const cookie = (cookieSignup.headers.get("set-cookie") ?? "").split(";")[0]!;
    keep(cookie.split("=")[1]!, cookieSignup.body.result.data.accessToken);
    const cookieRefresh = await server.post("/trpc/auth.refresh", {}, { cookie, "x-warden-cookie": "1" });
    keep(
      (cookieRefresh.headers.get("set-cookie") ?? "").split(";")[0]!.split("=")[1]!,
      cookieRefresh.body.result.data.accessToken,
    );

    const login = (await server.post("/trpc/auth.login", { email: userEmail, password })).body.result.data;
    keep(login.accessToken, login.refreshToken);
    const admin = (await server.post("/trpc/auth.login", { email: adminEmail, password: adminPassword })).body.result.data;
    keep(admin.accessToken, admin.refreshToken);
    const auth = (token: string) => ({ authorization: `Bearer ${token}` });

    await server.get("/trpc/auth.me", undefined, auth(login.accessToken));
    await server.get("/trpc/sessions.list", undefined, auth(login.accessToken));
    const rotated = (await server.post("/trpc/auth.refresh", { refreshToken: login.refreshToken })).body.result.data;
    keep(rotated.accessToken, rotated.refreshToken);
    await server.post("/trpc/auth.refresh", { refreshToken: login.refreshToken }); // replay within grace
    clock.advance(60_000);
    await server.post("/trpc/auth.refresh", { refreshToken: login.refreshToken }); // reuse: session revoked

    // Failures that carry secrets in their input.
    await server.post("/trpc/auth.login", { email: userEmail, password: `${password}-wrong` });
    keep(`${password}-wrong`);
    await server.post("/trpc/auth.login", { email: "not-an-email", password });
    await server.post("/trpc/auth.signup", { email: userEmail, password: "x".repeat(2000) + password });
    await server.post("/trpc/auth.signup", `{"email": "${userEmail}", "password": "${password}"`); // broken JSON
    await server.post("/trpc/auth.signup", { email: userEmail, password: password.repeat(2000) }); // 413
    await server.get("/trpc/auth.login", { email: userEmail, password }); // input in the query string
    await server.get("/trpc/auth.me", undefined, { authorization: `Bearer ${signup.refreshToken}` });
    await server.get("/trpc/auth.me", undefined, { authorization: `Bearer ${signup.accessToken}x` });
    await server.post("/trpc/admin.revokeUser", { userId: signup.user.id, reason: "compromised" }, auth(admin.accessToken));
    await server.get("/trpc/auth.me", undefined, auth(signup.accessToken));
    // User management and the audit log.
    const asAdmin = auth(admin.accessToken);
    await server.get("/trpc/admin.users.list", { query: "logs" }, asAdmin);
    await server.post("/trpc/admin.revokeUser", { userId: signup.user.id, reason: "locked", lock: true }, asAdmin);
    await server.post("/trpc/admin.unlockUser", { userId: signup.user.id, reason: "cleared" }, asAdmin);
    await server.post("/trpc/admin.setRole", { userId: signup.user.id, role: "admin", reason: "helping" }, asAdmin);
    await server.post("/trpc/admin.setRole", { userId: signup.user.id, role: "user", reason: "done" }, asAdmin);
    await server.get("/trpc/admin.audit", { userId: signup.user.id }, asAdmin);
    const doomed = (await server.post("/trpc/auth.signup", { email: email("doomed"), password })).body.result.data;
    keep(doomed.accessToken, doomed.refreshToken);
    await server.post("/trpc/admin.deleteUser", { userId: doomed.user.id, reason: "erasure request" }, asAdmin);
    await server.post("/trpc/auth.logout", {}, auth(admin.accessToken));

    // The account flows: a password change (right and wrong current password), a reset through
    // its link, a verification link, and tokens of the wrong shape.
    const changer = (await server.post("/trpc/auth.login", { email: adminEmail, password: adminPassword })).body.result.data;
    keep(changer.accessToken, changer.refreshToken);
    const changedPassword = "changed-passphrase-\u00fc-9";
    keep(changedPassword);
    await server.post(
      "/trpc/auth.changePassword",
      { currentPassword: `${adminPassword}-no`, newPassword: changedPassword },
      auth(changer.accessToken),
    );
    keep(`${adminPassword}-no`);
    await server.post(
      "/trpc/auth.changePassword",
      { currentPassword: adminPassword, newPassword: changedPassword },
      auth(changer.accessToken),
    );
    await server.post("/trpc/auth.requestPasswordReset", { email: adminEmail });
    const [resetEvent] = await t.database.sql<{ id: string }[]>`
      select id from outbox_events where type = 'email.requested' and payload->>'kind' = 'password_reset' order by seq desc limit 1`;
    const resetToken = deriveOneTimeToken(t.auth.oneTimeKeys[0], resetEvent!.id);
    const resetPassword = "reset-passphrase-\u00e5-3";
    keep(resetToken, resetPassword);
    expect((await server.post("/trpc/auth.resetPassword", { token: resetToken, newPassword: resetPassword })).status).toBe(200);
    await server.post("/trpc/auth.resetPassword", { token: resetToken, newPassword: resetPassword }); // used: 400
    await server.post("/trpc/auth.resetPassword", { token: `${resetToken}x`, newPassword: resetPassword }); // malformed
    const [verifyEvent] = await t.database.sql<{ id: string }[]>`
      select id from outbox_events where type = 'email.requested' and payload->>'kind' = 'email_verification' order by seq desc limit 1`;
    const verifyToken = deriveOneTimeToken(t.auth.oneTimeKeys[0], verifyEvent!.id);
    keep(verifyToken);
    await server.post("/trpc/auth.verifyEmail", { token: verifyToken });
    await server.get("/trpc/auth.verifyEmail", { token: verifyToken }); // a mutation as GET, token in the query string

    // An outage: the database is gone while signing up and refreshing (errors logged with detail).
    const gone = createDb(t.database.url, { max: 1 });
    await gone.close();
    const broken = createAuth({ db: gone.db, keys: t.auth.keys, settings: { issuer: TEST_ISSUER, audience: TEST_AUDIENCE } });
    const outage = await startTestServer(broken, { logger: createLogger("trace", logs) });
    try {
      const outagePassword = "outage-passphrase-77";
      keep(outagePassword);
      expect((await outage.post("/trpc/auth.signup", { email: email("gone"), password: outagePassword })).status).toBe(503);
      expect((await outage.post("/trpc/auth.refresh", { refreshToken: rotated.refreshToken })).status).toBe(503);
    } finally {
      await outage.close();
    }

    const text = logs.text;
    expect(text.length).toBeGreaterThan(1000);
    for (const secret of secrets) expect(text.includes(secret), `a secret of length ${secret.length} is in the logs`).toBe(false);
    // Nor what they are stored as: argon2 hashes, refresh-token digests.
    expect(text).not.toContain("$argon2");
    for (const token of [signup.refreshToken, login.refreshToken, rotated.refreshToken, resetToken, verifyToken])
      expect(text).not.toContain(hashToken(token));
    // Nor in what the audit and the outbox keep of it all.
    const [stored] = await t.database.sql<{ rows: string }[]>`
      select (select coalesce(json_agg(a), '[]') from audit_log a)::text || (select coalesce(json_agg(o), '[]') from outbox_events o)::text as rows`;
    expect(stored!.rows).toContain("login.failed");
    for (const secret of secrets)
      expect(stored!.rows.includes(secret), `a secret of length ${secret.length} is stored`).toBe(false);
    expect(stored!.rows).not.toContain("$argon2");
    // Both the successful flow and the failures were logged (the check is not vacuous).
    expect(text).toContain("/trpc/auth.refresh");
    expect(text).toContain("/trpc/auth.signup");
  });

  it("a webhook's secret, answered once by admin.webhooks.create, is in no log line", async () => {
    const adminEmail = email("logs-webhooks");
    const adminPassword = "webhook-admin-passphrase";
    await createAdmin(t.auth, adminEmail, adminPassword);
    const admin = (await server.post("/trpc/auth.login", { email: adminEmail, password: adminPassword })).body.result.data;
    const headers = { authorization: `Bearer ${admin.accessToken}` };
    const created = await server.post(
      "/trpc/admin.webhooks.create",
      { url: "https://hooks.example.com/warden?token=in-the-url", events: ["session.revoked"] },
      headers,
    );
    const { id, secret } = created.body.result.data as { id: string; secret: string };
    expect(secret).toMatch(/^whsec_/);
    await server.get("/trpc/admin.webhooks.list", undefined, headers);
    await server.post("/trpc/admin.webhooks.test", { id }, headers);
    await server.post("/trpc/admin.webhooks.create", { url: "http://hooks.example.com/", events: ["session.revoked"] }, headers);
    await server.post("/trpc/admin.webhooks.delete", { id }, headers);
    const text = logs.text;
    expect(text).toContain("/trpc/admin.webhooks.create");
    expect(text).not.toContain(secret.slice("whsec_".length));
    expect(text).not.toContain(Buffer.from(secret.slice("whsec_".length), "base64").toString("hex"));
  });
});
