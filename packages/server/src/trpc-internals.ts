import type { AnyTRPCProcedure, AnyTRPCRouter } from "@trpc/server";
import type { TRPCResponse } from "@trpc/server/rpc";

/**
 * The parts of a tRPC router that trpc-answer.ts reads beyond tRPC's documented API: its
 * procedures by path (`_def.procedures`, `_def.lazy`) and its root config (`_def._config`:
 * transformer, path separator, error formatter). They are typed but not promised, so
 * @trpc/server is pinned to an exact version and trpc-internals.test.ts checks their shape:
 * an upgrade that changes them fails there first.
 */
export interface RouterParts {
  config: AnyTRPCRouter["_def"]["_config"];
  /** The procedure at a dotted path; `null` if none, `undefined` if a lazy router may hold it. */
  procedure(path: string): AnyTRPCProcedure | null | undefined;
  /** A URL path (`post~byId`) as a procedure path (`post.byId`). */
  toProcedurePath(path: string): string;
  deserializeInput(input: unknown): unknown;
  serializeResponse(response: TRPCResponse): TRPCResponse;
}

const cache = new WeakMap<AnyTRPCRouter, RouterParts>();

export function routerParts(router: AnyTRPCRouter): RouterParts {
  let parts = cache.get(router);
  if (!parts) {
    parts = readRouterParts(router);
    cache.set(router, parts);
  }
  return parts;
}

function readRouterParts(router: AnyTRPCRouter): RouterParts {
  const def = router._def;
  const config = def._config;
  const procedures = def.procedures as Record<string, AnyTRPCProcedure | undefined>;
  const hasLazy = Object.keys(def.lazy).length > 0;
  const separator = config.pathSeparator ?? ".";
  const { input, output } = config.transformer;
  return {
    config,
    procedure: (path) => procedures[path] ?? (hasLazy ? undefined : null),
    toProcedurePath: (path) => (separator === "." ? path : path.split(separator).join(".")),
    deserializeInput: (value) => input.deserialize(value),
    // tRPC's transformTRPCResponse, for one answer.
    serializeResponse: (response) =>
      "error" in response
        ? { ...response, error: output.serialize(response.error) }
        : { ...response, result: { ...response.result, data: output.serialize(response.result.data) } },
  };
}
