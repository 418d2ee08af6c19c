export {
  ACCESS_TOKEN_ALGORITHMS,
  MAX_KID_LENGTH,
  MAX_TOKEN_LENGTH,
  P256_ORDER,
  admitAccessToken,
  checkSignatureAndClaims,
  isStale,
  type AccessTokenAlgorithm,
  type AdmitOptions,
  type AdmitReason,
  type ExpectedClaims,
  type KeyLookup,
  type SignatureVerdict,
  type VerificationKey,
} from "./check.js";
export { parseBearer, type BearerResult } from "./bearer.js";
export { VerifiedTokenCache } from "./cache.js";
export {
  checkAccessToken,
  principalOf,
  type AccessTokenCheckOptions,
  type AccessTokenReason,
  type AccessTokenVerdict,
  type Clock,
  type Principal,
} from "./access-token.js";
