// Raw argon2id hashes/s with Warden's parameters, the ceiling for logins/s.
import { hash } from "@node-rs/argon2";
import { ARGON2_PARAMS } from "@warden/auth";
import { readJob } from "../lib/job.js";

const job = readJob<{ concurrency: number; durationSec: number }>();
await hash("warm-up-password", ARGON2_PARAMS);
let done = 0;
const started = performance.now();
const deadline = started + job.durationSec * 1000;
await Promise.all(
  Array.from({ length: job.concurrency }, async (_, i) => {
    while (performance.now() < deadline) {
      await hash(`bench-password-${i}-${done}`, ARGON2_PARAMS);
      done++;
    }
  }),
);
process.stdout.write(`${JSON.stringify({ rate: done / ((performance.now() - started) / 1000) })}\n`);
