import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { DEV_SERVER_FILE, devServerRecordSchema, type DevServerRecord } from "@warden/contracts";
import type { CliEnv } from "./env.js";

/** What `pnpm start` recorded (see DEV_SERVER_FILE), and whether it still runs. */
export type DevServerLookup =
  | { state: "running"; file: string; record: DevServerRecord }
  | { state: "stopped"; file: string; pid: number }
  | { state: "none" };

/** WARDEN_HOME's record when set (as for `pnpm start`), else the `.warden/` of the nearest enclosing directory. */
function recordFile(env: CliEnv, cwd: string): string | undefined {
  if (env.WARDEN_HOME) return path.resolve(cwd, env.WARDEN_HOME, DEV_SERVER_FILE);
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const file = path.join(dir, ".warden", DEV_SERVER_FILE);
    if (existsSync(file)) return file;
    if (path.dirname(dir) === dir) return undefined;
  }
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The development server `pnpm start` runs on this machine. A record left by a start that was
 * killed (its process is gone) is "stopped": its database port is not in use any more.
 */
export function findDevServer(env: CliEnv, cwd = process.cwd()): DevServerLookup {
  const file = recordFile(env, cwd);
  if (!file) return { state: "none" };
  let record: DevServerRecord;
  try {
    record = devServerRecordSchema.parse(JSON.parse(readFileSync(file, "utf8")));
  } catch {
    return { state: "none" };
  }
  return running(record.pid) ? { state: "running", file, record } : { state: "stopped", file, pid: record.pid };
}
