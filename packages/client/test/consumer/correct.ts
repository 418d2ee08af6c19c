// A project outside the monorepo using the published packages as their READMEs show.
import {
  createWardenClient,
  fileStore,
  isWardenError,
  WardenSessionEndedError,
  type AuthResult,
  type SignupResult,
  type VerificationRequired,
} from "@warden/client";
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
const verified: boolean = me.user.emailVerified;

// The account lifecycle: a signup may open no session until the email is verified.
const signedUp: SignupResult = await warden.signup({ email: "new@example.com", password: "correct horse battery" });
const pending: VerificationRequired | undefined = "verificationRequired" in signedUp ? signedUp : undefined;
const newSession: string | undefined = "verificationRequired" in signedUp ? undefined : signedUp.sessionId;
const changed = await warden.api.auth.changePassword.mutate({
  currentPassword: "correct horse battery",
  newPassword: "a new one!",
});
const revokedSessions: number = changed.revokedSessions;
const requested: { ok: true } = await warden.api.auth.requestPasswordReset.mutate({ email: "worker@example.com" });
const reset: { ok: true } = await warden.api.auth.resetPassword.mutate({ token: "from-the-link", newPassword: "a new one!" });
await warden.api.auth.requestEmailVerification.mutate({});
const emailVerified: { ok: true } = await warden.api.auth.verifyEmail.mutate({ token: "from-the-link" });
try {
  await warden.api.auth.verifyEmail.mutate({ token: "from-the-link" });
} catch (error) {
  if (isWardenError(error, "ONE_TIME_TOKEN_INVALID")) console.log("ask for a new link");
}

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
console.log(
  meIsTyped,
  email,
  device,
  applied,
  role,
  verified,
  pending,
  newSession,
  revokedSessions,
  requested,
  reset,
  emailVerified,
);
await verifier.close();
