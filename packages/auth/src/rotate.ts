import { randomUUID } from "node:crypto";
import type { ErrorReason, Role, TokenPair } from "@warden/contracts";
import { perDatabase, preparedStatement, type Database } from "@warden/db";
import { Batcher } from "./batcher.js";
import { signAccessToken } from "./access-tokens.js";
import type { Auth, RefreshOutcome } from "./context.js";
import { AuthError } from "./errors.js";
import { classifyRefreshFailure } from "./refresh-failure.js";
import type { ClientInfo } from "./sessions.js";
import { deriveSuccessorToken, generateSuccessorSalt, hashToken } from "./tokens.js";

export interface Rotation {
  sessionId: string;
  userId: string;
  role: Role;
  /**
   * The user's not-before (epoch ms) read together with `role`: the new access token's `iat` moves
   * up to it, and to nothing newer, so a role this read predates is never carried past a not-before.
   */
  tokensNotBefore: number | undefined;
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
 * a grace retry gets the same successor, theft revokes the session (`client`, the presenter's
 * address and user agent, goes beside its event for the audit), a live token the statement
 * missed is tried again. `auth.onRefresh` is told how it ended.
 */
export async function rotateRefreshToken(auth: Auth, presented: string, client?: ClientInfo): Promise<TokenPair> {
  const now = auth.clock();
  for (let attempt = 0; attempt < MAX_ROTATION_ATTEMPTS; attempt++) {
    // A fresh salt per attempt: only the rotation that wins the compare-and-swap stores its own.
    const salt = generateSuccessorSalt();
    const successor = deriveSuccessorToken(auth.refreshKeys[0], salt, presented);
    const rotation = await rotateInOneStatement(auth, presented, { token: successor, salt }, now);
    if (rotation) return refreshed(auth, "rotated", issuePair(auth, { successor, ...rotation }, now));
    const failure = await classifyRefreshFailure(auth, presented, now, client).catch((error: unknown) => refused(auth, error));
    if (failure.kind === "replayed") return refreshed(auth, "grace", issuePair(auth, failure, now));
  }
  throw new AuthError("UNAVAILABLE", "the refresh token changed during every rotation attempt; try again");
}

interface RotatedRow {
  n: number;
  session_id: string;
  user_id: string;
  role: Role;
  tokens_not_before_ms: number | null;
  session_expires_ms: number;
}

/** One rotation to attempt: the presented token's hash, and the successor it would get. */
interface RotationRequest {
  tokenHash: string;
  /** Epoch ms of the refresh (the compare-and-swap's `now`). */
  now: number;
  salt: string;
  successorId: string;
  successorHash: string;
  /** Epoch ms: the successor's idle limit, before the session's absolute limit caps it. */
  idleLimit: number;
}

/**
 * The rotation, for every request of a batch in one statement and one commit: each live, never
 * rotated token (by hash) of a live session of an unlocked user is marked rotated at its `now`
 * (compare-and-swap on rotated_at and revoked_at) together with the salt its successor was
 * derived from, its successor is inserted (idle limit capped by the session's absolute limit) and
 * the session touched. Answers a row per rotated request (`n`, its index); a request with no row
 * was not rotated. Prepared: it runs on every refresh.
 */
const rotateStatement = preparedStatement<RotatedRow, [number[], string[], string[], string[], string[], string[], string[]]>(`
  with input as (
    -- Times travel as text: drizzle hands timestamptz[] parameters to the driver unserialized.
    select n, token_hash, now::timestamptz as now, salt, successor_id, successor_hash, idle_limit::timestamptz as idle_limit
    from unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::text[])
      as i(n, token_hash, now, salt, successor_id, successor_hash, idle_limit)
  ),
  -- Each request's token, session and user by their unique keys. A lateral subquery with a limit
  -- is never folded into a join the planner may drive from a table scan: whatever the statistics
  -- say, the work is a few index probes per request.
  found as materialized (
    select i.*, x.*
    from input i
    cross join lateral (
      select rt.id, rt.session_id, s.expires_at as session_expires_at, u.id as user_id, u.role,
        u.tokens_not_before
      from refresh_tokens rt
      join sessions s on s.id = rt.session_id
      join users u on u.id = s.user_id
      where rt.token_hash = i.token_hash
        and rt.rotated_at is null and rt.revoked_at is null and rt.expires_at > i.now
        and s.revoked_at is null and s.expires_at > i.now and u.locked_at is null
      limit 1
    ) x
  ),
  -- Then their sessions, locked one by one in id order: the order every revocation locks in, so a
  -- batch racing a logout, an admin revocation or another batch waits instead of deadlocking. A
  -- session revoked meanwhile is rechecked under its lock and drops out.
  t as (
    select f.*
    from (select * from found order by session_id) f
    cross join lateral (
      select s.id from sessions s
      where s.id = f.session_id and s.revoked_at is null and s.expires_at > f.now
      for update
    ) locked
  ),
  rotated as (
    update refresh_tokens r set rotated_at = t.now, successor_salt = t.salt
    from t
    where r.id = t.id and r.rotated_at is null and r.revoked_at is null
    returning t.*
  ),
  successor as (
    insert into refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at)
    select successor_id, session_id, successor_hash, id, now, least(idle_limit, session_expires_at)
    from rotated
  ),
  touched as (
    update sessions s set last_seen_at = rotated.now from rotated where s.id = rotated.session_id
  )
  select n, session_id, user_id, role, (extract(epoch from tokens_not_before) * 1000)::float8 as tokens_not_before_ms,
    (extract(epoch from session_expires_at) * 1000)::float8 as session_expires_ms
  from rotated`);

/** PostgreSQL's deadlock_detected: the statement was rolled back whole, so nothing rotated. */
const DEADLOCK_DETECTED = "40P01";

export async function rotateBatch(db: Database, requests: RotationRequest[]): Promise<(RotatedRow | undefined)[]> {
  const iso = (ms: number) => new Date(ms).toISOString();
  const column = <T>(value: (r: RotationRequest) => T) => requests.map(value);
  try {
    const rows = await rotateStatement(
      db,
      requests.map((_, n) => n),
      column((r) => r.tokenHash),
      column((r) => iso(r.now)),
      column((r) => r.salt),
      column((r) => r.successorId),
      column((r) => r.successorHash),
      column((r) => iso(r.idleLimit)),
    );
    const byIndex: (RotatedRow | undefined)[] = new Array<RotatedRow | undefined>(requests.length).fill(undefined);
    for (const row of rows) byIndex[row.n] = row;
    return byIndex;
  } catch (error) {
    // Every lock is taken in one order, so this should not happen; if it does, each request is a
    // miss, and the caller's classification finds its token live and tries again.
    if ((error as { code?: unknown }).code === DEADLOCK_DETECTED) return requests.map(() => undefined);
    throw error;
  }
}

/**
 * Refreshes that arrive together are rotated together: a refresh that finds a free slot goes at
 * once, those arriving while every slot is busy share the next statement and commit. Two
 * refreshes of one token never share a batch. One batcher per database handle (its pool).
 *
 * Two slots: PostgreSQL plans each statement for its batch (about 0.5-0.8 ms of its CPU) and
 * commits it, so fewer, larger batches cost it less per rotation. Measured with 32 refreshes in
 * flight (`pnpm bench`, scenario 3): 4 slots ~400 us of PostgreSQL CPU per rotation, 2 slots
 * ~250 us and more rotations per second at a lower p99. One slot was far slower: batches of 32
 * and more on tables without statistics got plans that scan them.
 */
const ROTATIONS_IN_FLIGHT = 2;
const ROTATIONS_PER_BATCH = 64;
const rotationBatcher = perDatabase(
  (db) =>
    new Batcher<RotationRequest, RotatedRow | undefined>((requests) => rotateBatch(db, requests), {
      maxInFlight: ROTATIONS_IN_FLIGHT,
      maxBatch: ROTATIONS_PER_BATCH,
      key: (request) => request.tokenHash,
    }),
);

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
  const row = await rotationBatcher(auth.db).submit({
    tokenHash: hashToken(presented),
    now,
    salt: successor.salt,
    successorId: randomUUID(),
    successorHash: hashToken(successor.token),
    idleLimit,
  });
  if (!row) return undefined;
  return {
    sessionId: row.session_id,
    userId: row.user_id,
    role: row.role,
    tokensNotBefore: row.tokens_not_before_ms ?? undefined,
    successorExpiresAt: Math.min(idleLimit, Math.round(row.session_expires_ms)),
  };
}

/**
 * The answer to a refresh: the successor and a fresh access token whose `iat` is moved up to the
 * user's not-before when one applies, so a token renewed right after a role change is not refused
 * with the tokens it replaces. Only to the not-before read with the role: one this process heard of
 * that the read predates (a demotion committed meanwhile) leaves the token before it, refused, and
 * the client's next refresh reads the new role. Moving it up to that one would carry the old role
 * past the demotion.
 */
function issuePair(auth: Auth, pair: Rotation & { successor: string }, now: number): TokenPair {
  const access = signAccessToken(
    auth.keys,
    auth.settings,
    { userId: pair.userId, sessionId: pair.sessionId, role: pair.role },
    now,
    pair.tokensNotBefore,
  );
  return {
    accessToken: access.token,
    accessTokenExpiresAt: access.expiresAt,
    refreshToken: pair.successor,
    refreshTokenExpiresAt: pair.successorExpiresAt,
    sessionId: pair.sessionId,
  };
}
