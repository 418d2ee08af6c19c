import { useState, type FormEvent } from "react";
import { messageOf, warden } from "./warden.js";

export function LoginForm(props: { notice?: string | undefined; onSignedIn(me: { email: string; role: string }): void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

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
      </form>
    </main>
  );
}
