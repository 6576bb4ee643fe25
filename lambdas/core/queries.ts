/**
 * PromQL templates kept as data (the way Flagger keeps `pkg/metrics/observers/gloo.go`) and the
 * variables custom queries may use. Pure: rendering only, no I/O.
 *
 * The Envoy naming lives here and only here: `envoyClusterName` turns an upstream into the
 * `envoy_cluster_name` label value Gloo's Envoy exports, from spec.router.envoyClusterName.
 */
import { targetOf } from './fleet-member.ts';
import { BUILT_IN_METRICS, type MetricSpec, type RolloutSpec } from './spec-schema.ts';
import type { Side } from './records.ts';

export type BuiltInMetric = (typeof BUILT_IN_METRICS)[number];

/** The variables a custom query may use. */
export const QUERY_VARIABLES = ['namespace', 'target', 'interval', 'primary', 'canary', 'primaryCluster', 'canaryCluster'] as const;
export type QueryVariableName = (typeof QUERY_VARIABLES)[number];
export type QueryVariables = Record<QueryVariableName, string>;

/**
 * The built-in Gloo/Envoy queries. `{{cluster}}` stands for the side's Envoy cluster name and is
 * replaced by `{{canaryCluster}}` or `{{primaryCluster}}` in `builtInQuery`.
 *
 * request-success-rate: percent of non-5xx requests. The numerator falls back to 0 (`or on()
 * vector(0)`) so a canary that answers only 5xx reads 0%, not "no data"; with no requests at all
 * the denominator is empty and the whole result is empty (no data). Retried attempts count as
 * failed attempts: with a retry policy Envoy counts only a request's final answer under
 * upstream_rq and each retry under upstream_rq_retry (absent without retries: 0).
 *
 * request-duration: p99 in milliseconds (Envoy's upstream_rq_time histogram is in ms already).
 */
const BUILT_IN_TEMPLATES: Record<BuiltInMetric, string> = {
  'request-success-rate':
    '(sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name="{{cluster}}",envoy_response_code!~"5.."}[{{interval}}])) or on() vector(0))' +
    ' / (sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name="{{cluster}}"}[{{interval}}]))' +
    ' + (sum(rate(envoy_cluster_upstream_rq_retry{envoy_cluster_name="{{cluster}}"}[{{interval}}])) or on() vector(0))) * 100',
  'request-duration':
    'histogram_quantile(0.99, sum by (le) (rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="{{cluster}}"}[{{interval}}])))',
};

export function isBuiltInMetric(name: string): name is BuiltInMetric {
  return (BUILT_IN_METRICS as readonly string[]).includes(name);
}

/** The template of a built-in metric for one side, using `{{canaryCluster}}`/`{{primaryCluster}}` and `{{interval}}`. */
export function builtInQuery(name: BuiltInMetric, side: Side): string {
  return BUILT_IN_TEMPLATES[name].replaceAll('{{cluster}}', `{{${side}Cluster}}`);
}

const VARIABLE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/**
 * Replaces `{{name}}` (spaces inside the braces allowed, as in Flagger templates) with
 * `vars[name]`. A variable that `vars` does not know, or knows without a value, is an error
 * naming it: a query silently sent with a hole in it would read as "no data".
 */
export function renderQuery(template: string, vars: Readonly<Record<string, string | undefined>>): string {
  const known = Object.keys(vars);
  const rendered = template.replace(VARIABLE, (_match, name: string) => {
    if (!Object.hasOwn(vars, name)) {
      throw new Error(`template uses unknown variable {{${name}}} (known: ${known.join(', ')}): ${template}`);
    }
    const value = vars[name];
    if (value === undefined || value === '') throw new Error(`template variable {{${name}}} has no value: ${template}`);
    return value;
  });
  if (rendered.includes('{{')) throw new Error(`template has a malformed variable (expected {{name}}): ${template}`);
  return rendered;
}

/** The Envoy cluster name of an upstream, from spec.router.envoyClusterName (variables `{{upstream}}`, `{{namespace}}`). */
export function envoyClusterName(template: string, upstream: { name: string; namespace: string }): string {
  try {
    return renderQuery(template, { upstream: upstream.name, namespace: upstream.namespace });
  } catch (error) {
    throw new Error(`spec.router.envoyClusterName: ${(error as Error).message}`, { cause: error });
  }
}

/** The variables templates allow for one metric of a rollout. */
export function queryVariables(spec: RolloutSpec, metric: MetricSpec): QueryVariables {
  const { router, workload, strategy } = spec.spec;
  return {
    namespace: workload?.namespace ?? router.namespace,
    // A fleet member (`podinfo@eu-1`) queries as its target: {{target}} is the service, not the address.
    target: targetOf(spec.metadata.name),
    interval: metric.interval ?? strategy.interval,
    primary: router.primary.upstream.name,
    canary: router.canary.upstream.name,
    primaryCluster: envoyClusterName(router.envoyClusterName, router.primary.upstream),
    canaryCluster: envoyClusterName(router.envoyClusterName, router.canary.upstream),
  };
}

