/** One series of a Prometheus text exposition: `name{label="value",...} number`. */
interface MetricSeries {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricsScrape {
  status: number;
  series: MetricSeries[];
  /** The sum of the series named `name` whose labels include `labels` (0 when none matches). */
  value(name: string, labels?: Record<string, string>): number;
  /** The label values the series named `name` carry for `label`. */
  labelValues(name: string, label: string): string[];
}

const SERIES = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g;

/** Parses a Prometheus text exposition (the format prom-client writes). */
function parseMetrics(text: string, status = 200): MetricsScrape {
  const series: MetricSeries[] = [];
  for (const line of text.split("\n")) {
    const match = SERIES.exec(line);
    if (!match || line.startsWith("#")) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(LABEL)) labels[key!] = value!.replace(/\\(.)/g, "$1");
    series.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  const matching = (name: string, labels: Record<string, string>) =>
    series.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    status,
    series,
    value: (name, labels = {}) => matching(name, labels).reduce((sum, s) => sum + s.value, 0),
    labelValues: (name, label) => [
      ...new Set(matching(name, {}).flatMap((s) => (s.labels[label] === undefined ? [] : [s.labels[label]]))),
    ],
  };
}

/** GETs a `/metrics` URL (with the bearer token when given) and parses the answer. */
export async function scrapeMetrics(url: string, token?: string): Promise<MetricsScrape> {
  const res = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  return parseMetrics(await res.text(), res.status);
}
