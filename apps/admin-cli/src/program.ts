import { Command, Option } from "commander";
import { emailSchema, idSchema, passwordSchema, reasonSchema } from "@warden/contracts";
import { isWardenError, type WardenClient } from "@warden/client";
import { parseUserRef, parseWith, plural, positiveInt, type UserRef } from "./args.js";
import { registerAuditCommand } from "./audit.js";
import { context, findUser } from "./context.js";
import { loadEnv, UsageError, type CliEnv } from "./env.js";
import { CliError, EXIT, EXIT_CODES_HELP } from "./exit-codes.js";
import { ago, createOutput, formatTime, table, type Output } from "./output.js";
import { findDevServer } from "./dev-server.js";
import { clientFor, deviceName, saveUrl, signedInClient } from "./session.js";
import { registerUserCommands } from "./users.js";
import { registerWebhookCommands } from "./webhooks.js";

/** The signup password policy; an error here is one line and exit 1, like any bad argument. */
function checkedPassword(value: string, name = "password"): string {
  const result = passwordSchema.safeParse(value);
  if (!result.success) throw new UsageError(`${name} ${result.error.issues[0]?.message ?? "is invalid"}`);
  return result.data;
}

/** Polls the event until the worker has applied it; progress on a TTY, the time it took at the end. */
async function waitApplied(client: WardenClient, out: Output, eventId: string, startedAt: number, timeoutMs: number) {
  const spinner = out.spinner(`waiting for revocation ${eventId} to be applied...`);
  const deadline = startedAt + timeoutMs;
  for (;;) {
    const status = await client.api.admin.revocation.query({ eventId });
    const elapsed = Date.now() - startedAt;
    if (status.status === "applied") {
      if (!out.json) spinner.succeed(`applied in ${elapsed} ms`);
      return { status: status.status, appliedAt: status.appliedAt, waitedMs: elapsed };
    }
    if (Date.now() > deadline) {
      spinner.fail(`still pending after ${elapsed} ms`);
      throw new CliError(
        `revocation ${eventId} not applied within ${Math.round(timeoutMs / 1000)} s (is the admin worker running?)`,
        EXIT.TIMEOUT,
      );
    }
    spinner.update(`pending for ${elapsed} ms (event ${eventId})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The database of the development server `pnpm start` runs here, when neither --database-url nor
 * DATABASE_URL is given; else a usage error that says how to name one.
 */
function developmentDatabase(env: CliEnv, out: Output): string {
  const dev = findDevServer(env);
  if (dev.state === "running") {
    out.warn(`using the database of the development server recorded in ${dev.file}`);
    return dev.record.databaseUrl;
  }
  const howTo = "set DATABASE_URL=postgres://user:password@host:port/database (or --database-url)";
  if (dev.state === "stopped") {
    throw new UsageError(
      `admin create needs the database: the development server recorded in ${dev.file} is not running (pid ${dev.pid}); start it with \`pnpm start\`, or ${howTo}`,
    );
  }
  throw new UsageError(
    `admin create needs the database: ${howTo}, or run \`pnpm start\` in this checkout first (it records its database in .warden/dev-server.json)`,
  );
}

