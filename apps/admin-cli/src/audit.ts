import { Option, type Command } from "commander";
import { AUDIT_TYPES, PAGE_LIMIT_MAX, type AuditEntry, type AuditType } from "@warden/contracts";
import type { WardenClient } from "@warden/client";
import { parseTime, parseUserRef, positiveInt, shellWord, type UserRef } from "./args.js";
import { context, findUser } from "./context.js";
import { UsageError } from "./env.js";
import { columnWidths, formatRow, formatTime, table, type Output } from "./output.js";
import { signedInClient } from "./session.js";

/** What `admin.audit` is asked for besides the page: the same on every page and every poll of --follow. */
interface AuditFilter {
  userId?: string;
  type?: AuditType;
  from?: number;
  to?: number;
}

interface AuditOptions {
  user?: UserRef;
  type?: AuditType;
  since?: number;
  until?: number;
  limit: number;
  cursor?: string;
  follow?: boolean;
  interval: number;
  json?: boolean;
}

const HEADERS = ["TIME", "TYPE", "USER", "ACTOR", "IP", "SESSIONS", "REASON"];

/** A user as an admin reads it: the email, or that the account was deleted (its id then: the email is gone). */
function userCell(user: AuditEntry["user"]): string {
  if (!user) return "-";
  return user.email ?? (user.deleted ? `(deleted) ${user.id}` : user.id);
}

/** `admin root@example.com`, `user alice@example.com`, `system`, `anonymous`. */
function actorCell(actor: AuditEntry["actor"]): string {
  return actor.id ? `${actor.type} ${actor.email ?? "(deleted)"}` : actor.type;
}

const row = (i: AuditEntry) => [
  formatTime(i.occurredAt),
  i.type,
  userCell(i.user),
  actorCell(i.actor),
  i.ip ?? "-",
  String(i.sessionsRevoked),
  i.reason,
];

/**
 * Widths the follow columns are laid out with before their rows are known: a time, the longest
 * audit type, an email, an actor with its email, an IPv4 address. A longer value only widens its
 * own row.
 */
const FOLLOW_MINIMUM_WIDTHS = [
  formatTime(0).length,
  Math.max(...AUDIT_TYPES.map((t) => t.length)),
  32,
  "admin ".length + 32,
  "255.255.255.255".length,
  0,
];

/** Audit entries with an id above `floor`, newest first, across as many pages as that takes. */
async function auditAfter(client: WardenClient, filter: AuditFilter, floor: bigint): Promise<AuditEntry[]> {
  const items: AuditEntry[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await client.api.admin.audit.query({ ...filter, limit: 100, ...(cursor ? { cursor } : {}) });
    for (const item of page.items) {
      if (BigInt(item.id) <= floor) return items;
      items.push(item);
    }
    if (!page.nextCursor) return items;
    cursor = page.nextCursor;
  }
}

/**
 * `audit --follow`: the latest entries as history (oldest first), then only entries newer than
 * those, as they are applied, in the same aligned columns. Audit ids grow with each entry; an
 * entry whose transaction commits a little after a higher id was read (the worker applies events
 * concurrently) is still caught: each poll looks back to where the previous one started, and
 * what was printed is not printed again.
 */
async function followAudit(
  client: WardenClient,
  out: Output,
  filter: AuditFilter,
  history: AuditEntry[],
  intervalMs: number,
): Promise<never> {
  const widths = columnWidths(HEADERS, history.map(row), FOLLOW_MINIMUM_WIDTHS);
  const print = (item: AuditEntry) => out.line(out.json ? JSON.stringify(item) : formatRow(row(item), widths));
  if (!out.json) out.line(out.colors.dim(formatRow(HEADERS, widths)));
  [...history].reverse().forEach(print);
  const newestOf = (items: AuditEntry[], fallback: bigint) =>
    items.reduce((max, item) => (BigInt(item.id) > max ? BigInt(item.id) : max), fallback);
  let floor = newestOf(history, 0n);
  let previousNewest = floor;
  const printed = new Set<string>();
  for (;;) {
    await new Promise((r) => setTimeout(r, intervalMs));
    const fresh = (await auditAfter(client, filter, floor)).reverse().filter((item) => !printed.has(item.id));
    for (const item of fresh) {
      printed.add(item.id);
      print(item);
    }
    floor = previousNewest;
    previousNewest = newestOf(fresh, previousNewest);
    for (const id of printed) if (BigInt(id) <= floor) printed.delete(id);
  }
}

