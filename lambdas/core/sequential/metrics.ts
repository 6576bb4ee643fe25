/**
 * Which of a spec's metrics the sequential judge reads, and how. It works on counts, so a metric
 * maps onto it when it is one of:
 *
 * - a built-in Gloo/Envoy metric read from Prometheus or Amazon Managed Prometheus (errors, and
 *   requests slower than the p99 limit, a histogram bucket boundary);
 * - a metric with its own `counters`: per arm, a raw events counter and a raw trials counter
 *   (orders failed / orders placed) as PromQL selectors on Prometheus or AMP, or CloudWatch count
 *   metrics read as integer `Sum`s (or `SampleCount`s) over closed periods;
 * - a CloudWatch alarm: a hard stop beside the counts.
 *
 * Anything else (a custom query returning a rate, a percentile, a web metric) has no counts to
 * test and stays with `judge: threshold`.
 */
import { checkLatencyThreshold } from '../queries.ts';
import { parseDuration } from '../duration.ts';
import { compareArms, splitPopulation } from '../arms.ts';
import type { CloudWatchCount, MetricSpec, RolloutSpec, SpecProblem } from '../spec-schema.ts';
import type { SequentialMetric } from './judge.ts';
import { allowedRate } from './onesample.ts';

export interface SequentialPlan {
  metrics: SequentialMetric[];
  /** Latency thresholds (ms) whose counts the provider must read: exact histogram bucket boundaries. */
  thresholdsMs: number[];
  /** Metrics that are CloudWatch alarms: any in ALARM rolls back at once. */
  alarms: MetricSpec[];
}

type Classified = { kind: SequentialMetric['kind'] } | { alarm: true } | { problems: SpecProblem[] };

