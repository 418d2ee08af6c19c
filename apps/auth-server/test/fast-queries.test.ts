import { randomUUID } from "node:crypto";
import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "@warden/testing";

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

/** The same query twice: as a plain GET (answered by the fast path) and with an input, which goes through tRPC's adapter. */
async function both(path: string, headers: Record<string, string> = {}) {
  const call = async (url: string) => {
    const res = await fetch(`${server.url}${url}`, { headers });
    return {
      status: res.status,
      type: res.headers.get("content-type"),
      vary: res.headers.get("vary"),
      body: (await res.json()) as unknown,
    };
  };
  return { fast: await call(path), adapter: await call(`${path}?input=${encodeURIComponent("{}")}`) };
}

describe("plain GET queries answered without tRPC's fetch adapter", () => {
  it("auth.me answers exactly as the adapter does: signed in, no token, garbage token, revoked session", async () => {
    const signup = await server.post("/trpc/auth.signup", {
      email: `fast-${randomUUID()}@example.com`,
      password: "correct horse battery",
    });
    const { accessToken, sessionId } = signup.body.result.data;
    const cases: Array<Record<string, string>> = [
      { authorization: `Bearer ${accessToken}` },
      {},
      { authorization: "Bearer garbage" },
    ];
    for (const headers of cases) {
      const { fast, adapter } = await both("/trpc/auth.me", headers);
      expect(fast).toEqual(adapter);
    }
    const ok = await both("/trpc/auth.me", { authorization: `Bearer ${accessToken}` });
    expect(ok.fast.status).toBe(200);

    await server.post("/trpc/auth.logout", {}, { authorization: `Bearer ${accessToken}` });
    const revoked = await both("/trpc/auth.me", { authorization: `Bearer ${accessToken}` });
    expect(revoked.fast).toEqual(revoked.adapter);
    expect(revoked.fast.status).toBe(401);
    expect((revoked.fast.body as { error: { data: { reason: string } } }).error.data.reason).toBe("SESSION_REVOKED");
    expect(sessionId).toBeTruthy();
  });

  it("mutations, unknown paths and batches still go through the adapter", async () => {
    const mutation = await fetch(`${server.url}/trpc/auth.logout`);
    expect(mutation.status).toBe(405);
    const unknown = await fetch(`${server.url}/trpc/nope`);
    expect(unknown.status).toBe(404);
    const batch = await fetch(`${server.url}/trpc/health?batch=1&input=${encodeURIComponent("{}")}`);
    expect(Array.isArray(await batch.json())).toBe(true);
  });
});
