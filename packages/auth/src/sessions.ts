import { randomUUID } from "node:crypto";
import { idSchema, type AuditType, type PublicUser, type Role, type SessionSummary, type TokenPair } from "@warden/contracts";
import { perDatabase, preparedStatement, sessions, type Database, type Transaction } from "@warden/db";
import { and, desc, eq, gt, isNull, sql } from "drizzle-orm";
import { signAccessToken } from "./access-tokens.js";
import { Batcher } from "./batcher.js";
import type { Auth } from "./context.js";
import { AuthError } from "./errors.js";
import { generateRefreshToken, hashToken } from "./tokens.js";

export type DbOrTx = Database | Transaction;

export interface ClientInfo {
  deviceName?: string | undefined;
  userAgent?: string | undefined;
  ip?: string | undefined;
}

/** A user agent is whatever the client sent: kept to this many characters. */
const USER_AGENT_MAX_LENGTH = 512;

/** Where a request came from, as sessions, outbox events and audit rows store it. */
export function clientColumns(client: ClientInfo | undefined): { ip: string | null; userAgent: string | null } {
  return { ip: client?.ip || null, userAgent: client?.userAgent?.slice(0, USER_AGENT_MAX_LENGTH) || null };
}

/** What a new session is checked against, and the audit row it leaves (none by default). */
export interface SessionCheck {
  /** The hash a password was checked against: no session unless it is still the account's. */
  passwordHash?: string;
  audit?: { type: AuditType; reason: string };
}

/** The user's columns of the session statements, as USER_COLUMNS selects them from `u`. */
interface UserRow {
  user_id: string;
  email: string;
  role: Role;
  email_verified: boolean;
  locked: boolean;
  user_created_ms: number;
}

/** The public user's columns, times as epoch milliseconds (what answers carry), from users `u`. */
const USER_COLUMNS = `u.id as user_id, u.email, u.role,
    u.email_verified_at is not null as email_verified, u.locked_at is not null as locked,
    floor(extract(epoch from u.created_at) * 1000)::float8 as user_created_ms`;

function publicUserOf(row: UserRow): PublicUser {
  return {
    id: row.user_id,
    email: row.email,
    role: row.role,
    emailVerified: row.email_verified,
    locked: row.locked,
    createdAt: row.user_created_ms,
  };
}

interface StartedRow extends UserRow {
  password_current: boolean;
  started: boolean;
}

/**
 * A session, its first refresh token and its audit row, in one statement (one round trip, and
 * atomic without a transaction of its own). The account is read FOR SHARE and the rows are
 * inserted only while it is unlocked and (for a login) its password hash is still the one the
 * password was checked against: a lock, revocation or password change takes the row FOR UPDATE,
 * so it either committed first, and this statement sees it and starts nothing, or it waits for
 * this statement to commit and then revokes the new session with the others.
 */
const startSessionStatement = preparedStatement<
  StartedRow,
  [
    string,
    string | null,
    string,
    string | null,
    string | null,
    string | null,
    string,
    string,
    string,
    string,
    string,
    string | null,
    string | null,
  ]
>(`
  with account as (
    select ${USER_COLUMNS}, ($2::text is null or u.password_hash = $2::text) as password_current
    from users u where u.id = $1::uuid for share
  ), session as (
    insert into sessions (id, user_id, device_name, ip, user_agent, created_at, last_seen_at, expires_at)
    select $3::uuid, user_id, $4::text, $5::text, $6::text, $7::timestamptz, $7::timestamptz, $8::timestamptz
    from account where password_current and not locked
    returning id
  ), refresh_token as (
    insert into refresh_tokens (id, session_id, token_hash, created_at, expires_at)
    select $9::uuid, id, $10::text, $7::timestamptz, $11::timestamptz from session
  ), audit as (
    insert into audit_log (type, actor_type, actor_id, user_id, session_id, reason, occurred_at, applied_at, ip, user_agent)
    select $12::text, 'user', $1::uuid, $1::uuid, id, $13::text, $7::timestamptz, $7::timestamptz, $5::text, $6::text
    from session where $12::text is not null
  )
  select account.*, exists (select from session) as started from account`);

/**
 * Starts a session for a user and returns its first token pair, with the user as the account's
 * row reads now (the role the access token carries is the stored one). On the pool, or inside
 * the caller's transaction (signup). INVALID_CREDENTIALS when the account is gone or its password
 * is no longer the one checked; ACCOUNT_LOCKED when it is locked (told only to a current password).
 */
