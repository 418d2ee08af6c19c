// The revocation set and feed live in @warden/revocations (the auth server and the worker use them
// too); the verifier's users get them from here as before.
export {
  RevocationSet,
  firstAcceptedIat,
  NOT_BEFORE_MARGIN_MS,
  RevocationFeed,
  startRevocationFeed,
  publishRevocations,
  publishNotBefore,
  pruneRevocations,
  type Clock,
  type RevocationFeedOptions,
  type RevocationSink,
} from "@warden/revocations";
export { createVerifier, Verifier, type Principal, type VerifierOptions } from "./verifier.js";
export { VerifierError, isVerifierError, type VerifierReason } from "./errors.js";
export { VERIFIER_ALGORITHMS, keysFromJwks, type KeyInput, type VerifierAlgorithm } from "./keys.js";
export { bearerToken, errorResponse, expressAuth, fastifyAuth, verifyRequest } from "./request.js";
