import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as schema from "./schema/index.js";

/** drizzle over postgres.js; `$client` is the pool, for prepared statements (see prepared.ts). */
export type Database = PostgresJsDatabase<typeof schema> & { $client: postgres.Sql };

export interface DbHandle {
  db: Database;
  /** The underlying postgres.js client, for health checks and shutdown. */
  sql: postgres.Sql;
  close(): Promise<void>;
}

export interface CreateDbOptions {
  /** Pool size (default 10). */
  max?: number;
  /** Told of every statement sent (postgres.js `debug`): tests compare what two paths run. */
  debug?: (connection: number, query: string, parameters: unknown[]) => void;
}

/**
 * postgres.js waits before reconnecting, longer after each failed attempt (3^n / 100 s, counted
 * across the whole pool, up to 20 s): after a database restart of a few seconds, the pool would
 * sit 10 to 20 s more with PostgreSQL already back and every caller waiting on it. The same curve,
 * capped at one second, so the pool is back within a second of the database.
 */
const MAX_RECONNECT_DELAY_S = 1;
const reconnectDelay = (retries: number) => (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, MAX_RECONNECT_DELAY_S);

export function createDb(url: string, options: CreateDbOptions = {}): DbHandle {
  const sql = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    // Fail fast when the database is unreachable instead of queueing callers for long.
    connect_timeout: 5,
    backoff: reconnectDelay,
    idle_timeout: 60,
    ...(options.debug ? { debug: options.debug } : {}),
  });
  const db = drizzle({ client: sql, schema, casing: "snake_case" });
  return { db, sql, close: () => sql.end({ timeout: 5 }) };
}
