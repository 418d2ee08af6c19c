import { sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createDb, type DbHandle } from "./client.js";
import { createTestDatabase, type TestDatabase } from "./testing.js";

/**
 * What a database restart, a failover or a terminated session does to a pool: its backends go
 * away mid-transaction. Unpatched, postgres.js 3.4.9 then writes the transaction's ROLLBACK to the
 * closed socket from a timer and the process dies on an uncatchable TypeError, and the next query
 * on the reconnected connection fails with the old backend's error
 * (patches/postgres@3.4.9.patch).
 */
let database: TestDatabase;
let handle: DbHandle;

beforeAll(async () => {
  database = await createTestDatabase();
  // One connection: whatever the dead backend left behind meets the next query.
  handle = createDb(database.url, { max: 1 });
});

afterAll(async () => {
  await handle?.close();
  await database?.drop();
});

const backendPid = async () => (await handle.sql<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;

it("a transaction whose backend is terminated fails with CONNECTION_CLOSED, and the same pool goes on with a fresh backend", async () => {
  let pid: number | undefined;
  const transaction = handle.db.transaction(async (tx) => {
    pid = (await tx.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`))[0]!.pid;
    await tx.execute(sql`select pg_sleep(10)`);
  });
  const failure = transaction.then(
    () => undefined,
    (error: Error & { code?: string; cause?: { code?: string } }) => error.code ?? error.cause?.code ?? error.message,
  );
  const deadline = Date.now() + 10_000;
  while (pid === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  expect(pid).toBeDefined();
  await database.sql`select pg_terminate_backend(${pid!})`;

  expect(await failure).toBe("CONNECTION_CLOSED");
  // The rollback the transaction attempts after its failure must not take the process down: give
  // its timer a few turns to run.
  await new Promise((r) => setTimeout(r, 100));
  // The next query, on the same (only) connection, gets a new backend and no leftover error.
  const next = await backendPid();
  expect(next).not.toBe(pid);
  expect(await handle.db.transaction(async (tx) => (await tx.execute<{ one: number }>(sql`select 1 as one`))[0])).toEqual({
    one: 1,
  });
});
