import { readFileSync } from "node:fs";

/** A load child's job: JSON in the file BENCH_JOB_FILE names (a token list outgrows an environment variable). */
export function readJob<T>(): T {
  return JSON.parse(readFileSync(process.env.BENCH_JOB_FILE!, "utf8")) as T;
}
