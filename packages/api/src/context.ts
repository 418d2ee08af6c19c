import type { TRPCError } from "@trpc/server";
import type { Principal } from "@warden/access-token";
import type { Auth } from "@warden/auth";

/** What the HTTP host knows about the request, in a form that is easy to fake in tests. */
export interface RequestInfo {
  ip?: string | undefined;
  userAgent?: string | undefined;
  /** Raw Authorization header value(s). */
  authorization?: string | string[] | undefined;
  /** Browser mode (`COOKIE_HEADER: 1` from @warden/contracts): the refresh token travels in an httpOnly cookie. */
  cookieMode?: boolean;
  /** The refresh-token cookie, when the request carried one. */
  refreshCookie?: string | undefined;
  setRefreshCookie?: (token: string, expiresAt: number) => void;
  clearRefreshCookie?: () => void;
}

/** Readiness of the dependencies behind the api, for `health`. */
export interface HealthProbe {
  db(): Promise<boolean>;
  redis(): Promise<boolean>;
  /** What the last checks found wrong while the dependencies answer (read from memory, no round trip). */
  warnings?(): string[];
}

/** Who is attempting: the client address, and the account for the per-account budget. */
export interface RateLimitSubject {
  ip: string | undefined;
  email?: string;
}

/**
 * Budgets: login per address and per account+address (a password change counts as a login of its
 * account), signup and refresh per address, password-reset requests per address and per email,
 * verification emails per account.
 */
type RateLimitBucketName =
  "login" | "loginAccount" | "signup" | "refresh" | "passwordReset" | "passwordResetEmail" | "emailVerification";

/** The limiter decides which addresses count as one source (an IPv6 host owns a whole prefix). */
export interface RateLimiter {
  /** Throws AuthError('RATE_LIMITED') when the subject is over its budget. */
  consume(bucket: RateLimitBucketName, subject: RateLimitSubject): Promise<void>;
  /** Clears a subject's failures (a successful login). */
  reward?(bucket: "loginAccount", subject: RateLimitSubject): Promise<void>;
}

/** Told of every procedure call once it has ended (metrics). Synchronous and cheap: it runs on every call. */
export interface ProcedureObserver {
  /** `error` is undefined when the call succeeded. */
  called(path: string, error: TRPCError | undefined, seconds: number): void;
}

export interface InnerContextOptions {
  auth: Auth;
  health?: HealthProbe;
  rateLimiter?: RateLimiter;
  observer?: ProcedureObserver;
  req?: RequestInfo;
}

export interface Context {
  auth: Auth;
  health: HealthProbe | undefined;
  rateLimiter: RateLimiter | undefined;
  observer: ProcedureObserver | undefined;
  req: RequestInfo;
}

/**
 * The context as created, with the slot protectedProcedure fills once the caller's token is
 * checked. It is not in Context's type: only protected procedures see a principal. Filled in
 * place rather than through `next({ ctx })`, which copies the whole context on every protected
 * call.
 */
export interface ContextSlots extends Context {
  principal: Principal | undefined;
}

/** Context without HTTP: used directly by tests through `createCaller`. */
export function createContextInner(opts: InnerContextOptions): Context {
  const ctx: ContextSlots = {
    auth: opts.auth,
    health: opts.health,
    rateLimiter: opts.rateLimiter,
    observer: opts.observer,
    req: opts.req ?? {},
    principal: undefined,
  };
  return ctx;
}

/** Where the request came from, for the session it opens and the audit of what it does. */
export function clientInfo(ctx: Context) {
  return { ip: ctx.req.ip, userAgent: ctx.req.userAgent };
}

/** Who an admin change is recorded as made by, and from where. */
export function madeBy(ctx: Context & { principal: { userId: string } }) {
  return { actor: { type: "admin", id: ctx.principal.userId } as const, client: clientInfo(ctx) };
}
