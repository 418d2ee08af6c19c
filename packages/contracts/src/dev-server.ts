import { z } from "zod";

/**
 * What `pnpm start` records under its WARDEN_HOME (`.warden/` by default) while it runs, so the
 * tools on the same machine find the development server without being told: the `warden` CLI
 * takes its URL when nothing else names a server, and `warden admin create` its database.
 */
export const DEV_SERVER_FILE = "dev-server.json";

export const devServerRecordSchema = z.object({
  /** The `pnpm start` process: the record is stale once it is gone (killed without cleaning up). */
  pid: z.number().int().positive(),
  /** The auth server's base URL (the API is under /trpc). */
  url: z.url(),
  /** The database it runs on: the embedded PostgreSQL's (its port changes at every start) or DATABASE_URL. */
  databaseUrl: z.string().min(1),
  startedAt: z.number(),
});

export type DevServerRecord = z.infer<typeof devServerRecordSchema>;
