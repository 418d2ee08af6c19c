import { Writable } from "node:stream";
import type { HealthProbe, RateLimiter } from "@warden/api";
import type { Auth } from "@warden/auth";
import { buildServer, createLogger, type ServerOptions } from "@warden/server";
import type { FastifyInstance } from "fastify";

/** Everything the server logged, for tests that check no secret leaks into logs. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.lines.push(chunk.toString());
    done();
  }
  get text() {
    return this.lines.join("");
  }
}

export interface TestServer {
  app: FastifyInstance;
  url: string;
  logs: LogCapture;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  get(path: string, input?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

export async function startTestServer(
  auth: Auth,
  options: Partial<ServerOptions> & { health?: HealthProbe; rateLimiter?: RateLimiter } = {},
): Promise<TestServer> {
  const logs = new LogCapture();
  const app = await buildServer({
    auth,
    logger: createLogger("info", logs),
    cookieSecure: false,
    health: { db: async () => true, redis: async () => true },
    ...options,
  });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  const send = async (method: string, path: string, body: string | undefined, headers: Record<string, string> = {}) => {
    const res = await fetch(`${address}${path}`, {
      method,
      headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
      body,
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Leave non-JSON answers as text.
    }
    return { status: res.status, body: parsed as any, headers: res.headers };
  };
  return {
    app,
    url: address,
    logs,
    post: (path, body, headers) => send("POST", path, typeof body === "string" ? body : JSON.stringify(body), headers),
    get: (path, input, headers) =>
      send("GET", input === undefined ? path : `${path}?input=${encodeURIComponent(JSON.stringify(input))}`, undefined, headers),
    close: () => app.close(),
  };
}
