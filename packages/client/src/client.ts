import { createTRPCClient, httpBatchLink, type TRPCClient } from "@trpc/client";
import type { AppRouter } from "@warden/api";
import type { AuthResult, VerificationRequired } from "@warden/contracts";
import { COOKIE_HEADER } from "@warden/contracts/headers";
import { toWardenError } from "./errors.js";
import { accessTokenOf, renewalLink } from "./link.js";
import { sessionFor, type SessionEndedEvent } from "./session.js";
import type { StoredTokens, TokenStore } from "./tokens.js";

export interface WardenClientOptions {
  /** Base URL of the auth server; tRPC lives at `${url}/trpc`. */
  url: string;
  store: TokenStore;
  /** Renew when the access token expires within this margin (default 30 s; capped at half its lifetime). */
  refreshMarginMs?: number;
  fetch?: typeof globalThis.fetch;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** Epoch milliseconds; inject a clock in tests. */
  now?: () => number;
  /** Longest wait for a refresh call (default 10 s). */
  refreshTimeoutMs?: number;
}

export interface SignInInput {
  email: string;
  password: string;
  deviceName?: string;
}

/**
 * What signup answers: a session (its tokens saved in the store), or, when the server requires a
 * verified email (REQUIRE_VERIFIED_EMAIL), the account with `verificationRequired: true` and no
 * session: nothing is stored; the user follows the emailed link, then logs in.
 */
export type SignupResult = AuthResult | VerificationRequired;

export interface WardenClient {
  /** The typed tRPC client (AppRouter); renewal built in, errors are WardenError. */
  api: TRPCClient<AppRouter>;
  signup(input: SignInInput): Promise<SignupResult>;
  login(input: SignInInput): Promise<AuthResult>;
  /** Ends this session at the server (best effort) and clears the store. */
  logout(): Promise<void>;
  /** Forces one renewal, shared with concurrent callers. In cookie mode, resumes a session after a page load. */
  refresh(): Promise<StoredTokens>;
  isSignedIn(): Promise<boolean>;
  /** Current tokens (for a worker that forwards its access token, say), renewed if near expiry. */
  accessToken(): Promise<string | null>;
  /** Told once per ended session, with the reason. Returns an unsubscribe function. */
  onSessionEnded(listener: (event: SessionEndedEvent) => void): () => void;
}

const DEFAULT_REFRESH_MARGIN_MS = 30_000;
const DEFAULT_REFRESH_TIMEOUT_MS = 10_000;

export function createWardenClient(options: WardenClientOptions): WardenClient {
  const url = options.url.replace(/\/+$/, "");
  const baseFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const cookieMode = options.store.mode === "cookie";
  const session = sessionFor({
    url,
    store: options.store,
    refreshMarginMs: options.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS,
    fetch: baseFetch,
    headers: options.headers ?? {},
    now: options.now ?? Date.now,
    refreshTimeoutMs: options.refreshTimeoutMs ?? DEFAULT_REFRESH_TIMEOUT_MS,
  });
  // Cookie mode: the browser must send and accept the refresh cookie.
  const fetchForLink: typeof globalThis.fetch = cookieMode
    ? (input, init) => baseFetch(input, { ...init, credentials: "include" })
    : baseFetch;

  const api = createTRPCClient<AppRouter>({
    links: [
      renewalLink(session),
      httpBatchLink({
        url: `${url}/trpc`,
        fetch: fetchForLink,
        // Batched GETs carry every input in the URL: split before proxies and Node refuse it.
        maxURLLength: 4_000,
        headers: ({ opList }) => {
          const headers: Record<string, string> = { ...options.headers };
          if (cookieMode) headers[COOKIE_HEADER] = "1";
          // Ops batched together got their tokens at the same moment: any one will do.
          for (const op of opList) {
            const token = accessTokenOf(op);
            if (token) {
              headers.authorization = `Bearer ${token}`;
              break;
            }
          }
          return headers;
        },
      }),
    ],
  });

  const signIn = async <T extends SignupResult>(result: T): Promise<T> => {
    // No session yet (the email must be verified first): the store keeps what it had.
    if (!("verificationRequired" in result)) await session.start(result, result.user);
    return result;
  };

  return {
    api,
    signup: async (input) => signIn(await api.auth.signup.mutate(input)),
    login: async (input) => signIn(await api.auth.login.mutate(input)),
    async logout() {
      try {
        if (!session.endedError && (await session.tokens())) await api.auth.logout.mutate({});
      } catch (error) {
        // Already over at the server (revoked, expired): signing out locally is all that is left.
        const reason = toWardenError(error).reason;
        if (reason === "UNAVAILABLE" || reason === "RATE_LIMITED") throw toWardenError(error);
      } finally {
        await session.clear();
      }
    },
    refresh: async () => session.renew((await session.tokens())?.accessToken, true),
    isSignedIn: async () => !session.endedError && (await session.tokens()) !== null,
    accessToken: () => session.accessToken(),
    onSessionEnded: (listener) => session.onEnded(listener),
  };
}
