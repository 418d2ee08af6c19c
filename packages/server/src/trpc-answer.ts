import type { IncomingHttpHeaders } from "node:http";
import {
  getTRPCErrorFromUnknown,
  getTRPCErrorShape,
  TRPCError,
  type AnyTRPCProcedure,
  type AnyTRPCRouter,
  type TRPCProcedureType,
} from "@trpc/server";
import {
  getHTTPStatusCode,
  parseConnectionParamsFromString,
  type HTTPBaseHandlerOptions,
  type TRPCRequestInfo,
} from "@trpc/server/http";
import type { TRPCResponse } from "@trpc/server/rpc";
import { jsonTextOf } from "@warden/api";
import { routerParts, type RouterParts } from "./trpc-internals.js";

/**
 * Answers a plain JSON tRPC request — a query or mutation, batched or not — with exactly the
 * status, headers and body of tRPC's `resolveResponse` (@trpc/server 11.25.2), step for step and
 * error for error, but from plain values: no Fetch Request, Response, Headers or per-call
 * AbortSignals, which cost more than the procedures themselves. Requests it does not take
 * (streams, subscriptions, form data, lazy routers) get `null`: the caller hands them to tRPC's
 * own adapter, before anything has run.
 */

/** One HTTP request, as this module needs it. */
export interface PlainRequest {
  method: string;
  /** The route's `:path` parameter. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The body the HTTP layer read, if any (never for GET). */
  body: string | undefined;
  /** Handed to tRPC as the request's signal. */
  signal: AbortSignal;
  /** The request's URL; built only if something asks for `info.url`. */
  url(): URL;
}

export interface Answer {
  status: number;
  headers: HeaderList;
  /** `null`: no body (HEAD). */
  body: string | null;
}

type CallError = {
  error: TRPCError;
  path: string | undefined;
  input: unknown;
  ctx: unknown;
  type: TRPCProcedureType | "unknown";
};

export interface AnswerOptions<TSource> extends Pick<
  HTTPBaseHandlerOptions<AnyTRPCRouter, unknown>,
  "allowBatching" | "batching" | "allowMethodOverride" | "maxBatchSize" | "responseMeta"
> {
  router: AnyTRPCRouter;
  createContext: (source: TSource, info: TRPCRequestInfo) => unknown;
  onError: (source: TSource, opts: CallError) => void;
}

/** Response headers kept as tRPC's `Headers` keeps them: `set` replaces, `append` adds. */
class HeaderList {
  readonly values = new Map<string, string[]>();
  set(name: string, value: string) {
    this.values.set(name.toLowerCase(), [value]);
  }
  append(name: string, value: string) {
    const key = name.toLowerCase();
    const list = this.values.get(key);
    if (list) list.push(value);
    else this.values.set(key, [value]);
  }
  has(name: string) {
    return this.values.has(name.toLowerCase());
  }
}

type Result = [TRPCError, undefined] | [undefined, unknown];
type Call = TRPCRequestInfo["calls"][number];

const ACCEPTED_METHODS: Record<TRPCProcedureType, string[]> = { mutation: ["POST"], query: ["GET"], subscription: ["GET"] };
const ACCEPTED_WITH_OVERRIDE: Record<TRPCProcedureType, string[]> = {
  mutation: ["POST"],
  query: ["GET", "POST"],
  subscription: ["GET", "POST"],
};

/** The context, created once per request; a failure surfaces in each call, as in tRPC. */
class ContextSlot {
  private state: Result | undefined;
  async create(create: () => unknown) {
    try {
      this.state = [undefined, await create()];
    } catch (cause) {
      this.state = [getTRPCErrorFromUnknown(cause), undefined];
    }
  }
  value(): unknown {
    if (this.state?.[0]) throw this.state[0];
    return this.state?.[1];
  }
  valueOrUndefined(): unknown {
    return this.state?.[1];
  }
}

export async function answerRequest<TSource>(
  opts: AnswerOptions<TSource>,
  req: PlainRequest,
  source: TSource,
): Promise<Answer | null> {
  if (req.method === "HEAD") return { status: 204, headers: new HeaderList(), body: null };
  const parts = routerParts(opts.router);
  const headers = new HeaderList();
  headers.set("vary", "trpc-accept, accept");
  const ctx = new ContextSlot();
  let info: TRPCRequestInfo | undefined;
  try {
    const read = readRequest(parts, opts.maxBatchSize, req);
    if (read === null) return null;
    info = read;
    if (info.isBatchCall && !(opts.allowBatching ?? opts.batching?.enabled ?? true)) {
      throw new TRPCError({ code: "BAD_REQUEST", message: `Batching is not enabled on the server` });
    }
    const known = info;
    await ctx.create(() => opts.createContext(source, known));
    const results = info.calls.map((call) => runCall(opts, req, call, ctx, headers, source));
    const answer = { parts, opts, info, ctx, headers };
    return info.isBatchCall ? batchAnswer(answer, await Promise.all(results)) : singleAnswer(answer, await results[0]!);
  } catch (cause) {
    return requestFailed({ parts, opts, info, ctx, headers }, cause, source);
  }
}

