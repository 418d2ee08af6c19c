import { normalizeEmail } from "@warden/contracts";
import { users, type Database } from "@warden/db";
import { eq, inArray, sql } from "drizzle-orm";
import type { Auth } from "./context.js";
import { revokeUserSessions } from "./revoke.js";
import type { DbOrTx } from "./sessions.js";

/** Where the step reports. Pino's logger fits, and so does `console`. */
export interface StepLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface EmailCollision {
  /** The account that lost the address: locked, sessions revoked, placeholder email. */
  userId: string;
  /** The older account, which keeps the address. */
  keptBy: string;
  eventId: string;
}

export interface RecanonicalizeResult {
  /** Accounts whose email was rewritten to its canonical form. */
  recanonicalized: number;
  collisions: EmailCollision[];
  /** Accounts whose canonical email holds a character inputs refuse now: they cannot sign in. */
  refusedCharacters: string[];
}

interface EmailRow {
  id: string;
  email: string;
  createdAt: Date;
}

/** One step at a time across every process (auth servers starting together, the CLI). */
const LOCK_NAME = "warden:recanonicalize-emails";
/**
 * Only these rows can differ from their canonical form: ASCII lower-case without edge spaces is
 * its own NFC and lower case. Everything else (non-ASCII, controls, upper case) is checked in JS.
 */
const MAYBE_NON_CANONICAL = "[^ -~]|[A-Z]|^ | $";
// The same classes inputs refuse (contracts' emailSchema).
const REFUSED_CHARS = /[\p{Cc}\p{Cs}\p{Default_Ignorable_Code_Point}]/u;

/**
 * The email a colliding account is moved to. It keeps the row unique (one per user id), is ASCII
 * lower-case (so the step leaves it alone next time), and has no dot in its domain: emailSchema
 * refuses it, so no one can sign up with it, sign in with it, or take it before the step runs.
 */
export function collisionPlaceholderEmail(userId: string): string {
  return `email-collision+${userId}@invalid`;
}

/** For the audit row: names the collision and the account that kept the address, never the email. */
function collisionReason(keptBy: string): string {
  return `email collision: after re-canonicalisation this account's email equals that of the older account ${keptBy}, which keeps it; this one was moved to a placeholder email and locked`;
}

async function findMaybeNonCanonical(tx: DbOrTx): Promise<EmailRow[]> {
  return tx
    .select({ id: users.id, email: users.email, createdAt: users.createdAt })
    .from(users)
    .where(sql`${users.email} ~ ${MAYBE_NON_CANONICAL}`);
}

const isStale = (row: EmailRow) => normalizeEmail(row.email) !== row.email;

/** Accounts whose canonical email an input would refuse now: they cannot sign in any more. */
function withRefusedCharacters(rows: EmailRow[]): string[] {
  return rows.filter((row) => REFUSED_CHARS.test(normalizeEmail(row.email))).map((row) => row.id);
}

async function findByEmails(tx: DbOrTx, emails: string[]): Promise<EmailRow[]> {
  return tx
    .select({ id: users.id, email: users.email, createdAt: users.createdAt })
    .from(users)
    .where(inArray(users.email, emails));
}

async function setEmail(tx: DbOrTx, userId: string, email: string): Promise<void> {
  await tx.update(users).set({ email }).where(eq(users.id, userId));
}

/** Groups by canonical form; in each, the oldest account keeps the address (ties: the smaller id). */
function planRecanonicalization(rows: EmailRow[]): { renames: EmailRow[]; losers: { userId: string; keptBy: string }[] } {
  const groups = new Map<string, EmailRow[]>();
  for (const row of rows) {
    const canonical = normalizeEmail(row.email);
    groups.set(canonical, [...(groups.get(canonical) ?? []), row]);
  }
  const renames: EmailRow[] = [];
  const losers: { userId: string; keptBy: string }[] = [];
  for (const [canonical, members] of groups) {
    members.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
    const [keeper, ...others] = members;
    if (!keeper) continue;
    if (keeper.email !== canonical) renames.push({ ...keeper, email: canonical });
    for (const other of others) losers.push({ userId: other.id, keptBy: keeper.id });
  }
  return { renames, losers };
}

/**
 * Rewrites stored emails to today's canonical form (trim, lower-case, then NFC), for rows written
 * by an older Warden (NFC before lower-casing) or imported. Where two accounts now share an address,
 * the older keeps it; the other is moved to a placeholder email, locked and its sessions revoked
 * through the revocation pipeline (the worker writes the audit row), and logged for an admin.
 * Accounts whose email holds a character inputs refuse now are listed (they cannot sign in).
 * Idempotent, serialized across processes by an advisory lock, and a single filtered scan of the
 * users table when every email is canonical already. Run it before serving.
 */
export async function recanonicalizeEmails(auth: Auth, logger: StepLogger): Promise<RecanonicalizeResult> {
  const result = await auth.db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${LOCK_NAME}))`);
    const candidates = await findMaybeNonCanonical(tx);
    if (!candidates.some(isStale))
      return { recanonicalized: 0, collisions: [], refusedCharacters: withRefusedCharacters(candidates) };
    // Sign-ups on running instances must not take an address between this read and the writes.
    await tx.execute(sql`lock table ${users} in share row exclusive mode`);
    const changing = (await findMaybeNonCanonical(tx)).filter(isStale);
    const holders = await findByEmails(tx, [...new Set(changing.map((row) => normalizeEmail(row.email)))]);
    const { renames, losers } = planRecanonicalization([
      ...changing,
      ...holders.filter((h) => !changing.some((c) => c.id === h.id)),
    ]);

    // Losers first: a keeper may take the address a loser holds.
    for (const loser of losers) await setEmail(tx, loser.userId, collisionPlaceholderEmail(loser.userId));
    for (const row of renames) await setEmail(tx, row.id, row.email);
    const collisions: EmailCollision[] = [];
    for (const loser of losers) {
      // In this transaction (a savepoint), so the move, the lock and the revocation commit together.
      const { eventId } = await revokeUserSessions(
        { ...auth, db: tx as unknown as Database },
        {
          userId: loser.userId,
          lock: true,
          actor: { type: "system", id: null },
          reason: collisionReason(loser.keptBy),
        },
      );
      collisions.push({ ...loser, eventId });
    }
    const refusedCharacters = withRefusedCharacters(await findMaybeNonCanonical(tx));
    return { recanonicalized: renames.length, collisions, refusedCharacters };
  });

  for (const collision of result.collisions) {
    logger.warn(
      { userId: collision.userId, keptBy: collision.keptBy, eventId: collision.eventId },
      "email collision: account locked, sessions revoked, email moved to a placeholder; an admin must resolve it",
    );
  }
  if (result.refusedCharacters.length > 0) {
    logger.warn(
      { userIds: result.refusedCharacters },
      "stored emails hold characters now refused: these accounts cannot sign in",
    );
  }
  if (result.recanonicalized > 0) {
    logger.info(
      { recanonicalized: result.recanonicalized, collisions: result.collisions.length },
      "stored emails re-canonicalised",
    );
  }
  return result;
}
