import { createWardenClient, memoryStore, WardenSessionEndedError, type WardenClient } from "@warden/client";
import { startWardenSystem, startWebhookReceiver, waitFor, type WardenSystem, type WebhookReceiver } from "@warden/testing";
import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConsoleBrowser, type ConsoleBrowser } from "./browser.js";

/**
 * The console's user management, audit and webhook pages, driven in Chromium against the real
 * system: an auth server serving the built console, an admin worker, a webhook receiver on loopback
 * (WEBHOOKS_ALLOW_LOCAL, on server and worker).
 */
let consoleBrowser: ConsoleBrowser;
let system: WardenSystem;
let page: Page;
let receiver: WebhookReceiver;
let admin: WardenClient;
const PASSWORD = "managed user password";
/** Enough accounts for two pages of the users list (20 a page), signed up oldest first. */
const MEMBERS = Array.from({ length: 25 }, (_, i) => `member-${String(i + 1).padStart(2, "0")}@paging.test`);

async function signUp(email: string): Promise<WardenClient> {
  const client = createWardenClient({ url: system.url, store: memoryStore() });
  await client.signup({ email, password: PASSWORD, deviceName: `${email.split("@")[0]}'s laptop` });
  return client;
}
const idOf = async (email: string) => (await admin.api.admin.users.find.query({ email })).user.id;

const usersTable = () => page.getByTestId("users");
const emailsShown = async () =>
  (await usersTable().locator("tbody tr td[data-label=Email]").allTextContents()).map((e) => e.trim());
const dialog = () => page.getByRole("dialog");

/** The users list, searched; waits for the rows of the answer (not the page shown before). */
async function searchUsers(query: string, firstEmail?: string) {
  await page.getByTestId("tab-users").click();
  const back = page.getByRole("button", { name: "← All users" });
  if (await back.isVisible()) await back.click();
  await page.getByLabel("Search users by email").fill(query);
  await page.getByLabel("Search users by email").press("Enter");
  await usersTable().and(page.locator("[aria-busy=false]")).waitFor();
  if (firstEmail) await usersTable().locator("tbody tr").first().filter({ hasText: firstEmail }).waitFor();
}

/** A user's detail page, from the list. */
async function openUser(email: string) {
  await searchUsers(email, email);
  await page.getByRole("button", { name: email, exact: true }).click();
  await page.getByRole("heading", { name: email }).waitFor();
}

/** Fills the confirmation's reason and confirms; the dialog is gone once the call succeeded. */
async function confirmWithReason(confirmLabel: string, reason: string) {
  await dialog().getByLabel("Reason").fill(reason);
  await dialog().getByRole("button", { name: confirmLabel }).click();
  await dialog().waitFor({ state: "detached" });
}

const textOf = (locator: Locator) => locator.textContent().then((t) => t?.trim());

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  consoleBrowser = await startConsoleBrowser((consoleDir) =>
    startWardenSystem({ consoleDir, env: { WEBHOOKS_ALLOW_LOCAL: "true" } }),
  );
  ({ system, page } = consoleBrowser);
  admin = createWardenClient({ url: system.url, store: memoryStore() });
  await admin.login({ email: system.admin.email, password: system.admin.password });
  for (const email of MEMBERS) await signUp(email);
  for (const email of ["promote-me@example.com", "locked@example.com", "delete-me@example.com"]) await signUp(email);
  await admin.api.admin.revokeUser.mutate({ userId: await idOf("locked@example.com"), reason: "fraud check", lock: true });

  await page.goto(`${system.url}/console/`);
  await page.getByLabel("Email").fill(system.admin.email);
  await page.getByLabel("Password").fill(system.admin.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(textOf(page.getByTestId("whoami"))).resolves.toBe(system.admin.email);
}, 180_000);

afterAll(async () => {
  await consoleBrowser?.close();
  await receiver?.close();
});