export async function createSession(
  auth: Auth,
  db: DbOrTx,
  user: { id: string },
  client: ClientInfo,
  check: SessionCheck = {},
): Promise<TokenPair & { user: PublicUser }> {
  const now = auth.clock();
  const sessionId = randomUUID();
  const expiresAt = now + auth.settings.sessionMaxAgeMs;
  const refreshToken = generateRefreshToken();
  const refreshTokenExpiresAt = Math.min(now + auth.settings.refreshTokenTtlMs, expiresAt);
  const { ip, userAgent } = clientColumns(client);
  const at = new Date(now).toISOString();
  const [row] = await startSessionStatement(
    db,
    user.id,
    check.passwordHash ?? null,
    sessionId,
    client.deviceName || null,
    ip,
    userAgent,
    at,
    new Date(expiresAt).toISOString(),
    randomUUID(),
    hashToken(refreshToken),
    new Date(refreshTokenExpiresAt).toISOString(),
    check.audit?.type ?? null,
    check.audit?.reason ?? null,
  );
  if (!row?.password_current) throw new AuthError("INVALID_CREDENTIALS", "email or password is wrong");
  if (row.locked) throw new AuthError("ACCOUNT_LOCKED", "this account is locked");
  if (!row.started) throw new Error("the session was not started");
  const notBefore = auth.revocations.notBefore(user.id);
  const access = signAccessToken(auth.keys, auth.settings, { userId: user.id, sessionId, role: row.role }, now, notBefore);
  return {
    user: publicUserOf(row),
    accessToken: access.token,
    accessTokenExpiresAt: access.expiresAt,
    refreshToken,
    refreshTokenExpiresAt,
    sessionId,
  };
}

/** A user's live sessions, newest first (sessions.list; prepared, see @warden/db's perDatabase). */
const liveSessionsQuery = perDatabase((db) =>
  db
    .select({
      id: sessions.id,
      deviceName: sessions.deviceName,
      userAgent: sessions.userAgent,
      ip: sessions.ip,
      createdAt: sessions.createdAt,
      lastSeenAt: sessions.lastSeenAt,
    })
    .from(sessions)
    .where(
      and(
        eq(sessions.userId, sql.placeholder("userId")),
        isNull(sessions.revokedAt),
        gt(sessions.expiresAt, sql.placeholder("now")),
      ),
    )
    .orderBy(desc(sessions.createdAt))
    .prepare("live_sessions"),
);

export async function listSessions(auth: Auth, userId: string, currentSessionId: string): Promise<SessionSummary[]> {
  const now = auth.clock();
  const rows = await liveSessionsQuery(auth.db).execute({ userId, now: new Date(now).toISOString() });
  return rows
    .filter((r) => r.lastSeenAt.getTime() + auth.settings.refreshTokenTtlMs > now)
    .map((r) => ({
      ...r,
      createdAt: r.createdAt.getTime(),
      lastSeenAt: r.lastSeenAt.getTime(),
      current: r.id === currentSessionId,
    }));
}

export interface CurrentSession {
  user: PublicUser;
  session: { id: string; createdAt: number; expiresAt: number };
  revoked: boolean;
}

interface CurrentSessionRow extends UserRow {
  session_id: string;
  created_ms: number;
  expires_ms: number;
  revoked: boolean;
}

/**
 * The users and sessions behind access tokens (auth.me), by session id. Times come as epoch
 * milliseconds (what the answer carries, as Date#getTime would give them), so no date is parsed.
 */
const currentSessionsStatement = preparedStatement<CurrentSessionRow, [string[]]>(`
  select s.id as session_id, ${USER_COLUMNS},
    floor(extract(epoch from s.created_at) * 1000)::float8 as created_ms,
    floor(extract(epoch from s.expires_at) * 1000)::float8 as expires_ms,
    s.revoked_at is not null as revoked
  from sessions s
  join users u on u.id = s.user_id
  where s.id = any($1::uuid[])`);

async function readCurrentSessions(db: Database, sessionIds: string[]): Promise<(CurrentSession | undefined)[]> {
  // An id that is no UUID names no session, and must not fail the batch it came with.
  const ids = sessionIds.filter((id) => idSchema.safeParse(id).success);
  const rows = ids.length === 0 ? [] : await currentSessionsStatement(db, ids);
  const found = new Map<string, CurrentSession>();
  for (const row of rows) {
    found.set(row.session_id, {
      user: publicUserOf(row),
      session: { id: row.session_id, createdAt: row.created_ms, expiresAt: row.expires_ms },
      revoked: row.revoked,
    });
  }
  return sessionIds.map((id) => found.get(id.toLowerCase()));
}

/**
 * Session reads that arrive together share one statement: a read that finds a free slot goes at
 * once, those arriving while every slot is busy go together when one frees up. A cold cache (an
 * instance just started, or a whole cache's rows expiring together) costs a few statements, not
 * one round trip per session. One batcher per database handle (its pool).
 */
const SESSION_READS_IN_FLIGHT = 4;
const SESSION_READS_PER_BATCH = 128;
const sessionReader = perDatabase(
  (db) =>
    new Batcher<string, CurrentSession | undefined>((ids) => readCurrentSessions(db, ids), {
      maxInFlight: SESSION_READS_IN_FLIGHT,
      maxBatch: SESSION_READS_PER_BATCH,
      key: (id) => id,
    }),
);

/** The user and session behind an access token (auth.me), read from PostgreSQL. */
export function getCurrentSession(auth: Auth, sessionId: string): Promise<CurrentSession | undefined> {
  return sessionReader(auth.db).submit(sessionId);
}
