import { Argument, Option, type Command } from "commander";
import { emailSearchSchema, idSchema, PAGE_LIMIT_MAX, reasonSchema, ROLES, type Role } from "@warden/contracts";
import { parseUserRef, parseWith, positiveInt, shellWord, type UserRef } from "./args.js";
import { context, findUser } from "./context.js";
import { UsageError } from "./env.js";
import { CliError, EXIT } from "./exit-codes.js";
import { formatTime, table } from "./output.js";
import { signedInClient } from "./session.js";

const USER_ARGUMENT = "the user's email or id";
const REASON_HELP = "why (kept in the audit log: keep personal data out of it)";

interface ListOptions {
  query?: string;
  role?: Role;
  locked?: boolean;
  includeDeleted?: boolean;
  limit?: number;
  cursor?: string;
  json?: boolean;
}

/** The command that prints the page after this one: the same filters, the next cursor. */
function nextPageCommand(opts: ListOptions, cursor: string): string {
  const words = ["warden", "users"];
  if (opts.query !== undefined) words.push("--query", opts.query);
  if (opts.role) words.push("--role", opts.role);
  if (opts.locked) words.push("--locked");
  if (opts.includeDeleted) words.push("--include-deleted");
  if (opts.limit !== undefined) words.push("--limit", String(opts.limit));
  words.push("--cursor", cursor);
  return words.map(shellWord).join(" ");
}

function registerUsersList(program: Command): void {
  program
    .command("users")
    .description("list users, newest first, a page at a time")
    .option("--query <text>", "any part of the email (`@example.com`, `alice`)", parseWith(emailSearchSchema, "--query"))
    .addOption(new Option("--role <role>", "only admins or only users").choices(ROLES))
    .option("--locked", "only locked accounts")
    .option("--include-deleted", "also deleted (anonymised) accounts")
    .option("--limit <n>", "users per page (default 50)", positiveInt("--limit", PAGE_LIMIT_MAX))
    .option("--cursor <id>", "where a page starts: the cursor the previous page printed", parseWith(idSchema, "--cursor"))
    .option("--json", "machine-readable output: { items, nextCursor }")
    .action(async (opts: ListOptions, command: Command) => {
      const { env, url, out } = await context(command, opts.json);
      const client = await signedInClient(env, url);
      const page = await client.api.admin.users.list.query({
        ...(opts.query !== undefined ? { query: opts.query } : {}),
        ...(opts.role ? { role: opts.role } : {}),
        ...(opts.locked ? { locked: true } : {}),
        ...(opts.includeDeleted ? { includeDeleted: true } : {}),
        ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
        ...(opts.cursor !== undefined ? { cursor: opts.cursor } : {}),
      });
      if (out.json) return out.printJson(page);
      if (page.items.length === 0) out.line(opts.cursor ? "no more users" : "no users match");
      else {
        const rows = page.items.map((u) => [
          u.email,
          u.role,
          u.locked ? "locked" : "no",
          u.emailVerified ? "yes" : "no",
          formatTime(u.createdAt),
        ]);
        out.line(table(["EMAIL", "ROLE", "LOCKED", "VERIFIED", "CREATED"], rows, out.colors.dim));
      }
      // On stderr: the table on stdout stays only the table.
      if (page.nextCursor) out.warn(`next page: ${nextPageCommand(opts, page.nextCursor)}`);
    });
}

/** `<email|userId>` as the server knows it: the id the mutation needs, and the email to say who it was. */
async function resolveUser(command: Command, ref: UserRef, json?: boolean) {
  const run = await context(command, json);
  const client = await signedInClient(run.env, run.url);
  const { user } = await findUser(client, ref);
  return { ...run, client, user };
}

function registerUnlock(program: Command): void {
  program
    .command("unlock")
    .description("unlock an account so it can sign in again (its revoked sessions stay revoked)")
    .argument("<user>", USER_ARGUMENT, parseUserRef)
    .requiredOption("--reason <text>", REASON_HELP, parseWith(reasonSchema, "reason"))
    .option("--json", "machine-readable output")
    .action(async (ref: UserRef, opts: { reason: string; json?: boolean }, command: Command) => {
      const { out, client, user } = await resolveUser(command, ref, opts.json);
      await client.api.admin.unlockUser.mutate({ userId: user.id, reason: opts.reason });
      if (out.json) return out.printJson({ ok: true, userId: user.id, email: user.email, wasLocked: user.locked });
      out.line(user.locked ? `unlocked ${user.email}` : `${user.email} was not locked; nothing changed`);
    });
}

function registerRole(program: Command): void {
  program
    .command("role")
    .description("promote a user to admin, or demote an admin to user (a demotion applies on every server at once)")
    .argument("<user>", USER_ARGUMENT, parseUserRef)
    .addArgument(new Argument("<role>", "the new role").choices(ROLES))
    .requiredOption("--reason <text>", REASON_HELP, parseWith(reasonSchema, "reason"))
    .option("--json", "machine-readable output")
    .action(async (ref: UserRef, role: Role, opts: { reason: string; json?: boolean }, command: Command) => {
      const { out, client, user } = await resolveUser(command, ref, opts.json);
      await client.api.admin.setRole.mutate({ userId: user.id, role, reason: opts.reason });
      if (out.json) return out.printJson({ ok: true, userId: user.id, email: user.email, role, previousRole: user.role });
      out.line(
        user.role === role
          ? `${user.email} is already ${role}; nothing changed`
          : `${user.email} is now ${role} (was ${user.role})`,
      );
    });
}

function registerDeleteUser(program: Command): void {
  program
    .command("delete-user")
    .description("delete an account: every session revoked, its personal data erased (the email can sign up again)")
    .argument("<user>", USER_ARGUMENT, parseUserRef)
    .requiredOption("--reason <text>", REASON_HELP, parseWith(reasonSchema, "reason"))
    .option("--yes", "do not ask for confirmation (needed when not on a terminal)")
    .option("--json", "machine-readable output")
    .action(async (ref: UserRef, opts: { reason: string; yes?: boolean; json?: boolean }, command: Command) => {
      // Before anything is sent: a script that forgot --yes is a usage mistake, not a question.
      const prompt = opts.yes ? undefined : await import("./prompt.js");
      if (prompt && !prompt.onTerminal()) {
        throw new UsageError("delete-user asks for confirmation on a terminal; pass --yes to delete without asking");
      }
      const { out, client, user } = await resolveUser(command, ref, opts.json);
      if (prompt && !(await prompt.confirmByTyping(`Delete ${user.email}? Type its email to confirm`, user.email))) {
        throw new CliError(`not deleted: the email typed is not ${user.email}`, EXIT.USAGE);
      }
      const { eventId } = await client.api.admin.deleteUser.mutate({ userId: user.id, reason: opts.reason });
      if (out.json) return out.printJson({ eventId, userId: user.id, email: user.email });
      out.line(`deleted ${user.email} (id ${user.id}): every session revoked, personal data erased; event ${eventId}`);
    });
}

/** `users`, `unlock`, `role`, `delete-user`. */
export function registerUserCommands(program: Command): void {
  registerUsersList(program);
  registerUnlock(program);
  registerRole(program);
  registerDeleteUser(program);
}
