import type { AdminListedUser, AdminListUsersInput, PublicUser } from "@warden/contracts";
import { outboxEvents, sessions, users } from "@warden/db";
import { and, desc, eq, isNotNull, isNull, sql } from "drizzle-orm";
import type { Auth } from "./context.js";
import { readPage, type Page } from "./pages.js";
import { publicUserColumns, toPublicUser } from "./users.js";

export interface AdminUserView {
  user: PublicUser & { lockedAt: number | null };
  sessions: {
    id: string;
    deviceName: string | null;
    userAgent: string | null;
    ip: string | null;
    createdAt: number;
    lastSeenAt: number;
    expiresAt: number;
    revokedAt: number | null;
    active: boolean;
  }[];
}

const SESSIONS_SHOWN = 200;

/** A user and their sessions (newest first, revoked ones included) for the admin views. */
export async function findUserForAdmin(
  auth: Auth,
  by: { email: string } | { userId: string },
): Promise<AdminUserView | undefined> {
  const [user] = await auth.db
    .select(publicUserColumns)
    .from(users)
    .where("email" in by ? eq(users.email, by.email) : eq(users.id, by.userId));
  if (!user) return undefined;
  const now = auth.clock();
  const rows = await auth.db
    .select({
      id: sessions.id,
      deviceName: sessions.deviceName,
      userAgent: sessions.userAgent,
      ip: sessions.ip,
      createdAt: sessions.createdAt,
      lastSeenAt: sessions.lastSeenAt,
      expiresAt: sessions.expiresAt,
      revokedAt: sessions.revokedAt,
    })
    .from(sessions)
    .where(eq(sessions.userId, user.id))
    .orderBy(desc(sessions.createdAt))
    .limit(SESSIONS_SHOWN);
  return {
    user: { ...toPublicUser(user), lockedAt: user.lockedAt?.getTime() ?? null },
    sessions: rows.map((s) => ({
      ...s,
      createdAt: s.createdAt.getTime(),
      lastSeenAt: s.lastSeenAt.getTime(),
      expiresAt: s.expiresAt.getTime(),
      revokedAt: s.revokedAt?.getTime() ?? null,
      active:
        s.revokedAt === null && s.expiresAt.getTime() > now && s.lastSeenAt.getTime() + auth.settings.refreshTokenTtlMs > now,
    })),
  };
}

export async function getRevocationStatus(
  auth: Auth,
  eventId: string,
): Promise<{ status: "pending" | "applied"; appliedAt?: number } | undefined> {
  const [row] = await auth.db
    .select({ appliedAt: outboxEvents.appliedAt })
    .from(outboxEvents)
    .where(eq(outboxEvents.id, eventId));
  if (!row) return undefined;
  return row.appliedAt ? { status: "applied", appliedAt: row.appliedAt.getTime() } : { status: "pending" };
}

/**
 * Users newest first (created_at, then id: a stable order), filtered by a part of the email, the
 * role and the lock; deleted accounts only when asked for, and then each item says whether it is
 * one. `cursor` is the id of the previous page's last user (one that does not exist ends the list).
 */
export async function listUsers(auth: Auth, input: NonNullable<AdminListUsersInput>): Promise<Page<AdminListedUser>> {
  return readPage(
    input.limit,
    (rows) =>
      auth.db
        .select({ ...publicUserColumns, deletedAt: users.deletedAt })
        .from(users)
        .where(
          and(
            // strpos, not LIKE: the search is a plain substring (no wildcards to escape).
            input.query === undefined ? undefined : sql`strpos(${users.email}, ${input.query}) > 0`,
            input.role === undefined ? undefined : eq(users.role, input.role),
            input.locked === undefined ? undefined : input.locked ? isNotNull(users.lockedAt) : isNull(users.lockedAt),
            input.includeDeleted ? undefined : isNull(users.deletedAt),
            // The cursor row's own created_at, at PostgreSQL's precision (microseconds), not a rounded copy.
            input.cursor === undefined
              ? undefined
              : sql`(${users.createdAt}, ${users.id}) < (select page_end.created_at, page_end.id from ${users} page_end where page_end.id = ${input.cursor})`,
          ),
        )
        .orderBy(desc(users.createdAt), desc(users.id))
        .limit(rows),
    (row) => (input.includeDeleted ? { ...toPublicUser(row), deleted: row.deletedAt !== null } : toPublicUser(row)),
  );
}
