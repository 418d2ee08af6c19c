import { InvalidArgumentError } from "commander";
import { emailSchema, idSchema, parseDuration } from "@warden/contracts";
import type { z } from "zod";

/** Parses with a contract schema, so the CLI refuses what the server would refuse, with the same words. */
export function parseWith<T>(schema: z.ZodType<T>, name: string) {
  return (value: string): T => {
    const result = schema.safeParse(value);
    if (!result.success) throw new InvalidArgumentError(`${name} ${result.error.issues[0]?.message ?? "is invalid"}`);
    return result.data;
  };
}

export const positiveInt = (name: string, max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`${name} must be a whole number from 1 to ${max}`);
  return n;
};

export const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** A user named on the command line: by id (a UUID), else by email (canonicalised like every email). */
export type UserRef = { userId: string } | { email: string };

export function parseUserRef(value: string): UserRef {
  const id = idSchema.safeParse(value.trim());
  if (id.success) return { userId: id.data };
  const email = emailSchema.safeParse(value);
  if (email.success) return { email: email.data };
  throw new InvalidArgumentError(
    `user must be an email address or a user id (UUID): ${email.error.issues[0]?.message ?? "is invalid"}`,
  );
}

/**
 * A point in time for `audit --since/--until`: a duration before now (`15m`, `2h`, `7d`), epoch
 * milliseconds, or an ISO 8601 date or time (`2026-05-01`, `2026-05-01T14:00Z`; a date alone is
 * midnight UTC, a time without a zone is local).
 */
export function parseTime(name: string, now: () => number = Date.now) {
  return (value: string): number => {
    const text = value.trim();
    if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(text)) return now() - parseDuration(text);
    if (/^\d+$/.test(text)) return Number(text);
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) {
      throw new InvalidArgumentError(
        `${name} must be a time: a duration before now (15m, 2h, 7d), an ISO 8601 date or time (2026-05-01, 2026-05-01T14:00Z) or epoch milliseconds`,
      );
    }
    return ms;
  };
}

/** A shell word: quoted only when it needs to be (for commands the CLI prints for the user to run). */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
