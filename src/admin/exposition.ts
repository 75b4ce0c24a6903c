/**
 * The Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text, for a list of metric
 * families. Counter families are named with their `_total` suffix; OpenMetrics names the family
 * without it.
 *
 * @module
 */

/** A sample's labels, name to value; kept small (no per-client labels). */
export type Labels = Readonly<Record<string, string>>;

/** One metric family and its samples. */
export interface MetricFamily {
  /** Counters end in `_total`; names carry their unit (`_bytes`, `_seconds`). */
  readonly name: string;
  readonly type: "counter" | "gauge";
  readonly help: string;
  readonly samples: readonly (readonly [labels: Labels | undefined, value: number])[];
}

/** The two formats a scraper may ask for. */
export type ExpositionFormat = "prometheus" | "openmetrics";

/** The Content-Type of each format. */
export const CONTENT_TYPES: Readonly<Record<ExpositionFormat, string>> = {
  prometheus: "text/plain; version=0.0.4; charset=utf-8",
  openmetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8",
};

/**
 * The format an `Accept` header asks for: OpenMetrics when it names
 * `application/openmetrics-text` with a non-zero quality, as Prometheus sends it, else text 0.0.4.
 */
export function negotiateFormat(accept: string | null): ExpositionFormat {
  for (const range of (accept ?? "").split(",")) {
    const [type, ...params] = range.split(";").map((part) => part.trim().toLowerCase());
    if (type !== "application/openmetrics-text") continue;
    const q = params.find((p) => p.startsWith("q="));
    if (q === undefined || Number(q.slice(2)) > 0) return "openmetrics";
  }
  return "prometheus";
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function formatLabels(labels: Labels | undefined): string {
  if (!labels) return "";
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

/** `families` as one exposition document in `format`. */
export function renderExposition(
  families: readonly MetricFamily[],
  format: ExpositionFormat,
): string {
  const lines: string[] = [];
  for (const family of families) {
    const open = format === "openmetrics";
    const familyName = open && family.type === "counter"
      ? family.name.replace(/_total$/, "")
      : family.name;
    lines.push(`# HELP ${familyName} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${familyName} ${family.type}`);
    for (const [labels, value] of family.samples) {
      lines.push(`${family.name}${formatLabels(labels)} ${formatValue(value)}`);
    }
  }
  if (format === "openmetrics") lines.push("# EOF");
  return lines.join("\n") + "\n";
}
