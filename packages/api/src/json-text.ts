/**
 * A value whose JSON is written once and sent many times. `auth.me` answers the same user and
 * session for as long as the session cache holds them, and serialising them again on every call
 * was the largest part of what its answer costs over a no-op's. The text rides on the value under
 * a symbol that is not enumerable (JSON.stringify, equality checks and tRPC's own adapter never
 * see it), and the value is frozen once the text is written, so the two cannot drift apart.
 * The HTTP route sends the text instead of serialising the value (trpc-answer.ts).
 */
const JSON_TEXT = Symbol("warden.jsonText");

interface WithJsonText {
  readonly [JSON_TEXT]?: string;
}

/** Writes `value`'s JSON onto it and freezes it, nested objects and arrays included. */
export function withJsonText<T extends object>(value: T): T {
  Object.defineProperty(value, JSON_TEXT, { value: JSON.stringify(value) });
  return deepFreeze(value);
}

/** The JSON text `withJsonText` wrote onto this value, if any. */
export function jsonTextOf(value: unknown): string | undefined {
  return typeof value === "object" && value !== null ? (value as WithJsonText)[JSON_TEXT] : undefined;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) if (typeof child === "object" && child !== null) deepFreeze(child as object);
  return Object.freeze(value);
}
