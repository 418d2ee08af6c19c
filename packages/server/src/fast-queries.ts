import {
  getErrorShape,
  getHTTPStatusCode,
  getTRPCErrorFromUnknown,
  type AnyRouter,
} from "@trpc/server/unstable-core-do-not-import";
import type { FastifyReply, FastifyRequest } from "fastify";

export interface FastQueryOptions<TContext> {
  router: AnyRouter;
  createContext: (opts: { req: FastifyRequest; res: FastifyReply }) => TContext | Promise<TContext>;
  onError?: (opts: { error: ReturnType<typeof getTRPCErrorFromUnknown>; path: string }) => void;
}

/**
 * Serves a plain tRPC query — GET, one procedure, no input, no batch — straight from Fastify,
 * with the body, status and headers tRPC's fetch adapter would send. The adapter builds a Fetch
 * Request, abort signals and a streamed Response for every call, which costs several times the
 * procedure itself on the hottest path (auth.me); everything else (batches, inputs, mutations,
 * streams) still goes through the adapter. A preHandler hook: it answers, or lets the route run.
 */
export function fastQueryHook<TContext>(prefix: string, options: FastQueryOptions<TContext>) {
  const config = options.router._def._config;
  const procedures = options.router._def.procedures as Record<
    string,
    { _def: { type: string } } & ((opts: unknown) => Promise<unknown>)
  >;
  return async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.method !== "GET") return;
    const url = req.raw.url ?? "";
    if (url.includes("?") || !url.startsWith(`${prefix}/`)) return;
    const path = url.slice(prefix.length + 1);
    const procedure = Object.hasOwn(procedures, path) ? procedures[path] : undefined;
    if (!procedure || procedure._def.type !== "query") return;
    const accept = req.headers["trpc-accept"] ?? req.headers.accept;
    if (accept === "application/jsonl" || accept === "text/event-stream") return;

    let ctx: TContext | undefined;
    let body: unknown;
    let status = 200;
    try {
      ctx = await options.createContext({ req, res: reply });
      body = {
        result: {
          data: await procedure({
            path,
            getRawInput: async () => undefined,
            ctx,
            type: "query",
            signal: undefined,
            batchIndex: 0,
          }),
        },
      };
    } catch (cause) {
      const error = getTRPCErrorFromUnknown(cause);
      options.onError?.({ error, path });
      const shape = getErrorShape({ config, ctx, error, input: undefined, path, type: "query" });
      body = { error: shape };
      // As the adapter: the status the error formatter put in the shape.
      status = getHTTPStatusCode({ error: shape } as Parameters<typeof getHTTPStatusCode>[0]);
    }
    return reply
      .code(status)
      .header("vary", "trpc-accept, accept")
      .header("content-type", "application/json")
      .send(Buffer.from(JSON.stringify(body)));
  };
}
