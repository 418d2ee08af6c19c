import { useEffect, useState } from "react";
import { formatTime, messageOf, warden } from "./warden.js";

type Page = Awaited<ReturnType<typeof warden.api.admin.audit.query>>;
const REFRESH_MS = 3000;

/** Applied revocations, newest first; refreshes itself while open. */
export function AuditView() {
  const [items, setItems] = useState<Page["items"]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    let stopped = false;
    const load = () =>
      warden.api.admin.audit.query({ limit: 50 }).then(
        (page) => {
          if (stopped) return;
          setItems((old) => {
            // Keep older pages already loaded; put the newest page on top.
            const seen = new Set(page.items.map((i) => i.id));
            return [...page.items, ...old.filter((i) => !seen.has(i.id) && Number(i.id) < Number(page.items.at(-1)?.id ?? 0))];
          });
          setCursor((c) => c ?? page.nextCursor);
          setError(undefined);
        },
        (e: unknown) => !stopped && setError(messageOf(e)),
      );
    void load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);

  const more = async () => {
    if (!cursor) return;
    const page = await warden.api.admin.audit.query({ limit: 50, cursor });
    setItems((old) => [...old, ...page.items]);
    setCursor(page.nextCursor);
  };

  return (
    <section>
      <h2>Audit log</h2>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <table className="stack" data-testid="audit">
        <thead>
          <tr>
            <th>Time</th>
            <th>Type</th>
            <th>User</th>
            <th>Sessions</th>
            <th>Actor</th>
            <th>Reason</th>
            <th>Applied</th>
          </tr>
        </thead>
        <tbody>
          {items.length === 0 && (
            <tr>
              <td colSpan={7} className="muted empty">
                Nothing yet.
              </td>
            </tr>
          )}
          {items.map((i) => (
            <tr key={i.id} data-event-id={i.eventId}>
              <td data-label="Time">{formatTime(i.occurredAt)}</td>
              <td data-label="Type">
                <code>{i.type}</code>
              </td>
              <td data-label="User">
                <code>{i.userId ?? "–"}</code>
              </td>
              <td data-label="Sessions">{i.sessionsRevoked}</td>
              <td data-label="Actor">
                {i.actor.type}
                {i.actor.id ? ` ${i.actor.id.slice(0, 8)}` : ""}
              </td>
              <td data-label="Reason">{i.reason}</td>
              <td data-label="Applied">{formatTime(i.appliedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {cursor && (
        <button onClick={() => void more()} className="small">
          Older entries
        </button>
      )}
    </section>
  );
}
