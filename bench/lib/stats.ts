export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/** The percentiles the chart draws, from a sorted list of latencies in ms. */
const CURVE_POINTS = [1, 10, 25, 50, 75, 90, 95, 97.5, 99, 99.5, 99.9] as const;
export type Curve = Array<[number, number]>;

export function curveOf(sorted: number[]): Curve {
  return CURVE_POINTS.map((p) => [p, percentile(sorted, p)]);
}
