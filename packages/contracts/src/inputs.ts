import { z } from "zod";
import { ROLES } from "./outputs.js";

export const EMAIL_MAX_LENGTH = 254;
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 1024;
export const DEVICE_NAME_MAX_LENGTH = 100;
export const REFRESH_TOKEN_MAX_LENGTH = 512;
export const REASON_MAX_LENGTH = 500;

// C0/C1 control characters, which include NUL (PostgreSQL text cannot hold it), and lone
// surrogates, which are not text: PostgreSQL's jsonb refuses them (an event payload) and UTF-8
// turns each into U+FFFD (two inputs stored as one).
export const CONTROL_CHARS = /[\p{Cc}\p{Cs}]/u;
// Every Default_Ignorable code point (zero-width, bidi, soft hyphen, variation selectors, tags...)
// renders as nothing: two emails differing only by one look identical.
const INVISIBLE_CHARS = /\p{Default_Ignorable_Code_Point}/u;
// Deliberately simple: one @, something on each side, a dot in the domain, no spaces.
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/u;

/**
 * The one place an email is canonicalised: trimmed, lower-cased, then NFC-normalised. NFC comes
 * last because lower-casing can decompose (H̱ has no precomposed capital; its lower case h + U+0331
 * composes to ẖ), so the result is NFC and lower-case, and canonicalising it again changes nothing.
 */
export function normalizeEmail(raw: string): string {
  return raw.trim().toLowerCase().normalize("NFC");
}

export const emailSchema = z
  .string()
  // Bound the work done on hostile input before normalising it.
  .max(EMAIL_MAX_LENGTH * 4, { message: `must be at most ${EMAIL_MAX_LENGTH} characters` })
  .transform(normalizeEmail)
  .pipe(
    z
      .string()
      .min(3, { message: "must be an email address" })
      .max(EMAIL_MAX_LENGTH, { message: `must be at most ${EMAIL_MAX_LENGTH} characters` })
      .refine((v) => !CONTROL_CHARS.test(v) && !INVISIBLE_CHARS.test(v), {
        message: "must not contain control or invisible characters",
      })
      .refine((v) => EMAIL_SHAPE.test(v), { message: "must be an email address" }),
  );

export const passwordSchema = z
  .string()
  .min(PASSWORD_MIN_LENGTH, { message: `must be at least ${PASSWORD_MIN_LENGTH} characters` })
  .max(PASSWORD_MAX_LENGTH, { message: `must be at most ${PASSWORD_MAX_LENGTH} characters` });

export const deviceNameSchema = z
  .string()
  .trim()
  .max(DEVICE_NAME_MAX_LENGTH, { message: `must be at most ${DEVICE_NAME_MAX_LENGTH} characters` })
  .refine((v) => !CONTROL_CHARS.test(v), { message: "must not contain control characters" });

export const refreshTokenSchema = z
  .string()
  .min(1)
  .max(REFRESH_TOKEN_MAX_LENGTH, { message: `must be at most ${REFRESH_TOKEN_MAX_LENGTH} characters` });

export const idSchema = z.uuid({ message: "must be a UUID" });

export const reasonSchema = z
  .string()
  .trim()
  .min(1, { message: "is required" })
  .max(REASON_MAX_LENGTH, { message: `must be at most ${REASON_MAX_LENGTH} characters` })
  .refine((v) => !CONTROL_CHARS.test(v), { message: "must not contain control characters" });

export const credentialsInput = z.object({
  email: emailSchema,
  password: passwordSchema,
  deviceName: deviceNameSchema.optional(),
});
export type CredentialsInput = z.infer<typeof credentialsInput>;

export const signupInput = credentialsInput;
export const loginInput = credentialsInput;
export const refreshInput = z.object({ refreshToken: refreshTokenSchema.optional() }).optional();
export const emptyInput = z.object({}).optional();
export const sessionIdInput = z.object({ sessionId: idSchema });

/** Reset and verification tokens: 256 random bits, base64url without padding. */
export const ONE_TIME_TOKEN_LENGTH = 43;
export const oneTimeTokenSchema = z
  .string()
  .length(ONE_TIME_TOKEN_LENGTH, { message: "must be the token from the email" })
  .regex(/^[A-Za-z0-9_-]+$/, { message: "must be the token from the email" });

export const changePasswordInput = z.object({ currentPassword: passwordSchema, newPassword: passwordSchema });
export type ChangePasswordInput = z.infer<typeof changePasswordInput>;
export const requestPasswordResetInput = z.object({ email: emailSchema });
export const resetPasswordInput = z.object({ token: oneTimeTokenSchema, newPassword: passwordSchema });
export type ResetPasswordInput = z.infer<typeof resetPasswordInput>;
export const verifyEmailInput = z.object({ token: oneTimeTokenSchema });

export const adminFindUserInput = z.union([z.object({ email: emailSchema }), z.object({ userId: idSchema })]);
export const adminRevokeUserInput = z.object({
  userId: idSchema,
  reason: reasonSchema,
  lock: z.boolean().optional(),
});
export const adminRevokeSessionInput = z.object({ sessionId: idSchema, reason: reasonSchema });
export const adminRevocationInput = z.object({ eventId: idSchema });
/** Pages of admin lists: 50 entries unless asked, 200 at most. */
export const PAGE_LIMIT_MAX = 200;
export const pageLimitSchema = z.number().int().min(1).max(PAGE_LIMIT_MAX);

/**
 * A search in emails (admin.users.list): canonicalised like an email, so `Bob@` finds `bob@`; any
 * part of an address (a domain, a name), not necessarily a whole one.
 */
export const emailSearchSchema = z
  .string()
  .max(EMAIL_MAX_LENGTH * 4, { message: `must be at most ${EMAIL_MAX_LENGTH} characters` })
  .transform(normalizeEmail)
  .pipe(
    z
      .string()
      .min(1, { message: "must not be blank" })
      .max(EMAIL_MAX_LENGTH, { message: `must be at most ${EMAIL_MAX_LENGTH} characters` })
      .refine((v) => !CONTROL_CHARS.test(v), { message: "must not contain control characters" }),
  );

export const adminListUsersInput = z
  .object({
    query: emailSearchSchema.optional(),
    role: z.enum(ROLES).optional(),
    locked: z.boolean().optional(),
    /** Deleted accounts (anonymised rows) are left out unless asked for. */
    includeDeleted: z.boolean().optional(),
    /** The id of the last user of the previous page. */
    cursor: idSchema.optional(),
    limit: pageLimitSchema.optional(),
  })
  .optional();
export type AdminListUsersInput = z.infer<typeof adminListUsersInput>;

export const adminUnlockUserInput = z.object({ userId: idSchema, reason: reasonSchema });
export const adminSetRoleInput = z.object({ userId: idSchema, role: z.enum(ROLES), reason: reasonSchema });
export const adminDeleteUserInput = z.object({ userId: idSchema, reason: reasonSchema });
