import { randomUUID } from "node:crypto";
import { createWardenClient, memoryStore, type WardenClient } from "@warden/client";
import { startWardenSystem, waitFor, type WardenSystem } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOneLineError, nextPageArgs, runWarden, runWardenInTerminal, tempConfigDir, type CliResult } from "./cli.js";

/** A system of its own: the bootstrap admin is the only admin, and the users are the ones made here. */
let system: WardenSystem;
let adminDir: Awaited<ReturnType<typeof tempConfigDir>>;
let admin: WardenClient;
const PASSWORD = "listed user password";
/** Signed up oldest first, so newest first they are the reverse. */
const LISTED = [1, 2, 3, 4, 5].map((n) => `listed-${n}@list.test`);
const ids = new Map<string, string>();

const adminEnv = () => ({ WARDEN_CONFIG_DIR: adminDir.dir, WARDEN_URL: system.url });
/** `warden` as the signed-in admin, against the test server. */
const asAdmin = (...args: string[]) => runWarden(args, adminEnv());

async function signUp(email: string): Promise<string> {
  const { user } = await createWardenClient({ url: system.url, store: memoryStore() }).signup({ email, password: PASSWORD });
  ids.set(email, user.id);
  return user.id;
}

const canSignIn = (email: string) =>
  createWardenClient({ url: system.url, store: memoryStore() })
    .login({ email, password: PASSWORD })
    .then(
      () => "yes",
      (e: { reason?: string }) => e.reason,
    );

/** Audit entries of a type about a user, once the worker has applied them. */
function auditedOnce(type: "user.role_changed" | "user.unlocked" | "user.deleted", userId: string, count = 1) {
  return waitFor(
    async () => {
      const { items } = await admin.api.admin.audit.query({ userId, type });
      return items.length >= count && items;
    },
    20_000,
    `${count} ${type} audited`,
  );
}

beforeAll(async () => {
  system = await startWardenSystem();
  adminDir = await tempConfigDir();
  for (const email of LISTED) await signUp(email);
  admin = createWardenClient({ url: system.url, store: memoryStore() });
  await admin.login({ email: system.admin.email, password: system.admin.password });
  const login = await runWarden(["login", "--email", system.admin.email], {
    ...adminEnv(),
    WARDEN_PASSWORD: system.admin.password,
  });
  expect(login.code, login.stderr).toBe(0);
});

afterAll(async () => {
  await system?.close();
  await adminDir?.remove();
});

