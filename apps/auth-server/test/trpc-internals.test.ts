import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { initTRPC, lazy } from "@trpc/server";
import { appRouter } from "@warden/api";
import { ROOT } from "@warden/testing";
import { describe, expect, it } from "vitest";

/**
 * The server's tRPC route (packages/server/src/trpc-answer.ts) reads router internals tRPC does
 * not promise to keep (packages/server/src/trpc-internals.ts) and follows resolveResponse of
 * one release. These tests fail on an upgrade that changes either: the version, and the shape of
 * what it reads. (trpc-route.test.ts then shows whether the answers still match the adapter.)
 */
const PINNED = "11.25.2";

function manifest(file: string): { version?: string; dependencies?: Record<string, string> } {
  return JSON.parse(readFileSync(file, "utf8")) as { version?: string; dependencies?: Record<string, string> };
}

describe("the tRPC release the route was written against", () => {
  it(`@warden/server and @warden/api pin @trpc/server ${PINNED}, and that is the one installed`, () => {
    for (const pkg of ["packages/server", "packages/api"]) {
      const own = path.join(ROOT, pkg, "package.json");
      expect(manifest(own).dependencies?.["@trpc/server"], pkg).toBe(PINNED);
      const installed = createRequire(own).resolve("@trpc/server/package.json");
      expect(manifest(installed).version, pkg).toBe(PINNED);
    }
  });

  it("a router keeps its procedures by dotted path in _def.procedures, each a function with _def.type", () => {
    const { procedures } = appRouter._def as unknown as { procedures: Record<string, { _def: { type: string } }> };
    expect(Object.keys(procedures)).toContain("auth.me");
    for (const procedure of Object.values(procedures)) {
      expect(typeof procedure).toBe("function");
      expect(["query", "mutation", "subscription"]).toContain(procedure._def.type);
    }
  });

  it("_def._config holds the transformer, the path separator and the error formatter", () => {
    const config = appRouter._def._config;
    expect(typeof config.transformer.input.deserialize).toBe("function");
    expect(typeof config.transformer.output.serialize).toBe("function");
    expect(typeof config.errorFormatter).toBe("function");
    expect([undefined, ".", "_", "~", "-"]).toContain(config.pathSeparator);
  });

  it("lazy sub-routers are listed in _def.lazy until loaded, their procedures absent", () => {
    const t = initTRPC.create();
    const inner = t.router({ ping: t.procedure.query(() => "pong") });
    const router = t.router({ later: lazy(async () => inner), now: t.procedure.query(() => 1) });
    expect(Object.keys(router._def.lazy)).toEqual(["later"]);
    expect(Object.keys(router._def.procedures)).toEqual(["now"]);
  });

  it("a procedure is called with path, getRawInput, ctx, type, signal and batchIndex", async () => {
    const t = initTRPC.context<{ who: string }>().create();
    const router = t.router({
      echo: t.procedure
        .input((v) => v as { n: number })
        .query(({ input, ctx, signal, path }) => ({ n: input.n, who: ctx.who, aborted: signal?.aborted, path })),
    });
    const echo = (router._def.procedures as unknown as Record<string, (opts: unknown) => Promise<unknown>>).echo!;
    const result = await echo({
      path: "echo",
      getRawInput: async () => ({ n: 7 }),
      ctx: { who: "me" },
      type: "query",
      signal: new AbortController().signal,
      batchIndex: 0,
    });
    expect(result).toEqual({ n: 7, who: "me", aborted: false, path: "echo" });
  });

  it("the installed release carries Warden's patch: middlewares get their options by native object spread", () => {
    // patches/@trpc__server@11.25.2.patch: the build lowered callRecursive's spreads to a helper
    // that cost ~5 us per middleware on every call (tRPC's middleware chain was a tenth of the
    // server's CPU under auth.me load). A new release needs the patch remade or dropped.
    const dist = path.dirname(createRequire(path.join(ROOT, "packages/server/package.json")).resolve("@trpc/server"));
    for (const file of readdirSync(dist).filter((f) => /^initTRPC-.*\.(mjs|cjs)$/.test(f))) {
      const source = readFileSync(path.join(dist, file), "utf8");
      const callRecursive = source.slice(
        source.indexOf("async function callRecursive"),
        source.indexOf("function createProcedureCaller"),
      );
      expect(callRecursive, file).toContain("Warden: native object spreads");
      expect(callRecursive, file).not.toContain("_objectSpread2(");
    }
  });

  it("a middleware still sees the options, meta and merged context it saw before the patch", async () => {
    const t = initTRPC.context<{ who: string; n: number }>().meta<{ tag: string }>().create();
    const seen: unknown[] = [];
    const router = t.router({
      echo: t.procedure
        .meta({ tag: "m" })
        .use(({ ctx, meta, input, path, type, next }) => {
          seen.push({ ctx, meta, input, path, type });
          return next({ ctx: { n: 2 } });
        })
        .input((v) => v as { k: number })
        .use(({ ctx, input, next }) => {
          seen.push({ ctx, input });
          return next({ input: { k: input.k + 1 } });
        })
        .query(({ ctx, input }) => ({ ctx, input })),
    });
    const caller = t.createCallerFactory(router)({ who: "me", n: 1 });
    expect(await caller.echo({ k: 1 })).toEqual({ ctx: { who: "me", n: 2 }, input: { k: 2 } });
    expect(seen).toEqual([
      { ctx: { who: "me", n: 1 }, meta: { tag: "m" }, input: undefined, path: "echo", type: "query" },
      { ctx: { who: "me", n: 2 }, input: { k: 1 } },
    ]);
  });
});
