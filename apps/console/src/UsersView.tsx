import { useState, type FormEvent } from "react";
import { ConfirmDialog } from "./ConfirmDialog.js";
import { RevocationStatus } from "./RevocationStatus.js";
import { ago, formatTime, messageOf, warden } from "./warden.js";

type Found = Awaited<ReturnType<typeof warden.api.admin.users.find.query>>;
type Session = Found["sessions"][number];
type Pending = { kind: "user" } | { kind: "session"; session: Session };
type Tracked = { eventId: string; startedAt: number; label: string };

export function UsersView() {
  const [email, setEmail] = useState("");
  const [found, setFound] = useState<Found | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [confirm, setConfirm] = useState<Pending | undefined>();
  const [tracked, setTracked] = useState<Tracked[]>([]);

  const load = async (by: { email: string } | { userId: string }) => {
    try {
      setFound(await warden.api.admin.users.find.query(by));
      setError(undefined);
    } catch (e) {
      setFound(undefined);
      setError(messageOf(e) === "Not found." ? "No user with that email." : messageOf(e));
    }
  };
  const search = (event: FormEvent) => {
    event.preventDefault();
    setTracked([]);
    void load({ email });
  };
  const reload = () => found && void load({ userId: found.user.id });

  const revoke = async ({ reason, lock }: { reason: string; lock: boolean }) => {
    if (!found || !confirm) return;
    const startedAt = Date.now();
    try {
      const { eventId } =
        confirm.kind === "user"
          ? await warden.api.admin.revokeUser.mutate({ userId: found.user.id, reason, lock })
          : await warden.api.admin.revokeSession.mutate({ sessionId: confirm.session.id, reason });
      const label =
        confirm.kind === "user"
          ? `All sessions of ${found.user.email}${lock ? " (account locked)" : ""}`
          : `Session ${confirm.session.deviceName ?? confirm.session.id}`;
      setTracked((t) => [{ eventId, startedAt, label }, ...t]);
      setConfirm(undefined);
      reload();
    } catch (e) {
      throw new Error(messageOf(e), { cause: e });
    }
  };

  return (
    <section>
      <form className="search" onSubmit={search} role="search">
        <input
          name="search"
          type="search"
          placeholder="user@example.com"
          aria-label="Find a user by email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          required
        />
        <button type="submit" className="primary">
          Find user
        </button>
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {tracked.map((t) => (
        <RevocationStatus key={t.eventId} {...t} onApplied={reload} />
      ))}
      {found && (
        <div className="card" data-testid="user-card">
          <div className="user-head">
            <div>
              <h2>{found.user.email}</h2>
              <p className="muted">
                id <code>{found.user.id}</code> · role <strong>{found.user.role}</strong> · created{" "}
                {formatTime(found.user.createdAt)}
              </p>
            </div>
            <span className={found.user.locked ? "badge locked" : "badge ok"} data-testid="lock-state">
              {found.user.locked ? "locked" : "not locked"}
            </span>
            <button className="danger" onClick={() => setConfirm({ kind: "user" })}>
              Revoke all sessions…
            </button>
          </div>
          <table className="stack" data-testid="sessions">
            <thead>
              <tr>
                <th>Device</th>
                <th>IP</th>
                <th>Last seen</th>
                <th>Created</th>
                <th>State</th>
                <th>
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {found.sessions.length === 0 && (
                <tr>
                  <td colSpan={6} className="muted empty">
                    No sessions.
                  </td>
                </tr>
              )}
              {found.sessions.map((s) => (
                <tr key={s.id} data-session-id={s.id}>
                  <td data-label="Device" title={s.userAgent ?? ""}>
                    {s.deviceName ?? "(unnamed)"}
                  </td>
                  <td data-label="IP">{s.ip ?? "–"}</td>
                  <td data-label="Last seen" title={formatTime(s.lastSeenAt)}>
                    {ago(s.lastSeenAt)}
                  </td>
                  <td data-label="Created">{formatTime(s.createdAt)}</td>
                  <td data-label="State" className="state">
                    {s.active ? "active" : s.revokedAt ? "revoked" : "expired"}
                  </td>
                  <td className="row-actions">
                    {s.active && (
                      <button className="small" onClick={() => setConfirm({ kind: "session", session: s })}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {confirm && found && (
        <ConfirmDialog
          title={confirm.kind === "user" ? `Revoke every session of ${found.user.email}?` : "Revoke this session?"}
          description={
            confirm.kind === "user"
              ? "Every device of this user is signed out: refresh tokens stop working now, access tokens are refused within milliseconds."
              : `The session on ${confirm.session.deviceName ?? "this device"} (${confirm.session.ip ?? "unknown IP"}) is signed out.`
          }
          confirmLabel={confirm.kind === "user" ? "Revoke all sessions" : "Revoke session"}
          withLock={confirm.kind === "user"}
          onConfirm={revoke}
          onCancel={() => setConfirm(undefined)}
        />
      )}
    </section>
  );
}
