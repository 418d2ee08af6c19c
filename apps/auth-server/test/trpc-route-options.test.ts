import { initTRPC, lazy, TRPCError } from "@trpc/server";
import { fastifyTRPCPlugin, type FastifyHandlerOptions } from "@trpc/server/adapters/fastify";
import { withJsonText } from "@warden/api";
import { trpcRoute } from "@warden/server";
import { comparable, rawRequest, type RawRequest } from "@warden/testing";
import fc from "fast-check";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * trpcRoute against tRPC's official Fastify adapter on what Warden's router does not use: the
 * default error formatter, responseMeta headers (a Headers object and a record, set-cookie) and
 * status, headers set by a procedure, context failures, stream-like and unserialisable results,
 * subscriptions, lazy routers, method override, batch limits and batching turned off, and answers
 * that carry their JSON text (withJsonText), with and without a transformer that changes them.
 * Each pair of mounts also records the calls of onError, which must match too.
 */
interface Ctx {
  req: FastifyRequest;
  res: FastifyReply;
}
// Not isDev: the default formatter would add each error's stack, which names the code that answered.
const t = initTRPC.context<Ctx>().create({ isDev: false });
const router = t.router({
  echo: t.procedure.input((v) => v).query(({ input }) => ({ input })),
  save: t.procedure.input((v) => v).mutation(({ input }) => ({ saved: input ?? null })),
  boom: t.procedure.query(() => {
    throw new Error("boom");
  }),
  busy: t.procedure.query(() => {
    throw new TRPCError({ code: "TOO_MANY_REQUESTS", message: "later" });
  }),
  strict: t.procedure
    .input((v) => {
      if (typeof v !== "number") throw new Error("a number, please");
      return v;
    })
    .query(({ input }) => input * 2),
  bigint: t.procedure.query(() => 10n),
  later: t.procedure.query(() => ({ value: Promise.resolve(1) })),
  header: t.procedure.mutation(({ ctx }) => {
    void ctx.res.header("x-from-procedure", "yes");
    return "ok";
  }),
  ticks: t.procedure.subscription(async function* () {
    yield 1;
    yield 2;
  }),
  nested: { deep: t.procedure.query(() => "deep") },
  lazy: lazy(async () => t.router({ ping: t.procedure.query(() => "pong") })),
  written: t.procedure.query(() => WRITTEN),
});
/** An answer whose JSON is written once (as auth.me's): the route sends that text. */
const WRITTEN = withJsonText({ id: "u-1", at: 1796609502204, ok: true, list: [1.5, "two"], nested: { e: 'a"b' } });
/** A transformer that changes every answer: the written text must not be sent in its place. */
const wrapping = initTRPC.context<Ctx>().create({
  isDev: false,
  transformer: {
    input: { serialize: (v: unknown) => v, deserialize: (v: unknown) => v },
    output: { serialize: (v: unknown) => ({ wrapped: v }), deserialize: (v: { wrapped: unknown }) => v.wrapped },
  },
});
const wrappingRouter = wrapping.router({
  written: wrapping.procedure.query(() => WRITTEN),
  echo: wrapping.procedure.input((v) => v).query(({ input }) => ({ input })),
});
type Options = FastifyHandlerOptions<typeof router, FastifyRequest, FastifyReply>;

const PATHS = [
  "echo",
  "save",
  "boom",
  "busy",
  "strict",
  "bigint",
  "later",
  "header",
  "ticks",
  "nested.deep",
  "lazy.ping",
  "written",
];
/**
 * The procedures that read their input. For a call that does not, tRPC's onError reports
 * whatever input another call of the batch has parsed by the time it fails: a race inside the
 * official adapter (it reads a POST body in a few more ticks than a query string), so only
 * these inputs are compared.
 */
const READS_INPUT = new Set(["echo", "save", "strict"]);
const ODD = ["nope", "nested", "%zz", "nested%2Edeep", "lazy.nope", ""];

/** Every onError call of one mount, in order. */
const errorLog = new Map<string, string[]>();

function options(mount: string, extra: Partial<Options>): Options {
  errorLog.set(mount, []);
  return {
    router,
    createContext: ({ req, res }) => {
      if (req.headers["x-fail-context"]) throw new TRPCError({ code: "UNAUTHORIZED", message: "no context" });
      return { req, res };
    },
    onError: ({ error, path, type, input }) =>
      errorLog.get(mount)!.push(`${error.code} ${path} ${type} ${READS_INPUT.has(path!) ? JSON.stringify(input) : "-"}`),
    responseMeta: ({ paths, errors, type }) => {
      const headers =
        errors.length % 2 === 0
          ? new Headers([
              ["x-paths", paths?.join("|") ?? "none"],
              ["set-cookie", "a=1"],
              ["set-cookie", "b=2"],
            ])
          : { "x-type": type, "x-errors": String(errors.length), "set-cookie": ["c=3", "d=4"] };
      return { headers, status: paths?.includes("busy") && errors.length === 1 ? 418 : undefined };
    },
    ...extra,
  };
}

const MOUNTS = {
  a: { allowMethodOverride: true, maxBatchSize: 3 },
  b: { allowBatching: false },
  c: { router: wrappingRouter as unknown as typeof router },
} satisfies Record<string, Partial<Options>>;

let app: FastifyInstance;
let url = "";

