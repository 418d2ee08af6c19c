import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import lockfile from "proper-lockfile";
import { parseStoredTokens, type TokenStore } from "./tokens.js";

export interface FileStoreOptions {
  /** Longest wait for another process's renewal (default 15 s). */
  lockTimeoutMs?: number;
  /** A lock not refreshed for this long belongs to a dead process and is taken over (default 10 s). */
  staleMs?: number;
}

function expandHome(file: string): string {
  if (file === "~") return os.homedir();
  if (file.startsWith("~/")) return path.join(os.homedir(), file.slice(2));
  return path.resolve(file);
}

/**
 * Tokens in a JSON file readable by the owner only (0600), for CLIs and worker processes.
 * Writes are atomic (temp file + rename), so a reader never sees half a file. Renewals take a
 * lock file (`<file>.lock`, stale after `staleMs`) shared by every process using the file.
 */
export function fileStore(file: string, options: FileStoreOptions = {}): TokenStore {
  const target = expandHome(file);
  const dir = path.dirname(target);
  const lockTimeoutMs = options.lockTimeoutMs ?? 15_000;
  const staleMs = options.staleMs ?? 10_000;

  return {
    mode: "tokens",
    async get() {
      let text: string;
      try {
        text = await readFile(target, "utf8");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw error;
      }
      try {
        return parseStoredTokens(JSON.parse(text));
      } catch {
        return null;
      }
    },
    async set(tokens) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const temp = `${target}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
      try {
        await writeFile(temp, JSON.stringify(tokens), { mode: 0o600 });
        await chmod(temp, 0o600); // a umask cannot widen it, but be explicit
        await rename(temp, target);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
    },
    async clear() {
      await rm(target, { force: true });
    },
    async withLock(fn) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const deadline = Date.now() + lockTimeoutMs;
      let release: (() => Promise<void>) | undefined;
      while (!release) {
        try {
          release = await lockfile.lock(target, {
            realpath: false,
            stale: staleMs,
            retries: 0,
            // The default throws from a timer (crashing the process) if the lock is taken over;
            // the renewal under it is still safe: the server's reuse grace covers a near-double.
            onCompromised: () => {},
          });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ELOCKED" || Date.now() > deadline) throw error;
          await new Promise((r) => setTimeout(r, 10 + Math.random() * 20));
        }
      }
      try {
        return await fn();
      } finally {
        await release().catch(() => {});
      }
    },
  };
}
