import { createHash } from "node:crypto";
import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import { email, PASSWORD, startTestServer, type TestServer } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let t: TestAuth;
let server: TestServer;

beforeAll(async () => {
  t = await createTestAuth();
  server = await startTestServer(t.auth);
});
afterAll(async () => {
  await server.close();
  await t.close();
});

const sha256Hex = (token: string) => createHash("sha256").update(token).digest("hex");

/** Every row of every table of the database, as text: what a leaked dump would hold. */
async function dumpDatabase(): Promise<string> {
  const tables = await t.database.sql<{ name: string }[]>`
    select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`;
  const parts: string[] = [];
  for (const { name } of tables) {
    const rows = await t.database.sql<{ row: string }[]>`select row_to_json(x)::text as row from ${t.database.sql(name)} x`;
    parts.push(...rows.map((r) => r.row));
  }
  return parts.join("\n");
}

/** The spellings a stored token could take: as issued, its bytes in hex and in base64. */
function spellings(token: string): string[] {
  const bytes = Buffer.from(token, "base64url");
  return [token, bytes.toString("hex"), bytes.toString("base64"), bytes.toString("base64").replace(/=+$/, "")];
}

describe("refresh tokens at rest", () => {
  it("a session's refresh_tokens rows hold only the SHA-256 hex of each token, and no token appears anywhere in the database", async () => {
    const signup = (await server.post("/trpc/auth.signup", { email: email("storage"), password: PASSWORD })).body.result.data;
    const first = signup.refreshToken as string;
    const second = (await server.post("/trpc/auth.refresh", { refreshToken: first })).body.result.data.refreshToken as string;
    // A retry within the grace window gets the same successor: it is derived, never kept in clear.
    const replay = (await server.post("/trpc/auth.refresh", { refreshToken: first })).body.result.data.refreshToken as string;
    expect(replay).toBe(second);
    const third = (await server.post("/trpc/auth.refresh", { refreshToken: second })).body.result.data.refreshToken as string;
    const tokens = [first, second, third];

    const rows = await t.database.sql<{ token_hash: string }[]>`
      select token_hash from refresh_tokens where session_id = ${signup.sessionId} order by created_at`;
    expect(rows.map((r) => r.token_hash).sort()).toEqual(tokens.map(sha256Hex).sort());
    for (const row of rows) expect(row.token_hash).toMatch(/^[0-9a-f]{64}$/);

    const dump = await dumpDatabase();
    expect(dump).toContain(signup.sessionId);
    for (const token of tokens) {
      expect(dump).toContain(sha256Hex(token));
      for (const spelling of spellings(token))
        expect(dump.includes(spelling), `token stored as ${spelling.slice(0, 6)}…`).toBe(false);
    }
  });
});
