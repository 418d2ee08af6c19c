import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Curve } from "./stats.js";

interface Row {
  metric: string;
  figure: string;
  baseline: string;
  ratio: string;
  target: string;
  /** null: informational row, or the scenario could not run. */
  met: boolean | null;
}

export interface Scenario {
  id: number;
  title: string;
  rows: Row[];
  notes: string[];
  curves: Array<{ label: string; curve: Curve }>;
}

const HEADER = ["metric", "figure", "baseline", "ratio", "target", "met"] as const;
const cells = (row: Row) => [
  row.metric,
  row.figure,
  row.baseline,
  row.ratio,
  row.target,
  row.met === null ? "-" : row.met ? "yes" : "NO",
];

export function formatTable(scenario: Scenario): string {
  const rows = [HEADER as readonly string[], ...scenario.rows.map(cells)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  const out = [`\n${scenario.id}. ${scenario.title}`, line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  ")];
  for (const r of rows.slice(1)) out.push(line(r));
  for (const note of scenario.notes) out.push(`   note: ${note}`);
  return out.join("\n");
}

function formatMarkdown(scenarios: Scenario[], header: string[]): string {
  const out = ["# Warden benchmark results", "", ...header.map((h) => `- ${h}`), ""];
  for (const s of scenarios) {
    out.push(`## ${s.id}. ${s.title}`, "", `| ${HEADER.join(" | ")} |`, `|${HEADER.map(() => "---").join("|")}|`);
    for (const r of s.rows) out.push(`| ${cells(r).join(" | ")} |`);
    for (const note of s.notes) out.push("", `> ${note}`);
    out.push("");
  }
  out.push("![latency distributions](latency.svg)", "");
  return out.join("\n");
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

/** One panel per scenario with curves: latency (ms, log scale) against percentile (log of 1/(1-p)). */
function latencySvg(scenarios: Scenario[]): string {
  const panels = scenarios.filter((s) => s.curves.length > 0);
  const W = 560;
  const H = 260;
  const pad = { l: 60, r: 170, t: 30, b: 40 };
  const parts: string[] = [];
  const xOf = (p: number) => Math.log10(1 / (1 - Math.min(p, 99.99) / 100)); // 0 .. 4
  panels.forEach((s, index) => {
    const y0 = index * H;
    const all = s.curves.flatMap((c) => c.curve.map(([, v]) => v)).filter((v) => Number.isFinite(v) && v > 0);
    const lo = Math.max(0.01, Math.min(...all));
    const hi = Math.max(lo * 10, Math.max(...all));
    const ly = (v: number) => {
      const t = (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo));
      return y0 + H - pad.b - t * (H - pad.t - pad.b);
    };
    const lx = (p: number) => pad.l + (xOf(p) / 3) * (W - pad.l - pad.r);
    parts.push(`<text x="${pad.l}" y="${y0 + 18}" font-size="13" font-weight="bold">${escape(`${s.id}. ${s.title}`)}</text>`);
    parts.push(`<line x1="${pad.l}" y1="${y0 + H - pad.b}" x2="${W - pad.r}" y2="${y0 + H - pad.b}" stroke="#999"/>`);
    parts.push(`<line x1="${pad.l}" y1="${y0 + pad.t}" x2="${pad.l}" y2="${y0 + H - pad.b}" stroke="#999"/>`);
    for (const p of [0, 50, 90, 99, 99.9]) {
      parts.push(`<text x="${lx(p)}" y="${y0 + H - pad.b + 14}" font-size="10" text-anchor="middle">p${p}</text>`);
    }
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      const v = 10 ** e;
      if (v < lo || v > hi) continue;
      parts.push(`<text x="${pad.l - 6}" y="${ly(v) + 3}" font-size="10" text-anchor="end">${v} ms</text>`);
      parts.push(`<line x1="${pad.l}" y1="${ly(v)}" x2="${W - pad.r}" y2="${ly(v)}" stroke="#eee"/>`);
    }
    s.curves.forEach((c, i) => {
      const color = COLORS[i % COLORS.length]!;
      const points = c.curve.filter(([, v]) => Number.isFinite(v)).map(([p, v]) => `${lx(p).toFixed(1)},${ly(v).toFixed(1)}`);
      parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(" ")}"/>`);
      parts.push(
        `<text x="${W - pad.r + 10}" y="${y0 + pad.t + 14 * i + 8}" font-size="11" fill="${color}">${escape(c.label)}</text>`,
      );
    });
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${panels.length * H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join("\n")}\n</svg>\n`;
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function writeResults(dir: string, scenarios: Scenario[], header: string[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, "latest.json"),
    `${JSON.stringify({ at: new Date().toISOString(), header, scenarios }, null, 2)}\n`,
  );
  writeFileSync(path.join(dir, "latest.md"), formatMarkdown(scenarios, header));
  writeFileSync(path.join(dir, "latency.svg"), latencySvg(scenarios));
}

export const fmt = {
  rate: (n: number) => (Number.isFinite(n) ? `${Math.round(n).toLocaleString("en-US")}/s` : "n/a"),
  ms: (n: number) => (Number.isFinite(n) ? `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms` : "n/a"),
  ratio: (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : "n/a"),
  mb: (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`,
  signedPct: (n: number) => (Number.isFinite(n) ? `${n >= 0 ? "+" : ""}${(n * 100).toFixed(0)}%` : "n/a"),
  pct: (n: number) => (Number.isFinite(n) ? `${(n * 100).toFixed(0)}%` : "n/a"),
};

/** Replaces the block between README's bench markers with this run's tables. */
export function updateReadme(readmePath: string, scenarios: Scenario[], header: string[]): void {
  const readme = readFileSync(readmePath, "utf8");
  const begin = "<!-- bench:latest -->";
  const end = "<!-- /bench:latest -->";
  const from = readme.indexOf(begin);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) return;
  const body = formatMarkdown(scenarios, header)
    .replace(/^# .*\n/, "")
    .replace(/^## /gm, "#### ")
    .replace("![latency distributions](latency.svg)", "![latency distributions](bench/results/latency.svg)");
  writeFileSync(readmePath, `${readme.slice(0, from + begin.length)}\n${body.trim()}\n${readme.slice(to)}`);
}
