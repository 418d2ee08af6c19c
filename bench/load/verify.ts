// Scenario 2, run in a child pinned to one core: in-process access-token checks per second.
import { verify as cryptoVerify } from "node:crypto";
import { createKeyRing, es256KeyFromPem, generateEs256PrivateKeyPem, signAccessToken, verifyAccessToken } from "@warden/auth";
import jwt from "jsonwebtoken";
import * as verifierModule from "@warden/verifier";
import { readJob } from "../lib/job.js";

const job = readJob<{ tokens: number; reps: number; seconds: number }>();
const settings = { issuer: "warden-bench", audience: "warden-bench", accessTokenTtlMs: 15 * 60_000 };
const keys = createKeyRing(es256KeyFromPem(generateEs256PrivateKeyPem()));
const now = Date.now();
const tokens = Array.from(
  { length: job.tokens },
  (_, i) =>
    signAccessToken(
      keys,
      settings,
      { userId: `user-${i}`, sessionId: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, role: "user" },
      now,
    ).token,
);
const STRING_SECRET = "tutorial-secret";
const hsTokens = tokens
  .slice(0, 2000)
  .map((_, i) => jwt.sign({ sub: `user-${i}`, sid: `s-${i}` }, STRING_SECRET, { expiresIn: "15m" }));
const publicKey = keys.current.verifyKey;

/** Calls `fn(i)` in a loop for about `seconds`; returns calls per second. */
function rate(fn: (i: number) => unknown, seconds: number, limit = Number.POSITIVE_INFINITY): number {
  let n = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (n < limit) {
    for (let k = 0; k < 100 && n < limit; k++, n++) fn(n);
    if (performance.now() >= deadline) break;
  }
  return n / ((performance.now() - started) / 1000);
}

function rawEs256(token: string): boolean {
  const dot = token.lastIndexOf(".");
  return cryptoVerify(
    "sha256",
    Buffer.from(token.slice(0, dot)),
    { key: publicKey, dsaEncoding: "ieee-p1363" },
    Buffer.from(token.slice(dot + 1), "base64url"),
  );
}

interface LocalVerifier {
  verifySync(token: string): unknown;
  ready?(): Promise<unknown>;
  close?(): unknown;
}
type Factory = () => Promise<LocalVerifier>;

/** @warden/verifier's createVerifier, once it exists, fed the same JWKS and a local revocation set. */
function verifierFactory(): Factory | undefined {
  const create = (verifierModule as Record<string, unknown>).createVerifier as
    ((options: Record<string, unknown>) => unknown) | undefined;
  if (typeof create !== "function") return undefined;
  return async () => {
    const made = create({
      publicKey: keys.current.verifyKey,
      issuer: settings.issuer,
      audience: settings.audience,
    }) as LocalVerifier;
    await made.ready?.();
    return made;
  };
}

/**
 * Runs the functions in alternating blocks of `block` calls until `seconds` have passed, so a
 * noisy neighbour slows each of them alike; returns calls per second of each.
 */
function interleaved(
  fns: Record<string, (i: number) => unknown>,
  seconds: number,
  limit: number,
  block = 200,
): Record<string, number> {
  const time: Record<string, number> = {};
  const count: Record<string, number> = {};
  const deadline = performance.now() + seconds * 1000;
  let base = 0;
  // Each function gets calls 0, 1, 2, ... up to `limit` (the tokens there are), never past it.
  while (performance.now() < deadline && base + block <= limit) {
    for (const [name, fn] of Object.entries(fns)) {
      const t0 = performance.now();
      for (let k = 0; k < block; k++) fn(base + k);
      time[name] = (time[name] ?? 0) + (performance.now() - t0);
      count[name] = (count[name] ?? 0) + block;
    }
    base += block;
  }
  return Object.fromEntries(Object.keys(fns).map((name) => [name, count[name]! / (time[name]! / 1000)]));
}

const results: Record<string, number[]> = {
  raw: [],
  jsonwebtokenString: [],
  wardenServer: [],
  verifierFirst: [],
  verifierSeen: [],
};
const factory = verifierFactory();
const revoked = new Set<string>();
for (let rep = 0; rep < job.reps; rep++) {
  // First-seen: a fresh verifier, each token presented once; the loop ends before the tokens do,
  // and a token presented twice would be a cache hit measured as a first sight: refused here.
  let first = factory ? await factory() : undefined;
  let next = 0;
  const firstSeen = () => {
    if (next >= tokens.length) throw new Error(`first-seen verify ran out of its ${tokens.length} tokens`);
    return first!.verifySync(tokens[next++]!);
  };
  const r = interleaved(
    {
      raw: (i) => rawEs256(tokens[i % tokens.length]!),
      wardenServer: (i) =>
        verifyAccessToken(keys, settings, tokens[i % tokens.length]!, {
          now: Date.now(),
          revocations: { has: (sid) => revoked.has(sid), notBefore: () => undefined },
        }),
      ...(first ? { verifierFirst: () => firstSeen() } : {}),
    },
    job.seconds * 3,
    tokens.length,
  );
  results.raw!.push(r.raw!);
  results.wardenServer!.push(r.wardenServer!);
  if (first) {
    results.verifierFirst!.push(r.verifierFirst!);
    await first.close?.();
    first = undefined;
  }
  results.jsonwebtokenString!.push(rate((i) => jwt.verify(hsTokens[i % hsTokens.length]!, STRING_SECRET), job.seconds));
  if (factory) {
    const seen = await factory();
    const hot = tokens.slice(0, 1000);
    for (const t of hot) seen.verifySync(t);
    results.verifierSeen!.push(rate((i) => seen.verifySync(hot[i % hot.length]!), job.seconds));
    await seen.close?.();
  }
}
process.stdout.write(`${JSON.stringify({ results, verifier: Boolean(factory) })}\n`);
