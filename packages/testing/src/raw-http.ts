import { request } from "node:http";

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
}

export interface RawRequest {
  method: string;
  /** Sent exactly as given: malformed escapes, commas and all. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * One HTTP request as written (fetch would normalise the path and refuse some methods), on a
 * connection of its own: a request the HTTP parser refuses ends its connection.
 */
export function rawRequest(base: string, req: RawRequest): Promise<RawAnswer> {
  const { hostname, port } = new URL(base);
  // A length of its own: Node would send a DELETE's body chunked, which HTTP servers refuse.
  const headers =
    req.body === undefined ? req.headers : { ...req.headers, "content-length": String(Buffer.byteLength(req.body)) };
  return new Promise((resolve, reject) => {
    const outgoing = request({ agent: false, host: hostname, port, method: req.method, path: req.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers as Record<string, string | string[]>,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on("error", reject);
    });
    outgoing.on("error", reject);
    outgoing.end(req.body);
  });
}

/** How a body is framed, and when it was sent, says nothing about the answer. */
const FRAMING = new Set(["date", "content-length", "transfer-encoding", "connection", "keep-alive"]);

/** The answer without its framing headers: what two equivalent servers must agree on. */
export function comparable(answer: RawAnswer): RawAnswer {
  const headers = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !FRAMING.has(name)));
  return { status: answer.status, headers, body: answer.body };
}