/** PromQL functions that turn a counter into a rate or an extrapolated increase. */
const RATE_FUNCTIONS = /\b(rate|irate|increase|delta|idelta|deriv|resets|changes|[a-z]+_over_time)\s*\(/;
const AGGREGATIONS =
  /\b(sum|avg|min|max|count|group|stddev|stdvar|topk|bottomk|quantile|count_values|limitk|limit_ratio)\b\s*(by|without)?\s*(\(([^()]*)\))?\s*\(/g;

/** Exact counts CloudWatch can return for a count metric; any percentile-based statistic is an estimate. */
const COUNT_STATS = ['Sum', 'SampleCount'] as const;

function labelsIn(list: string | undefined): string[] {
  return (list ?? '')
    .split(',')
    .map((l) => l.trim())
    .filter(Boolean);
}

/**
 * Why a PromQL query is not a raw counter per scrape source, or null. Sluice differences the
 * cumulative values itself, per job/instance, so a restart, a missing scrape or a replaced pod is
 * seen and left out; `rate()` and `increase()` extrapolate, and an aggregation across
 * instances hides which source restarted.
 */
export function counterQueryProblem(query: string): string | null {
  const rate = RATE_FUNCTIONS.exec(query);
  if (rate)
    return `uses ${rate[1]}(): the sequential judge needs the raw counter (e.g. orders_total{app="{{canary}}"}); it takes the differences itself, per scrape source, so resets and missing scrapes are seen rather than extrapolated over`;
  for (const match of query.matchAll(AGGREGATIONS)) {
    const [, op, modifier, , before] = match;
    // `sum(x) by (l)` puts the modifier after the argument: find it behind the matching parenthesis.
    let mod = modifier;
    let labels = before;
    if (!mod) {
      let depth = 1;
      let i = (match.index ?? 0) + match[0].length;
      for (; i < query.length && depth > 0; i++) depth += query[i] === '(' ? 1 : query[i] === ')' ? -1 : 0;
      const after = /^\s*(by|without)\s*\(([^()]*)\)/.exec(query.slice(i));
      mod = after?.[1];
      labels = after?.[2];
    }
    const names = labelsIn(labels);
    const keeps =
      op === 'sum' &&
      ((mod === 'by' && names.includes('job') && names.includes('instance')) ||
        (mod === 'without' && !names.includes('job') && !names.includes('instance')));
    if (!keeps)
      return `aggregates with ${op}${mod ? ` ${mod} (${names.join(', ')})` : '()'}, which drops job/instance: the sequential judge counts each scrape source on its own (a restarted or replaced process is left out, not read as a drop); select the raw counter, or use sum by (job, instance, …)`;
  }
  return null;
}

function cloudWatchCountProblem(ref: CloudWatchCount): string | null {
  if ((COUNT_STATS as readonly string[]).includes(ref.stat)) return null;
  return `is ${ref.stat}: the sequential judge needs exact counts (${COUNT_STATS.join(' or ')} of a count metric); percentile-derived counts (PR, TC, p99, …) are estimates, and a test on estimates does not keep its error guarantee`;
}

function counterProblems(metric: MetricSpec, at: string): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const type = metric.provider?.type ?? 'prometheus';
  if (metric.query)
    problems.push({ path: `${at}.query`, message: 'set either query (judge: threshold) or counters (the sequential judge), not both' });
  if (type !== 'prometheus' && type !== 'amp' && type !== 'cloudwatch') {
    problems.push({ path: `${at}.provider.type`, message: `is ${type}: counters come from prometheus, amp or cloudwatch` });
    return problems;
  }
  for (const side of ['canary', 'primary'] as const) {
    for (const which of ['events', 'trials'] as const) {
      const ref = metric.counters?.[side][which];
      const path = `${at}.counters.${side}.${which}`;
      if (ref === undefined) continue;
      if (type === 'cloudwatch') {
        if (typeof ref === 'string')
          problems.push({ path, message: 'expected a CloudWatch count metric: { namespace, metricName, dimensions, stat: Sum }' });
        else {
          const problem = cloudWatchCountProblem(ref);
          if (problem) problems.push({ path: `${path}.stat`, message: problem });
        }
      } else if (typeof ref !== 'string') {
        problems.push({ path, message: `expected a PromQL selector of a raw counter for a ${type} metric` });
      } else {
        const problem = counterQueryProblem(ref);
        if (problem) problems.push({ path, message: problem });
      }
    }
  }
  return problems;
}

function classify(metric: MetricSpec, at: string): Classified {
  if (metric.provider?.type === 'cloudwatch-alarm') return { alarm: true };
  if (metric.counters) {
    const problems = counterProblems(metric, at);
    return problems.length ? { problems } : { kind: { counter: metric.name } };
  }
  const type = metric.provider?.type ?? 'prometheus';
  const refuse = (path: string, message: string): Classified => ({ problems: [{ path, message }] });
  if (type === 'cloudwatch')
    return refuse(
      `${at}.counters`,
      'the sequential judge reads counts: map counters.canary and counters.primary ({ events, trials }) to CloudWatch count metrics read as Sum, or set judge: threshold',
    );
  if (type !== 'prometheus' && type !== 'amp')
    return refuse(at, `the sequential judge reads counts: "${metric.name}" is a ${type} metric; use counters, or judge: threshold`);
  if (metric.query)
    return refuse(
      `${at}.query`,
      `the sequential judge reads counts, and "${metric.name}" is a custom query; name its raw counters instead (counters.canary/primary: { events, trials }), or set judge: threshold`,
    );
  if (metric.name === 'request-success-rate') return { kind: 'errors' };
  if (metric.name === 'request-duration') {
    const max = metric.thresholdRange?.max;
    if (max === undefined)
      return refuse(`${at}.thresholdRange.max`, 'request-duration needs thresholdRange.max (the p99 limit in ms) for the sequential judge');
    try {
      checkLatencyThreshold(max);
    } catch (error) {
      return refuse(`${at}.thresholdRange.max`, (error as Error).message);
    }
    return { kind: { slowerThanMs: max } };
  }
  return refuse(
    at,
    `"${metric.name}" is not a built-in metric the sequential judge can count; name its raw counters (counters), or set judge: threshold`,
  );
}

/** Where the built-in metrics' counters come from: `spec.analysis.prometheus`, or one metric's own provider (amp, prometheus). */
export function builtInSource(spec: RolloutSpec): MetricSpec | undefined {
  return spec.spec.analysis.metrics.find(isBuiltIn);
}

function isBuiltIn(m: MetricSpec): boolean {
  const type = m.provider?.type ?? 'prometheus';
  return (
    !m.counters &&
    !m.query &&
    (type === 'prometheus' || type === 'amp') &&
    (m.name === 'request-success-rate' || m.name === 'request-duration')
  );
}

/** Problems with the spec's metrics under the sequential judge (for validation). */
export function sequentialProblems(spec: RolloutSpec): SpecProblem[] {
  const metrics = spec.spec.analysis.metrics;
  if (spec.spec.analysis.judge !== 'sequential') {
    // Counters have no single value to hold against a range: only the sequential judge reads them.
    return metrics.flatMap((metric, i) =>
      metric.counters && !metric.query && !metric.metricDataQueries
        ? [
            {
              path: `spec.analysis.metrics[${i}].counters`,
              message: 'are read by the sequential judge only: set judge: sequential, or give a query',
            },
          ]
        : [],
    );
  }
  const problems: SpecProblem[] = [];
  const counted: number[] = [];
  const mode = splitPopulation(spec);
  const twoArm = compareArms(spec);
  metrics.forEach((metric, i) => {
    const c = classify(metric, `spec.analysis.metrics[${i}]`);
    if ('problems' in c) problems.push(...c.problems);
    else if ('kind' in c) {
      counted.push(i);
      const rate = allowedRate(c.kind, metric.thresholdRange);
      // With the two-arm test off the metric's own threshold is its only test.
      if (!twoArm && (rate === null || rate >= 1))
        problems.push({
          path: `spec.analysis.metrics[${i}].thresholdRange`,
          message: `is needed under ${mode ?? 'this strategy'}: canary and primary serve different requests, so the two-arm test is off and the canary is judged against its thresholdRange alone (a success rate min, or an event rate max, below 100%); or opt in to the two-arm test with analysis.compareArms: true`,
        });
    }
  });
  // One counter source for the built-ins: each source's window must count both arms and every built-in alike.
  const sourceKey = (m: MetricSpec) =>
    m.provider?.type === 'amp'
      ? `amp ${m.provider.workspaceUrl}`
      : `prometheus ${m.provider?.type === 'prometheus' && m.provider.address ? m.provider.address : 'spec.analysis.prometheus'}`;
  const builtIns = metrics.map((m, i) => ({ m, i })).filter(({ m }) => isBuiltIn(m));
  const first = builtIns[0];
  for (const { m, i } of builtIns.slice(1)) {
    if (first && sourceKey(m) !== sourceKey(first.m))
      problems.push({
        path: `spec.analysis.metrics[${i}].provider`,
        message: `reads from ${sourceKey(m)}, spec.analysis.metrics[${first.i}] from ${sourceKey(first.m)}: the built-in metrics' counters are read from one Prometheus or AMP workspace`,
      });
  }
  if (counted.length === 0 && problems.length === 0)
    problems.push({
      path: 'spec.analysis.metrics',
      message: 'the sequential judge needs request-success-rate, request-duration or a metric with counters',
    });
  return problems;
}

export function sequentialPlan(spec: RolloutSpec): SequentialPlan {
  const plan: SequentialPlan = { metrics: [], thresholdsMs: [], alarms: [] };
  spec.spec.analysis.metrics.forEach((metric, i) => {
    const c = classify(metric, `spec.analysis.metrics[${i}]`);
    if ('alarm' in c) plan.alarms.push(metric);
    else if ('problems' in c) throw new Error(c.problems.map((p) => `${p.path}: ${p.message}`).join('; '));
    else if (c.kind === 'errors' || 'counter' in c.kind)
      plan.metrics.push({ name: metric.name, kind: c.kind, thresholdRange: metric.thresholdRange });
    else {
      plan.metrics.push({ name: metric.name, kind: c.kind, thresholdRange: metric.thresholdRange, quantile: 0.99 });
      plan.thresholdsMs.push(c.kind.slowerThanMs);
    }
  });
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
  const warnings: SpecProblem[] = [];
  const mode = splitPopulation(spec);
  if (mode && spec.spec.analysis.compareArms)
    warnings.push({
      path: 'spec.analysis.compareArms',
      message: `is on under ${mode}: the canary is compared with a primary that serves other requests, so a difference between the two may be the population's rather than the version's`,
    });
  const metrics = spec.spec.analysis.metrics;
  const step = parseDuration(spec.spec.strategy.interval) / 1000;
  metrics.forEach((metric, i) => {
    if (metric.provider?.type !== 'cloudwatch' || !metric.counters) return;
    const lag = (parseDuration(metric.provider.delay) + parseDuration(metric.provider.period)) / 1000;
    if (step < lag)
      warnings.push({
        path: 'spec.strategy.interval',
        message: `${spec.spec.strategy.interval} is shorter than spec.analysis.metrics[${i}]'s delay + period (${lag}s): a step ends before any of its CloudWatch periods is read, so only the canary's own threshold test (on the periods before) can stop it; CloudWatch alarms are the fast path`,
      });
  });
  const scraped = metrics.some((m) => (m.provider?.type ?? 'prometheus') === 'prometheus' || m.provider?.type === 'amp');
  const look = parseDuration(spec.spec.strategy.lookInterval) / 1000;
  if (scraped && look < TYPICAL_SCRAPE_SECONDS)
    warnings.push({
      path: 'spec.strategy.lookInterval',
      message: `${spec.spec.strategy.lookInterval} is shorter than ${TYPICAL_SCRAPE_SECONDS}s, the scrape interval of most Prometheus setups: a look between scrapes sees nothing new, so Prepare raises it to the scrape interval it measures`,
    });
  return warnings;
}