function decodePath(path: string) {
  try {
    return decodeURIComponent(path);
  } catch (cause) {
    throw new TRPCError({ code: "BAD_REQUEST", message: `Invalid URL-encoding in path "${path}"`, cause });
  }
}

function hasContentType(contentType: string | null, type: string) {
  return contentType?.toLowerCase().split(";", 1)[0]?.trim() === type;
}

/** The content type tRPC sees: a Fetch Request with a string body and no type says text/plain. */
function contentTypeOf(req: PlainRequest): string | null {
  const header = req.headers["content-type"];
  if (header !== undefined) return header;
  return req.method !== "GET" && req.body !== undefined ? "text/plain;charset=UTF-8" : null;
}

/** tRPC's `getAcceptHeader`. */
function acceptOf(headers: IncomingHttpHeaders): "application/jsonl" | null {
  const trpcAccept = headers["trpc-accept"];
  if (trpcAccept !== undefined) return trpcAccept as "application/jsonl";
  return headers.accept?.split(",").some((t) => t.trim() === "application/jsonl") ? "application/jsonl" : null;
}

/** tRPC's `getRequestInfo` for JSON requests; `null` for what tRPC's own adapter must serve. */
function readRequest(parts: RouterParts, maxBatchSize: number | undefined, req: PlainRequest): TRPCRequestInfo | null {
  const path = parts.toProcedurePath(decodePath(req.path));
  const contentType = contentTypeOf(req);
  if (hasContentType(contentType, "multipart/form-data") || hasContentType(contentType, "application/octet-stream")) return null;
  if (!hasContentType(contentType, "application/json") && req.method !== "GET") {
    throw new TRPCError({
      code: "UNSUPPORTED_MEDIA_TYPE",
      message: contentType !== null ? `Unsupported content-type "${contentType}` : "Missing content-type header",
    });
  }
  const isBatchCall = req.query.get("batch") === "1";
  const paths = isBatchCall ? path.split(",") : [path];
  if (isBatchCall && typeof maxBatchSize === "number" && paths.length > maxBatchSize) {
    throw new TRPCError({ code: "BAD_REQUEST", message: `Batch call exceeds maximum size` });
  }
  const inputs = lazyInputs(() => parseInputs(parts, req, isBatchCall, paths.length));
  const calls: Call[] = [];
  for (const [index, callPath] of paths.entries()) {
    const procedure = parts.procedure(callPath);
    if (procedure === undefined || procedure?._def.type === "subscription") return null;
    calls.push({
      batchIndex: index,
      path: callPath,
      procedure,
      getRawInput: async () => (await inputs.read())[index],
      result: () => inputs.result()?.[index],
    });
  }
  const accept = acceptOf(req.headers);
  if (accept === "application/jsonl") return null;
  return new RequestInfo(req, isBatchCall, accept, calls, typeOfCalls(calls), connectionParamsOf(req));
}

/**
 * tRPC's request info, with the URL built only if something asks for it. A class, because an
 * object literal that defines a getter gets a hidden class of its own on every call: V8 allocates
 * those in the old generation, so each request left garbage there that only a full collection
 * reclaims (the server's heap grew to four times its live size under load).
 */
class RequestInfo implements TRPCRequestInfo {
  readonly signal: AbortSignal;
  constructor(
    private readonly request: PlainRequest,
    readonly isBatchCall: boolean,
    readonly accept: TRPCRequestInfo["accept"],
    readonly calls: Call[],
    readonly type: TRPCRequestInfo["type"],
    readonly connectionParams: TRPCRequestInfo["connectionParams"],
  ) {
    this.signal = request.signal;
  }
  get url(): URL {
    return this.request.url();
  }
}

function typeOfCalls(calls: Call[]): TRPCProcedureType | "unknown" {
  const types = new Set(calls.map((call) => call.procedure?._def.type).filter(Boolean));
  if (types.size > 1) {
    throw new TRPCError({ code: "BAD_REQUEST", message: `Cannot mix procedure types in call: ${Array.from(types).join(", ")}` });
  }
  return types.values().next().value ?? "unknown";
}

