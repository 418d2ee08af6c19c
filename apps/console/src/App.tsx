import { useEffect, useState } from "react";
import { AuditView } from "./AuditView.js";
import { ChangePasswordForm } from "./ChangePasswordForm.js";
import { LoginForm } from "./LoginForm.js";
import { UsersView } from "./UsersView.js";
import { WebhooksView } from "./WebhooksView.js";
import { messageOf, warden } from "./warden.js";

type Me = { email: string; role: string };
type State = { phase: "loading" } | { phase: "signedOut"; notice?: string } | { phase: "signedIn"; me: Me };

export function App() {
  const [state, setState] = useState<State>({ phase: "loading" });
  const [tab, setTab] = useState<"users" | "audit" | "webhooks" | "account">("users");

  useEffect(() => {
    // After a reload the refresh cookie may still hold a session: resume it, else show the login.
    let cancelled = false;
    warden
      .refresh()
      .then(() => warden.api.auth.me.query())
      .then(
        ({ user }) => !cancelled && setState(user.role === "admin" ? { phase: "signedIn", me: user } : { phase: "signedOut" }),
      )
      .catch(() => !cancelled && setState({ phase: "signedOut" }));
    const off = warden.onSessionEnded(({ reason }) =>
      setState({ phase: "signedOut", notice: `Your session ended (${reason}). Sign in again.` }),
    );
    return () => {
      cancelled = true;
      off();
    };
  }, []);

  if (state.phase === "loading") return <main className="centered">Loading…</main>;
  if (state.phase === "signedOut")
    return <LoginForm notice={state.notice} onSignedIn={(me) => setState({ phase: "signedIn", me })} />;

  return (
    <div className="layout">
      <header>
        <strong>Warden console</strong>
        <nav>
          <button className={tab === "users" ? "tab active" : "tab"} onClick={() => setTab("users")} data-testid="tab-users">
            Users
          </button>
          <button className={tab === "audit" ? "tab active" : "tab"} onClick={() => setTab("audit")} data-testid="tab-audit">
            Audit log
          </button>
          <button
            className={tab === "webhooks" ? "tab active" : "tab"}
            onClick={() => setTab("webhooks")}
            data-testid="tab-webhooks"
          >
            Webhooks
          </button>
          <button
            className={tab === "account" ? "tab active" : "tab"}
            onClick={() => setTab("account")}
            data-testid="tab-account"
          >
            Account
          </button>
        </nav>
        <span className="who" data-testid="whoami">
          {state.me.email}
        </span>
        <button
          className="signout"
          onClick={() =>
            warden.logout().then(
              () => setState({ phase: "signedOut" }),
              (e: unknown) => alert(messageOf(e)),
            )
          }
        >
          Sign out
        </button>
      </header>
      <main>
        {tab === "users" ? (
          <UsersView />
        ) : tab === "audit" ? (
          <AuditView />
        ) : tab === "webhooks" ? (
          <WebhooksView />
        ) : (
          <ChangePasswordForm />
        )}
      </main>
    </div>
  );
}
