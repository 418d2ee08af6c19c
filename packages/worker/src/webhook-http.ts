import { createHmac } from "node:crypto";
import { lookup as dnsLookup } from "node:dns/promises";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { addressProblem, isLoopbackAddress, literalAddressOf } from "@warden/auth";

/** A 2xx within this long is a success; anything slower is a failed attempt. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** What is read of an answer's body at most (it is discarded: only the status counts). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** Resolves a host name to every address it has (DNS, /etc/hosts). Injected in tests. */
export type WebhookLookup = (hostname: string) => Promise<{ address: string; family: number }[]>;

const systemLookup: WebhookLookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export interface WebhookClientOptions {
  /** WEBHOOKS_ALLOW_LOCAL: loopback targets are allowed (development, tests). */
  allowLocal: boolean;
  lookup?: WebhookLookup;
  /** Certificates to trust instead of the system's (tests: a generated one). Production leaves it unset. */
  ca?: string | Buffer | undefined;
  timeoutMs?: number;
}

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export type WebhookAnswer =
  | { ok: true; status: number }
  /** `refused`: the target is not allowed (SSRF policy); no connection was made, and retrying will not help. */
  | { ok: false; status?: number; error: string; refused?: boolean };

/** Standard Webhooks' signature: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under the secret's bytes. */
export function signWebhook(secret: Buffer, id: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac("sha256", secret).update(`${id}.${timestampSeconds}.${body}`).digest("base64")}`;
}

/** A `lookup` that answers the address already checked, so the connection goes exactly there. */
function pinnedLookup(address: string, family: number): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

/**
 * The address to connect to, once every address the host has is allowed: a name that resolves to
 * a public and a private address is refused, so DNS cannot pick the private one later. The
 * connection is then pinned to the checked address (no second lookup: no DNS rebinding between
 * check and connect).
 */
async function checkedTarget(
  url: URL,
  options: WebhookClientOptions,
): Promise<{ address: string; family: number } | { refused: string }> {
  const literal = literalAddressOf(url);
  const addresses = literal
    ? [{ address: literal, family: literal.includes(":") ? 6 : 4 }]
    : await (options.lookup ?? systemLookup)(url.hostname);
  if (addresses.length === 0) return { refused: `${url.hostname} has no address` };
  for (const { address } of addresses) {
    const problem = addressProblem(address, { allowLocal: options.allowLocal });
    if (problem) return { refused: `refused: ${url.hostname} resolves to ${problem}` };
  }
  if (url.protocol !== "https:" && !addresses.every((a) => isLoopbackAddress(a.address))) {
    return { refused: "refused: http:// is only for loopback with WEBHOOKS_ALLOW_LOCAL=true" };
  }
  return addresses[0]!;
}

/**
 * POSTs one webhook attempt. Only the status counts: a 2xx within the timeout is a success; a 3xx
 * is a failure (redirects are never followed: the target was checked, its redirect was not); the
 * body is read up to 64 KiB and dropped. The timeout covers the lookup, the connection and the answer.
 */
export async function postWebhook(request: WebhookRequest, options: WebhookClientOptions): Promise<WebhookAnswer> {
  const url = new URL(request.url);
  const signal = AbortSignal.timeout(options.timeoutMs ?? WEBHOOK_TIMEOUT_MS);
  try {
    const target = await Promise.race([
      checkedTarget(url, options),
      new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason as Error))),
    ]);
    if ("refused" in target) return { ok: false, error: target.refused, refused: true };
    const status = await send(url, request, target, options, signal);
    if (status >= 200 && status < 300) return { ok: true, status };
    if (status >= 300 && status < 400) return { ok: false, status, error: `answered ${status}: redirects are not followed` };
    return { ok: false, status, error: `answered ${status}` };
  } catch (error) {
    if (signal.aborted) return { ok: false, error: `no answer within ${options.timeoutMs ?? WEBHOOK_TIMEOUT_MS} ms` };
    return { ok: false, error: (error as Error).message || String(error) };
  }
}

function send(
  url: URL,
  request: WebhookRequest,
  target: { address: string; family: number },
  options: WebhookClientOptions,
  signal: AbortSignal,
): Promise<number> {
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      url,
      {
        method: "POST",
        headers: { ...request.headers, "content-length": Buffer.byteLength(request.body).toString() },
        lookup: pinnedLookup(target.address, target.family),
        // A fresh connection per attempt: nothing pooled outlives the check it was made under.
        agent: false,
        signal,
        ...(options.ca ? { ca: options.ca } : {}),
      },
      (res) => {
        let read = 0;
        res.on("data", (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) {
            res.destroy();
            resolve(res.statusCode ?? 0);
          }
        });
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(request.body);
  });
}
