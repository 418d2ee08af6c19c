import { afterAll, beforeAll, expect, it } from "vitest";
import { preparedStatement } from "./prepared.js";
import { createTestDatabase, type TestDatabase } from "./testing.js";

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase({ empty: true });
  await database.sql`create table notes (id int primary key, body text not null)`;
});

afterAll(async () => {
  await database?.drop();
});

const insertNote = preparedStatement<{ id: number }, [number, string]>(
  `insert into notes (id, body) values ($1::int, $2::text) returning id`,
);
const noteIds = async () => (await database.sql<{ id: number }[]>`select id from notes order by id`).map((r) => r.id);

it("a prepared statement given a transaction runs on its connection: it sees the transaction's rows and rolls back with it", async () => {
  await insertNote(database.db, 1, "on the pool");
  const rolledBack = database.db.transaction(async (tx) => {
    await insertNote(tx, 2, "inside");
    const [seen] = await database.sql.unsafe<{ n: number }[]>(`select count(*)::int as n from notes`);
    // Another connection does not see the uncommitted row; the transaction's own query does.
    expect(seen!.n).toBe(1);
    throw new Error("roll back");
  });
  await expect(rolledBack).rejects.toThrow("roll back");
  expect(await noteIds()).toEqual([1]);

  await database.db.transaction(async (tx) => {
    await insertNote(tx, 3, "committed");
  });
  expect(await noteIds()).toEqual([1, 3]);
});