beforeAll(async () => {
  app = Fastify();
  for (const [name, extra] of Object.entries(MOUNTS)) {
    await app.register(trpcRoute, { prefix: `/${name}`, trpcOptions: options(name, extra) });
    await app.register(fastifyTRPCPlugin, { prefix: `/${name}-official`, trpcOptions: options(`${name}-official`, extra) });
  }
  url = await app.listen({ port: 0, host: "127.0.0.1" });
});
afterAll(async () => {
  await app?.close();
});

async function answerOf(mount: string, req: RawRequest) {
  const log = errorLog.get(mount)!;
  log.length = 0;
  const raw = await rawRequest(url, { ...req, path: `/${mount}${req.path}` }).catch((error: NodeJS.ErrnoException) => ({
    status: 0,
    headers: {},
    body: `no answer: ${error.code}`,
  }));
  const answer = comparable(raw);
  // Fastify's own refusals quote the path, prefix included.
  answer.body = answer.body.replaceAll(`/${mount}/`, "/");
  return { answer, errors: [...log] };
}

const inputText = fc.oneof(
  fc.constantFrom("{}", '{"0":2}', '{"0":{"a":1},"1":"x"}', "2", '"x"', "null", "[]", "{", ""),
  fc.json({ maxDepth: 2 }),
);
const requestArb = fc.record({
  mount: fc.constantFrom(...Object.keys(MOUNTS)),
  method: fc.constantFrom("GET", "GET", "POST", "POST", "HEAD", "PUT"),
  paths: fc.array(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...PATHS) }, fc.constantFrom(...ODD)), {
    minLength: 1,
    maxLength: 4,
  }),
  batch: fc.constantFrom(undefined, "1", "1"),
  input: fc.option(inputText, { nil: undefined }),
  contentType: fc.constantFrom(
    undefined,
    "application/json",
    "application/json",
    "text/plain",
    "multipart/form-data; boundary=x",
  ),
  headers: fc.record(
    {
      "trpc-accept": fc.constantFrom("application/jsonl", "application/json"),
      accept: fc.constantFrom("text/event-stream", "application/jsonl"),
      "x-fail-context": fc.constant("1"),
      "last-event-id": fc.constant("1"),
    },
    { requiredKeys: [] },
  ),
});
type Generated = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

const get: Generated = {
  mount: "a",
  method: "GET",
  paths: ["echo"],
  batch: "1",
  input: '{"0":1}',
  contentType: undefined,
  headers: {},
};
/** One of each feature, besides what the generator finds. */
const EXAMPLES: Generated[] = [
  get,
  { ...get, paths: ["ticks"], batch: undefined, input: undefined, headers: { accept: "text/event-stream" } },
  { ...get, paths: ["echo", "nested.deep", "later"], headers: { "trpc-accept": "application/jsonl" } },
  { ...get, paths: ["lazy.ping"] },
  { ...get, paths: ["lazy.ping", "echo"] },
  { ...get, method: "POST", paths: ["echo", "strict"], input: '{"0":1,"1":2}', contentType: "application/json" },
  { ...get, paths: ["echo", "echo", "echo", "echo"] },
  { ...get, mount: "b", paths: ["echo", "echo"] },
  { ...get, paths: ["busy"] },
  { ...get, paths: ["bigint"], batch: undefined },
  { ...get, paths: ["later"], batch: undefined },
  { ...get, paths: ["later", "echo"] },
  { ...get, method: "POST", paths: ["header"], batch: undefined, contentType: "application/json" },
  { ...get, method: "POST", paths: ["save"], input: "--x--", contentType: "multipart/form-data; boundary=x" },
  { ...get, paths: ["strict"], input: '{"0":"nope"}', headers: { "x-fail-context": "1" } },
  { ...get, paths: ["written"], batch: undefined, input: undefined },
  { ...get, paths: ["written", "echo", "written"] },
  { ...get, mount: "c", paths: ["written"], batch: undefined, input: undefined },
  { ...get, mount: "c", paths: ["written", "echo"] },
  { ...get, method: "POST", contentType: "application/json", paths: ["echo", "busy"], input: '{"0":{"a":1},"1":"x"}' },
  { ...get, paths: ["busy", "strict"], input: '{"0":{"a":1},"1":"x"}' },
];

function toRequest(r: Generated): RawRequest {
  const params = [
    r.batch ? `batch=${r.batch}` : "",
    r.method !== "POST" && r.input ? `input=${encodeURIComponent(r.input)}` : "",
  ];
  const query = params.filter(Boolean).join("&");
  const headers: Record<string, string> = { ...r.headers };
  if (r.contentType) headers["content-type"] = r.contentType;
  const body = r.method === "POST" || r.method === "PUT" ? r.input : undefined;
  return { method: r.method, path: `/${r.paths.join(",")}${query ? `?${query}` : ""}`, headers, body };
}

/** A streamed answer sends each call's part as it ends: compare the lines, not their order. */
function unordered(body: string) {
  return body.includes("\n") ? body.split("\n").sort() : body;
}

describe("trpcRoute with every handler option, against the official adapter", () => {
  it("the same answers and the same onError calls", async () => {
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        const req = toRequest(r);
        const ours = await answerOf(r.mount, req);
        const official = await answerOf(`${r.mount}-official`, req);
        const label = `${req.method} /${r.mount}${req.path} ${JSON.stringify(req.headers)} ${req.body ?? ""}`;
        expect({ ...ours.answer, body: unordered(ours.answer.body) }, label).toEqual({
          ...official.answer,
          body: unordered(official.answer.body),
        });
        expect(ours.errors.sort(), label).toEqual(official.errors.sort());
      }),
      { numRuns: 300, examples: EXAMPLES.map((e) => [e]) },
    );
  });
});