/** The rendered queries of one metric: the canary's, and the primary's for built-ins (for the picture). */
export function metricQueries(spec: RolloutSpec, metric: MetricSpec): { canary: string; primary?: string } {
  const vars = queryVariables(spec, metric);
  const where = (error: unknown) => new Error(`metric "${metric.name}": ${(error as Error).message}`, { cause: error });
  try {
    if (metric.query) return { canary: renderQuery(metric.query, vars) };
    if (!isBuiltInMetric(metric.name)) throw new Error(`has no query and is not a built-in metric (${BUILT_IN_METRICS.join(', ')})`);
    return {
      canary: renderQuery(builtInQuery(metric.name, 'canary'), vars),
      primary: renderQuery(builtInQuery(metric.name, 'primary'), vars),
    };
  } catch (error) {
    throw where(error);
  }
}

/**
 * Envoy's default `upstream_rq_time` histogram buckets (ms). A latency threshold of the sequential
 * judge must be one of these: "requests slower than 300 ms" cannot be counted from buckets at 250
 * and 500 without interpolating, and an interpolated count is not a count.
 */
export const ENVOY_LATENCY_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
] as const;

/** Throws unless `ms` is a bucket boundary, naming the nearest boundaries. */
export function checkLatencyThreshold(ms: number, buckets: readonly number[] = ENVOY_LATENCY_BUCKETS_MS): void {
  if (buckets.includes(ms)) return;
  const below = buckets.filter((b) => b < ms).at(-1);
  const above = buckets.find((b) => b > ms);
  const nearest = [below, above].filter((b) => b !== undefined).join(' and ');
  throw new Error(
    `latency threshold ${ms} ms is not a histogram bucket boundary: the nearest are ${nearest} (Envoy's upstream_rq_time buckets: ${buckets.join(', ')})`,
  );
}

/**
 * A regex matching every way a server may spell the `le` label of a boundary: as the exporter wrote
 * it (`500`, Envoy's `3.6e+06`) and as Prometheus 3 normalizes it (`500.0`). Character classes
 * instead of backslashes keep the PromQL string free of escapes.
 */
export function leMatcher(ms: number): string {
  const plain = String(ms);
  const spellings = new Set([plain]);
  if (Number.isInteger(ms)) spellings.add(`${plain}.0`);
  const [mantissa, exponent] = ms.toExponential().split('e') as [string, string];
  const sign = exponent.startsWith('-') ? '-' : '+';
  spellings.add(`${mantissa}e${sign}${exponent.replace(/^[-+]/, '').padStart(2, '0')}`);
  return [...spellings].map((s) => s.replaceAll('.', '[.]').replaceAll('+', '[+]')).join('|');
}

/**
 * Raw-counter queries of one arm (the sequential judge's input), per series and without `rate`:
 * Sluice differences the cumulative values itself (lambdas/core/counts.ts). `{{cluster}}` is the
 * arm's Envoy cluster name, `{{le}}` a boundary's `le` matcher.
 *
 * errors: every 5xx, including the proxy's own 503 (reset, no healthy upstream) and 504 (timeout).
 * slow: requests above a boundary = all observations − those at or below it, per series.
 */
export const COUNTER_TEMPLATES = {
  requests: 'envoy_cluster_upstream_rq{envoy_cluster_name="{{cluster}}"}',
  errors: 'envoy_cluster_upstream_rq{envoy_cluster_name="{{cluster}}",envoy_response_code=~"5.."}',
  slow: 'envoy_cluster_upstream_rq_time_count{envoy_cluster_name="{{cluster}}"} - ignoring(le) envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="{{cluster}}",le=~"{{le}}"}',
  /** Retried attempts: Envoy counts only a request's final answer under upstream_rq. */
  retries: 'envoy_cluster_upstream_rq_retry{envoy_cluster_name="{{cluster}}"}',
} as const;

export type CounterTemplates = Record<keyof typeof COUNTER_TEMPLATES, string>;

/** The rendered raw-counter queries of one arm; `slow` is keyed by the threshold in ms. */
export interface ArmCounterQueries {
  requests: string;
  errors: string;
  slow: Record<string, string>;
  retries?: string | undefined;
}

/**
 * The raw-counter queries of both arms for a rollout, with latency thresholds (ms) that must be
 * bucket boundaries. Custom templates may replace the built-in ones (same variables).
 */
export function counterQueries(
  spec: RolloutSpec,
  thresholdsMs: readonly number[],
  templates: CounterTemplates = COUNTER_TEMPLATES,
): Record<Side, ArmCounterQueries> {
  for (const ms of thresholdsMs) checkLatencyThreshold(ms);
  const { router } = spec.spec;
  const arm = (upstream: { name: string; namespace: string }): ArmCounterQueries => {
    const cluster = envoyClusterName(router.envoyClusterName, upstream);
    return {
      requests: renderQuery(templates.requests, { cluster }),
      errors: renderQuery(templates.errors, { cluster }),
      slow: Object.fromEntries(thresholdsMs.map((ms) => [String(ms), renderQuery(templates.slow, { cluster, le: leMatcher(ms) })])),
      retries: renderQuery(templates.retries, { cluster }),
    };
  };
  return { canary: arm(router.canary.upstream), primary: arm(router.primary.upstream) };
}
