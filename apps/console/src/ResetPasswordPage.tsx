import { useState, type FormEvent } from "react";
import { CONSOLE_HOME } from "./pages.js";
import { issuesOf, messageOf, reasonOf, warden } from "./warden.js";

type State = { phase: "form"; error?: string } | { phase: "busy" } | { phase: "done" } | { phase: "over"; message: string };

const LINK_INCOMPLETE = "This link is incomplete. Open it from the email again, or copy all of it into the address bar.";
const LINK_OVER = "This link has expired or was already used. Ask for a new one with “Forgot password?” on the sign-in page.";

/** Why a reset was refused, in words the person holding the link can act on. */
function refusal(error: unknown): State {
  const reason = reasonOf(error);
  if (reason === "ONE_TIME_TOKEN_INVALID") return { phase: "over", message: LINK_OVER };
  if (reason === "ACCOUNT_LOCKED")
    return { phase: "over", message: "This account is locked: its password cannot be reset. Ask an administrator." };
  if (reason === "VALIDATION_FAILED") {
    const issues = issuesOf(error);
    if (issues.some((i) => i.path === "token")) return { phase: "over", message: LINK_INCOMPLETE };
    const password = issues.find((i) => i.path === "newPassword");
    if (password) return { phase: "form", error: `The new password ${password.message}.` };
  }
  return { phase: "form", error: messageOf(error) };
}

/** The page a reset email links to: a new password, twice; every session of the account ends. */
export function ResetPasswordPage(props: { token: string | undefined }) {
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [state, setState] = useState<State>(props.token ? { phase: "form" } : { phase: "over", message: LINK_INCOMPLETE });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!props.token) return;
    if (password !== again) return setState({ phase: "form", error: "The two passwords differ. Type the same one twice." });
    setState({ phase: "busy" });
    try {
      await warden.api.auth.resetPassword.mutate({ token: props.token, newPassword: password });
      setState({ phase: "done" });
    } catch (e) {
      setState(refusal(e));
    }
  };

  return (
    <main className="centered">
      <section className="card narrow" aria-label="Set a new password">
        <h1>Set a new password</h1>
        {state.phase === "done" ? (
          <>
            <p role="status" data-testid="reset-result" data-state="done">
              Your password is set. Every session of your account was signed out: sign in again with the new password.
            </p>
            <a href={CONSOLE_HOME}>Go to sign-in</a>
          </>
        ) : state.phase === "over" ? (
          <>
            <p className="error" role="alert" data-testid="reset-result" data-state="over">
              {state.message}
            </p>
            <a href={CONSOLE_HOME}>Go to sign-in</a>
          </>
        ) : (
          <form className="stack" onSubmit={submit}>
            <label>
              New password
              <input
                name="new-password"
                type="password"
                autoComplete="new-password"
                required
                autoFocus
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            </label>
            <label>
              New password again
              <input
                name="new-password-again"
                type="password"
                autoComplete="new-password"
                required
                value={again}
                onChange={(e) => setAgain(e.target.value)}
              />
            </label>
            {state.phase === "form" && state.error && (
              <p className="error" role="alert">
                {state.error}
              </p>
            )}
            <button type="submit" className="primary" disabled={state.phase === "busy"}>
              {state.phase === "busy" ? "Setting…" : "Set password"}
            </button>
          </form>
        )}
      </section>
    </main>
  );
}
