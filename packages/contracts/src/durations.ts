import { z } from "zod";

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses `15m`, `7d`, `2s`, `250ms` (or a bare number of milliseconds) into milliseconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) throw new Error(`not a duration: "${text}" (use e.g. 15m, 7d, 2s)`);
  const unit = (match[2] ?? "ms") as keyof typeof UNIT_MS;
  return Math.round(Number(match[1]) * UNIT_MS[unit]);
}

/** An environment setting holding a positive duration (`15m`, `7d`, `2s`), parsed to milliseconds. */
export function durationSetting(fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      try {
        const ms = parseDuration(text);
        if (ms <= 0) throw new Error("must be positive");
        return ms;
      } catch {
        ctx.addIssue({ code: "custom", message: `"${text}" is not a duration (use e.g. 15m, 7d, 2s)` });
        return z.NEVER;
      }
    });
}
