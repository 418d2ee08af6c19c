import { workerEnvSchema, type WorkerEnv } from "@warden/worker";

/** Parses the environment; a bad value is one clear line and exit code 1. The only place `process.env` is read. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): WorkerEnv {
  const result = workerEnvSchema.safeParse(source);
  if (result.success) return result.data;
  const first = result.error.issues[0];
  const name = first?.path.join(".") ?? "environment";
  process.stderr.write(`warden-worker: invalid configuration: ${name}: ${first?.message ?? "invalid"}\n`);
  process.exit(1);
}
