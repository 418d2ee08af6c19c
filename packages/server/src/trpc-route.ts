import type { AnyTRPCRouter } from "@trpc/server";
import { fastifyRequestHandler, type FastifyHandlerOptions } from "@trpc/server/adapters/fastify";
import type { TRPCRequestInfo } from "@trpc/server/http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { answerRequest, type Answer, type AnswerOptions, type PlainRequest } from "./trpc-answer.js";

export interface TrpcRouteOptions<TRouter extends AnyTRPCRouter> {
  trpcOptions: FastifyHandlerOptions<TRouter, FastifyRequest, FastifyReply>;
}

interface Source {
  req: FastifyRequest;
  res: FastifyReply;
}

/**
 * Serves a tRPC router on `<prefix>/:path` (register it with `{ prefix }`), taking the same options
 * as tRPC's `fastifyTRPCPlugin` and answering exactly as it does (trpc-route.test.ts compares
 * them over generated requests). Every JSON call — queries and mutations, batched or not,
 * malformed or refused — is answered by trpc-answer.ts from Fastify's request and reply; streamed
 * answers (`trpc-accept: application/jsonl`, subscriptions) and form-data bodies go to the official
 * adapter, which builds a Fetch Request and Response per call.
 */
export async function trpcRoute<TRouter extends AnyTRPCRouter>(
  scope: FastifyInstance,
  { trpcOptions }: TrpcRouteOptions<TRouter>,
) {
  // As fastifyTRPCPlugin: tRPC parses JSON itself, and reads form data from the stream.
  scope.removeContentTypeParser("application/json");
  scope.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => done(null, body));
  scope.removeContentTypeParser("multipart/form-data");
  scope.addContentTypeParser("multipart/form-data", {}, (_req, body, done) => done(null, body));

  const options = answerOptions(trpcOptions);
  scope.all("/:path", async (req, reply) => {
    const path = (req.params as { path: string }).path;
    const answer = await answerRequest(options, plainRequest(req, path), { req, res: reply });
    if (answer) return send(reply, answer);
    await fastifyRequestHandler({ ...trpcOptions, req, res: reply, path });
  });
}

function answerOptions<TRouter extends AnyTRPCRouter>(
  trpcOptions: FastifyHandlerOptions<TRouter, FastifyRequest, FastifyReply>,
): AnswerOptions<Source> {
  const { createContext, onError } = trpcOptions;
  return {
    router: trpcOptions.router,
    allowBatching: trpcOptions.allowBatching,
    batching: trpcOptions.batching,
    allowMethodOverride: trpcOptions.allowMethodOverride,
    maxBatchSize: trpcOptions.maxBatchSize,
    responseMeta: trpcOptions.responseMeta as AnswerOptions<Source>["responseMeta"],
    createContext: (source: Source, info: TRPCRequestInfo) => createContext?.({ ...source, info }),
    onError: (source, call) => onError?.({ ...call, req: source.req } as Parameters<NonNullable<typeof onError>>[0]),
  };
}

/**
 * The signal every call is given. Warden's procedures run to completion once started (an auth
 * operation is never abandoned halfway because its client went away), so none listens for
 * aborts; and an AbortSignal per request is costly in Node 20 (it outlives minor collections).
 */
const NEVER_ABORTED = new AbortController().signal;

function plainRequest(req: FastifyRequest, path: string): PlainRequest {
  const url = req.raw.url ?? "/";
  return {
    method: req.method,
    path,
    query: new URLSearchParams(queryOf(url)),
    headers: req.headers,
    body: bodyOf(req),
    signal: NEVER_ABORTED,
    url: () => requestUrl(req, url),
  };
}

/** As tRPC's adapter builds it: the socket's protocol and the Host header. */
function requestUrl(req: FastifyRequest, url: string): URL {
  const protocol = (req.raw.socket as { encrypted?: boolean } | undefined)?.encrypted ? "https:" : "http:";
  return new URL(url, `${protocol}//${req.headers.host ?? "localhost"}`);
}

/** The query string as a URL parser reads it: after the first `?`, up to a `#`. */
function queryOf(url: string): string {
  const start = url.indexOf("?");
  if (start === -1) return "";
  const end = url.indexOf("#", start);
  return url.slice(start + 1, end === -1 ? undefined : end);
}

/** The body as tRPC's adapter hands it over: the parsed string, or what Fastify made of it. */
function bodyOf(req: FastifyRequest): string | undefined {
  const body = req.body;
  if (body === undefined || typeof body === "string") return body;
  // A form-data stream: it goes to tRPC's adapter, which reads it.
  if (typeof (body as { pipe?: unknown }).pipe === "function") return undefined;
  return JSON.stringify(body);
}

function send(reply: FastifyReply, answer: Answer) {
  void reply.code(answer.status);
  for (const [name, values] of answer.headers.values) {
    // Fastify appends each set-cookie; other headers are one line, as a Fetch Headers joins them.
    if (name === "set-cookie") for (const value of values) void reply.header(name, value);
    else void reply.header(name, values.join(", "));
  }
  // A Buffer, so that Fastify sends the content type as set (a string would get "; charset=utf-8").
  return reply.send(answer.body === null ? undefined : Buffer.from(answer.body));
}
