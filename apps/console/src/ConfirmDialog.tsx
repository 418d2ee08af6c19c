import { useState, type FormEvent } from "react";

/** "Are you sure?" with the reason the audit log keeps, and for accounts an optional lock. */
export function ConfirmDialog(props: {
  title: string;
  description: string;
  confirmLabel: string;
  withLock?: boolean;
  onConfirm(input: { reason: string; lock: boolean }): Promise<void>;
  onCancel(): void;
}) {
  const [reason, setReason] = useState("");
  const [lock, setLock] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      await props.onConfirm({ reason: reason.trim(), lock });
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setBusy(false);
    }
  };

  return (
    <div className="backdrop">
      <form className="card dialog" role="dialog" aria-modal="true" aria-label={props.title} onSubmit={submit}>
        <h2>{props.title}</h2>
        <p>{props.description}</p>
        <label>
          Reason (kept in the audit log)
          <input name="reason" required maxLength={500} value={reason} onChange={(e) => setReason(e.target.value)} autoFocus />
        </label>
        {props.withLock && (
          <label className="check">
            <input type="checkbox" name="lock" checked={lock} onChange={(e) => setLock(e.target.checked)} /> Also lock the account
            (no new sign-in)
          </label>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={props.onCancel} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={busy || reason.trim() === ""}>
            {props.confirmLabel}
          </button>
        </div>
      </form>
    </div>
  );
}
