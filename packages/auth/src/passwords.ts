import { availableParallelism } from "node:os";
import { hash, verify } from "@node-rs/argon2";
import pLimit from "p-limit";

/** OWASP's argon2id recommendation: m = 19 MiB, t = 2, p = 1. */
export const ARGON2_PARAMS = {
  // Algorithm.Argon2id (a const enum, which isolated modules cannot read).
  algorithm: 2,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

/**
 * At most one argon2 computation per core this process may run on (its CPU affinity, as
 * `availableParallelism` reads it); the others wait their turn. More at once only share the same
 * cores: each takes longer, 19 MiB apiece, and the hashes evict each other from the CPU caches
 * (on one core, four at once do about 12% fewer hashes per second than one after another). The
 * unknown-email path waits in the same line, so its timing still matches a real check's.
 */
export const ARGON2_CONCURRENCY = Math.max(1, availableParallelism());
const argon2Slots = pLimit(ARGON2_CONCURRENCY);

/** argon2 computations running, and waiting for a slot. */
export function argon2Load(): { running: number; waiting: number } {
  return { running: argon2Slots.activeCount, waiting: argon2Slots.pendingCount };
}

export function hashPassword(password: string): Promise<string> {
  return argon2Slots(() => hash(password, ARGON2_PARAMS));
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await argon2Slots(() => verify(passwordHash, password));
  } catch {
    return false;
  }
}

let dummyHash: Promise<string> | undefined;

/**
 * Spends the same work as a real check when the email is unknown, so the answer's timing does
 * not tell whether an account exists.
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummyHash ??= hashPassword("warden-dummy-password-for-timing");
  await verifyPassword(await dummyHash, password);
  return false;
}
