import path from "node:path";
import { startMailbox, startWardenSystem, type Mailbox, type ReceivedMail, type WardenSystem } from "@warden/testing";
import { createWardenClient, memoryStore, WardenSessionEndedError, type WardenClient } from "@warden/client";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CONSOLE_DIR, startConsoleBrowser, type ConsoleBrowser } from "./browser.js";

const VICTIM = { email: "victim@example.com", password: "victim password 1" };

let consoleBrowser: ConsoleBrowser;
let system: WardenSystem;
/** Where the worker sends the emails (real SMTP on loopback); their links point at system.url/console/. */
let mailbox: Mailbox;
/** The bootstrap admin's password: the reset and change-password tests below change it. */
let adminPassword: string;
let browser: BrowserContext;
let page: Page;
let victim: WardenClient;
let victimPhone: WardenClient;

const shot = (name: string) => consoleBrowser.shot(name);
const fitsPhoneAndDesktop = (name: string) => consoleBrowser.fitsPhoneAndDesktop(name);

beforeAll(async () => {
  mailbox = await startMailbox();
  consoleBrowser = await startConsoleBrowser((consoleDir) => startWardenSystem({ consoleDir, mail: { smtpUrl: mailbox.url } }));
  ({ system, browser, page } = consoleBrowser);
  adminPassword = system.admin.password;
  victim = createWardenClient({ url: system.url, store: memoryStore() });
  await victim.signup({ ...VICTIM, deviceName: "victim laptop" });
  victimPhone = createWardenClient({ url: system.url, store: memoryStore() });
  await victimPhone.login({ ...VICTIM, deviceName: "victim phone" });
});

afterAll(async () => {
  await consoleBrowser?.close();
  await mailbox?.close();
});

