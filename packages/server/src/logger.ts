import { createRequire } from "node:module";
import pino, { type Logger } from "pino";
import type { PrettyOptions, PrettyStream } from "pino-pretty";

/** pino-pretty is for a terminal only (LOG_FORMAT=pretty): loaded then, not carried by every server. */
const pretty = (options: PrettyOptions): PrettyStream =>
  (createRequire(import.meta.url)("pino-pretty") as (o: PrettyOptions) => PrettyStream)(options);

/** How log lines are written (LOG_FORMAT): JSON for collectors, or readable lines for a terminal. */
export type LogFormat = "json" | "pretty";

/** Paths that may carry secrets anywhere in a log line: always censored. */
const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'res.headers["set-cookie"]',
  "headers.authorization",
  "headers.cookie",
  "*.password",
  "*.refreshToken",
  "*.accessToken",
  "*.token",
  "password",
  "refreshToken",
  "accessToken",
  "token",
];

/** Database errors quote their query parameters (password hashes, token digests): cut them out. */
const QUERY_PARAMS = /\nparams: [\s\S]*?(?=\n {4}at |$)/g;

function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return value.replace(QUERY_PARAMS, "\nparams: [redacted]");
  if (!value || typeof value !== "object" || depth > 5) return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value))
    out[key] = key === "params" || key === "parameters" ? "[redacted]" : scrub(v, depth + 1);
  return out;
}

function serializeError(err: Error): unknown {
  return scrub(pino.stdSerializers.err(err));
}

/**
 * Readable lines, one per record: time, level, message (other fields after it), no pid/hostname. Coloured on a
 * terminal that supports it; plain into a given stream.
 */
function prettyStream(destination: pino.DestinationStream | undefined): pino.DestinationStream {
  return pretty({
    ignore: "pid,hostname,reqId",
    translateTime: "SYS:HH:MM:ss",
    singleLine: true,
    ...(destination ? { destination, colorize: false } : {}),
  });
}

export function createLogger(level: string, destination?: pino.DestinationStream, format: LogFormat = "json"): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      serializers: {
        // The query string can carry procedure input: log the path only.
        req: (req: { method?: string; url?: string; ip?: string; id?: string }) => ({
          id: req.id,
          method: req.method,
          path: req.url?.split("?")[0],
          ip: req.ip,
        }),
        err: serializeError,
      },
    },
    format === "pretty" ? prettyStream(destination) : destination,
  );
}
