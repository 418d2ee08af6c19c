import cookie from "@fastify/cookie";
import cors from "@fastify/cors";
import type { FastifyTRPCPluginOptions } from "@trpc/server/adapters/fastify";
import { appRouter, createContextInner, type AppRouter, type HealthProbe, type RateLimiter } from "@warden/api";
import type { AnyTRPCRouter, TRPCError } from "@trpc/server";
import { AuthError, type Auth } from "@warden/auth";
import { COOKIE_HEADER } from "@warden/contracts";
import { metricsAnswer } from "@warden/metrics";
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import type { Logger } from "pino";
import type { LogFormat } from "./logger.js";
import type { ServerMetrics } from "./metrics.js";
import { trpcRoute } from "./trpc-route.js";

export interface ServerOptions {
  auth: Auth;
  health: HealthProbe;
  rateLimiter?: RateLimiter | undefined;
  logger: Logger;
  corsOrigins?: string[];
  cookieSecure?: boolean;
  bodyLimit?: number;
  /** Proxies in front: a hop count, or their addresses/CIDRs (TRUST_PROXY). Default: none. */
  trustProxy?: number | string[];
  /** Counted calls and answers, and `/metrics` (see metrics.ts). Absent: neither. */
  metrics?: ServerMetrics | undefined;
  /** METRICS_TOKEN: when set, `/metrics` needs `Authorization: Bearer <token>`. */
  metricsToken?: string | undefined;
  /**
   * `pretty` (a person at a terminal): one line per request (`GET /healthz 200 3ms`) instead of
   * Fastify's two structured records. Default `json`.
   */
  logFormat?: LogFormat;
  /** Extra routes (metrics, static console) registered by the host. */
  extend?: (app: FastifyInstance) => void | Promise<void>;
  /**
   * What /trpc serves: Warden's router. Another one (the bench's no-op procedure) is served with
   * everything else unchanged (context, metrics, logging, errors), so the two compare like for like.
   */
  router?: AnyTRPCRouter;
}

const DEFAULT_BODY_LIMIT = 16 * 1024;

/** `__Secure-` needs Secure; plain HTTP on localhost (COOKIE_SECURE=false) uses the bare name. */
export function refreshCookieName(secure: boolean): string {
  return secure ? "__Secure-warden-refresh" : "warden-refresh";
}
/** Where tRPC is served; the refresh cookie is sent there only, nowhere else on the origin. */
const TRPC_PREFIX = "/trpc";

/** Node keeps only the first of duplicate Authorization headers; count them in the raw list. */
function authorizationHeaders(req: FastifyRequest): string | string[] | undefined {
  const raw = req.raw.rawHeaders;
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]?.toLowerCase() === "authorization") values.push(raw[i + 1] ?? "");
  }
  if (values.length === 0) return undefined;
  return values.length === 1 ? values[0] : values;
}

/**
 * Fastify's own hop count trusts nothing (it cannot check the nearest peer), so a count becomes a
 * function: the socket peer and the next `hops - 1` entries from the right are proxies, and the
 * client is the entry after them. Either way the address comes from the right end of
 * X-Forwarded-For, never from the leftmost entry a client wrote.
 */
function fastifyTrustProxy(
  setting: number | string[] | undefined,
): false | string[] | ((address: string, hop: number) => boolean) {
  if (Array.isArray(setting)) return setting;
  const hops = setting ?? 0;
  return hops > 0 ? (_address, hop) => hop < hops : false;
}

/** A JSON error in the shape tRPC answers with, for what the HTTP layer refuses before tRPC. */
export function errorBody(status: number, reason: string, message: string) {
  return { error: { message, code: -32600, data: { code: "BAD_REQUEST", httpStatus: status, reason } } };
}

/**
 * LOG_FORMAT=pretty: one line per request, `GET /healthz 200 3ms`, at its end, instead of the
 * "incoming request" and "request completed" records. The path only: the query string can carry
 * procedure input.
 */
class RequestLineLogController extends LogController {
  override incomingRequest(): void {}

  /** The request's line says 404 already. */
  override routeNotFound(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = `${request.method} ${request.url.split("?")[0]} ${reply.statusCode} ${Math.round(reply.elapsedTime)}ms`;
    if (error) reply.log.error({ err: error }, line);
    else reply.log.info(line);
  }
}

export type WardenTrpcOptions = FastifyTRPCPluginOptions<AppRouter>["trpcOptions"];

/**
 * How /trpc serves the router: the context of each request, the Retry-After header of a
 * rate-limited answer, and what is counted and logged when a call fails.
 */
