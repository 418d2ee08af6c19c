import { z } from "zod";

export const ROLES = ["user", "admin"] as const;
export type Role = (typeof ROLES)[number];

export const userOutput = z.object({
  id: z.string(),
  email: z.string(),
  role: z.enum(ROLES),
  /** The user proved the mailbox (a verification link, or a password reset). */
  emailVerified: z.boolean(),
  locked: z.boolean(),
  /** Epoch milliseconds. */
  createdAt: z.number(),
});
export type PublicUser = z.infer<typeof userOutput>;

/**
 * A user as `admin.users.list` shows it: the user, and with `includeDeleted` also whether the
 * account was deleted (its row stays, anonymised); without it every item is a live account.
 */
export const adminListedUserOutput = userOutput.extend({ deleted: z.boolean().optional() });
export type AdminListedUser = z.infer<typeof adminListedUserOutput>;

export const tokenPairOutput = z.object({
  accessToken: z.string(),
  accessTokenExpiresAt: z.number(),
  refreshToken: z.string(),
  refreshTokenExpiresAt: z.number(),
  sessionId: z.string(),
});
export type TokenPair = z.infer<typeof tokenPairOutput>;

export const authResultOutput = tokenPairOutput.extend({ user: userOutput });
export type AuthResult = z.infer<typeof authResultOutput>;

/** Signup with REQUIRE_VERIFIED_EMAIL: the account exists, the email is on its way, no session yet. */
export interface VerificationRequired {
  user: PublicUser;
  verificationRequired: true;
}

export const sessionSummaryOutput = z.object({
  id: z.string(),
  deviceName: z.string().nullable(),
  userAgent: z.string().nullable(),
  ip: z.string().nullable(),
  createdAt: z.number(),
  lastSeenAt: z.number(),
  current: z.boolean(),
});
export type SessionSummary = z.infer<typeof sessionSummaryOutput>;

/**
 * `health`: whether the dependencies answer (`ok` is both up), and what an operator should fix even
 * while they do (a Redis eviction policy that loses jobs); `warnings` is empty when all is well.
 */
export interface HealthStatus {
  ok: boolean;
  db: "up" | "down";
  redis: "up" | "down";
  warnings: string[];
}

/** Claims of a Warden access token (`typ: at+jwt`). */
export interface AccessTokenClaims {
  iss: string;
  aud: string;
  sub: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
  role: Role;
}

export const ACCESS_TOKEN_TYPE = "at+jwt";
