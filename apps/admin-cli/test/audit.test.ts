import { createWardenClient, memoryStore, type WardenClient } from "@warden/client";
import { startWardenSystem, waitFor, type WardenSystem } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOneLineError, nextPageArgs, runWarden, tempConfigDir, loginAsAdmin } from "./cli.js";

let system: WardenSystem;
let adminDir: Awaited<ReturnType<typeof tempConfigDir>>;
let admin: WardenClient;

/** `warden` as the signed-in admin, against the test server. */
const asAdmin = (...args: string[]) => runWarden(args, { WARDEN_CONFIG_DIR: adminDir.dir, WARDEN_URL: system.url });

async function signUp(email: string): Promise<string> {
  const client = createWardenClient({ url: system.url, store: memoryStore() });
  return (await client.signup({ email, password: "audited user password" })).user.id;
}

/** Audit entries of a type about a user, once the worker has applied them. */
function auditedOnce(type: "user.role_changed" | "user.deleted", userId: string, count = 1) {
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
  [system, adminDir] = await Promise.all([startWardenSystem(), tempConfigDir()]);
  admin = createWardenClient({ url: system.url, store: memoryStore() });
  await admin.login({ email: system.admin.email, password: system.admin.password });
  await loginAsAdmin(system, adminDir.dir);
});

afterAll(async () => {
  await system?.close();
  await adminDir?.remove();
});

describe("warden audit", () => {
  it("shows emails instead of ids, and --user, --type, --since and --until narrow the entries", async () => {
    const email = "audited@example.com";
    const id = await signUp(email);
    await admin.api.admin.setRole.mutate({ userId: id, role: "admin", reason: "audit test up" });
    await admin.api.admin.setRole.mutate({ userId: id, role: "user", reason: "audit test down" });
    await auditedOnce("user.role_changed", id, 2);

    const [byUser, byType, text, future, past, recent] = await Promise.all([
      asAdmin("audit", "--user", email, "--json", "--limit", "200"),
      asAdmin("audit", "--type", "user.role_changed", "--json", "--limit", "200"),
      asAdmin("audit", "--user", id, "--type", "user.role_changed"),
      asAdmin("audit", "--since", "2999-01-01"),
      asAdmin("audit", "--until", "2000-01-01T00:00Z", "--json"),
      asAdmin("audit", "--since", "1h", "--until", String(Date.now() + 60_000), "--type", "user.role_changed", "--json"),
    ]);
    const mine = JSON.parse(byUser.stdout).items as { user: { id: string } | null; actor: { id: string | null } }[];
    expect(mine.length).toBeGreaterThanOrEqual(2); // the two role changes, and the signup once applied
    for (const item of mine) expect([item.user?.id, item.actor.id]).toContain(id);
    const changes = JSON.parse(byType.stdout).items as { type: string }[];
    expect(changes.length).toBeGreaterThanOrEqual(2);
    expect(new Set(changes.map((c) => c.type))).toEqual(new Set(["user.role_changed"]));

    const [header, down, up, ...rest] = text.stdout.trimEnd().split("\n");
    expect(rest).toEqual([]);
    expect(header).toMatch(/^TIME +TYPE +USER +ACTOR +IP +SESSIONS +REASON$/);
    expect(down).toMatch(
      new RegExp(`user\\.role_changed +${email} +admin ${system.admin.email} +127\\.0\\.0\\.1 +0 +audit test down$`),
    );
    expect(up).toMatch(/audit test up$/);
    expect(text.stdout).not.toContain(id);

    expect(future.stdout).toBe("no audit entries match\n");
    expect(JSON.parse(past.stdout)).toEqual({ items: [], nextCursor: null });
    expect(JSON.parse(recent.stdout).items.length).toBeGreaterThanOrEqual(2);
  });

  it("a deleted account reads as deleted; --limit pages with a next-page command; bad filters exit 1 or 3", async () => {
    const email = "audited-then-deleted@example.com";
    const id = await signUp(email);
    await admin.api.admin.deleteUser.mutate({ userId: id, reason: "gone" });
    await auditedOnce("user.deleted", id);
    const deleted = await asAdmin("audit", "--user", id, "--limit", "1");
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toMatch(new RegExp(`user\\.deleted +\\(deleted\\) ${id} +admin ${system.admin.email} .* gone\\n$`));
    const next = nextPageArgs(deleted);
    expect(next).toEqual(["audit", "--user", id, "--limit", "1", "--cursor", expect.stringMatching(/^\d+$/)]);
    const second = await asAdmin(...next!);
    expect(second.stdout).toMatch(/^TIME.*\n.* (user\.signed_up|email\.requested) /);
    expect(second.stdout).not.toContain("user.deleted");

    const [unknown, badType, badTime, reversed, follow] = await Promise.all([
      asAdmin("audit", "--user", "nobody@example.com"),
      asAdmin("audit", "--type", "user.exploded"),
      asAdmin("audit", "--since", "yesterday-ish"),
      asAdmin("audit", "--since", "1h", "--until", "2h"),
      asAdmin("audit", "--follow", "--until", "1h"),
    ]);
    expectOneLineError(unknown, 3, /^warden: no such user\n$/);
    expect(badType.code).toBe(1);
    expect(badType.stderr).toContain("Allowed choices are");
    expect(badTime.code).toBe(1);
    expect(badTime.stderr).toContain("--since must be a time");
    expectOneLineError(reversed, 1, /^warden: --since must not be after --until\n$/);
    expectOneLineError(follow, 1, /--follow .* takes no --until or --cursor/);
  });
});