it("an admin signs in, finds a user, revokes a session and then the account with a lock, watches pending turn applied, and the user's client loses its session", async () => {
  // Sign in (cookie mode: the refresh token is an httpOnly cookie the page cannot read).
  await page.goto(`${system.url}/console/`);
  await page.getByRole("form", { name: "Sign in" }).waitFor();
  await page.getByLabel("Email").fill(system.admin.email);
  await page.getByLabel("Password").fill("wrong password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").textContent()).resolves.toContain("Wrong email or password");
  await fitsPhoneAndDesktop("01-login");
  // The page's icon, served by the auth server beside the build.
  const icon = await page.locator('link[rel="icon"]').getAttribute("href");
  expect(icon).toBe("/console/favicon.svg");
  const iconResponse = await page.request.get(`${system.url}${icon}`);
  expect(iconResponse.status()).toBe(200);
  expect(iconResponse.headers()["content-type"]).toMatch(/^image\/svg\+xml/);
  expect(await iconResponse.text()).toContain("<svg");
  await page.getByLabel("Password").fill(system.admin.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("whoami").textContent()).resolves.toBe(system.admin.email);
  const refreshCookie = (await browser.cookies(`${system.url}/trpc`)).find((c) => c.name === "warden-refresh");
  expect(refreshCookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/trpc" });
  expect(await page.evaluate(() => document.cookie)).not.toContain("warden-refresh");

  // A reload resumes the session from the cookie.
  await page.reload();
  await expect(page.getByTestId("whoami").textContent()).resolves.toBe(system.admin.email);

  // Find the user in the list, open them: sessions with device, IP, last seen.
  await page.getByLabel("Search users by email").fill("nobody@example.com");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await expect(page.getByTestId("users").locator("td.empty").textContent()).resolves.toBe("No users match.");
  await page.getByLabel("Search users by email").fill(VICTIM.email);
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.getByRole("button", { name: VICTIM.email }).click();
  const laptop = page.getByTestId("sessions").locator("tbody tr", { hasText: "victim laptop" });
  const phone = page.getByTestId("sessions").locator("tbody tr", { hasText: "victim phone" });
  await expect(laptop.textContent()).resolves.toMatch(/victim laptop127\.0\.0\.1\d+s ago.*active/);
  await expect(phone.locator(".state").textContent()).resolves.toBe("active");
  await expect(page.getByTestId("lock-state").textContent()).resolves.toBe("not locked");
  await fitsPhoneAndDesktop("02-user");

  // Revoke one session (the phone) after a confirmation; it is applied and that client is out.
  await phone.getByRole("button", { name: "Revoke" }).click();
  await page.getByRole("dialog").getByLabel("Reason").fill("lost phone");
  await page.getByRole("dialog").getByRole("button", { name: "Revoke session" }).click();
  await page.locator("[data-testid=revocation-status][data-state=applied]").waitFor();
  await expect(phone.locator(".state").textContent()).resolves.toBe("revoked");
  await expect(laptop.locator(".state").textContent()).resolves.toBe("active");
  await expect(victimPhone.api.auth.me.query()).rejects.toBeInstanceOf(WardenSessionEndedError);
  await expect(victim.api.auth.me.query()).resolves.toMatchObject({ user: { email: VICTIM.email } });

  // Revoke the whole account, with a reason and a lock, after a confirmation. The worker is
  // stopped first, so the console shows the event pending until the worker is back and applies it.
  await system.stopWorker();
  await page.getByRole("button", { name: "Revoke all sessions…" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Reason").fill("credential stuffing");
  await dialog.getByLabel("Also lock the account").check();
  await fitsPhoneAndDesktop("03-confirm");
  await dialog.getByRole("button", { name: "Revoke all sessions" }).click();

  const status = page.getByTestId("revocation-status").filter({ hasText: "All sessions of victim@example.com (account locked)" });
  await status.and(page.locator("[data-state=pending]")).waitFor();
  await shot("04-pending");
  await system.startWorker();
  await status.and(page.locator("[data-state=applied]")).waitFor();
  await expect(status.textContent()).resolves.toMatch(/applied in \d+ ms/);
  await expect(page.getByTestId("lock-state").textContent()).resolves.toBe("locked");
  await expect(laptop.locator(".state").textContent()).resolves.toBe("revoked");
  await shot("05-applied");
  const eventId = (await status.locator("code").textContent()) ?? "";
  expect(eventId).toMatch(/^[0-9a-f-]{36}$/);

  // The user's own client is told its session is over, and cannot sign in again (locked).
  const ended = new Promise<{ reason: string }>((resolve) => victim.onSessionEnded(resolve));
  await expect(victim.api.auth.me.query()).rejects.toBeInstanceOf(WardenSessionEndedError);
  await expect(ended).resolves.toMatchObject({ reason: expect.stringMatching(/SESSION_REVOKED|REFRESH_TOKEN_REVOKED/) });
  await expect(createWardenClient({ url: system.url, store: memoryStore() }).login(VICTIM)).rejects.toMatchObject({
    reason: "ACCOUNT_LOCKED",
  });

  // The audit view lists the applied revocation (a lock reads as user.locked).
  await page.getByTestId("tab-audit").click();
  const auditRow = page.locator(`[data-event-id="${eventId}"]`);
  await expect(auditRow.textContent()).resolves.toMatch(/user\.locked.*credential stuffing/);
  await fitsPhoneAndDesktop("06-audit");
});

it("the auth server answers the console's own pages (the emailed links) with its index.html, and a missing file with a 404", async () => {
  const index = await (await fetch(`${system.url}/console/`)).text();
  for (const page of ["/console/reset-password", "/console/verify-email", "/console/verify-email?from=mail"]) {
    const res = await fetch(`${system.url}${page}`);
    expect(res.status, page).toBe(200);
    expect(res.headers.get("content-type"), page).toBe("text/html; charset=utf-8");
    expect(await res.text(), page).toBe(index);
  }
  const missing = await fetch(`${system.url}/console/assets/no-such-file.js`);
  expect(missing.status).toBe(404);
  expect(((await missing.json()) as { error: { data: { reason: string } } }).error.data.reason).toBe("NOT_FOUND");
});

const mailTo = (address: string, subject: RegExp) => (mail: ReceivedMail) =>
  mail.to.includes(address) && subject.test(mail.subject);

/** An emailed link, opened as a click in the email does: a page load of its own. */
async function openEmailLink(link: string) {
  await page.goto("about:blank");
  await page.goto(link);
}

/** A client of its own, signed in as the bootstrap admin with its current password. */
async function adminSession(): Promise<WardenClient> {
  const client = createWardenClient({ url: system.url, store: memoryStore() });
  await client.login({ email: system.admin.email, password: adminPassword });
  return client;
}

/** The console's login form, signing out first if the page resumes a session. */
async function signedOutConsole() {
  await page.goto(`${system.url}/console/`);
  const signOut = page.getByRole("button", { name: "Sign out" });
  const form = page.getByRole("form", { name: "Sign in" });
  await signOut.or(form).first().waitFor();
  if (await signOut.isVisible()) {
    await signOut.click();
    await form.waitFor();
  }
}

/** Signs in on the console's login form (signing out first if a session is open). */
async function signInOnConsole(password: string) {
  await signedOutConsole();
  await page.getByLabel("Email").fill(system.admin.email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

it("a reset asked for on the login form arrives by email; its link, opened in Chromium, sets a new password, ends every session, and the new password signs in", async () => {
  const elsewhere = await adminSession();
  await signedOutConsole();
  await page.getByRole("button", { name: "Forgot password?" }).click();
  const forgot = page.getByRole("form", { name: "Reset password" });
  await forgot.getByLabel("Email").fill(system.admin.email);
  await forgot.getByRole("button", { name: "Send reset link" }).click();
  await expect(forgot.getByRole("status").textContent()).resolves.toContain(
    `If an account exists for ${system.admin.email}, an email is on its way`,
  );
  await fitsPhoneAndDesktop("07-forgot-password");

  const mail = await mailbox.waitFor(mailTo(system.admin.email, /reset your password/i));
  const link = mail.links[0]!;
  expect(link).toMatch(new RegExp(`^${system.url}/console/reset-password#token=[A-Za-z0-9_-]{43}$`));
  await openEmailLink(link);
  const reset = page.getByRole("region", { name: "Set a new password" });
  await reset.getByLabel("New password", { exact: true }).waitFor();
  // The token leaves the address bar (and the history) as soon as the page has read it.
  expect(page.url()).toBe(`${system.url}/console/reset-password`);
  await fitsPhoneAndDesktop("08-reset-password");

  const newPassword = "a reset admin passphrase";
  const setPassword = async (first: string, second = first) => {
    await reset.getByLabel("New password", { exact: true }).fill(first);
    await reset.getByLabel("New password again").fill(second);
    await reset.getByRole("button", { name: "Set password" }).click();
  };
  await setPassword(newPassword, "something else entirely");
  await expect(reset.getByRole("alert").textContent()).resolves.toBe("The two passwords differ. Type the same one twice.");
  await setPassword("short"); // the server's rule (VALIDATION_FAILED), said plainly
  await expect(reset.getByRole("alert").textContent()).resolves.toBe("The new password must be at least 8 characters.");
  await setPassword(newPassword);
  await reset.locator("[data-testid=reset-result][data-state=done]").waitFor();
  await expect(reset.getByRole("status").textContent()).resolves.toContain("Your password is set");
  await fitsPhoneAndDesktop("09-reset-done");
  await expect(elsewhere.api.auth.me.query()).rejects.toBeInstanceOf(WardenSessionEndedError);

  // The link works once.
  await openEmailLink(link);
  await setPassword("yet another passphrase");
  await expect(reset.getByRole("alert").textContent()).resolves.toMatch(/^This link has expired or was already used/);
  await shot("10-reset-link-used");

  // The new password signs in on the console; the old one no longer does.
  await reset.getByRole("link", { name: "Go to sign-in" }).click();
  await signInOnConsole(adminPassword);
  await expect(page.getByRole("alert").textContent()).resolves.toContain("Wrong email or password");
  adminPassword = newPassword;
  await signInOnConsole(adminPassword);
  await expect(page.getByTestId("whoami").textContent()).resolves.toBe(system.admin.email);

  // An account locked after its reset email was sent: the link says so, the password stays.
  const lockedEmail = "locked-later@example.com";
  const locked = createWardenClient({ url: system.url, store: memoryStore() });
  const { user } = await locked.signup({ email: lockedEmail, password: "locked user password" });
  await locked.api.auth.requestPasswordReset.mutate({ email: lockedEmail });
  const lockedMail = await mailbox.waitFor(mailTo(lockedEmail, /reset your password/i));
  const admin = await adminSession();
  await admin.api.admin.revokeUser.mutate({ userId: user.id, reason: "locked for the test", lock: true });
  await admin.logout();
  await openEmailLink(lockedMail.links[0]!);
  await setPassword("a passphrase for nothing");
  await expect(reset.getByRole("alert").textContent()).resolves.toMatch(/^This account is locked/);
});

it("a verification link opened in Chromium marks the email verified, once", async () => {
  const reader = createWardenClient({ url: system.url, store: memoryStore() });
  const readerEmail = "reader@example.com";
  const { user } = await reader.signup({ email: readerEmail, password: "reader password 1" });
  // (auth.me is not asked before: it may answer from a cache for a few seconds.)
  expect(user.emailVerified).toBe(false);
  const mail = await mailbox.waitFor(mailTo(readerEmail, /confirm your email/i));
  const link = mail.links[0]!;
  expect(link).toMatch(new RegExp(`^${system.url}/console/verify-email#token=[A-Za-z0-9_-]{43}$`));

  await openEmailLink(link);
  const result = page.getByTestId("verify-result");
  await page.locator("[data-testid=verify-result][data-state=verified]").waitFor();
  await expect(result.textContent()).resolves.toBe("Your email address is verified. You can close this page.");
  expect(page.url()).toBe(`${system.url}/console/verify-email`);
  await fitsPhoneAndDesktop("11-verify-email");
  expect((await reader.api.auth.me.query()).user.emailVerified).toBe(true);

  // Pasted into the tab that shows the page (only the fragment changes): read afresh, and used already.
  await page.goto(link);
  await page.locator("[data-testid=verify-result][data-state=failed]").waitFor();
  await expect(result.textContent()).resolves.toMatch(/^This link has expired or was already used/);
  await page.goto(`${system.url}/console/verify-email`);
  await expect(result.textContent()).resolves.toMatch(/^This link is incomplete/);
});

it("the signed-in admin changes their password on the Account tab: a wrong current one is refused, other sessions end, this one stays", async () => {
  await signInOnConsole(adminPassword);
  await expect(page.getByTestId("whoami").textContent()).resolves.toBe(system.admin.email);
  const elsewhere = await adminSession();
  await page.getByTestId("tab-account").click();
  const form = page.getByRole("form", { name: "Change password" });
  await form.waitFor();
  await fitsPhoneAndDesktop("12-change-password");

  const newPassword = "a changed admin passphrase";
  const change = async (current: string, next: string, again = next) => {
    await form.getByLabel("Current password").fill(current);
    await form.getByLabel("New password", { exact: true }).fill(next);
    await form.getByLabel("New password again").fill(again);
    await form.getByRole("button", { name: "Change password" }).click();
  };
  await change("not the password", newPassword);
  await expect(form.getByRole("alert").textContent()).resolves.toBe("The current password is wrong.");
  await change(adminPassword, newPassword, "something else");
  await expect(form.getByRole("alert").textContent()).resolves.toBe("The two new passwords differ. Type the same one twice.");
  await expect(elsewhere.api.auth.me.query()).resolves.toMatchObject({ user: { email: system.admin.email } });

  await change(adminPassword, newPassword);
  await expect(form.getByTestId("password-changed").textContent()).resolves.toBe(
    "Password changed. 1 other session was signed out; this one stays signed in.",
  );
  adminPassword = newPassword;
  await fitsPhoneAndDesktop("13-password-changed");
  await expect(elsewhere.api.auth.me.query()).rejects.toBeInstanceOf(WardenSessionEndedError);
  // This session goes on, across a reload too (the refresh cookie still works).
  await page.reload();
  await expect(page.getByTestId("whoami").textContent()).resolves.toBe(system.admin.email);
  await expect(adminSession()).resolves.toBeDefined();
});

it("the Vite dev server serves the console and proxies /trpc to the auth server (same origin for the cookie)", async () => {
  const { createServer } = await import("vite");
  process.env.WARDEN_URL = system.url; // read by env.ts (vite.config.ts) for the proxy target
  const dev = await createServer({
    root: CONSOLE_DIR,
    configFile: path.join(CONSOLE_DIR, "vite.config.ts"),
    server: { port: 0 },
    logLevel: "silent",
  });
  try {
    await dev.listen();
    const address = dev.httpServer?.address();
    if (!address || typeof address === "string") throw new Error("dev server has no port");
    const base = `http://127.0.0.1:${address.port}`;
    const html = await fetch(`${base}/console/`);
    expect(html.status).toBe(200);
    expect(await html.text()).toContain('<div id="root">');
    const login = await fetch(`${base}/trpc/auth.login`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-warden-cookie": "1" },
      body: JSON.stringify({ email: system.admin.email, password: adminPassword }),
    });
    expect(login.status).toBe(200);
    expect(login.headers.get("set-cookie")).toMatch(/warden-refresh=.*HttpOnly.*SameSite=Strict/i);
  } finally {
    await dev.close();
    delete process.env.WARDEN_URL;
  }
});
