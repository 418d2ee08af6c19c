import type { BenchContext } from "../lib/context.js";
import { CPU, runJob } from "../lib/proc.js";
import { fmt, type Scenario } from "../lib/report.js";
import { median } from "../lib/stats.js";

interface VerifyResult {
  results: Record<"raw" | "jsonwebtokenString" | "wardenServer" | "verifierFirst" | "verifierSeen", number[]>;
  verifier: boolean;
}

export async function inProcessVerify(ctx: BenchContext): Promise<Scenario> {
  ctx.log(`2. in-process verify on CPU ${CPU.load}`);
  const { results, verifier } = await runJob<VerifyResult>(
    "load/verify.ts",
    { tokens: 60_000, reps: ctx.reps, seconds: 0.8 },
    CPU.load,
  );
  const m = (list: number[]) => median(list);
  const raw = m(results.raw);
  const rows: Scenario["rows"] = [];
  if (verifier) {
    const seen = m(results.verifierSeen);
    const first = m(results.verifierFirst);
    // Cost ratio: time per first-seen check over time per raw signature check.
    const cost = median(results.verifierFirst.map((f, i) => results.raw[i]! / f));
    rows.push(
      {
        metric: "@warden/verifier, token seen before",
        figure: fmt.rate(seen),
        baseline: fmt.rate(m(results.jsonwebtokenString)),
        ratio: fmt.ratio(seen / m(results.jsonwebtokenString)),
        target: ">= 500,000/s",
        met: seen >= 500_000,
      },
      {
        metric: "@warden/verifier, first-seen token (cost vs raw)",
        figure: fmt.rate(first),
        baseline: fmt.rate(raw),
        ratio: fmt.ratio(cost),
        target: "<= 1.25x",
        met: cost <= 1.25,
      },
    );
  } else {
    rows.push({
      metric: "@warden/verifier",
      figure: "not built yet",
      baseline: "",
      ratio: "",
      target: ">= 500,000/s; <= 1.25x",
      met: null,
    });
  }
  const serverCost = median(results.wardenServer.map((w, i) => results.raw[i]! / w));
  rows.push(
    {
      metric: "auth-server verifyAccessToken (no cache)",
      figure: fmt.rate(m(results.wardenServer)),
      baseline: fmt.rate(raw),
      ratio: fmt.ratio(serverCost),
      target: "",
      met: null,
    },
    {
      metric: "jsonwebtoken, HS256 string secret",
      figure: fmt.rate(m(results.jsonwebtokenString)),
      baseline: "",
      ratio: "",
      target: "",
      met: null,
    },
    { metric: "raw node:crypto ES256 verify (floor)", figure: fmt.rate(raw), baseline: "", ratio: "", target: "", met: null },
  );
  return {
    id: 2,
    title: "In-process verify (ES256 access tokens, one core)",
    rows,
    notes: [
      `Medians of ${ctx.reps} timed loops each; first-seen: a fresh verifier given each of 60,000 distinct tokens at most once (the loop stops before they run out); cost ratio = raw checks/s / verifier checks/s.`,
    ],
    curves: [],
  };
}
