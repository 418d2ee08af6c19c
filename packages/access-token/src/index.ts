export {
  ACCESS_TOKEN_ALGORITHMS,
  MAX_KID_LENGTH,
  MAX_TOKEN_LENGTH,
  P256_ORDER,
  checkSignatureAndClaims,
  hasLowS,
  type AccessTokenAlgorithm,
  type ExpectedClaims,
  type KeyLookup,
  type SignatureCheckOptions,
  type SignatureVerdict,
  type VerificationKey,
} from "./check.js";
export { NOT_BEFORE_MARGIN_MS, firstAcceptedIat, issuedAt, issuedBeforeNotBefore } from "./not-before.js";
export { parseBearer, type BearerResult } from "./bearer.js";
export { VerifiedTokenCache } from "./cache.js";
export {
  admitAccessToken,
  checkAccessToken,
  principalOf,
  type AccessTokenCheckOptions,
  type AccessTokenReason,
  type AccessTokenVerdict,
  type Clock,
  type Principal,
  type Refusal,
  type RevocationLookup,
} from "./access-token.js";
