import { useState, type FormEvent } from "react";
import { messageOf, reasonOf, warden } from "./warden.js";

export function LoginForm(props: { notice?: string | undefined; onSignedIn(me: { email: string; role: string }): void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [forgot, setForgot] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const { user } = await warden.login({ email, password, deviceName: "Warden console" });
      if (user.role !== "admin") {
        await warden.logout();
        setError("This account is not an admin.");
        return;
      }
      props.onSignedIn(user);
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };

  if (forgot) return <ForgotPasswordForm email={email} onBack={() => setForgot(false)} />;

  return (
    <main className="centered">
      <form className="card login" onSubmit={submit} aria-label="Sign in">
        <h1>Warden console</h1>
        {props.notice && <p className="notice">{props.notice}</p>}
        <label>
          Email
          <input
            name="email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <button type="button" className="link" onClick={() => setForgot(true)}>
          Forgot password?
        </button>
      </form>
    </main>
  );
}

/** Asks for a reset email. The server answers the same whether or not the account exists, and so does this. */
function ForgotPasswordForm(props: { email: string; onBack(): void }) {
  const [email, setEmail] = useState(props.email);
  const [sentTo, setSentTo] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await warden.api.auth.requestPasswordReset.mutate({ email });
      setSentTo(email.trim());
    } catch (e) {
      setError(reasonOf(e) === "VALIDATION_FAILED" ? "Enter the email address of your account." : messageOf(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="centered">
      <form className="card login" onSubmit={submit} aria-label="Reset password">
        <h1>Reset your password</h1>
        {sentTo === undefined ? (
          <p className="muted">We will email you a link to set a new password.</p>
        ) : (
          <p className="success" role="status">
            If an account exists for {sentTo}, an email is on its way with a link to set a new password. The link works once, for
            30 minutes.
          </p>
        )}
        <label>
          Email
          <input
            name="email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Sending…" : sentTo === undefined ? "Send reset link" : "Send again"}
        </button>
        <button type="button" className="link" onClick={props.onBack}>
          Back to sign in
        </button>
      </form>
    </main>
  );
}