function connectionParamsOf(req: PlainRequest) {
  const raw = req.query.get("connectionParams");
  return raw === null ? null : parseConnectionParamsFromString(raw);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return !!value && !Array.isArray(value) && typeof value === "object";
}

function parseInputs(parts: RouterParts, req: PlainRequest, isBatchCall: boolean, count: number): Record<number, unknown> {
  const raw = req.method === "GET" ? req.query.get("input") : req.body;
  const inputs: unknown = raw ? JSON.parse(raw) : undefined;
  const record: Record<number, unknown> = Object.create(null) as Record<number, unknown>;
  if (inputs === undefined) return record;
  if (!isBatchCall) {
    record[0] = parts.deserializeInput(inputs);
    return record;
  }
  if (!isObject(inputs)) {
    throw new TRPCError({ code: "BAD_REQUEST", message: '"input" needs to be an object when doing a batch call' });
  }
  for (let index = 0; index < count; index++) {
    const input = inputs[index];
    if (input !== undefined) record[index] = parts.deserializeInput(input);
  }
  return record;
}

/** Inputs are parsed at most once, when a procedure first asks (after its auth middleware). */
function lazyInputs(parse: () => Record<number, unknown>) {
  let value: Record<number, unknown> | undefined;
  let failure: TRPCError | undefined;
  return {
    read: async () => {
      if (value === undefined && failure === undefined) {
        try {
          value = parse();
        } catch (cause) {
          failure =
            cause instanceof TRPCError
              ? cause
              : new TRPCError({ code: "BAD_REQUEST", message: cause instanceof Error ? cause.message : "Invalid input", cause });
        }
      }
      if (failure) throw failure;
      return value!;
    },
    result: () => value,
  };
}

async function runCall<TSource>(
  opts: AnswerOptions<TSource>,
  req: PlainRequest,
  call: Call,
  ctx: ContextSlot,
  headers: HeaderList,
  source: TSource,
): Promise<Result> {
  try {
    const procedure = call.procedure as AnyTRPCProcedure | null;
    if (!procedure) throw new TRPCError({ code: "NOT_FOUND", message: `No procedure found on path "${call.path}"` });
    const type = procedure._def.type;
    checkMethod(opts.allowMethodOverride ?? false, req.method, type, call.path, headers);
    const data: unknown = await procedure({
      path: call.path,
      getRawInput: call.getRawInput,
      ctx: ctx.value(),
      type,
      signal: req.signal,
      batchIndex: call.batchIndex,
    });
    return [undefined, data];
  } catch (cause) {
    const error = getTRPCErrorFromUnknown(cause);
    const type = call.procedure?._def.type ?? "unknown";
    opts.onError(source, { error, path: call.path, input: call.result(), ctx: ctx.valueOrUndefined(), type });
    return [error, undefined];
  }
}

/** A 405 lists the methods the procedure accepts (RFC 9110 15.5.6). */
function checkMethod(override: boolean, method: string, type: TRPCProcedureType, path: string, headers: HeaderList) {
  const accepted = (override && method === "POST" ? ACCEPTED_WITH_OVERRIDE : ACCEPTED_METHODS)[type];
  if (accepted.includes(method)) return;
  headers.set("allow", (override ? ACCEPTED_WITH_OVERRIDE : ACCEPTED_METHODS)[type].join(", "));
  throw new TRPCError({
    code: "METHOD_NOT_SUPPORTED",
    message: `Unsupported ${method}-request to ${type} procedure at path "${path}"`,
  });
}

interface Answering<TSource> {
  parts: RouterParts;
  opts: AnswerOptions<TSource>;
  info: TRPCRequestInfo | undefined;
  ctx: ContextSlot;
  headers: HeaderList;
}

/** tRPC refuses to send promises or iterables in a non-streamed answer. */
function isDataStream(value: unknown): boolean {
  if (!isObject(value)) return false;
  if (Symbol.asyncIterator in value) return true;
  const values = Object.values(value);
  return values.some(isPromiseLike) || values.some((v) => isObject(v) && Symbol.asyncIterator in v);
}

function isPromiseLike(value: unknown): boolean {
  const candidate = value as { then?: unknown; catch?: unknown } | null;
  return (
    (isObject(value) || typeof value === "function") &&
    typeof candidate?.then === "function" &&
    typeof candidate?.catch === "function"
  );
}

const STREAM_REFUSED = "Cannot use stream-like response in non-streaming request - use httpBatchStreamLink";

function errorShape<TSource>(
  a: Answering<TSource>,
  error: TRPCError,
  call: Call | undefined,
  type: TRPCProcedureType | "unknown",
) {
  return getTRPCErrorShape({
    config: a.parts.config,
    ctx: a.ctx.valueOrUndefined(),
    error,
    input: call?.result(),
    path: call?.path,
    type,
  });
}

