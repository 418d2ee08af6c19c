export * from "./schema/index.js";
export { createDb, type Database, type DbHandle, type CreateDbOptions } from "./client.js";
export { migrateDb, MIGRATIONS_FOLDER } from "./migrate.js";
export { perDatabase, preparedStatement, type Transaction } from "./prepared.js";
export { startEmbeddedPostgres, freePort, type EmbeddedDatabase } from "./embedded.js";
