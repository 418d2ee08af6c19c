import ora, { type Ora } from "ora";
import pc from "picocolors";

/**
 * Where output goes and how it looks. Colours and spinners only on a terminal: piped output
 * stays plain text a script can read (picocolors also honours NO_COLOR / FORCE_COLOR).
 */
export interface Output {
  json: boolean;
  tty: boolean;
  colors: ReturnType<typeof pc.createColors>;
  line(text?: string): void;
  warn(text: string): void;
  printJson(value: unknown): void;
  spinner(text: string): Spinner;
}

interface Spinner {
  update(text: string): void;
  succeed(text: string): void;
  fail(text: string): void;
}

export function createOutput(options: { json: boolean; stdout?: NodeJS.WriteStream; stderr?: NodeJS.WriteStream }): Output {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const tty = Boolean(stdout.isTTY);
  const colors = pc.createColors(tty && pc.isColorSupported);
  return {
    json: options.json,
    tty,
    colors,
    line: (text = "") => void stdout.write(`${text}\n`),
    warn: (text) => void stderr.write(`${text}\n`),
    printJson: (value) => void stdout.write(`${JSON.stringify(value, null, options.json && tty ? 2 : undefined)}\n`),
    spinner(text) {
      // Progress goes to stderr, so stdout keeps only the result.
      // A terminal that reports no width (some ptys) would make the spinner's redraw loop forever.
      if (!stderr.isTTY || options.json || !stderr.columns) {
        stderr.write(`${text}\n`);
        return { update: () => {}, succeed: (t) => void stdout.write(`${t}\n`), fail: (t) => void stderr.write(`${t}\n`) };
      }
      // discardStdin off: the CLI never reads stdin while a spinner runs, and raw mode can outlive it.
      const s: Ora = ora({ text, stream: stderr, discardStdin: false }).start();
      return { update: (t) => void (s.text = t), succeed: (t) => void s.succeed(t), fail: (t) => void s.fail(t) };
    },
  };
}

/** Column widths: the widest of each header, the rows' cells and `minimums` (for rows still to come). */
export function columnWidths(headers: string[], rows: string[][], minimums: number[] = []): number[] {
  return headers.map((h, i) => Math.max(h.length, minimums[i] ?? 0, ...rows.map((r) => (r[i] ?? "").length)));
}

/** One row, each cell but the last padded to its column's width, two spaces apart. */
export function formatRow(cells: string[], widths: number[]): string {
  return cells
    .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
    .join("  ")
    .trimEnd();
}

/** A plain aligned table (no borders, so it greps and cuts well). */
export function table(headers: string[], rows: string[][], style: (s: string) => string = (s) => s): string {
  const widths = columnWidths(headers, rows);
  return [style(formatRow(headers, widths)), ...rows.map((r) => formatRow(r, widths))].join("\n");
}

export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "-";
  return new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}

/** "3m ago", "2h ago": what an admin scanning sessions wants to see. */
export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}
