// A project outside the monorepo using the published packages as their READMEs show.
import { createWardenClient, fileStore, isWardenError, WardenSessionEndedError, type AuthResult } from "@warden/client";
import { createVerifier, isVerifierError, verifyRequest, type Principal } from "@warden/verifier";

/** True only for `any`: the client's types must not silently become any. */
type IsAny<T> = 0 extends 1 & T ? true : false;

const url = "http://127.0.0.1:3000";
const warden = createWardenClient({ url, store: fileStore("./warden-session.json") });
const result: AuthResult = await warden.login({ email: "worker@example.com", password: "correct horse battery" });

const me = await warden.api.auth.me.query();
const meIsTyped: IsAny<typeof me> = false;
const email: string = me.user.email;
const sessions = await warden.api.sessions.list.query();
const device: string | null = sessions[0]?.deviceName ?? null;
const { eventId } = await warden.api.admin.revokeUser.mutate({ userId: me.user.id, reason: "compromised", lock: true });
const { status } = await warden.api.admin.revocation.query({ eventId });
const applied: boolean = status === "applied";
try {
  await warden.api.auth.logout.mutate({});
} catch (error) {
  if (error instanceof WardenSessionEndedError) console.log("session ended:", error.reason);
  else if (isWardenError(error, "RATE_LIMITED")) console.log("retry in", error.retryAfterMs);
}

const verifier = createVerifier({
  jwksUrl: `${url}/.well-known/jwks.json`,
  issuer: "warden",
  audience: "warden",
  redisUrl: "redis://127.0.0.1:6379",
});
await verifier.ready();
const principal: Principal = await verifyRequest(verifier, `Bearer ${result.accessToken}`);
const role: "user" | "admin" = principal.role;
try {
  verifier.verifySync("not-a-token");
} catch (error) {
  if (isVerifierError(error)) console.log(error.reason, error.status);
}
console.log(meIsTyped, email, device, applied, role);
await verifier.close();
