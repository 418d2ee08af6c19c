import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Webhook } from "standardwebhooks";

/** One request as the receiver got it, checked with the `standardwebhooks` package (an implementation independent of Warden's). */
export interface ReceivedWebhook {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** The parsed body. */
  payload: { type: string; timestamp: string; data: Record<string, unknown> };
  /** Whether `standardwebhooks` verified the signature with the receiver's secret (false without one). */
  verified: boolean;
  /** The status the receiver answered. */
  status: number;
  /** `performance.now()` when it arrived. */
  at: number;
}

export interface WebhookReceiver {
  /** `http(s)://127.0.0.1:<port>/hook`. */
  url: string;
  received: ReceivedWebhook[];
  /** TCP connections accepted so far (a refused target must see none). */
  connections(): number;
  /** The secret `admin.webhooks.create` answered: every later request is verified with it. */
  secret: string | undefined;
  /** The first request (arrived or arriving) that matches, or a rejection after `timeoutMs`. */
  waitFor(match: (hook: ReceivedWebhook) => boolean, timeoutMs?: number): Promise<ReceivedWebhook>;
  close(): Promise<void>;
}

export interface WebhookReceiverOptions {
  /** The status to answer the n-th request (1-based) with; 204 by default. A 3xx redirects to `redirectTo`. */
  answer?: (n: number, hook: ReceivedWebhook) => number;
  redirectTo?: string;
  /** Serve https with this key and certificate (`generateTestCertificate`). */
  tls?: { key: string; cert: string };
}

/**
 * A webhook endpoint on 127.0.0.1 (http or https) that records every request and verifies its
 * signature with the `standardwebhooks` package. Loopback only: tests never dial anything else.
 */
export async function startWebhookReceiver(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const waiters = new Set<{ match: (hook: ReceivedWebhook) => boolean; resolve: (hook: ReceivedWebhook) => void }>();
  let connections = 0;
  const receiver: WebhookReceiver = {
    url: "",
    received,
    connections: () => connections,
    secret: undefined,
    waitFor(match, timeoutMs = 20_000) {
      const found = received.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (hook: ReceivedWebhook) => {
            clearTimeout(timer);
            resolve(hook);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching webhook within ${timeoutMs} ms (${received.length} received)`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      const header = (name: string) => String(req.headers[name] ?? "");
      const hook: ReceivedWebhook = {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
        payload: JSON.parse(body || "null") as ReceivedWebhook["payload"],
        verified: verify(receiver.secret, body, req),
        status: 204,
        at: performance.now(),
      };
      hook.status = options.answer?.(received.length + 1, hook) ?? 204;
      received.push(hook);
      const redirect = hook.status >= 300 && hook.status < 400 && options.redirectTo;
      res.writeHead(hook.status, redirect ? { location: options.redirectTo } : {}).end();
      for (const waiter of waiters) {
        if (waiter.match(hook)) {
          waiters.delete(waiter);
          waiter.resolve(hook);
        }
      }
    });
  };
  const server = options.tls ? https.createServer(options.tls, handle) : http.createServer(handle);
  server.on(options.tls ? "secureConnection" : "connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  receiver.url = `${options.tls ? "https" : "http"}://127.0.0.1:${port}/hook`;
  return receiver;
}

function verify(secret: string | undefined, body: string, req: IncomingMessage): boolean {
  if (!secret) return false;
  try {
    new Webhook(secret).verify(body, req.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
}

/**
 * A self-signed certificate for 127.0.0.1 and localhost, made by the `openssl` command for this
 * test run (EC P-256, one day). The https receiver serves it; the delivery client trusts it as its CA.
 */
export function generateTestCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "warden-cert-"));
  try {
    const keyFile = path.join(dir, "key.pem");
    const certFile = path.join(dir, "cert.pem");
    const result = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout",
        keyFile,
        "-out",
        certFile,
      ],
      { encoding: "utf8" },
    );
    if (result.status !== 0)
      throw new Error(`openssl could not make a test certificate: ${result.stderr || result.error?.message}`);
    return { key: readFileSync(keyFile, "utf8"), cert: readFileSync(certFile, "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
