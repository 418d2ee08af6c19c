import { createWardenClient, memoryStore, type WardenClient } from "@warden/client";
import { sessionOf, startWardenSystem, waitFor, type WardenSystem } from "@warden/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loginAsAdmin, spawnWarden, tempConfigDir } from "./cli.js";

/** A system of its own: the audit log holds exactly what this file puts in it. */
let system: WardenSystem;
let admin: WardenClient;
let configDir: Awaited<ReturnType<typeof tempConfigDir>>;
const PASSWORD = "correct horse battery";
/**
 * The accounts whose sessions are revoked below, signed up first: each signup queues a verification
 * email, and that event's audit entry must be in the log before the revocations' entries.
 */
let accounts: { sessionId: string; user: { id: string } }[];
let used = 0;

beforeAll(async () => {
  system = await startWardenSystem();
  configDir = await tempConfigDir();
  admin = createWardenClient({ url: system.url, store: memoryStore() });
  await admin.login({ email: system.admin.email, password: system.admin.password });
  await loginAsAdmin(system, configDir.dir);
  accounts = await Promise.all(
    [1, 2, 3, 4].map((n) =>
      sessionOf(
        createWardenClient({ url: system.url, store: memoryStore() }).signup({
          email: `follow-${n}@example.com`,
          password: PASSWORD,
        }),
      ),
    ),
  );
  // Theirs only: the admin's own creation is a user.signed_up too.
  const ids = new Set(accounts.map((a) => a.user.id));
  const signupsAudited = async () =>
    (await admin.api.admin.audit.query({ limit: 100 })).items.filter(
      (i) => (i.type === "email.requested" || i.type === "user.signed_up") && ids.has(i.userId ?? ""),
    ).length;
  await waitFor(async () => (await signupsAudited()) === 2 * accounts.length, 15_000, "the signups' events applied");
});

afterAll(async () => {
  await system?.close();
  await configDir?.remove();
});

/** One applied audit entry: a session.revoked (a session id) or a user.revoked ("-" for the session). */
async function revoke(kind: "session" | "user", reason: string): Promise<string> {
  const signed = accounts[used++]!;
  const { eventId } =
    kind === "session"
      ? await admin.api.admin.revokeSession.mutate({ sessionId: signed.sessionId, reason })
      : await admin.api.admin.revokeUser.mutate({ userId: signed.user.id, reason, lock: false });
  await waitFor(async () => (await admin.api.admin.revocation.query({ eventId })).status === "applied", 15_000, "applied");
  return eventId;
}

/** `warden audit --follow` in the background, its stdout lines as they come. */
function follow(args: string[]) {
  const child = spawnWarden(["audit", "--follow", "--interval", "1", ...args], { WARDEN_CONFIG_DIR: configDir.dir });
  const lines: string[] = [];
  let buffer = "";
  child.stdout.on("data", (d: Buffer) => {
    buffer += d.toString();
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0) {
      lines.push(buffer.slice(0, i));
      buffer = buffer.slice(i + 1);
    }
  });
  return { lines, stop: () => child.kill("SIGINT") };
}

/** Where each column of the header starts. */
function columnStarts(header: string): number[] {
  return [...header.matchAll(/\S+/g)].map((m) => m.index);
}

it("audit --follow --limit 2 shows the last two entries as history, then only newer ones, in aligned columns", async () => {
  await revoke("session", "oldest, not in the history");
  await revoke("user", "second");
  const third = await revoke("session", "third");
  const followed = follow(["--limit", "2"]);
  try {
    await waitFor(() => followed.lines.length >= 3, 15_000, "header and history");
    // A few polls: nothing older than the history comes out as if new.
    await new Promise((r) => setTimeout(r, 2500));
    const [header, ...history] = followed.lines;
    expect(header).toMatch(/^TIME +TYPE +USER +ACTOR +IP +SESSIONS +REASON$/);
    expect(history).toHaveLength(2);
    expect(history[0]).toMatch(/ user\.revoked +follow-2@example\.com +admin root@example\.com +127\.0\.0\.1 .* second$/);
    expect(history[1]).toMatch(/ session\.revoked +follow-3@example\.com +admin root@example\.com +127\.0\.0\.1 .* third$/);

    const fourth = await revoke("user", "fourth, applied while following");
    await waitFor(() => followed.lines.length >= 4, 15_000, "the new entry");
    await new Promise((r) => setTimeout(r, 2500));
    expect(followed.lines).toHaveLength(4);
    expect(followed.lines[3]).toMatch(/ user\.revoked .* fourth, applied while following$/);
    expect(followed.lines.join("\n")).not.toContain("oldest");

    // Every row's columns start where the header's do, whatever the length of the emails in them.
    const starts = columnStarts(header!);
    for (const line of followed.lines.slice(1)) {
      for (const start of starts.slice(1)) {
        expect(line.slice(start - 2, start), line).toBe("  ");
        expect(line[start], line).not.toBe(" ");
      }
    }

    // The JSON lines of --follow --json follow the same rule.
    const json = follow(["--limit", "2", "--json"]);
    try {
      await waitFor(() => json.lines.length >= 2, 15_000, "JSON history");
      await new Promise((r) => setTimeout(r, 2500));
      expect(json.lines.map((l) => (JSON.parse(l) as { eventId: string }).eventId)).toEqual([third, fourth]);
    } finally {
      json.stop();
    }
  } finally {
    followed.stop();
  }
}, 90_000);
