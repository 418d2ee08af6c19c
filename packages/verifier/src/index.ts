export { RevocationSet } from "./revocation-set.js";
export { firstAcceptedIat, NOT_BEFORE_MARGIN_MS, type Clock, type Principal } from "@warden/access-token";
export {
  RevocationFeed,
  startRevocationFeed,
  publishRevocations,
  publishNotBefore,
  pruneRevocations,
  type RevocationFeedOptions,
  type RevocationSink,
} from "./feed.js";
export { createVerifier, Verifier, type VerifierOptions } from "./verifier.js";
export { VerifierError, isVerifierError, type VerifierReason } from "./errors.js";
export { VERIFIER_ALGORITHMS, keysFromJwks, type KeyInput, type VerifierAlgorithm } from "./keys.js";
export { bearerToken, errorResponse, expressAuth, fastifyAuth, verifyRequest } from "./request.js";