export function wardenTrpcOptions(options: ServerOptions, log: FastifyBaseLogger): WardenTrpcOptions {
  const cookieSecure = options.cookieSecure ?? true;
  const cookieName = refreshCookieName(cookieSecure);
  const createContext = ({ req, res }: { req: FastifyRequest; res: FastifyReply }) => {
    const cookieMode = req.headers[COOKIE_HEADER] === "1";
    return createContextInner({
      auth: options.auth,
      health: options.health,
      rateLimiter: options.rateLimiter,
      observer: options.metrics?.procedures,
      req: {
        ip: req.ip,
        userAgent: req.headers["user-agent"],
        authorization: authorizationHeaders(req),
        cookieMode,
        refreshCookie: cookieMode ? req.cookies[cookieName] : undefined,
        setRefreshCookie: (token, expiresAt) =>
          void res.setCookie(cookieName, token, {
            httpOnly: true,
            secure: cookieSecure,
            sameSite: "strict",
            path: TRPC_PREFIX,
            expires: new Date(expiresAt),
          }),
        clearRefreshCookie: () => {
          if (cookieMode)
            void res.clearCookie(cookieName, { path: TRPC_PREFIX, secure: cookieSecure, httpOnly: true, sameSite: "strict" });
        },
      },
    });
  };
  const onError = ({ error, path }: { error: TRPCError; path?: string | undefined }) => {
    // Calls that reached a procedure were counted by the observer; this counts the others.
    options.metrics?.callFailed(path, error);
    // Domain refusals (bad password, revoked session) are answers, not failures.
    if (error.code === "INTERNAL_SERVER_ERROR" && !(error.cause instanceof AuthError)) {
      log.error({ err: error.cause ?? error, path }, "procedure failed");
    }
  };
  return {
    router: (options.router ?? appRouter) as AppRouter,
    allowMethodOverride: false,
    createContext,
    // A rate-limited answer also says when to come back in the standard header.
    responseMeta: ({ errors }) => {
      const retryAfterMs = errors.reduce(
        (most, e) => (e.cause instanceof AuthError && e.cause.retryAfterMs ? Math.max(most, e.cause.retryAfterMs) : most),
        0,
      );
      return retryAfterMs > 0 ? { headers: { "retry-after": String(Math.ceil(retryAfterMs / 1000)) } } : {};
    },
    onError,
  };
}

export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    trustProxy: fastifyTrustProxy(options.trustProxy),
    routerOptions: { maxParamLength: 5000 },
    ...(options.logFormat === "pretty" ? { logController: new RequestLineLogController() } : {}),
  });

  app.setErrorHandler((error: { statusCode?: number; message: string }, req, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) req.log.error({ err: error }, "unhandled error");
    const reason =
      status === 413 || status === 415 || status === 400 ? "VALIDATION_FAILED" : status === 500 ? "UNAVAILABLE" : "NOT_FOUND";
    const message = status === 413 ? "request body too large" : status === 500 ? "internal error" : "bad request";
    void reply.status(status).send(errorBody(status, reason, message));
  });
  app.setNotFoundHandler((_req, reply) => {
    void reply.status(404).send(errorBody(404, "NOT_FOUND", "no such route"));
  });

  // close() waits for every connection to end, and a keep-alive client holds its connection open
  // for up to keepAliveTimeout after its answer. Requests answered while closing therefore end
  // their connection, so shutdown finishes as soon as the last in-flight request has its answer.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onSend", async (_req, reply, payload) => {
    if (closing) void reply.header("connection", "close");
    return payload;
  });

  const metrics = options.metrics;

  await app.register(cors, {
    origin: options.corsOrigins ?? [],
    credentials: true,
    allowedHeaders: ["authorization", "content-type", COOKIE_HEADER, "trpc-accept"],
    methods: ["GET", "POST"],
    maxAge: 600,
  });
  await app.register(cookie);

  const trpcOptions = wardenTrpcOptions(options, app.log);
  await app.register(async (scope) => {
    // Whatever the content type claims, tRPC parses the body itself (bad JSON: VALIDATION_FAILED).
    scope.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));
    await scope.register(trpcRoute, { prefix: TRPC_PREFIX, trpcOptions });
  });

  app.get("/.well-known/jwks.json", async (_req, reply) => {
    void reply.header("cache-control", "public, max-age=300");
    return options.auth.keys.jwks;
  });

  app.get("/healthz", async (_req, reply) => {
    const [db, redis] = await Promise.all([options.health.db().catch(() => false), options.health.redis().catch(() => false)]);
    void reply.status(db && redis ? 200 : 503);
    const warnings = options.health.warnings?.() ?? [];
    return { ok: db && redis, db: db ? "up" : "down", redis: redis ? "up" : "down", warnings };
  });

  // Unauthenticated unless METRICS_TOKEN is set: keep the port firewalled from the internet.
  if (metrics) {
    app.get("/metrics", async (req, reply) => {
      const answer = await metricsAnswer(metrics.registry, req.headers.authorization, options.metricsToken);
      void reply.status(answer.status).header("content-type", answer.contentType).headers(answer.headers);
      return answer.body;
    });
  }

  await options.extend?.(app);
  return app;
}
