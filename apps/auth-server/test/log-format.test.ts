import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import { LogCapture, startTestServer, waitFor } from "@warden/testing";
import { createLogger } from "@warden/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth();
});
afterAll(async () => {
  await t.close();
});

describe("log format", () => {
  it("json (the default, production): every line is a JSON object, requests as Fastify's structured records", async () => {
    const logs = new LogCapture();
    const server = await startTestServer(t.auth, { logger: createLogger("info", logs) });
    try {
      expect((await server.get("/healthz")).status).toBe(200);
      await waitFor(() => logs.text.includes("request completed"), 5000, "the request's log record");
    } finally {
      await server.close();
    }
    const records = logs.text
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { msg: string; res?: { statusCode: number } });
    expect(records.find((r) => r.msg === "incoming request")).toBeDefined();
    expect(records.find((r) => r.msg === "request completed")).toMatchObject({ res: { statusCode: 200 } });
  });

  it("pretty (a person at a terminal): one readable line per request, path only", async () => {
    const logs = new LogCapture();
    const server = await startTestServer(t.auth, { logger: createLogger("info", logs, "pretty"), logFormat: "pretty" });
    try {
      expect((await server.get("/healthz?probe=1")).status).toBe(200);
      expect((await server.post("/trpc/auth.login", { email: "nobody@example.com", password: "wrong password" })).status).toBe(
        401,
      );
      await waitFor(() => logs.text.includes("/trpc/auth.login"), 5000, "the request lines");
    } finally {
      await server.close();
    }
    const requestLines = logs.text.split("\n").filter((line) => / \/(healthz|trpc)/.test(line));
    expect(requestLines).toHaveLength(2);
    expect(requestLines[0]).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: GET \/healthz 200 \d+ms$/);
    expect(requestLines[1]).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: POST \/trpc\/auth\.login 401 \d+ms$/);
    expect(logs.text).not.toContain("probe=1");
    expect(logs.text).not.toMatch(/^\{/m);
  });
});
