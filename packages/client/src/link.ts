import type { Operation, TRPCLink } from "@trpc/client";
import type { AppRouter } from "@warden/api";
import { observable } from "@trpc/server/observable";
import { PUBLIC_PROCEDURES } from "@warden/contracts/procedures";
import { isSessionEndingReason, toWardenError } from "./errors.js";
import type { Session } from "./session.js";

/** Procedures that take no access token: sent without one, never renewed for (the router's list, checked by a test in packages/api). */
const PUBLIC_PATHS: ReadonlySet<string> = new Set(PUBLIC_PROCEDURES);
/** Answers that a fresh access token may cure: renew once and replay. */
const RENEWABLE = new Set(["TOKEN_EXPIRED", "TOKEN_INVALID"]);

interface RenewalContext {
  accessToken?: string;
}

export function accessTokenOf(op: Operation): string | undefined {
  return (op.context as RenewalContext).accessToken;
}

/**
 * Before a call: an access token good for the margin (renewing first if not). After: a call
 * refused with TOKEN_EXPIRED (or TOKEN_INVALID, e.g. after a key rotation) is renewed once and
 * replayed; a session-ending answer ends the session. Every error leaves as a WardenError.
 */
export function renewalLink(session: Session): TRPCLink<AppRouter> {
  return () =>
    ({ op, next }) =>
      observable((observer) => {
        let unsubscribe: (() => void) | undefined;
        let closed = false;
        const isPublic = PUBLIC_PATHS.has(op.path);

        const fail = (error: unknown) => observer.error(toWardenError(error));
        const send = (accessToken: string | null, replayed: boolean) => {
          if (closed) return;
          const attempt: Operation = { ...op, context: { ...op.context, accessToken: accessToken ?? undefined } };
          const subscription = next(attempt).subscribe({
            next: (value) => observer.next(value),
            complete: () => observer.complete(),
            error: (raw) => {
              const error = toWardenError(raw);
              if (isPublic || !accessToken) return observer.error(error);
              if (RENEWABLE.has(error.reason) && !replayed) {
                session.renew(accessToken, true).then((t) => send(t.accessToken, true), fail);
                return;
              }
              if (isSessionEndingReason(error.reason)) {
                session.endFor(accessToken, error.reason, error).then(fail, fail);
                return;
              }
              observer.error(error);
            },
          });
          unsubscribe = () => subscription.unsubscribe();
        };

        if (isPublic) send(null, false);
        else session.accessToken().then((token) => send(token, false), fail);

        return () => {
          closed = true;
          unsubscribe?.();
        };
      });
}
