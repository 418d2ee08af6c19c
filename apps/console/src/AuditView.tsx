import { useEffect, useState, type FormEvent } from "react";
import { AUDIT_TYPES, type AuditType } from "@warden/contracts/event-types";
import { formatTime, reasonOf, refusalOf, warden } from "./warden.js";

type Page = Awaited<ReturnType<typeof warden.api.admin.audit.query>>;
type Entry = Page["items"][number];
const PAGE_SIZE = 50;
const REFRESH_MS = 3000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What the form holds: a user's email or id, a type, and datetime-local values (local time). */
interface Draft {
  user: string;
  type: "" | AuditType;
  from: string;
  to: string;
}
const EMPTY: Draft = { user: "", type: "", from: "", to: "" };
/** admin.audit's filters, as applied. */
type Filter = { userId?: string; type?: AuditType; from?: number; to?: number };

/** The form's filters as admin.audit takes them: an email is looked up to its account's id. */
async function filterOf(draft: Draft): Promise<Filter> {
  const user = draft.user.trim();
  let userId: string | undefined;
  if (UUID.test(user)) userId = user.toLowerCase();
  else if (user) {
    userId = await warden.api.admin.users.find.query({ email: user }).then(
      (found) => found.user.id,
      (e: unknown) => {
        throw new Error(reasonOf(e) === "NOT_FOUND" ? "No user with that email." : refusalOf(e, { email: "The email" }), {
          cause: e,
        });
      },
    );
  }
  return {
    ...(userId ? { userId } : {}),
    ...(draft.type ? { type: draft.type } : {}),
    ...(draft.from ? { from: new Date(draft.from).getTime() } : {}),
    ...(draft.to ? { to: new Date(draft.to).getTime() } : {}),
  };
}

/** The account an entry is about: its email, or that it was deleted. */
function UserCell({ user }: { user: Entry["user"] }) {
  if (!user) return <>–</>;
  if (user.email) return <>{user.email}</>;
  return (
    <span className="muted" title={user.id}>
      {user.deleted ? "deleted user" : user.id}
    </span>
  );
}

/**
 * The audit log, newest first, filtered by user (email or id), type and time; emails, actor,
 * address and user agent on every row. The newest page refreshes itself while open; older pages
 * load on demand.
 */
export function AuditView() {
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [filter, setFilter] = useState<Filter>({});
  const [items, setItems] = useState<Entry[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    let stopped = false;
    let first = true;
    const load = () =>
      warden.api.admin.audit.query({ ...filter, limit: PAGE_SIZE }).then(
        (page) => {
          if (stopped) return;
          // The first answer for a filter replaces the rows; a refresh puts the newest page on top
          // of the older pages already loaded. (Read `first` now: the updater runs later.)
          const replace = first;
          setItems((old) => {
            if (replace) return page.items;
            const seen = new Set(page.items.map((i) => i.id));
            const oldest = BigInt(page.items.at(-1)?.id ?? 0);
            return [...page.items, ...old.filter((i) => !seen.has(i.id) && BigInt(i.id) < oldest)];
          });
          // Only the first answer for a filter says it is loaded: a refresh of the previous filter
          // may still land while a new one is being applied.
          if (first) {
            setCursor(page.nextCursor);
            setLoaded(true);
          }
          first = false;
          setError(undefined);
        },
        (e: unknown) => !stopped && setError(refusalOf(e, { from: "From", to: "To" })),
      );
    void load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [filter]);

  const more = async () => {
    if (!cursor) return;
    const page = await warden.api.admin.audit.query({ ...filter, limit: PAGE_SIZE, cursor });
    setItems((old) => [...old, ...page.items]);
    setCursor(page.nextCursor);
  };

  const apply = async (next: Draft) => {
    // Busy from the click on: looking an email up is part of applying the filter.
    setLoaded(false);
    try {
      setFilter(await filterOf(next));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setLoaded(true);
    }
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void apply(draft);
  };
  const filtered = Object.keys(filter).length > 0;

  return (
    <section>
      <h2>Audit log</h2>
      <form className="filters" onSubmit={submit} aria-label="Filter the audit log">
        <label>
          User (email or id)
          <input name="user" value={draft.user} onChange={(e) => setDraft({ ...draft, user: e.target.value })} />
        </label>
        <label>
          Type
          <select value={draft.type} onChange={(e) => setDraft({ ...draft, type: e.target.value as Draft["type"] })}>
            <option value="">Every type</option>
            {AUDIT_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          From
          <input type="datetime-local" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
        </label>
        <label>
          To
          <input type="datetime-local" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
        </label>
        <div className="filter-actions">
          <button type="submit" className="primary">
            Apply filters
          </button>
          <button type="button" onClick={() => void apply(EMPTY).then(() => setDraft(EMPTY))} disabled={!filtered}>
            Clear
          </button>
        </div>
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <table className="stack" data-testid="audit" aria-busy={!loaded}>
        <thead>
          <tr>
            <th>Time</th>
            <th>Type</th>
            <th>User</th>
            <th>Actor</th>
            <th>Reason</th>
            <th>IP</th>
            <th>User agent</th>
          </tr>
        </thead>
        <tbody>
          {loaded && items.length === 0 && (
            <tr>
              <td colSpan={7} className="muted empty">
                {filtered ? "No entries match these filters." : "Nothing yet."}
              </td>
            </tr>
          )}
          {items.map((i) => (
            <tr key={i.id} data-event-id={i.eventId} data-audit-id={i.id}>
              <td data-label="Time">{formatTime(i.occurredAt)}</td>
              <td data-label="Type">
                {/* One element per cell: on phones each cell is a two-column grid (label, value). */}
                <span>
                  <code>{i.type}</code>
                  {i.sessionsRevoked > 0 && <span className="muted"> ({i.sessionsRevoked} sessions)</span>}
                </span>
              </td>
              <td data-label="User">
                <UserCell user={i.user} />
              </td>
              <td data-label="Actor">
                <span>
                  {i.actor.type}
                  {i.actor.id && <> · {i.actor.email ?? <span className="muted">deleted user</span>}</>}
                </span>
              </td>
              <td data-label="Reason">{i.reason}</td>
              <td data-label="IP">{i.ip ?? "–"}</td>
              <td data-label="User agent" className="user-agent" title={i.userAgent ?? ""}>
                {i.userAgent ?? "–"}
              </td>
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
