import { useEffect, useState } from "react";
import { messageOf, warden } from "./warden.js";

const POLL_MS = 250;

/** Follows one revocation event from pending to applied, and says how long it took. */
export function RevocationStatus(props: { eventId: string; startedAt: number; label: string; onApplied?(): void }) {
  const [status, setStatus] = useState<{ state: "pending" | "applied" | "error"; ms: number; error?: string }>({
    state: "pending",
    ms: 0,
  });
  const { eventId, startedAt, onApplied } = props;

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const result = await warden.api.admin.revocation.query({ eventId });
        if (stopped) return;
        const ms = Date.now() - startedAt;
        if (result.status === "applied") {
          setStatus({ state: "applied", ms });
          onApplied?.();
          return;
        }
        setStatus({ state: "pending", ms });
      } catch (e) {
        if (!stopped) setStatus({ state: "error", ms: Date.now() - startedAt, error: messageOf(e) });
        return;
      }
      timer = setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
    // onApplied changes identity each render; following one event once is what matters.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [eventId, startedAt]);

  return (
    <div className={`revocation ${status.state}`} data-testid="revocation-status" data-state={status.state} role="status">
      <span className="badge">{status.state}</span> {props.label} — event <code>{eventId}</code>
      {status.state === "pending" && <> (waiting {status.ms} ms)</>}
      {status.state === "applied" && <> applied in {status.ms} ms</>}
      {status.state === "error" && <> {status.error}</>}
    </div>
  );
}
