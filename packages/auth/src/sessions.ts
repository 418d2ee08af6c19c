import { randomUUID } from "node:crypto";
import type { PublicUser, Role, SessionSummary, TokenPair } from "@warden/contracts";
import { perDatabase, refreshTokens, sessions, users, type Database } from "@warden/db";
import { and, desc, eq, gt, isNull, sql } from "drizzle-orm";
import { signAccessToken } from "./access-tokens.js";
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

/** The user and session behind an access token (auth.me); prepared: it runs on cache misses of every protected call. */
const currentSessionQuery = perDatabase((db) =>
  db
    .select({
      userId: users.id,
      email: users.email,
      role: users.role,
      emailVerifiedAt: users.emailVerifiedAt,
      lockedAt: users.lockedAt,
      userCreatedAt: users.createdAt,
      sessionId: sessions.id,
      createdAt: sessions.createdAt,
      expiresAt: sessions.expiresAt,
      revokedAt: sessions.revokedAt,
    })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(sessions.id, sql.placeholder("sessionId")))
    .prepare("current_session"),
);

export async function getCurrentSession(auth: Auth, sessionId: string): Promise<CurrentSession | undefined> {
  const [row] = await currentSessionQuery(auth.db).execute({ sessionId });
  if (!row) return undefined;
  return {
    user: {
      id: row.userId,
      email: row.email,
      role: row.role,
      emailVerified: row.emailVerifiedAt !== null,
      locked: row.lockedAt !== null,
      createdAt: row.userCreatedAt.getTime(),
    },
    session: { id: row.sessionId, createdAt: row.createdAt.getTime(), expiresAt: row.expiresAt.getTime() },
    revoked: row.revokedAt !== null,
  };
}
