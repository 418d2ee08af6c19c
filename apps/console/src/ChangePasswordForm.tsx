import { useState, type FormEvent } from "react";
import { issuesOf, messageOf, reasonOf, warden } from "./warden.js";

const FIELD_NAMES: Record<string, string> = { currentPassword: "The current password", newPassword: "The new password" };

function refusal(error: unknown): string {
  const reason = reasonOf(error);
  // Only the password typed was wrong: this session goes on.
  if (reason === "INVALID_CREDENTIALS") return "The current password is wrong.";
  if (reason === "VALIDATION_FAILED") {
    const issue = issuesOf(error)[0];
    if (issue) return `${FIELD_NAMES[issue.path] ?? issue.path} ${issue.message}.`;
  }
  return messageOf(error);
}

/** The signed-in admin's password: every other session of the account ends, this one stays. */
export function ChangePasswordForm() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ error: string } | { revokedSessions: number } | undefined>();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (next !== again) return setResult({ error: "The two new passwords differ. Type the same one twice." });
    setBusy(true);
    setResult(undefined);
    try {
      const { revokedSessions } = await warden.api.auth.changePassword.mutate({ currentPassword: current, newPassword: next });
      setResult({ revokedSessions });
      setCurrent("");
      setNext("");
      setAgain("");
    } catch (e) {
      setResult({ error: refusal(e) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card narrow">
      <form className="stack" onSubmit={submit} aria-label="Change password">
        <h2>Change password</h2>
        <p className="muted">Every other session of your account is signed out; this one stays signed in.</p>
        <label>
          Current password
          <input
            name="current-password"
            type="password"
            autoComplete="current-password"
            required
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
          />
        </label>
        <label>
          New password
          <input
            name="new-password"
            type="password"
            autoComplete="new-password"
            required
            value={next}
            onChange={(e) => setNext(e.target.value)}
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
        {result && "error" in result && (
          <p className="error" role="alert">
            {result.error}
          </p>
        )}
        {result && "revokedSessions" in result && (
          <p className="success" role="status" data-testid="password-changed">
            Password changed.{" "}
            {result.revokedSessions === 1
              ? "1 other session was signed out"
              : `${result.revokedSessions} other sessions were signed out`}
            ; this one stays signed in.
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Changing…" : "Change password"}
        </button>
      </form>
    </section>
  );
}
