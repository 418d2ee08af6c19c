import type { Auth } from "@warden/auth";
import { createContextInner, type RequestInfo } from "./context.js";
import { createCaller } from "./root.js";

/** A caller as an anonymous client, or as the holder of `accessToken`. */
export function callerFor(auth: Auth, accessToken?: string, req: RequestInfo = {}) {
  return createCaller(
    createContextInner({
      auth,
      req: { ip: "127.0.0.1", userAgent: "vitest", ...req, ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}) },
    }),
  );
}

/** The reason a rejected call failed with (`error.data.reason` as the wire shows it). */
export async function reasonOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const { formatError } = await import("./errors.js");
    return formatError(error as never, undefined).data.reason;
  }
  throw new Error("expected the call to fail");
}

/** Signs up through the API and returns the session (tests run without REQUIRE_VERIFIED_EMAIL). */
export async function signUp(auth: Auth, input: { email: string; password: string; deviceName?: string }) {
  const result = await callerFor(auth).auth.signup(input);
  if ("verificationRequired" in result) throw new Error("signup opened no session (REQUIRE_VERIFIED_EMAIL)");
  return result;
}
