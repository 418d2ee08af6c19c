import { randomUUID } from "node:crypto";
import type { Role } from "@warden/contracts";
import { sql } from "drizzle-orm";
import type { Auth } from "./context.js";
import { hashToken } from "./tokens.js";

export interface FastRotation {
  sessionId: string;
  userId: string;
  role: Role;
  successorExpiresAt: number;
}

/**
 * The common case of a refresh in one statement (one round trip instead of six): a live, never
 * rotated token of a live session is marked rotated (compare-and-swap on rotated_at and
 * revoked_at) together with the salt its successor was derived from, its successor inserted and
 * the session touched. Returns undefined when the token is anything but that case (unknown,
 * expired, revoked, already rotated, or lost a race), and the caller then takes the locking
 * transaction, which tells those cases apart.
 */
export async function rotateInOneStatement(
  auth: Auth,
  presented: string,
  successor: { token: string; salt: string },
  now: number,
): Promise<FastRotation | undefined> {
  const at = new Date(now).toISOString();
  const idleLimit = new Date(now + auth.settings.refreshTokenTtlMs).toISOString();
  const rows = await auth.db.execute<{ session_id: string; user_id: string; role: Role; session_expires_ms: number }>(sql`
    with t as (
      select rt.id, rt.session_id, s.expires_at as session_expires_at, u.id as user_id, u.role
      from refresh_tokens rt
      join sessions s on s.id = rt.session_id
      join users u on u.id = s.user_id
      where rt.token_hash = ${hashToken(presented)}
        and rt.rotated_at is null and rt.revoked_at is null and rt.expires_at > ${at}::timestamptz
        and s.revoked_at is null and s.expires_at > ${at}::timestamptz and u.locked_at is null
      -- Session before token, the order every revocation locks in: a refresh racing a logout or
      -- an admin revocation waits for it instead of deadlocking.
      for update of s
    ),
    rotated as (
      update refresh_tokens r set rotated_at = ${at}::timestamptz, successor_salt = ${successor.salt}
      from t
      where r.id = t.id and r.rotated_at is null and r.revoked_at is null
      returning t.id, t.session_id, t.session_expires_at, t.user_id, t.role
    ),
    successor as (
      insert into refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at)
      select ${randomUUID()}::uuid, session_id, ${hashToken(successor.token)}, id, ${at}::timestamptz, least(${idleLimit}::timestamptz, session_expires_at)
      from rotated
    ),
    touched as (
      update sessions set last_seen_at = ${at}::timestamptz where id in (select session_id from rotated)
    )
    select session_id, user_id, role, (extract(epoch from session_expires_at) * 1000)::float8 as session_expires_ms from rotated`);
  const row = rows[0];
  if (!row) return undefined;
  return {
    sessionId: row.session_id,
    userId: row.user_id,
    role: row.role,
    successorExpiresAt: Math.min(now + auth.settings.refreshTokenTtlMs, Math.round(row.session_expires_ms)),
  };
}