/**
 * The command that prints the page after this one: the same filters, the next cursor. Times are
 * given as epoch ms, so a `--since 2h` does not move between pages.
 */
function nextPageCommand(opts: AuditOptions, cursor: string): string {
  const words = ["warden", "audit"];
  if (opts.user) words.push("--user", "userId" in opts.user ? opts.user.userId : opts.user.email);
  if (opts.type) words.push("--type", opts.type);
  if (opts.since !== undefined) words.push("--since", String(opts.since));
  if (opts.until !== undefined) words.push("--until", String(opts.until));
  words.push("--limit", String(opts.limit), "--cursor", cursor);
  if (opts.json) words.push("--json");
  return words.map(shellWord).join(" ");
}

/** `audit`: the audit log, newest first, filtered by user, type and time; emails instead of bare ids. */
export function registerAuditCommand(program: Command): void {
  program
    .command("audit")
    .description("the audit log (every auth event and admin change), newest first, with emails")
    .option("--user <user>", "entries about this user (email or id), or made by them as an admin", parseUserRef)
    .addOption(new Option("--type <type>", "entries of this type").choices(AUDIT_TYPES))
    .option("--since <time>", "entries at or after this time: 2h, 7d (ago), 2026-05-01, 2026-05-01T14:00Z", parseTime("--since"))
    .option("--until <time>", "entries before this time (same forms as --since)", parseTime("--until"))
    .option("--limit <n>", "how many entries", positiveInt("--limit", PAGE_LIMIT_MAX), 20)
    .option("--cursor <cursor>", "where a page starts: the cursor the previous page printed")
    .option("--follow", "keep running and print new entries as they are applied (Ctrl-C to stop)")
    .option("--interval <seconds>", "how often --follow looks for new entries", positiveInt("--interval", 60), 1)
    .option("--json", "machine-readable output (with --follow: one JSON object per line)")
    .action(async (opts: AuditOptions, command: Command) => {
      if (opts.follow && (opts.until !== undefined || opts.cursor !== undefined)) {
        throw new UsageError("--follow prints entries as they come: it takes no --until or --cursor");
      }
      if (opts.since !== undefined && opts.until !== undefined && opts.since > opts.until) {
        throw new UsageError("--since must not be after --until");
      }
      const { env, url, out } = await context(command, opts.json);
      const client = await signedInClient(env, url);
      const userId = opts.user && ("userId" in opts.user ? opts.user.userId : (await findUser(client, opts.user)).user.id);
      const filter: AuditFilter = {
        ...(userId ? { userId } : {}),
        ...(opts.type ? { type: opts.type } : {}),
        ...(opts.since !== undefined ? { from: opts.since } : {}),
        ...(opts.until !== undefined ? { to: opts.until } : {}),
      };
      const page = await client.api.admin.audit.query({
        ...filter,
        limit: opts.limit,
        ...(opts.cursor ? { cursor: opts.cursor } : {}),
      });
      if (opts.follow) return followAudit(client, out, filter, page.items, opts.interval * 1000);
      if (out.json) return out.printJson(page);
      if (page.items.length === 0) out.line(Object.keys(filter).length ? "no audit entries match" : "no audit entries yet");
      else out.line(table(HEADERS, page.items.map(row), out.colors.dim));
      if (page.nextCursor) out.warn(`next page: ${nextPageCommand(opts, page.nextCursor)}`);
    });
}