function singleAnswer<TSource>(a: Answering<TSource>, [error, data]: Result): Answer {
  const info = a.info!;
  const call = info.calls[0]!;
  a.headers.set("content-type", "application/json");
  if (isDataStream(data)) throw new TRPCError({ code: "UNSUPPORTED_MEDIA_TYPE", message: STREAM_REFUSED });
  const response: TRPCResponse = error ? { error: errorShape(a, error, call, info.type) } : { result: { data } };
  const status = responseStatus(a, [response], error ? [error] : []);
  return { status, headers: a.headers, body: responseJson(a.parts, response) };
}

function batchAnswer<TSource>(a: Answering<TSource>, results: Result[]): Answer {
  const calls = a.info!.calls;
  a.headers.set("content-type", "application/json");
  const checked = results.map((result): Result =>
    !result[0] && isDataStream(result[1])
      ? [new TRPCError({ code: "UNSUPPORTED_MEDIA_TYPE", message: STREAM_REFUSED }), undefined]
      : result,
  );
  const responses = checked.map(([error, data], index): TRPCResponse => {
    const call = calls[index]!;
    return error ? { error: errorShape(a, error, call, call.procedure?._def.type ?? "unknown") } : { result: { data } };
  });
  const status = responseStatus(
    a,
    responses,
    checked.map(([error]) => error),
  );
  return { status, headers: a.headers, body: `[${responses.map((r) => responseJson(a.parts, r)).join(",")}]` };
}

/**
 * One call's answer as tRPC serialises it: JSON.stringify of the transformed response, or, for a
 * result the transformer passes through unchanged that carries its JSON text (withJsonText), that
 * text in the same envelope. The responses built here are exactly `{ result: { data } }` or
 * `{ error }`, so the envelope is the one JSON.stringify would write.
 */
function responseJson(parts: RouterParts, response: TRPCResponse): string {
  const serialized = parts.serializeResponse(response);
  if ("result" in serialized && "result" in response && serialized.result.data === response.result.data) {
    const text = jsonTextOf(serialized.result.data);
    if (text !== undefined) return `{"result":{"data":${text}}}`;
  }
  return JSON.stringify(serialized);
}

/** A request tRPC could not take apart (or answer): one error for the whole request. */
function requestFailed<TSource>(a: Answering<TSource>, cause: unknown, source: TSource): Answer {
  const error = getTRPCErrorFromUnknown(cause);
  const type = a.info?.type ?? "unknown";
  const ctx = a.ctx.valueOrUndefined();
  a.opts.onError(source, { error, path: undefined, input: undefined, ctx, type });
  const response: TRPCResponse = {
    error: getTRPCErrorShape({ config: a.parts.config, error, type, path: undefined, input: undefined, ctx }),
  };
  const body = JSON.stringify(a.parts.serializeResponse(response));
  const status = responseStatus(a, response, [error]);
  // What a Fetch Response gives a string body when no content type was set.
  if (!a.headers.has("content-type")) a.headers.set("content-type", "text/plain;charset=UTF-8");
  return { status, headers: a.headers, body };
}

/** The status tRPC derives from the answers, then `responseMeta`'s headers and status. */
function responseStatus<TSource>(
  a: Answering<TSource>,
  responses: TRPCResponse | TRPCResponse[],
  errors: (TRPCError | undefined)[],
): number {
  const status = getHTTPStatusCode(responses, errors);
  const info = a.info;
  const meta = a.opts.responseMeta?.({
    ctx: a.ctx.valueOrUndefined() as never,
    info,
    paths: info?.calls.map((call) => call.path),
    data: Array.isArray(responses) ? responses : [responses],
    errors: errors.filter((e): e is TRPCError => Boolean(e)),
    eagerGeneration: false,
    type: info?.calls.find((call) => call.procedure?._def.type)?.procedure?._def.type ?? "unknown",
  });
  if (meta?.headers) addMetaHeaders(a.headers, meta.headers);
  return meta?.status || status;
}

function addMetaHeaders(
  headers: HeaderList,
  meta: NonNullable<ReturnType<NonNullable<AnswerOptions<unknown>["responseMeta"]>>["headers"]>,
) {
  if (meta instanceof Headers) {
    meta.forEach((value, key) => headers.append(key, value));
    return;
  }
  for (const [key, value] of Object.entries(meta)) {
    if (Array.isArray(value)) for (const v of value) headers.append(key, v);
    else if (typeof value === "string") headers.set(key, value);
  }
}
