import { cookieStore, createWardenClient, isWardenError, type ErrorReason } from "@warden/client";

/**
 * One client for the page, in cookie mode: the refresh token lives in an httpOnly cookie the
 * page cannot read; only the short-lived access token is kept, in memory. Same origin as /trpc
 * (served by the auth server, or proxied by the Vite dev server).
 */
export const warden = createWardenClient({ url: window.location.origin, store: cookieStore() });

/** The reason a call failed with (a WardenError's), or undefined for anything else. */
export function reasonOf(error: unknown): ErrorReason | undefined {
  return isWardenError(error) ? error.reason : undefined;
}

/** What VALIDATION_FAILED found wrong, field by field (`path` is the input's field: `newPassword`). */
export function issuesOf(error: unknown): { path: string; message: string }[] {
  return (isWardenError(error) && error.issues) || [];
}

export function messageOf(error: unknown): string {
  if (error && typeof error === "object" && "reason" in error) {
    const reason = String((error as { reason: unknown }).reason);
    if (reason === "INVALID_CREDENTIALS") return "Wrong email or password.";
    if (reason === "FORBIDDEN") return "This account is not an admin.";
    if (reason === "LAST_ADMIN") return "This is the last unlocked admin: promote or unlock another one first.";
    if (reason === "NOT_FOUND") return "Not found.";
    if (reason === "UNAVAILABLE") return "Warden cannot be reached. Try again.";
    if (reason === "RATE_LIMITED") return "Too many attempts. Wait a moment.";
    if (reason === "VALIDATION_FAILED") return "Check the input: " + ((error as { message?: string }).message ?? "");
    return `${reason}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * What to tell the admin about a refused call: for VALIDATION_FAILED the server's reason for the
 * first field it names (`fields` gives the form's words for the input's paths: url → "The URL").
 */
export function refusalOf(error: unknown, fields: Record<string, string> = {}): string {
  const issue = reasonOf(error) === "VALIDATION_FAILED" ? issuesOf(error)[0] : undefined;
  if (issue) return `${fields[issue.path] ?? (issue.path || "The input")} ${issue.message}.`;
  return messageOf(error);
}

export function formatTime(ms: number | null | undefined): string {
  return ms ? new Date(ms).toLocaleString() : "–";
}

export function ago(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}
