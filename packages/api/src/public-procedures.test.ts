import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import { PUBLIC_PROCEDURES } from "@warden/contracts";
import { afterAll, beforeAll, expect, it } from "vitest";
import { appRouter } from "./root.js";
import { callerFor, reasonOf } from "./testing.js";

/**
 * PUBLIC_PROCEDURES (@warden/contracts) is what @warden/client sends without an access token and
 * never renews for. It must name exactly the procedures the router lets anyone call: a public
 * procedure missing from it would fail for a signed-out client; a protected one listed in it would
 * be sent without the token and refused.
 */
let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth();
});
afterAll(() => t.close());

type Callable = (input?: unknown) => Promise<unknown>;

/** Calls a procedure by its dotted path as an anonymous client, with an empty input. */
async function callAnonymously(path: string): Promise<string> {
  const procedure = path.split(".").reduce<unknown>((at, key) => (at as Record<string, unknown>)[key], callerFor(t.auth));
  try {
    await (procedure as Callable)({});
    return "answered";
  } catch (error) {
    return reasonOf(Promise.reject(error));
  }
}

it("the procedures that answer without an access token are exactly PUBLIC_PROCEDURES", async () => {
  const paths = Object.keys(appRouter._def.procedures).sort();
  expect(paths.length).toBeGreaterThan(PUBLIC_PROCEDURES.length);
  const outcomes = Object.fromEntries(await Promise.all(paths.map(async (path) => [path, await callAnonymously(path)] as const)));
  // Authorization comes before input parsing: a protected procedure refuses the empty input as TOKEN_MISSING.
  const answeredWithoutToken = paths.filter((path) => outcomes[path] !== "TOKEN_MISSING");
  expect(answeredWithoutToken, JSON.stringify(outcomes, null, 2)).toEqual([...PUBLIC_PROCEDURES].sort());
});
