/**
 * Browser-safe entry: no Node built-ins. Under Node, `@warden/client` resolves to ./node.ts,
 * which adds the file store.
 */
export {
  createWardenClient,
  type SignInInput,
  type SignupResult,
  type WardenClient,
  type WardenClientOptions,
} from "./client.js";
export { WardenError, WardenSessionEndedError, isWardenError, isSessionEndingReason, type WardenErrorOptions } from "./errors.js";
export type { SessionEndedEvent } from "./session.js";
export { cookieStore, fileStore, memoryStore, webLock, webStorageStore } from "./stores.js";
export type { StoredTokens, TokenStore } from "./tokens.js";
export type {
  AuthResult,
  ErrorReason,
  PublicUser,
  SessionEndingReason,
  TokenPair,
  VerificationRequired,
} from "@warden/contracts";
export type { AppRouter } from "@warden/api";
