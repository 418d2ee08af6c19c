/**
 * The console's pages, by path under its base (/console/): the admin console itself, and the pages
 * the emails link to (`/console/reset-password#token=...`, `/console/verify-email#token=...`). The
 * auth server answers every such path with index.html; the page is chosen here.
 */
export type Page = "admin" | "reset-password" | "verify-email";

export const CONSOLE_HOME = import.meta.env.BASE_URL;

export function currentPage(pathname = window.location.pathname): Page {
  const rest = pathname.startsWith(CONSOLE_HOME) ? pathname.slice(CONSOLE_HOME.length).replace(/\/+$/, "") : "";
  return rest === "reset-password" || rest === "verify-email" ? rest : "admin";
}

/**
 * The token of an emailed link (`#token=...`). The fragment never reaches a server; it is taken out
 * of the address bar and the history all the same, as the token works like a password until used.
 */
export function takeLinkToken(): string | undefined {
  const { hash, pathname, search } = window.location;
  const token = new URLSearchParams(hash.slice(1)).get("token") ?? "";
  if (hash) window.history.replaceState(null, "", pathname + search);
  return token || undefined;
}
