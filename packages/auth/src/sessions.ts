import { randomUUID } from "node:crypto";
import { idSchema, type PublicUser, type Role, type SessionSummary, type TokenPair } from "@warden/contracts";
import { perDatabase, preparedStatement, refreshTokens, sessions, type Database } from "@warden/db";
import { and, desc, eq, gt, isNull, sql } from "drizzle-orm";
import { signAccessToken } from "./access-tokens.js";
import { Batcher } from "./batcher.js";
import type { Auth } from "./context.js";
import { generateRefreshToken, hashToken } from "./tokens.js";

type Tx = Parameters<Parameters<Database["transaction"]>[0]>[0];
export type DbOrTx = Database | Tx;

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

/**
 * Starts a session for a user and returns its first token pair. Runs inside the caller's
 * transaction; its statements are prepared (parsed and planned once per connection: every login
 * and signup runs them).
 */
export async function createSession(
  auth: Auth,
  tx: DbOrTx,
  user: { id: string; role: Role },
  client: ClientInfo,
): Promise<TokenPair> {
  const now = auth.clock();
  const sessionId = randomUUID();
  const expiresAt = now + auth.settings.sessionMaxAgeMs;
  await tx
    .insert(sessions)
    .values({
      id: sessionId,
      userId: user.id,
      deviceName: client.deviceName || null,
      ...clientColumns(client),
      createdAt: new Date(now),
      lastSeenAt: new Date(now),
      expiresAt: new Date(expiresAt),
    })
    .prepare("insert_session")
    .execute();
  const refreshToken = generateRefreshToken();
  const refreshTokenExpiresAt = Math.min(now + auth.settings.refreshTokenTtlMs, expiresAt);
  await tx
    .insert(refreshTokens)
    .values({
      id: randomUUID(),
      sessionId,
      tokenHash: hashToken(refreshToken),
      createdAt: new Date(now),
      expiresAt: new Date(refreshTokenExpiresAt),
    })
    .prepare("insert_refresh_token")
    .execute();
  const notBefore = auth.revocations.notBefore(user.id);
  const access = signAccessToken(auth.keys, auth.settings, { userId: user.id, sessionId, role: user.role }, now, notBefore);
  return {
    accessToken: access.token,
    accessTokenExpiresAt: access.expiresAt,
    refreshToken,
    refreshTokenExpiresAt,
    sessionId,
  };
}

/** The signed-in user's live sessions, newest first. */
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

interface CurrentSessionRow {
  session_id: string;
  user_id: string;
  email: string;
  role: Role;
  email_verified: boolean;
  locked: boolean;
  user_created_ms: number;
  created_ms: number;
  expires_ms: number;
  revoked: boolean;
}

/**
 * The users and sessions behind access tokens (auth.me), by session id. Times come as epoch
 * milliseconds (what the answer carries, as Date#getTime would give them), so no date is parsed.
 */
const currentSessionsStatement = preparedStatement<CurrentSessionRow, [string[]]>(`
  select s.id as session_id, u.id as user_id, u.email, u.role,
    u.email_verified_at is not null as email_verified, u.locked_at is not null as locked,
    floor(extract(epoch from u.created_at) * 1000)::float8 as user_created_ms,
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
      user: {
        id: row.user_id,
        email: row.email,
        role: row.role,
        emailVerified: row.email_verified,
        locked: row.locked,
        createdAt: row.user_created_ms,
      },
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
