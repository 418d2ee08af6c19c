import { createHash, timingSafeEqual } from "node:crypto";
import type { Registry } from "prom-client";
import { z } from "zod";

const MIN_TOKEN_LENGTH = 16;

/**
 * METRICS_TOKEN: when set, `/metrics` answers only requests with `Authorization: Bearer <token>`.
 * At least 16 characters, no whitespace; an empty value is refused rather than taken as "open".
 */
export const metricsTokenSetting = z
  .string()
  .min(MIN_TOKEN_LENGTH, { message: `METRICS_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters` })
  .regex(/^\S+$/, { message: "METRICS_TOKEN must not contain whitespace" })
  .optional();

const digest = (text: string) => createHash("sha256").update(text).digest();

/**
 * Whether a request may read the metrics: no token is configured, or it presents that token as a
 * bearer token. Both sides are hashed first, so the comparison takes the same time whatever the
 * presented value and its length.
 */
export function metricsRequestAllowed(authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const presented = /^Bearer +(\S+) *$/i.exec(authorization ?? "")?.[1] ?? "";
  return timingSafeEqual(digest(presented), digest(token));
}

export interface MetricsAnswer {
  status: 200 | 401;
  contentType: string;
  body: string;
  headers: Record<string, string>;
}

/** The answer to a scrape, the same on the auth server's port and the worker's metrics port. */
export async function metricsAnswer(
  registry: Registry,
  authorization: string | undefined,
  token: string | undefined,
): Promise<MetricsAnswer> {
  if (!metricsRequestAllowed(authorization, token)) {
    return {
      status: 401,
      contentType: "text/plain; charset=utf-8",
      body: "metrics need Authorization: Bearer <METRICS_TOKEN>\n",
      headers: { "www-authenticate": 'Bearer realm="metrics"' },
    };
  }
  return {
    status: 200,
    contentType: registry.contentType,
    body: await registry.metrics(),
    headers: { "cache-control": "no-store" },
  };
}
