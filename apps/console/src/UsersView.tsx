import { useEffect, useState, type FormEvent } from "react";
import type { PublicUser } from "@warden/client";
import { RevocationStatus } from "./RevocationStatus.js";
import { UserDetail } from "./UserDetail.js";
import { formatTime, refusalOf, warden } from "./warden.js";

const PAGE_SIZE = 20;

interface Filters {
  query: string;
  role: "" | PublicUser["role"];
  locked: "" | "locked" | "unlocked";
}
const NO_FILTERS: Filters = { query: "", role: "", locked: "" };
type Page = Awaited<ReturnType<typeof warden.api.admin.users.list.query>>;
type Tracked = { eventId: string; startedAt: number; label: string };

/** admin.users.list's input for these filters, from the page that starts after `cursor`. */
function listInput(filters: Filters, cursor: string | undefined) {
  const query = filters.query.trim();
  return {
    limit: PAGE_SIZE,
    ...(query ? { query } : {}),
    ...(filters.role ? { role: filters.role } : {}),
    ...(filters.locked ? { locked: filters.locked === "locked" } : {}),
    ...(cursor ? { cursor } : {}),
  };
}

/**
 * Users newest first, searched by any part of the email and filtered by role and lock, a page at a
 * time. Pages follow the server's cursor (the last user of the previous page), so users who sign up
 * meanwhile neither repeat nor hide entries; Previous goes back through the cursors seen. Opening a
 * user shows their detail; the list keeps its search and page for the way back.
 */
export function UsersView() {
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  /** The cursor each page so far started from: the last one is the page shown. */
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<Page | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [open, setOpen] = useState<string | undefined>();
  const [deleted, setDeleted] = useState<Tracked[]>([]);
  const [reloads, setReloads] = useState(0);
  const cursor = cursors.at(-1);

  useEffect(() => {
    if (open) return;
    let stale = false;
    warden.api.admin.users.list.query(listInput(filters, cursor)).then(
      (result) => {
        if (stale) return;
        setPage(result);
        setError(undefined);
      },
      (e: unknown) => !stale && setError(refusalOf(e, { query: "The search" })),
    );
    return () => {
      stale = true;
    };
  }, [filters, cursor, open, reloads]);

  /** Shows another page: none until it arrives, so Next cannot follow a stale cursor. */
  const turnTo = (next: (string | undefined)[]) => {
    setPage(undefined);
    setCursors(next);
  };
  const apply = (next: Filters) => {
    setDraft(next);
    setFilters(next);
    turnTo([undefined]);
  };
  const search = (event: FormEvent) => {
    event.preventDefault();
    apply(draft);
  };

  if (open) {
    return (
      <UserDetail
        userId={open}
        onBack={() => setOpen(undefined)}
        onDeleted={(t) => {
          setDeleted((d) => [t, ...d]);
          setOpen(undefined);
          setReloads((n) => n + 1);
        }}
      />
    );
  }

  return (
    <section>
      <form className="filters" onSubmit={search} role="search" aria-label="Search users">
        <input
          name="query"
          type="search"
          placeholder="alice@ or @example.com"
          aria-label="Search users by email"
          value={draft.query}
          onChange={(e) => setDraft({ ...draft, query: e.target.value })}
        />
        <select
          aria-label="Role"
          value={draft.role}
          onChange={(e) => apply({ ...draft, role: e.target.value as Filters["role"] })}
        >
          <option value="">Any role</option>
          <option value="admin">Admins</option>
          <option value="user">Users</option>
        </select>
        <select
          aria-label="Lock state"
          value={draft.locked}
          onChange={(e) => apply({ ...draft, locked: e.target.value as Filters["locked"] })}
        >
          <option value="">Locked or not</option>
          <option value="locked">Locked</option>
          <option value="unlocked">Not locked</option>
        </select>
        <button type="submit" className="primary">
          Search
        </button>
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {deleted.map((t) => (
        <RevocationStatus key={t.eventId} {...t} />
      ))}
      <table className="stack" data-testid="users" aria-busy={!page}>
        <thead>
          <tr>
            <th>Email</th>
            <th>Role</th>
            <th>Locked</th>
            <th>Verified</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {page?.items.length === 0 && (
            <tr>
              <td colSpan={5} className="muted empty">
                {cursors.length > 1 ? "No more users." : "No users match."}
              </td>
            </tr>
          )}
          {page?.items.map((u) => (
            <tr key={u.id} data-user-id={u.id}>
              <td data-label="Email">
                <button className="link" onClick={() => setOpen(u.id)}>
                  {u.email}
                </button>
              </td>
              <td data-label="Role">{u.role}</td>
              <td data-label="Locked">{u.locked ? <span className="badge locked">locked</span> : "no"}</td>
              <td data-label="Verified">{u.emailVerified ? "yes" : "no"}</td>
              <td data-label="Created">{formatTime(u.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <nav className="pager" aria-label="Pages">
        <button onClick={() => turnTo(cursors.slice(0, -1))} disabled={cursors.length === 1 || !page}>
          Previous page
        </button>
        <span data-testid="page-number">Page {cursors.length}</span>
        <button onClick={() => page?.nextCursor && turnTo([...cursors, page.nextCursor])} disabled={!page?.nextCursor}>
          Next page
        </button>
      </nav>
    </section>
  );
}