describe("Users", () => {
  it("searches and pages through users: Next goes on where the page ended even when someone signs up meanwhile, Previous comes back; role and lock filters narrow the list", async () => {
    const newestFirst = [...MEMBERS].reverse();
    await searchUsers("@PAGING.test", newestFirst[0]);
    expect(await emailsShown()).toEqual(newestFirst.slice(0, 20));
    await expect(textOf(page.getByTestId("page-number"))).resolves.toBe("Page 1");
    await expect(page.getByRole("button", { name: "Previous page" }).isDisabled()).resolves.toBe(true);
    await consoleBrowser.fitsPhoneAndDesktop("20-users");

    // Someone signs up between two pages: the second page still starts after the first one's last user.
    await signUp("member-26@paging.test");
    await page.getByRole("button", { name: "Next page" }).click();
    await usersTable().locator("tbody tr").first().filter({ hasText: newestFirst[20]! }).waitFor();
    expect(await emailsShown()).toEqual(newestFirst.slice(20));
    await expect(textOf(page.getByTestId("page-number"))).resolves.toBe("Page 2");
    await expect(page.getByRole("button", { name: "Next page" }).isDisabled()).resolves.toBe(true);
    await consoleBrowser.fitsPhoneAndDesktop("21-users-page-2");
    await page.getByRole("button", { name: "Previous page" }).click();
    await usersTable().locator("tbody tr").first().filter({ hasText: "member-26@paging.test" }).waitFor();
    expect(await emailsShown()).toEqual(["member-26@paging.test", ...newestFirst.slice(0, 19)]);

    await searchUsers("");
    await page.getByLabel("Role").selectOption("admin");
    await usersTable().locator("tbody tr").first().filter({ hasText: system.admin.email }).waitFor();
    expect(await emailsShown()).toEqual([system.admin.email]);
    await page.getByLabel("Role").selectOption("");
    await page.getByLabel("Lock state").selectOption("locked");
    await usersTable().locator("tbody tr").first().filter({ hasText: "locked@example.com" }).waitFor();
    expect(await emailsShown()).toEqual(["locked@example.com"]);
    await expect(textOf(usersTable().locator("tbody tr td[data-label=Locked]"))).resolves.toBe("locked");
    await page.getByLabel("Lock state").selectOption("");
    await searchUsers("no-such-address");
    await expect(textOf(usersTable().locator("td.empty"))).resolves.toBe("No users match.");
  });

  it("promotes then demotes a user, each behind a confirmation that needs a reason (the demotion by keyboard alone); the last admin's demotion is refused with LAST_ADMIN's message", async () => {
    await openUser("promote-me@example.com");
    await expect(textOf(page.getByTestId("sessions").locator("tbody tr td[data-label=Device]"))).resolves.toBe(
      "promote-me's laptop",
    );
    await consoleBrowser.fitsPhoneAndDesktop("22-user-detail");

    await page.getByRole("button", { name: "Promote to admin…" }).click();
    const confirm = dialog().getByRole("button", { name: "Promote to admin" });
    await expect(confirm.isDisabled()).resolves.toBe(true);
    await dialog().getByLabel("Reason").fill("on call this week");
    await expect(confirm.isDisabled()).resolves.toBe(false);
    await consoleBrowser.fitsPhoneAndDesktop("23-confirm-promote");
    await confirm.click();
    await dialog().waitFor({ state: "detached" });
    await expect(textOf(page.getByTestId("user-notice"))).resolves.toBe("promote-me@example.com is now an admin.");
    await expect(textOf(page.getByTestId("role"))).resolves.toBe("admin");
    expect((await admin.api.admin.users.find.query({ email: "promote-me@example.com" })).user.role).toBe("admin");

    // By keyboard: the button takes Enter, the dialog opens on its Reason field, Escape closes it and
    // gives focus back to the button; Enter in the field confirms.
    const demote = page.getByRole("button", { name: "Demote to user…" });
    await demote.focus();
    await page.keyboard.press("Enter");
    await expect(
      dialog()
        .getByLabel("Reason")
        .evaluate((el) => el === document.activeElement),
    ).resolves.toBe(true);
    await page.keyboard.press("Escape");
    await dialog().waitFor({ state: "detached" });
    await expect(demote.evaluate((el) => el === document.activeElement)).resolves.toBe(true);
    await page.keyboard.press("Enter");
    await page.keyboard.type("rota over");
    await page.keyboard.press("Enter");
    await dialog().waitFor({ state: "detached" });
    await expect(textOf(page.getByTestId("user-notice"))).resolves.toBe("promote-me@example.com is now a plain user.");
    await expect(textOf(page.getByTestId("role"))).resolves.toBe("user");

    // The bootstrap admin is now the only unlocked admin: demoting it is refused, and it stays admin.
    await openUser(system.admin.email);
    await page.getByRole("button", { name: "Demote to user…" }).click();
    await dialog().getByLabel("Reason").fill("leaving the team");
    await dialog().getByRole("button", { name: "Demote to user" }).click();
    await expect(textOf(dialog().getByRole("alert"))).resolves.toBe(
      "This is the last unlocked admin: promote or unlock another one first.",
    );
    await consoleBrowser.fitsPhoneAndDesktop("24-last-admin");
    await dialog().getByRole("button", { name: "Cancel" }).click();
    await expect(textOf(page.getByTestId("role"))).resolves.toBe("admin");
    expect((await admin.api.admin.users.find.query({ email: system.admin.email })).user.role).toBe("admin");
  });

  it("at phone size: unlocks a locked user, then deletes a user after typing a reason and the email, and the user is gone", async () => {
    await consoleBrowser.resize("phone");
    await openUser("locked@example.com");
    await expect(textOf(page.getByTestId("lock-state"))).resolves.toBe("locked");
    await page.getByRole("button", { name: "Unlock…" }).click();
    await confirmWithReason("Unlock", "fraud check cleared");
    await expect(textOf(page.getByTestId("lock-state"))).resolves.toBe("not locked");
    await expect(textOf(page.getByTestId("user-notice"))).resolves.toBe("locked@example.com can sign in again.");
    await createWardenClient({ url: system.url, store: memoryStore() }).login({
      email: "locked@example.com",
      password: PASSWORD,
    });

    const leaving = createWardenClient({ url: system.url, store: memoryStore() });
    await leaving.login({ email: "delete-me@example.com", password: PASSWORD });
    await openUser("delete-me@example.com");
    await page.getByRole("button", { name: "Delete user…" }).click();
    const confirm = dialog().getByRole("button", { name: "Delete user" });
    await dialog().getByLabel("Reason").fill("asked to be forgotten");
    await expect(confirm.isDisabled()).resolves.toBe(true);
    await dialog().getByLabel("Type delete-me@example.com to confirm").fill("delete-me@example.org");
    await expect(confirm.isDisabled()).resolves.toBe(true);
    await dialog().getByLabel("Type delete-me@example.com to confirm").fill("delete-me@example.com");
    await expect(confirm.isDisabled()).resolves.toBe(false);
    await consoleBrowser.fitsPhoneAndDesktop("25-confirm-delete");
    await consoleBrowser.resize("phone");
    await confirm.click();

    // Back on the list, the deletion's revocation followed to applied; the account is no longer listed.
    const status = page
      .getByTestId("revocation-status")
      .filter({ hasText: "All sessions of delete-me@example.com (account deleted)" });
    await status.and(page.locator("[data-state=applied]")).waitFor();
    await expect(emailsShown()).resolves.not.toContain("delete-me@example.com");
    await consoleBrowser.fitsPhoneAndDesktop("26-user-deleted");
    await searchUsers("delete-me");
    await expect(textOf(usersTable().locator("td.empty"))).resolves.toBe("No users match.");
    await expect(leaving.api.auth.me.query()).rejects.toBeInstanceOf(WardenSessionEndedError);
  });
});