export function buildProgram(): Command {
  const program = new Command("warden")
    .description(
      "Warden admin command line: sign in, list and manage users, revoke sessions, manage webhooks, read the audit log, change your password.",
    )
    .version("0.1.0", "-V, --version")
    .addOption(
      new Option(
        "--url <url>",
        "Warden server URL (default: WARDEN_URL, then the last login's server, then the one `pnpm start` runs here, then http://127.0.0.1:3000)",
      ),
    )
    .showHelpAfterError("(run `warden --help` for usage)")
    .addHelpText(
      "after",
      `\nEnvironment:\n  WARDEN_URL           server URL\n  WARDEN_CONFIG_DIR    where the session is kept (default ~/.config/warden)\n  WARDEN_PASSWORD      password for \`login\`, \`admin create\` and (the current one) \`password change\` instead of a prompt\n  WARDEN_NEW_PASSWORD  the new password for \`password change\` instead of a prompt\n  DATABASE_URL         PostgreSQL URL for \`admin create\`\n  WARDEN_HOME          where \`pnpm start\` records its server and database (default: the nearest .warden/)\n  NO_COLOR             no colours (colours are only used on a terminal anyway)\n${EXIT_CODES_HELP}`,
    )
    .exitOverride();

  program
    .command("login")
    .description("sign in as an admin; the session is kept under WARDEN_CONFIG_DIR and renewed automatically")
    .option("--email <email>", "account email (prompted when missing)")
    .option("--password <password>", "password (prefer WARDEN_PASSWORD or the prompt: arguments show up in `ps`)")
    .action(async (opts: { email?: string; password?: string }, command: Command) => {
      const { env, url, out } = await context(command);
      const email = parseWith(
        emailSchema,
        "email",
      )(opts.email ?? env.WARDEN_EMAIL ?? (await (await import("./prompt.js")).askText("Email")));
      const password = opts.password ?? env.WARDEN_PASSWORD ?? (await (await import("./prompt.js")).askPassword("Password"));
      const client = clientFor(env, url);
      const result = await client.login({ email, password, deviceName: deviceName() });
      await saveUrl(env, url);
      out.line(`signed in to ${url} as ${result.user.email} (${result.user.role})`);
      if (result.user.role !== "admin") out.warn("note: this account is not an admin; admin commands will exit with code 4");
    });

  program
    .command("logout")
    .description("end this CLI session at the server and forget it")
    .action(async (_opts, command: Command) => {
      const { env, url, out } = await context(command);
      await clientFor(env, url).logout();
      out.line("signed out");
    });

  program
    .command("whoami")
    .description("show the signed-in account and session")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }, command: Command) => {
      const { env, url, out } = await context(command, opts.json);
      const client = await signedInClient(env, url);
      const me = await client.api.auth.me.query();
      if (out.json) return out.printJson({ url, ...me });
      out.line(`${out.colors.bold(me.user.email)} (${me.user.role}) at ${url}`);
      out.line(
        `session ${me.session.id}, since ${formatTime(me.session.createdAt)}, expires ${formatTime(me.session.expiresAt)}`,
      );
    });

  program
    .command("user")
    .description("show a user: role, lock state and sessions")
    .argument("<user>", "the user's email or id", parseUserRef)
    .option("--json", "machine-readable output")
    .action(async (ref: UserRef, opts: { json?: boolean }, command: Command) => {
      const { env, url, out } = await context(command, opts.json);
      const client = await signedInClient(env, url);
      const found = await findUser(client, ref);
      if (out.json) return out.printJson(found);
      const { user, sessions } = found;
      const c = out.colors;
      out.line(`${c.bold(user.email)}  id ${user.id}`);
      out.line(
        `role ${user.role}   ${user.locked ? c.red(`locked since ${formatTime(user.lockedAt)}`) : c.green("not locked")}   created ${formatTime(user.createdAt)}`,
      );
      out.line();
      if (sessions.length === 0) return out.line("no sessions");
      const rows = sessions.map((s) => [
        s.id,
        s.active ? "active" : s.revokedAt ? "revoked" : "expired",
        s.deviceName ?? "-",
        s.ip ?? "-",
        ago(s.lastSeenAt),
        formatTime(s.createdAt),
      ]);
      out.line(table(["SESSION", "STATE", "DEVICE", "IP", "LAST SEEN", "CREATED"], rows, c.dim));
    });

  program
    .command("revoke-user")
    .description("revoke every session of a user (optionally lock the account); prints the event id")
    .argument("<user>", "the user's email or id", parseUserRef)
    .requiredOption("--reason <text>", "why (kept in the audit log)", parseWith(reasonSchema, "reason"))
    .option("--lock", "also lock the account so it cannot sign in again")
    .option("--wait", "wait until the revocation is applied everywhere, and show how long it took")
    .option("--timeout <seconds>", "give up waiting after this long (exit 7)", positiveInt("--timeout", 3600), 30)
    .option("--json", "machine-readable output")
    .action(
      async (
        ref: UserRef,
        opts: { reason: string; lock?: boolean; wait?: boolean; timeout: number; json?: boolean },
        command: Command,
      ) => {
        const { env, url, out } = await context(command, opts.json);
        const client = await signedInClient(env, url);
        const { user } = await findUser(client, ref);
        const startedAt = Date.now();
        const { eventId } = await client.api.admin.revokeUser.mutate({
          userId: user.id,
          reason: opts.reason,
          lock: opts.lock ?? false,
        });
        if (!out.json)
          out.line(`revoked all sessions of ${user.email}${opts.lock ? " and locked the account" : ""}; event ${eventId}`);
        const waited = opts.wait ? await waitApplied(client, out, eventId, startedAt, opts.timeout * 1000) : undefined;
        if (out.json) out.printJson({ eventId, userId: user.id, locked: opts.lock ?? false, ...waited });
      },
    );

  program
    .command("revoke-session")
    .description("revoke one session by id; prints the event id")
    .argument("<sessionId>", "the session id (see `warden user <email>`)", parseWith(idSchema, "session id"))
    .requiredOption("--reason <text>", "why (kept in the audit log)", parseWith(reasonSchema, "reason"))
    .option("--wait", "wait until the revocation is applied everywhere")
    .option("--timeout <seconds>", "give up waiting after this long (exit 7)", positiveInt("--timeout", 3600), 30)
    .option("--json", "machine-readable output")
    .action(
      async (sessionId: string, opts: { reason: string; wait?: boolean; timeout: number; json?: boolean }, command: Command) => {
        const { env, url, out } = await context(command, opts.json);
        const client = await signedInClient(env, url);
        const startedAt = Date.now();
        const { eventId } = await client.api.admin.revokeSession.mutate({ sessionId, reason: opts.reason });
        if (!out.json) out.line(`revoked session ${sessionId}; event ${eventId}`);
        const waited = opts.wait ? await waitApplied(client, out, eventId, startedAt, opts.timeout * 1000) : undefined;
        if (out.json) out.printJson({ eventId, sessionId, ...waited });
      },
    );

  registerUserCommands(program);
  registerWebhookCommands(program);
  registerAuditCommand(program);

  program
    .command("password")
    .description("the signed-in account's password")
    .command("change")
    .description("change the signed-in account's password: every other session of the account is signed out, this one stays")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }, command: Command) => {
      const { env, url, out } = await context(command, opts.json);
      const client = await signedInClient(env, url);
      const prompt = () => import("./prompt.js");
      const currentPassword = env.WARDEN_PASSWORD ?? (await (await prompt()).askPassword("Current password"));
      const newPassword = checkedPassword(
        env.WARDEN_NEW_PASSWORD ?? (await (await prompt()).askPassword("New password", true, "WARDEN_NEW_PASSWORD")),
        "new password",
      );
      const { revokedSessions } = await client.api.auth.changePassword
        .mutate({ currentPassword, newPassword })
        .catch((error: unknown) => {
          // This session is fine: only the password typed was wrong.
          if (isWardenError(error, "INVALID_CREDENTIALS"))
            throw new CliError("the current password is wrong", EXIT.NOT_SIGNED_IN);
          throw error;
        });
      if (out.json) return out.printJson({ ok: true, revokedSessions });
      out.line(
        `password changed; ${plural(revokedSessions, "other session", "other sessions")} signed out (this one stays signed in)`,
      );
    });

  const admin = program.command("admin").description("bootstrap tasks that talk to the database directly");
  admin
    .command("create")
    .description("create an admin account; an email that already has an account is refused unless --promote-existing")
    .argument("<email>", "the admin's email", parseWith(emailSchema, "email"))
    .option(
      "--database-url <url>",
      "PostgreSQL URL (default: DATABASE_URL, then the database of the server `pnpm start` runs here)",
    )
    .option(
      "--promote-existing",
      "if the email has an account: revoke all of its sessions, set this password and make it admin (its lock state is kept)",
    )
    .action(async (email: string, opts: { databaseUrl?: string; promoteExisting?: boolean }) => {
      const env = loadEnv();
      const out = createOutput({ json: false });
      const databaseUrl = opts.databaseUrl ?? env.DATABASE_URL ?? developmentDatabase(env, out);
      const password = checkedPassword(
        env.WARDEN_PASSWORD ?? (await (await import("./prompt.js")).askPassword("Password for the new admin", true)),
      );
      // Loaded only here: the domain and database packages are heavy for the other commands.
      const { bootstrapAdmin } = await import("./admin-create.js");
      const result = await bootstrapAdmin(databaseUrl, email, password, { promoteExisting: opts.promoteExisting ?? false });
      if (result.outcome === "created") return out.line(`admin ${result.user.email} ready (id ${result.user.id})`);
      const sessions = `${result.revokedSessions} session${result.revokedSessions === 1 ? "" : "s"} revoked`;
      out.line(
        `${result.user.email} is now an admin (id ${result.user.id}); password set, ${sessions} (event ${result.eventId})`,
      );
    });

  return program;
}