describe("warden users", () => {
  it("prints a table newest first, a page at a time; the command it prints for the next page goes on where the last ended, until every user was shown once", async () => {
    const seen: string[] = [];
    let args: string[] | undefined = ["users", "--query", "@LIST.test", "--limit", "2"];
    const pages: CliResult[] = [];
    while (args) {
      const page = await asAdmin(...args);
      expect(page.code, page.stderr).toBe(0);
      pages.push(page);
      const [header, ...rows] = page.stdout.trimEnd().split("\n");
      expect(header).toMatch(/^EMAIL +ROLE +LOCKED +VERIFIED +CREATED$/);
      for (const row of rows) {
        expect(row).toMatch(/^listed-\d@list\.test +user +no +no +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
        seen.push(row.split(" ")[0]!);
      }
      args = nextPageArgs(page);
      if (args) expect(args).toEqual(["users", "--query", "@list.test", "--limit", "2", "--cursor", expect.any(String)]);
    }
    expect(pages).toHaveLength(3);
    expect(seen).toEqual([...LISTED].reverse());
    expect(pages[2]!.stderr).toBe("");
  });

  it("--json gives { items, nextCursor }; --role and --locked filter; bad filters exit 1 before anything is sent", async () => {
    const locked = await signUp("locked-list@example.com");
    await admin.api.admin.revokeUser.mutate({ userId: locked, reason: "fraud", lock: true });
    const [json, admins, lockedOnly, blank, role] = await Promise.all([
      asAdmin("users", "--query", "list.test", "--limit", "3", "--json"),
      asAdmin("users", "--role", "admin", "--json"),
      asAdmin("users", "--locked"),
      asAdmin("users", "--query", "  "),
      asAdmin("users", "--role", "root"),
    ]);
    const page = JSON.parse(json.stdout) as { items: Record<string, unknown>[]; nextCursor: string | null };
    expect(page.items).toHaveLength(3);
    expect(page.items[0]).toEqual({
      id: ids.get(LISTED[4]!),
      email: LISTED[4],
      role: "user",
      emailVerified: false,
      locked: false,
      createdAt: expect.any(Number),
    });
    expect(page.nextCursor).toBe(page.items[2]!.id);
    expect(JSON.parse(admins.stdout)).toEqual({
      items: [expect.objectContaining({ email: system.admin.email, role: "admin" })],
      nextCursor: null,
    });
    expect(lockedOnly.stdout).toMatch(/^EMAIL +ROLE +LOCKED +VERIFIED +CREATED\nlocked-list@example\.com +user +locked +no /);
    expect(lockedOnly.stdout.trimEnd().split("\n")).toHaveLength(2);
    expect(blank.code).toBe(1);
    expect(blank.stderr).toContain("--query must not be blank");
    expect(role.code).toBe(1);
    expect(role.stderr).toContain("Allowed choices are user, admin");
  });
});

describe("warden unlock, role, delete-user", () => {
  it("unlock lets a locked account sign in again, by email or id; an unknown user exits 3, no --reason exits 1", async () => {
    const email = "unlock-me@example.com";
    const id = await signUp(email);
    await admin.api.admin.revokeUser.mutate({ userId: id, reason: "suspicious", lock: true });
    expect(await canSignIn(email)).toBe("ACCOUNT_LOCKED");

    const unlocked = await asAdmin("unlock", " Unlock-Me@Example.com", "--reason", "cleared by support");
    expect(unlocked.code, unlocked.stderr).toBe(0);
    expect(unlocked.stdout).toBe(`unlocked ${email}\n`);
    expect(await canSignIn(email)).toBe("yes");
    const again = await asAdmin("unlock", id, "--reason", "again", "--json");
    expect(JSON.parse(again.stdout)).toEqual({ ok: true, userId: id, email, wasLocked: false });
    expect((await auditedOnce("user.unlocked", id))[0]).toMatchObject({ reason: "cleared by support" });

    const [unknown, unknownId, noReason] = await Promise.all([
      asAdmin("unlock", "nobody@example.com", "--reason", "x"),
      asAdmin("unlock", randomUUID(), "--reason", "x", "--json"),
      asAdmin("unlock", email),
    ]);
    expectOneLineError(unknown, 3, /^warden: no such user\n$/);
    expectOneLineError(unknownId, 3, /^warden: no such user\n$/);
    expect(unknownId.stdout).toBe("");
    expect(noReason.code).toBe(1);
    expect(noReason.stderr).toContain("--reason");
  });

  it("role promotes and demotes; demoting the last unlocked admin exits 4 with the server's words and changes nothing", async () => {
    const email = LISTED[0]!;
    const id = ids.get(email)!;
    const promoted = await asAdmin("role", email, "admin", "--reason", "on call this week");
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(promoted.stdout).toBe(`${email} is now admin (was user)\n`);
    expect(JSON.parse((await asAdmin("users", "--role", "admin", "--json")).stdout).items).toHaveLength(2);

    const demoted = await asAdmin("role", id, "user", "--reason", "rota over", "--json");
    expect(demoted.code, demoted.stderr).toBe(0);
    expect(JSON.parse(demoted.stdout)).toEqual({ ok: true, userId: id, email, role: "user", previousRole: "admin" });
    await auditedOnce("user.role_changed", id, 2);

    const [last, same, badRole] = await Promise.all([
      asAdmin("role", system.admin.email, "user", "--reason", "leaving"),
      asAdmin("role", email, "user", "--reason", "already"),
      asAdmin("role", email, "owner", "--reason", "x"),
    ]);
    expectOneLineError(last, 4, /^warden: this is the last unlocked admin: promote or unlock another admin first\n$/);
    expect(same.stdout).toBe(`${email} is already user; nothing changed\n`);
    expect(badRole.code).toBe(1);
    expect(badRole.stderr).toContain("Allowed choices are user, admin");
    expect((await admin.api.admin.users.find.query({ email: system.admin.email })).user.role).toBe("admin");
  });

  it("delete-user refuses without --yes off a terminal, asks for the email on one, then erases the account: gone from the list, its email free again", async () => {
    const email = "leaving@example.com";
    const id = await signUp(email);

    const script = await asAdmin("delete-user", email, "--reason", "asked to be forgotten");
    expectOneLineError(script, 1, /pass --yes to delete without asking/);
    const typo = await runWardenInTerminal(["delete-user", email, "--reason", "asked to be forgotten"], adminEnv(), [
      { prompt: "Type its email to confirm", answer: "leavin@example.com" },
    ]);
    expect(typo.code, typo.stdout).toBe(1);
    expect(typo.stdout).toContain(`not deleted: the email typed is not ${email}`);
    expect((await admin.api.admin.users.find.query({ email })).user.id).toBe(id);

    const deleted = await runWardenInTerminal(["delete-user", id, "--reason", "asked to be forgotten"], adminEnv(), [
      { prompt: `Delete ${email}? Type its email to confirm`, answer: " Leaving@Example.com" },
    ]);
    expect(deleted.code, deleted.stdout).toBe(0);
    expect(deleted.stdout).toMatch(
      new RegExp(`deleted ${email} \\(id ${id}\\): every session revoked, personal data erased; event [0-9a-f-]{36}`),
    );
    const [listed, found, withDeleted] = await Promise.all([
      asAdmin("users", "--query", "leaving"),
      asAdmin("user", email),
      asAdmin("users", "--include-deleted", "--query", id, "--json"),
    ]);
    expect(listed.stdout).toBe("no users match\n");
    expectOneLineError(found, 3, /^warden: no such user\n$/);
    expect(JSON.parse(withDeleted.stdout).items).toEqual([expect.objectContaining({ id, email: `deleted+${id}@invalid` })]);
    await auditedOnce("user.deleted", id);
    await signUp(email);

    const [lastAdmin, unknown, again] = await Promise.all([
      asAdmin("delete-user", system.admin.email, "--reason", "x", "--yes"),
      asAdmin("delete-user", "nobody@example.com", "--reason", "x", "--yes"),
      asAdmin("delete-user", id, "--reason", "x", "--yes", "--json"),
    ]);
    expectOneLineError(lastAdmin, 4, /last unlocked admin/);
    expectOneLineError(unknown, 3, /^warden: no such user\n$/);
    expectOneLineError(again, 3, /^warden: no such user\n$/);
    const json = await asAdmin("delete-user", email, "--reason", "the second account too", "--yes", "--json");
    expect(JSON.parse(json.stdout)).toEqual({ eventId: expect.any(String), userId: ids.get(email), email });
  });

  it("a non-admin exits 4 on every one of them, whatever the input", async () => {
    const dir = await tempConfigDir();
    try {
      const env = { WARDEN_CONFIG_DIR: dir.dir, WARDEN_URL: system.url };
      expect((await runWarden(["login", "--email", LISTED[1]!], { ...env, WARDEN_PASSWORD: PASSWORD })).code).toBe(0);
      const target = LISTED[2]!;
      const results = await Promise.all(
        [
          ["users"],
          ["unlock", target, "--reason", "x"],
          ["role", target, "admin", "--reason", "x"],
          ["delete-user", target, "--reason", "x", "--yes"],
          ["audit", "--user", target],
          ["webhooks", "list"],
        ].map((args) => runWarden(args, env)),
      );
      for (const result of results) expectOneLineError(result, 4, /^warden: forbidden: this account is not an admin\n$/);
    } finally {
      await dir.remove();
    }
  });
});