describe("Audit log", () => {
  it("filters by user email, type and time narrow the rows; each row shows emails, actor, IP, user agent and reason", async () => {
    await page.getByTestId("tab-audit").click();
    const rows = page.getByTestId("audit").locator("tbody tr");
    await rows.first().waitFor();
    const filters = page.getByRole("form", { name: "Filter the audit log" });
    const apply = async () => {
      await filters.getByRole("button", { name: "Apply filters" }).click();
      await page.getByTestId("audit").and(page.locator("[aria-busy=false]")).waitFor();
    };

    // Two role changes of promote-me, made in this browser: emails, actor, address, user agent, reason.
    await waitFor(async () => (await admin.api.admin.audit.query({ type: "user.role_changed" })).items.length === 2, 20_000);
    await filters.getByLabel("User (email or id)").fill("promote-me@example.com");
    await filters.getByLabel("Type").selectOption("user.role_changed");
    await apply();
    await rows.nth(1).waitFor();
    expect(await rows.count()).toBe(2);
    const [down, up] = [rows.nth(0), rows.nth(1)];
    await expect(textOf(down.locator("td[data-label=User]"))).resolves.toBe("promote-me@example.com");
    await expect(textOf(down.locator("td[data-label=Actor]"))).resolves.toBe(`admin · ${system.admin.email}`);
    await expect(textOf(down.locator("td[data-label=Reason]"))).resolves.toBe("rota over");
    await expect(textOf(up.locator("td[data-label=Reason]"))).resolves.toBe("on call this week");
    await expect(textOf(down.locator("td[data-label=IP]"))).resolves.toBe("127.0.0.1");
    await expect(textOf(down.locator("td[data-label='User agent']"))).resolves.toMatch(/Chrome/);
    await consoleBrowser.fitsPhoneAndDesktop("27-audit-filtered");

    // The user alone: every row is about them or made by them.
    await filters.getByLabel("Type").selectOption("");
    await apply();
    const aboutThem = await rows.allTextContents();
    expect(aboutThem.length).toBeGreaterThan(2);
    for (const row of aboutThem) expect(row).toContain("promote-me@example.com");

    // A time range after now: nothing. A deleted account reads as such.
    const tomorrow = new Date(Date.now() + 86_400_000);
    const local = new Date(tomorrow.getTime() - tomorrow.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await filters.getByLabel("User (email or id)").fill("");
    await filters.getByLabel("From").fill(local);
    await apply();
    await expect(textOf(rows.locator("td.empty"))).resolves.toBe("No entries match these filters.");
    await filters.getByLabel("From").fill("");
    await filters.getByLabel("Type").selectOption("user.deleted");
    await apply();
    await rows.first().filter({ hasText: "asked to be forgotten" }).waitFor();
    await expect(textOf(rows.first().locator("td[data-label=User]"))).resolves.toBe("deleted user");

    await filters.getByLabel("User (email or id)").fill("nobody@example.com");
    await filters.getByRole("button", { name: "Apply filters" }).click();
    await expect(textOf(page.getByRole("alert"))).resolves.toBe("No user with that email.");

    // Cleared: the whole log, 50 a page, older entries on demand.
    await filters.getByRole("button", { name: "Clear" }).click();
    await rows.nth(49).waitFor();
    expect(await rows.count()).toBe(50);
    await page.getByRole("button", { name: "Older entries" }).click();
    await rows.nth(50).waitFor();
    await consoleBrowser.fitsPhoneAndDesktop("28-audit");
  });
});

describe("Webhooks", () => {
  it("refuses a bad URL with the server's reason, creates one to a local receiver showing the secret once (copied), sends a test that succeeds, and deletes it", async () => {
    await page.getByTestId("tab-webhooks").click();
    const table = page.getByTestId("webhooks");
    await expect(textOf(table.locator("td.empty"))).resolves.toBe("No webhooks yet.");
    const form = page.getByRole("form", { name: "Create a webhook" });

    await form.getByLabel("Endpoint URL").fill("https://10.1.2.3/hook");
    await form.getByLabel("session.revoked").check();
    await form.getByRole("button", { name: "Create webhook" }).click();
    await expect(textOf(form.getByRole("alert"))).resolves.toBe(
      "The URL must not point to a private address: 10.1.2.3 is a private address: webhooks may only call public addresses.",
    );
    await form.getByLabel("session.revoked").uncheck();
    await form.getByLabel("Endpoint URL").fill(receiver.url);
    await form.getByRole("button", { name: "Create webhook" }).click();
    await expect(textOf(form.getByRole("alert"))).resolves.toBe("Events must name at least one event type.");

    await form.getByLabel("Description (optional)").fill("test receiver");
    await form.getByLabel("session.revoked").check();
    await form.getByLabel("user.locked").check();
    await form.getByRole("button", { name: "Create webhook" }).click();
    const panel = page.getByRole("region", { name: "New webhook secret" });
    const secret = await panel.getByLabel("Signing secret").inputValue();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    await expect(textOf(panel.getByRole("note"))).resolves.toMatch(/^This secret will not be shown again/);
    await consoleBrowser.fitsPhoneAndDesktop("29-webhook-secret");
    await consoleBrowser.browser.grantPermissions(["clipboard-read", "clipboard-write"], { origin: system.url });
    await panel.getByRole("button", { name: "Copy secret" }).click();
    await expect(textOf(panel.getByRole("status"))).resolves.toBe("Copied.");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    receiver.secret = secret;
    await panel.getByRole("button", { name: "I have stored it" }).click();
    await panel.waitFor({ state: "detached" });
    expect(await page.content()).not.toContain(secret);

    const row = table.locator("tbody tr", { hasText: receiver.url });
    await expect(textOf(row.locator("td[data-label=Events]"))).resolves.toBe("session.revoked, user.locked");
    await expect(textOf(row.locator("td[data-label='Last delivery']"))).resolves.toBe("none yet");
    await row.getByRole("button", { name: "Send test…" }).click();
    await expect(dialog().getByLabel("Reason").count()).resolves.toBe(0);
    await dialog().getByRole("button", { name: "Send test" }).click();
    await dialog().waitFor({ state: "detached" });
    const hook = await receiver.waitFor((h) => h.payload.type === "webhook.test", 30_000);
    expect(hook.verified).toBe(true);
    const delivered = row.locator("[data-testid=last-delivery][data-status=succeeded]");
    await delivered.waitFor({ timeout: 30_000 });
    await expect(textOf(delivered)).resolves.toMatch(/^succeeded HTTP 204 · 1 attempt · \d+s ago$/);
    await consoleBrowser.fitsPhoneAndDesktop("30-webhooks");

    await row.getByRole("button", { name: "Delete…" }).click();
    await dialog().getByRole("button", { name: "Delete webhook" }).click();
    await dialog().waitFor({ state: "detached" });
    await expect(textOf(table.locator("td.empty"))).resolves.toBe("No webhooks yet.");
    expect(await admin.api.admin.webhooks.list.query()).toEqual([]);
  });
});
