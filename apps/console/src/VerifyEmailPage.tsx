import { useEffect, useState } from "react";
import { CONSOLE_HOME } from "./pages.js";
import { messageOf, reasonOf, warden } from "./warden.js";

type State = { phase: "verifying" } | { phase: "verified" } | { phase: "failed"; message: string };

/** One call per token, however often the page mounts (React's development mode mounts twice): a second would find it used. */
const verifications = new Map<string, Promise<unknown>>();
function verifyOnce(token: string): Promise<unknown> {
  let verification = verifications.get(token);
  if (!verification) {
    verification = warden.api.auth.verifyEmail.mutate({ token });
    verifications.set(token, verification);
  }
  return verification;
}

const LINK_INCOMPLETE = "This link is incomplete. Open it from the email again, or copy all of it into the address bar.";

function failure(error: unknown): string {
  const reason = reasonOf(error);
  if (reason === "ONE_TIME_TOKEN_INVALID")
    return "This link has expired or was already used. If your email is not verified yet, sign in and ask for a new link.";
  if (reason === "VALIDATION_FAILED") return LINK_INCOMPLETE;
  return messageOf(error);
}

/** The page a verification email links to: the email is verified as the page loads. */
export function VerifyEmailPage(props: { token: string | undefined }) {
  const [state, setState] = useState<State>(props.token ? { phase: "verifying" } : { phase: "failed", message: LINK_INCOMPLETE });

  useEffect(() => {
    if (!props.token) return;
    let current = true;
    verifyOnce(props.token).then(
      () => current && setState({ phase: "verified" }),
      (e: unknown) => current && setState({ phase: "failed", message: failure(e) }),
    );
    return () => {
      current = false;
    };
  }, [props.token]);

  return (
    <main className="centered">
      <section className="card narrow" aria-label="Verify your email address">
        <h1>Verify your email address</h1>
        {state.phase === "verifying" && (
          <p role="status" data-testid="verify-result" data-state="verifying">
            Verifying…
          </p>
        )}
        {state.phase === "verified" && (
          <p role="status" data-testid="verify-result" data-state="verified">
            Your email address is verified. You can close this page.
          </p>
        )}
        {state.phase === "failed" && (
          <p className="error" role="alert" data-testid="verify-result" data-state="failed">
            {state.message}
          </p>
        )}
        <a href={CONSOLE_HOME}>Go to sign-in</a>
      </section>
    </main>
  );
}
