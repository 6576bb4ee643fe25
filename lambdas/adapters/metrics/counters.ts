/**
 * The sequential judge's counter reader over every source it supports, one snapshot per look:
 *
 * - the built-in Envoy counters from Prometheus or Amazon Managed Prometheus (SigV4): the same
 *   per-source raw-counter snapshot for both (snapshotCounters);
 * - a metric's own raw counters (events, trials) per arm from Prometheus or AMP, stamped with
 *   their scrape times the same way, so they are differenced per job/instance like the built-ins;
 * - a metric's own counts from CloudWatch: integer Sums over closed periods. CloudWatch has no
 *   cumulative counter, so the reader keeps one: the previous look's value plus the periods that
 *   closed since its watermark (the end of the last period read, kept as the sample's timestamp).
 *   A period is read once, and only once `delay` has passed since it ended; a look with no newly
 *   closed period is "no new scrape", as a look between two Prometheus scrapes is.
 */
import { RefusedError } from '../../core/errors.ts';
import type { ArmCounters, CounterHistory, CounterSnapshot, SeriesSample } from '../../core/counts.ts';
import { counterQueries, queryVariables, renderQuery } from '../../core/queries.ts';
import type { Side } from '../../core/records.ts';
import { builtInSource, sequentialPlan } from '../../core/sequential/metrics.ts';
import type { CloudWatchCount, MetricSpec, RolloutSpec } from '../../core/spec.ts';
import { CloudWatchProvider, type CloudWatchMetricRef } from './cloudwatch.ts';
import type { MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { metricProviderFor, type MetricProviderFor } from './factory.ts';
import { counterHistory, PrometheusProvider, snapshotCounters } from './prometheus.ts';
import { sourceOf } from '../../core/counts.ts';

export interface CounterReadOptions {
  /** Prepare: also read this much history (scrape interval, rates) and check that the counts exist. */
  historySeconds?: number | undefined;
  /** The judge's baseline: CloudWatch counts continue from its values and watermark. */
  baseline?: CounterSnapshot | undefined;
}

const emptyArm = (): ArmCounters => ({ requests: [], errors: [], slow: {} });

function prometheusOf(provider: unknown, metric: MetricSpec): PrometheusProvider {
  if (provider instanceof PrometheusProvider) return provider;
  throw new Error(`metric "${metric.name}": its counters need a Prometheus or AMP provider`);
}

/**
 * Both arms' counters for the sequential judge at `at`, from every source the spec's metrics name.
 * `providerFor` is the metrics factory (tests pass stubs).
 */
export async function readCounterSnapshot(
  spec: RolloutSpec,
  thresholdsMs: readonly number[],
  options: CounterReadOptions = {},
  at: Date = new Date(),
  providerFor: MetricProviderFor = metricProviderFor,
): Promise<CounterSnapshot> {
  const plan = sequentialPlan(spec);
  const builtIn = plan.metrics.some((m) => m.kind === 'errors' || 'slowerThanMs' in m.kind);
  let snapshot: CounterSnapshot = { at: at.toISOString(), canary: emptyArm(), primary: emptyArm() };
  const reads: Array<Promise<void>> = [];
  if (builtIn) {
    const source = builtInSource(spec) as MetricSpec;
    const provider = prometheusOf(providerFor(spec, source), source);
    reads.push(
      snapshotCounters(provider, counterQueries(spec, thresholdsMs), at, { historySeconds: options.historySeconds }).then((s) => {
        snapshot = s;
      }),
    );
  }
  const own: Array<{ name: string; arms: Record<Side, { events: SeriesSample[]; trials: SeriesSample[] }>; history?: CounterHistory }> = [];
  spec.spec.analysis.metrics.forEach((metric, i) => {
    if (!metric.counters) return;
    const at_ = `spec.analysis.metrics[${i}].counters`;
    const provider = providerFor(spec, metric);
    reads.push(
      (provider instanceof CloudWatchProvider
        ? cloudWatchCounts(provider, spec, metric, at_, options)
        : prometheusCounts(prometheusOf(provider, metric), spec, metric, at_, at, options.historySeconds)
      ).then((read) => {
        own.push({ name: metric.name, ...read });
      }),
    );
  });
  await Promise.all(reads);
  for (const { name, arms, history } of own) {
    for (const side of ['canary', 'primary'] as const) (snapshot[side].counters ??= {})[name] = arms[side];
    // Without the built-ins, the first counter metric tells Prepare the interval and the rates.
    if (history && !snapshot.history) snapshot.history = history;
  }
  return snapshot;
}

function render(spec: RolloutSpec, metric: MetricSpec, template: string, path: string): string {
  try {
    return renderQuery(template, queryVariables(spec, metric));
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** A metric's raw counters from Prometheus or AMP: each series stamped with its source's scrape time. */
async function prometheusCounts(
  provider: PrometheusProvider,
  spec: RolloutSpec,
  metric: MetricSpec,
  path: string,
  at: Date,
  historySeconds: number | undefined,
): Promise<{ arms: Record<Side, { events: SeriesSample[]; trials: SeriesSample[] }>; history?: CounterHistory }> {
  const queryOf = (side: Side, which: 'events' | 'trials') =>
    render(spec, metric, metric.counters?.[side][which] as string, `${path}.${side}.${which}`);
  const arm = async (side: Side) => {
    const events = queryOf(side, 'events');
    const trials = queryOf(side, 'trials');
    const [e, t, eTimes, tTimes] = await Promise.all([
      provider.series(events, at),
      provider.series(trials, at),
      provider.series(`timestamp(${events})`, at),
      provider.series(`timestamp(${trials})`, at),
    ]);
    // Series of one source come from one scrape: stamp each with its source's newest sample time.
    const scrapedAt = new Map<string, number>();
    for (const s of [...eTimes, ...tTimes]) {
      const source = sourceOf(s.labels);
      scrapedAt.set(source, Math.max(scrapedAt.get(source) ?? 0, Math.round(s.value * 1000)));
    }
    const stamp = (series: SeriesSample[]) => series.map((s) => ({ ...s, timestamp: scrapedAt.get(sourceOf(s.labels)) }));
    return { events: stamp(e), trials: stamp(t), queries: { requests: trials, errors: events } };
  };
  const [canary, primary] = await Promise.all([arm('canary'), arm('primary')]);
  const arms = { canary: { events: canary.events, trials: canary.trials }, primary: { events: primary.events, trials: primary.trials } };
  if (!historySeconds) return { arms };
  return { arms, history: await counterHistory(provider, { canary: canary.queries, primary: primary.queries }, at, historySeconds) };
}

const WHICH = ['events', 'trials'] as const;

function cloudWatchRef(spec: RolloutSpec, metric: MetricSpec, ref: CloudWatchCount, path: string): CloudWatchMetricRef & { stat: string } {
  return {
    namespace: ref.namespace,
    metricName: ref.metricName,
    dimensions: Object.fromEntries(
      Object.entries(ref.dimensions).map(([name, value]) => [name, render(spec, metric, value, `${path}.dimensions.${name}`)]),
    ),
    stat: ref.stat,
  };
}

/** The GetMetricData query id of one count. */
const idOf = (side: Side, which: (typeof WHICH)[number]) => `${side}_${which}`;

/**
 * A metric's counts from CloudWatch as cumulative counters with a watermark: one source per
 * metric (`job="cloudwatch"`, `instance=<metric>`), its timestamp the end of the last closed
 * period read. Prepare starts every count at 0 at the newest closed period and checks that both
 * arms' trials metrics exist.
 */
async function cloudWatchCounts(
  provider: CloudWatchProvider,
  spec: RolloutSpec,
  metric: MetricSpec,
  path: string,
  options: CounterReadOptions,
): Promise<{ arms: Record<Side, { events: SeriesSample[]; trials: SeriesSample[] }>; history?: CounterHistory }> {
  const labels = { job: 'cloudwatch', instance: metric.name };
  const refs = {
    canary: Object.fromEntries(
      WHICH.map((w) => [w, cloudWatchRef(spec, metric, metric.counters?.canary[w] as CloudWatchCount, `${path}.canary.${w}`)]),
    ),
    primary: Object.fromEntries(
      WHICH.map((w) => [w, cloudWatchRef(spec, metric, metric.counters?.primary[w] as CloudWatchCount, `${path}.primary.${w}`)]),
    ),
  } as Record<Side, Record<(typeof WHICH)[number], CloudWatchMetricRef & { stat: string }>>;
  const queries: MetricDataQuery[] = (['canary', 'primary'] as const).flatMap((side) =>
    WHICH.map((which) => {
      const ref = refs[side][which];
      return {
        Id: idOf(side, which),
        ReturnData: true,
        MetricStat: {
          Metric: {
            Namespace: ref.namespace,
            MetricName: ref.metricName,
            Dimensions: Object.entries(ref.dimensions).map(([Name, Value]) => ({ Name, Value })),
          },
          Period: provider.periodSeconds,
          Stat: ref.stat,
        },
      };
    }),
  );
  const periodMs = provider.periodSeconds * 1000;
  const previous = options.baseline?.canary.counters?.[metric.name]?.trials[0];
  const prepare = options.historySeconds !== undefined || previous?.timestamp === undefined;
  let watermark: string | null = null;
  if (prepare) {
    // Prepare (or a baseline that lost this metric): read some history for the expectations and the
    // preflight, and start counting at the newest closed period.
    const historyMs = Math.max(5 * periodMs, 1000 * (options.historySeconds ?? 0));
    const end = provider.closedSince(null)?.end.getTime();
    if (end !== undefined) watermark = new Date(Math.floor((end - historyMs) / periodMs) * periodMs).toISOString();
  } else watermark = new Date(previous?.timestamp as number).toISOString();

  if (options.historySeconds !== undefined) {
    for (const side of ['canary', 'primary'] as const) {
      const ref = refs[side].trials;
      if (!(await provider.metricExists(ref)))
        throw new RefusedError(
          `${path}.${side}.trials: CloudWatch has no metric ${ref.namespace}/${ref.metricName} with dimensions ${JSON.stringify(ref.dimensions)} (ListMetrics found none): check the namespace, the name and the dimensions, and that the ${side} publishes it`,
        );
    }
  }

  const read = await provider.readClosed(queries, watermark);
  const sums: Record<string, number> = {};
  for (const side of ['canary', 'primary'] as const) {
    for (const which of WHICH) {
      const id = idOf(side, which);
      let sum = 0;
      for (const point of read.series.get(id) ?? []) {
        // Only the closed periods asked for: a point of a still-open period is never counted.
        const t = point.at.getTime();
        if (!read.window || t < read.window.start.getTime() || t + periodMs > read.window.end.getTime()) continue;
        if (!Number.isSafeInteger(point.value) || point.value < 0)
          throw new Error(
            `${path}.${side}.${which}: CloudWatch ${refs[side][which].stat} of ${refs[side][which].metricName} at ${point.at.toISOString()} is ${point.value}, not a whole count: the sequential judge needs a count metric read as Sum`,
          );
        sum += point.value;
      }
      sums[id] = sum;
    }
  }
  const stampedAt = read.window?.end.getTime() ?? (prepare ? undefined : previous?.timestamp);
  const value = (side: Side, which: (typeof WHICH)[number]): SeriesSample[] => {
    if (stampedAt === undefined) return [];
    const before = prepare ? 0 : (options.baseline?.[side].counters?.[metric.name]?.[which][0]?.value ?? 0);
    // Prepare's history is only for the expectations: counting starts at its end.
    return [{ labels, value: before + (prepare ? 0 : (sums[idOf(side, which)] ?? 0)), timestamp: stampedAt }];
  };
  const arms = {
    canary: { events: value('canary', 'events'), trials: value('canary', 'trials') },
    primary: { events: value('primary', 'events'), trials: value('primary', 'trials') },
  };
  if (options.historySeconds === undefined || !read.window) return { arms };
  const seconds = (read.window.end.getTime() - read.window.start.getTime()) / 1000;
  const primaryTrials = sums[idOf('primary', 'trials')] ?? 0;
  return {
    arms,
    history: {
      seconds,
      scrapeIntervalSeconds: provider.periodSeconds,
      interval: { kind: 'period', delaySeconds: provider.delaySeconds },
      canaryRps: (sums[idOf('canary', 'trials')] ?? 0) / seconds,
      primaryRps: primaryTrials / seconds,
      primaryErrorRate: primaryTrials > 0 ? (sums[idOf('primary', 'events')] ?? 0) / primaryTrials : null,
    },
  };
}
