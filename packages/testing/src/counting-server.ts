import type { IncomingMessage } from "node:http";
import { createAdmin } from "@warden/auth";
import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import { startTestServer, type TestServer } from "./server.js";
import type { AuthSettings } from "@warden/auth";

/** A real Warden server for client tests, counting the HTTP requests it receives per path. */
export interface CountingServer {
  t: TestAuth;
  server: TestServer;
  url: string;
  /** Requests received per tRPC path (batched calls count once, under their joined path). */
  requests(path: string): number;
  totalRequests(): number;
  makeAdmin(): Promise<{ email: string; password: string }>;
  close(): Promise<void>;
}

export async function startCountingServer(
  options: { clock?: () => number; settings?: Partial<AuthSettings> } = {},
): Promise<CountingServer> {
  const t = await createTestAuth(options);
  const server = await startTestServer(t.auth);
  const counts = new Map<string, number>();
  let total = 0;
  server.app.server.on("request", (req: IncomingMessage) => {
    total++;
    const path = new URL(req.url ?? "/", "http://x").pathname.replace(/^\/trpc\//, "");
    counts.set(path, (counts.get(path) ?? 0) + 1);
  });
  return {
    t,
    server,
    url: server.url,
    requests: (path) => counts.get(path) ?? 0,
    totalRequests: () => total,
    async makeAdmin() {
      const email = `admin-${Math.random().toString(36).slice(2)}@example.com`;
      const password = "admin password 123";
      await createAdmin(t.auth, email, password);
      return { email, password };
    },
    async close() {
      await server.close();
      await t.close();
    },
  };
}
