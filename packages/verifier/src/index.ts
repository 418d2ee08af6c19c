// The revocation set and feed live in @warden/revocations (the auth server and the worker use them
// too); the verifier's users get them from here as before.
export { firstAcceptedIat, NOT_BEFORE_MARGIN_MS, type Clock, type Principal } from "@warden/access-token";
export {
  RevocationSet,
  RevocationFeed,
  startRevocationFeed,
  publishRevocations,
  publishNotBefore,
  pruneRevocations,
  type RevocationFeedOptions,
  type RevocationSink,
} from "@warden/revocations";
export { createVerifier, Verifier, type VerifierOptions } from "./verifier.js";
export { VerifierError, isVerifierError, type VerifierReason } from "./errors.js";
export { VERIFIER_ALGORITHMS, keysFromJwks, type KeyInput, type VerifierAlgorithm } from "./keys.js";
export { bearerToken, errorResponse, expressAuth, fastifyAuth, verifyRequest } from "./request.js";
