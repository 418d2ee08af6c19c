import { useCallback, useEffect, useState } from "react";
import { ConfirmDialog } from "./ConfirmDialog.js";
import { RevocationStatus } from "./RevocationStatus.js";
import { ago, formatTime, messageOf, warden } from "./warden.js";

type Found = Awaited<ReturnType<typeof warden.api.admin.users.find.query>>;
type User = Found["user"];
type Session = Found["sessions"][number];
type Action = "revoke" | "unlock" | "promote" | "demote" | "delete";
type Pending = { kind: Action } | { kind: "session"; session: Session };
type Tracked = { eventId: string; startedAt: number; label: string };

/** What each account action asks before it is done. */
function describeAction(kind: Action, user: User) {
  switch (kind) {
    case "revoke":
      return {
        title: `Revoke every session of ${user.email}?`,
        description:
          "Every device of this user is signed out: refresh tokens stop working now, access tokens are refused within milliseconds.",
        confirmLabel: "Revoke all sessions",
      };
    case "unlock":
      return {
        title: `Unlock ${user.email}?`,
        description: "The account can sign in again. Its revoked sessions stay revoked.",
        confirmLabel: "Unlock",
        tone: "primary" as const,
      };
    case "promote":
      return {
        title: `Make ${user.email} an admin?`,
        description: "They can manage every user, read the audit log and manage webhooks, from their next token renewal on.",
        confirmLabel: "Promote to admin",
        tone: "primary" as const,
      };
    case "demote":
      return {
        title: `Make ${user.email} a plain user?`,
        description: "Their admin calls are refused at once, on every server.",
        confirmLabel: "Demote to user",
      };
    case "delete":
      return {
        title: `Delete ${user.email}?`,
        description:
          "Every session is revoked and the account's personal data erased (email, password, devices, addresses). This cannot be undone; the email can sign up again.",
        confirmLabel: "Delete user",
        confirmText: user.email,
      };
  }
}

/** What a change that ends with the user still there says once it is done. */
const DONE: Partial<Record<Action, (email: string) => string>> = {
  unlock: (email) => `${email} can sign in again.`,
  promote: (email) => `${email} is now an admin.`,
  demote: (email) => `${email} is now a plain user.`,
};

/** One user: role, lock, sessions, and the changes an admin can make, each behind a confirmation with a reason. */
export function UserDetail(props: { userId: string; onBack(): void; onDeleted(deleted: Tracked): void }) {
  const { userId, onDeleted } = props;
  const [found, setFound] = useState<Found | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const [confirm, setConfirm] = useState<Pending | undefined>();
  const [tracked, setTracked] = useState<Tracked[]>([]);

  const reload = useCallback(
    () =>
      warden.api.admin.users.find.query({ userId }).then(
        (result) => {
          setFound(result);
          setError(undefined);
        },
        (e: unknown) => setError(messageOf(e)),
      ),
    [userId],
  );
  useEffect(() => {
    void reload();
  }, [reload]);

  if (!found) {
    return (
      <section>
        <button className="link" onClick={props.onBack}>
          ← All users
        </button>
        {error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : (
          <p className="muted">Loading…</p>
        )}
      </section>
    );
  }
  const { user, sessions } = found;

  const apply = async ({ reason, lock }: { reason: string; lock: boolean }) => {
    if (!confirm) return;
    const startedAt = Date.now();
    try {
      switch (confirm.kind) {
        case "session": {
          const { eventId } = await warden.api.admin.revokeSession.mutate({ sessionId: confirm.session.id, reason });
          setTracked((t) => [{ eventId, startedAt, label: `Session ${confirm.session.deviceName ?? confirm.session.id}` }, ...t]);
          break;
        }
        case "revoke": {
          const { eventId } = await warden.api.admin.revokeUser.mutate({ userId, reason, lock });
          const label = `All sessions of ${user.email}${lock ? " (account locked)" : ""}`;
          setTracked((t) => [{ eventId, startedAt, label }, ...t]);
          break;
        }
        case "unlock":
          await warden.api.admin.unlockUser.mutate({ userId, reason });
          break;
        case "promote":
        case "demote":
          await warden.api.admin.setRole.mutate({ userId, role: confirm.kind === "promote" ? "admin" : "user", reason });
          break;
        case "delete": {
          const { eventId } = await warden.api.admin.deleteUser.mutate({ userId, reason });
          setConfirm(undefined);
          return onDeleted({ eventId, startedAt, label: `All sessions of ${user.email} (account deleted)` });
        }
      }
    } catch (e) {
      throw new Error(messageOf(e), { cause: e });
    }
    // The account as it is now first, then the sentence that says so, and the dialog closes.
    await reload();
    setNotice(confirm.kind === "session" ? undefined : DONE[confirm.kind]?.(user.email));
    setConfirm(undefined);
  };

  const ask = (kind: Action) => () => {
    setNotice(undefined);
    setConfirm({ kind });
  };

  return (
    <section aria-label={`User ${user.email}`}>
      <button className="link" onClick={props.onBack}>
        ← All users
      </button>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {notice && (
        <p className="success" role="status" data-testid="user-notice">
          {notice}
        </p>
      )}
      {tracked.map((t) => (
        <RevocationStatus key={t.eventId} {...t} onApplied={() => void reload()} />
      ))}
      <div className="card" data-testid="user-card">
        <div className="user-head">
          <div>
            <h2>{user.email}</h2>
            <p className="muted">
              id <code>{user.id}</code> · role <strong data-testid="role">{user.role}</strong> · email{" "}
              {user.emailVerified ? "verified" : "not verified"} · created {formatTime(user.createdAt)}
            </p>
          </div>
          <span className={user.locked ? "badge locked" : "badge ok"} data-testid="lock-state">
            {user.locked ? "locked" : "not locked"}
          </span>
        </div>
        <div className="user-actions" role="group" aria-label="Account actions">
          {user.locked && <button onClick={ask("unlock")}>Unlock…</button>}
          {user.role === "user" ? (
            <button onClick={ask("promote")}>Promote to admin…</button>
          ) : (
            <button onClick={ask("demote")}>Demote to user…</button>
          )}
          <button className="danger" onClick={ask("revoke")}>
            Revoke all sessions…
          </button>
          <button className="danger" onClick={ask("delete")}>
            Delete user…
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
            {sessions.length === 0 && (
              <tr>
                <td colSpan={6} className="muted empty">
                  No sessions.
                </td>
              </tr>
            )}
            {sessions.map((s) => (
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
      {confirm?.kind === "session" && (
        <ConfirmDialog
          title="Revoke this session?"
          description={`The session on ${confirm.session.deviceName ?? "this device"} (${confirm.session.ip ?? "unknown IP"}) is signed out.`}
          confirmLabel="Revoke session"
          onConfirm={apply}
          onCancel={() => setConfirm(undefined)}
        />
      )}
      {confirm && confirm.kind !== "session" && (
        <ConfirmDialog
          {...describeAction(confirm.kind, user)}
          withLock={confirm.kind === "revoke"}
          onConfirm={apply}
          onCancel={() => setConfirm(undefined)}
        />
      )}
    </section>
  );
}
