import type { BenchKeys, Postgres, Seeder } from "./infra.js";

export interface BenchContext {
  pg: Postgres;
  keys: BenchKeys;
  /** The main database of the run and its queue/feed prefix. */
  databaseUrl: string;
  prefix: string;
  seeder: Seeder;
  /** Repetitions of each pairing, and seconds per HTTP load run. */
  reps: number;
  seconds: number;
  /** Where the profiles go when BENCH_PROFILE=1 (node --cpu-prof on the auth server). */
  profileDir: string | undefined;
  log(message: string): void;
}

export function serverNodeArgs(ctx: BenchContext, name: string): string[] {
  // One directory per process: the loader's worker thread writes a profile of its own.
  return ctx.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${ctx.profileDir}/${name}`] : [];
}
