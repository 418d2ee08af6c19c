import { randomUUID } from "node:crypto";
import type { ErrorReason, Role, TokenPair } from "@warden/contracts";
import { preparedStatement } from "@warden/db";
import { signAccessToken } from "./access-tokens.js";
import type { Auth, RefreshOutcome } from "./context.js";
import { AuthError } from "./errors.js";
import { classifyRefreshFailure } from "./refresh-failure.js";
import { deriveSuccessorToken, generateSuccessorSalt, hashToken } from "./tokens.js";

export interface Rotation {
  sessionId: string;
  userId: string;
  role: Role;
  successorExpiresAt: number;
}

/**
 * How many times a refresh tries the rotation statement. It misses a live, never-rotated token
 * only when a concurrent change to its rows was undone in between; a token that keeps missing
 * is answered UNAVAILABLE (try again) rather than rotated some other way.
 */
const MAX_ROTATION_ATTEMPTS = 3;

/** The refusals that end a refresh, as the outcomes `auth.onRefresh` is told. */
const REFUSALS: Partial<Record<ErrorReason, RefreshOutcome>> = {
  REFRESH_TOKEN_REUSED: "reused",
  REFRESH_TOKEN_EXPIRED: "expired",
  REFRESH_TOKEN_REVOKED: "revoked",
  REFRESH_TOKEN_INVALID: "invalid",
};

function refused(auth: Auth, error: unknown): never {
  const outcome = error instanceof AuthError ? REFUSALS[error.reason] : undefined;
  if (outcome) auth.onRefresh(outcome);
  throw error;
}

function refreshed(auth: Auth, outcome: RefreshOutcome, pair: TokenPair): TokenPair {
  auth.onRefresh(outcome);
  return pair;
}

/**
 * Exchanges a refresh token for a new pair. The one statement below is the only rotation: of
 * concurrent refreshes of one token exactly one wins its compare-and-swap, so there is never a
 * second live successor. Every other refresh learns why it missed from classifyRefreshFailure:
 * a grace retry gets the same successor, theft revokes the session, a live token the statement
 * missed is tried again. `auth.onRefresh` is told how it ended.
 */
export async function rotateRefreshToken(auth: Auth, presented: string): Promise<TokenPair> {
  const now = auth.clock();
  for (let attempt = 0; attempt < MAX_ROTATION_ATTEMPTS; attempt++) {
    // A fresh salt per attempt: only the rotation that wins the compare-and-swap stores its own.
    const salt = generateSuccessorSalt();
    const successor = deriveSuccessorToken(auth.refreshKeys[0], salt, presented);
    const rotation = await rotateInOneStatement(auth, presented, { token: successor, salt }, now);
    if (rotation) return refreshed(auth, "rotated", issuePair(auth, { successor, ...rotation }, now));
    const failure = await classifyRefreshFailure(auth, presented, now).catch((error: unknown) => refused(auth, error));
    if (failure.kind === "replayed") return refreshed(auth, "grace", issuePair(auth, failure, now));
  }
  throw new AuthError("UNAVAILABLE", "the refresh token changed during every rotation attempt; try again");
}

interface RotatedRow {
  session_id: string;
  user_id: string;
  role: Role;
  session_expires_ms: number;
}

/**
 * The rotation, in one statement (one round trip): a live, never rotated token ($1, its hash) of
 * a live session of an unlocked user is marked rotated at $2 (compare-and-swap on rotated_at and
 * revoked_at) together with the salt its successor was derived from ($3), its successor inserted
 * ($4 id, $5 hash, idle limit $6, capped by the session's absolute limit) and the session
 * touched. Prepared: it runs on every refresh.
 */
const rotateStatement = preparedStatement<RotatedRow, [string, string, string, string, string, string]>(`
  with t as (
    select rt.id, rt.session_id, s.expires_at as session_expires_at, u.id as user_id, u.role
    from refresh_tokens rt
    join sessions s on s.id = rt.session_id
    join users u on u.id = s.user_id
    where rt.token_hash = $1
      and rt.rotated_at is null and rt.revoked_at is null and rt.expires_at > $2::timestamptz
      and s.revoked_at is null and s.expires_at > $2::timestamptz and u.locked_at is null
    -- Session before token, the order every revocation locks in: a refresh racing a logout or
    -- an admin revocation waits for it instead of deadlocking.
    for update of s
  ),
  rotated as (
    update refresh_tokens r set rotated_at = $2::timestamptz, successor_salt = $3
    from t
    where r.id = t.id and r.rotated_at is null and r.revoked_at is null
    returning t.id, t.session_id, t.session_expires_at, t.user_id, t.role
  ),
  successor as (
    insert into refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at)
    select $4::uuid, session_id, $5, id, $2::timestamptz, least($6::timestamptz, session_expires_at)
    from rotated
  ),
  touched as (
    update sessions set last_seen_at = $2::timestamptz where id in (select session_id from rotated)
  )
  select session_id, user_id, role, (extract(epoch from session_expires_at) * 1000)::float8 as session_expires_ms
  from rotated`);

/**
 * The rotation (see rotateStatement). Returns undefined when the token is anything but live and
 * never rotated (unknown, expired, revoked, already rotated, or it lost a race);
 * classifyRefreshFailure tells those cases apart.
 */
export async function rotateInOneStatement(
  auth: Auth,
  presented: string,
  successor: { token: string; salt: string },
  now: number,
): Promise<Rotation | undefined> {
  const idleLimit = now + auth.settings.refreshTokenTtlMs;
  const [row] = await rotateStatement(
    auth.db,
    hashToken(presented),
    new Date(now).toISOString(),
    successor.salt,
    randomUUID(),
    hashToken(successor.token),
    new Date(idleLimit).toISOString(),
  );
  if (!row) return undefined;
  return {
    sessionId: row.session_id,
    userId: row.user_id,
    role: row.role,
    successorExpiresAt: Math.min(idleLimit, Math.round(row.session_expires_ms)),
  };
}

/**
 * The answer to a refresh: the successor and a fresh access token whose `iat` is moved up to the
 * user's not-before when one applies, so a token renewed right after a role change is not refused
 * with the tokens it replaces.
 */
function issuePair(auth: Auth, pair: Rotation & { successor: string }, now: number): TokenPair {
  const access = signAccessToken(
    auth.keys,
    auth.settings,
    { userId: pair.userId, sessionId: pair.sessionId, role: pair.role },
    now,
    auth.revocations.notBefore(pair.userId),
  );
  return {
    accessToken: access.token,
    accessTokenExpiresAt: access.expiresAt,
    refreshToken: pair.successor,
    refreshTokenExpiresAt: pair.successorExpiresAt,
    sessionId: pair.sessionId,
  };
}
