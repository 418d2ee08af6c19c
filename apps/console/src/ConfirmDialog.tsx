import { useLayoutEffect, useRef, useState, type FormEvent } from "react";

/**
 * "Are you sure?" as a modal <dialog>: focus stays inside it, Escape cancels, and focus goes back to
 * the button that opened it. It asks for the reason the audit log keeps (unless `withReason` is
 * false: webhook changes take none), for accounts an optional lock, and for what cannot be undone
 * the text to type (`confirmText`, e.g. the email of the account to delete).
 */
export function ConfirmDialog(props: {
  title: string;
  description: string;
  confirmLabel: string;
  withReason?: boolean;
  withLock?: boolean;
  confirmText?: string;
  tone?: "danger" | "primary";
  onConfirm(input: { reason: string; lock: boolean }): Promise<void>;
  onCancel(): void;
}) {
  const withReason = props.withReason ?? true;
  const [reason, setReason] = useState("");
  const [typed, setTyped] = useState("");
  const [lock, setLock] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const dialog = useRef<HTMLDialogElement>(null);

  // Layout effects: opened before the first paint, closed before React removes it from the page.
  useLayoutEffect(() => {
    const element = dialog.current;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : undefined;
    if (element && !element.open) element.showModal();
    return () => {
      element?.close();
      // Back to the button that opened it, for keyboard users (a no-op when that button is gone).
      opener?.focus();
    };
  }, []);

  const typedMatches = props.confirmText === undefined || typed.trim().toLowerCase() === props.confirmText.toLowerCase();
  const ready = !busy && (!withReason || reason.trim() !== "") && typedMatches;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!ready) return;
    setBusy(true);
    try {
      await props.onConfirm({ reason: reason.trim(), lock });
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setBusy(false);
    }
  };

  return (
    <dialog
      ref={dialog}
      className="card dialog"
      aria-label={props.title}
      onCancel={(event) => {
        // Escape: the dialog closes through React (onCancel), never on its own under a pending call.
        event.preventDefault();
        if (!busy) props.onCancel();
      }}
    >
      <form className="stack" onSubmit={submit}>
        <h2>{props.title}</h2>
        <p>{props.description}</p>
        {withReason && (
          <label>
            Reason (kept in the audit log)
            <input name="reason" required maxLength={500} value={reason} onChange={(e) => setReason(e.target.value)} />
          </label>
        )}
        {props.confirmText !== undefined && (
          <label>
            Type {props.confirmText} to confirm
            <input
              name="confirm-text"
              autoComplete="off"
              spellCheck={false}
              value={typed}
              onChange={(e) => setTyped(e.target.value)}
            />
          </label>
        )}
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
          <button type="submit" className={props.tone ?? "danger"} disabled={!ready}>
            {props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
