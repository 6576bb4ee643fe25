/**
 * Which of a spec's metrics the sequential judge reads, and how: it works on request counts, so
 * only the built-in Gloo/Envoy metrics map onto it (errors, and requests slower than the p99
 * limit, a histogram bucket boundary); CloudWatch alarms stay hard stops beside it.
 */
import { checkLatencyThreshold } from '../queries.ts';
import { parseDuration } from '../duration.ts';
import type { MetricSpec, RolloutSpec, SpecProblem } from '../spec-schema.ts';
import type { SequentialMetric } from './judge.ts';

export interface SequentialPlan {
  metrics: SequentialMetric[];
  /** Latency thresholds (ms) whose counts the provider must read: exact histogram bucket boundaries. */
  thresholdsMs: number[];
  /** Metrics that are CloudWatch alarms: any in ALARM rolls back at once. */
  alarms: MetricSpec[];
}

function kindOf(metric: MetricSpec): SequentialMetric['kind'] | 'alarm' | string {
  if (metric.provider?.type === 'cloudwatch-alarm') return 'alarm';
  const type = metric.provider?.type ?? 'prometheus';
  if (type !== 'prometheus' || metric.query)
    return `the sequential judge reads request counts: "${metric.name}" is a ${metric.query ? 'custom query' : `${type} metric`}; use request-success-rate, request-duration or a cloudwatch-alarm metric, or judge: threshold`;
  if (metric.name === 'request-success-rate') return 'errors';
  if (metric.name === 'request-duration') {
    const max = metric.thresholdRange?.max;
    if (max === undefined) return 'request-duration needs thresholdRange.max (the p99 limit in ms) for the sequential judge';
    try {
      checkLatencyThreshold(max);
    } catch (error) {
      return `thresholdRange.max: ${(error as Error).message}`;
    }
    return { slowerThanMs: max };
  }
  return `"${metric.name}" is not a built-in metric the sequential judge can count`;
}

/** Problems with the spec's metrics under the sequential judge (for validation). */
export function sequentialProblems(spec: RolloutSpec): SpecProblem[] {
  if (spec.spec.analysis.judge !== 'sequential') return [];
  const problems: SpecProblem[] = [];
  spec.spec.analysis.metrics.forEach((metric, i) => {
    const kind = kindOf(metric);
    if (typeof kind === 'string' && kind !== 'errors' && kind !== 'alarm')
      problems.push({ path: `spec.analysis.metrics[${i}]`, message: kind });
  });
  if (
    !spec.spec.analysis.metrics.some((m) => {
      const k = kindOf(m);
      return k === 'errors' || typeof k === 'object';
    })
  ) {
    problems.push({ path: 'spec.analysis.metrics', message: 'the sequential judge needs request-success-rate or request-duration' });
  }
  return problems;
}

export function sequentialPlan(spec: RolloutSpec): SequentialPlan {
  const plan: SequentialPlan = { metrics: [], thresholdsMs: [], alarms: [] };
  for (const metric of spec.spec.analysis.metrics) {
    const kind = kindOf(metric);
    if (kind === 'alarm') plan.alarms.push(metric);
    else if (kind === 'errors') plan.metrics.push({ name: metric.name, kind, thresholdRange: metric.thresholdRange });
    else if (typeof kind === 'object') {
      plan.metrics.push({ name: metric.name, kind, thresholdRange: metric.thresholdRange, quantile: 0.99 });
      plan.thresholdsMs.push(kind.slowerThanMs);
    } else throw new Error(kind);
  }
  return plan;
}

/** Prometheus' scrape interval on most installations is 15 s or more (its own default is 1 m). */
export const TYPICAL_SCRAPE_SECONDS = 15;

/**
 * Warnings (the spec stays valid): a look interval shorter than typical scrape intervals finds no
 * new sample at most looks. Prepare raises it to the measured scrape interval anyway.
 */
export function sequentialWarnings(spec: RolloutSpec): SpecProblem[] {
  if (spec.spec.analysis.judge !== 'sequential') return [];
  const look = parseDuration(spec.spec.strategy.lookInterval) / 1000;
  if (look >= TYPICAL_SCRAPE_SECONDS) return [];
  return [
    {
      path: 'spec.strategy.lookInterval',
      message: `${spec.spec.strategy.lookInterval} is shorter than ${TYPICAL_SCRAPE_SECONDS}s, the scrape interval of most Prometheus setups: a look between scrapes sees nothing new, so Prepare raises it to the scrape interval it measures`,
    },
  ];
}
