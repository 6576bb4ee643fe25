/**
 * CloudWatch metrics through GetMetricData (metric math allowed). CloudWatch keeps filling a
 * period for minutes after it ends, so Sluice reads only periods that closed: the window ends at
 * (now − delay) rounded down to the period, and a caller that looks repeatedly passes a watermark
 * (the end of what it has read) in and out, so each period is read once.
 *
 * Two reads: `runQuery` (the threshold judge: one number, the last closed period) and
 * `readCounts` (the sequential judge: integer request, error and slow-request counts per arm,
 * from SampleCount and percentile-rank statistics, summed over newly closed periods).
 *
 * The client is narrowed to `send`, so tests stub it and assert the exact requests.
 */
import {
  GetMetricDataCommand,
  ListMetricsCommand,
  type CloudWatchClient,
  type GetMetricDataCommandInput,
  type MetricDataQuery,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import type { ArmDelta, LookCounts } from '../../core/counts.ts';
import type { MetricProvider } from '../../core/ports.ts';
import type { MetricValue } from '../../core/verdict.ts';
import type { Side } from '../../core/records.ts';

export type CloudWatchSend = Pick<CloudWatchClient, 'send'>;

export interface CloudWatchProviderOptions {
  client: CloudWatchSend;
  /** The period of every query, in seconds (default 60). */
  periodSeconds?: number;
  /** How long after its end a period counts as closed, in seconds (default 180: CloudWatch data arrives late). */
  delaySeconds?: number;
  now?: () => Date;
}

/** [start, end) of the periods to read; both on period boundaries. */
export interface ClosedWindow {
  start: Date;
  end: Date;
}

/**
 * The closed periods not read yet: from `watermark` (default: one period back) to the last
 * period that ended at least `delaySeconds` ago. Null when nothing new has closed.
 */
export function closedWindow(now: Date, periodSeconds: number, delaySeconds: number, watermark: string | null): ClosedWindow | null {
  const periodMs = periodSeconds * 1000;
  const endMs = Math.floor((now.getTime() - delaySeconds * 1000) / periodMs) * periodMs;
  const startMs = watermark === null ? endMs - periodMs : Date.parse(watermark);
  if (Number.isNaN(startMs)) throw new Error(`CloudWatch watermark "${watermark}" is not a timestamp`);
  if (startMs % periodMs !== 0) throw new Error(`CloudWatch watermark ${watermark} is not on a ${periodSeconds}s period boundary`);
  return startMs < endMs ? { start: new Date(startMs), end: new Date(endMs) } : null;
}

/** A CloudWatch metric as the count queries name it. */
export interface CloudWatchMetricRef {
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
}

/** Where one arm's counts come from (e.g. an ALB target group's TargetResponseTime and HTTPCode_*_5XX_Count). */
export interface CloudWatchArmMetrics {
  /** Its SampleCount is the request count; its percentile ranks PR(:t) give the requests at or below t. */
  latency: CloudWatchMetricRef & { /** The metric's unit: TargetResponseTime is in seconds. Default ms. */ unit?: 'ms' | 's' };
  /** Metrics whose Sum counts failed requests; summed. */
  errors: CloudWatchMetricRef[];
}

export interface CountsRead {
  /** Null when no period closed since the watermark. */
  counts: LookCounts | null;
  window: ClosedWindow | null;
  /** Pass this in next time. */
  watermark: string | null;
}

type Point = { at: Date; value: number };

export class CloudWatchProvider implements MetricProvider {
  readonly periodSeconds: number;
  readonly delaySeconds: number;
  readonly #client: CloudWatchSend;
  readonly #now: () => Date;

  constructor(options: CloudWatchProviderOptions) {
    this.#client = options.client;
    this.periodSeconds = options.periodSeconds ?? 60;
    this.delaySeconds = options.delaySeconds ?? 180;
    this.#now = options.now ?? (() => new Date());
    if (!Number.isInteger(this.periodSeconds) || this.periodSeconds < 1 || (this.periodSeconds >= 60 && this.periodSeconds % 60 !== 0)) {
      throw new Error(`CloudWatch period ${this.periodSeconds}s: expected 1, 5, 10, 30 or a multiple of 60 seconds`);
    }
  }

  /**
   * Asks GetMetricData with no queries (Flagger's check): CloudWatch answers that with a
   * ValidationError once it has accepted the credentials; anything else is a real failure.
   */
  async isOnline(): Promise<void> {
    const end = this.#now();
    try {
      await this.#client.send(
        new GetMetricDataCommand({ MetricDataQueries: [], StartTime: new Date(end.getTime() - this.periodSeconds * 1000), EndTime: end }),
      );
    } catch (error) {
      if ((error as Error).name === 'ValidationError' || (error as Error).name === 'ValidationException') return;
      throw new Error(`CloudWatch is not reachable with these credentials: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * `query` is the JSON of a MetricDataQuery array (Flagger's form). Exactly one query may return
   * data; its value in the last closed period is the result, null when that period has none.
   */
  async runQuery(query: string): Promise<MetricValue> {
    const queries = this.withPeriod(parseQueries(query));
    const returned = queries.filter((q) => q.ReturnData !== false);
    if (returned.length !== 1)
      throw new Error(
        `CloudWatch query returns ${returned.length} series, expected one: set ReturnData: false on the others — query: ${query}`,
      );
    const window = closedWindow(this.#now(), this.periodSeconds, this.delaySeconds, null);
    if (!window) return null;
    const points = (await this.#read(queries, window)).get(returned[0]?.Id ?? '') ?? [];
    if (points.length > 1)
      throw new Error(
        `CloudWatch query returned ${points.length} data points for one ${this.periodSeconds}s period: give its Period as ${this.periodSeconds} — query: ${query}`,
      );
    return points[0]?.value ?? null;
  }

  /** The closed periods after `watermark` as of now (no request). */
  closedSince(watermark: string | null): ClosedWindow | null {
    return closedWindow(this.#now(), this.periodSeconds, this.delaySeconds, watermark);
  }

  /** Every returned series' data points in the closed periods after `watermark`. */
  async readClosed(
    queries: MetricDataQuery[],
    watermark: string | null,
  ): Promise<{ window: ClosedWindow | null; series: Map<string, Point[]>; watermark: string | null }> {
    const window = closedWindow(this.#now(), this.periodSeconds, this.delaySeconds, watermark);
    if (!window) return { window, series: new Map(), watermark };
    return { window, series: await this.#read(queries, window), watermark: window.end.toISOString() };
  }

  /**
   * Integer counts per arm over the closed periods after `watermark`: requests = SampleCount of
   * the latency metric, errors = Sum of the error metrics, requests slower than t ms =
   * SampleCount × (100 − PR(:t)) / 100 per period, rounded (PR is a percentage of the samples).
   */
  async readCounts(
    arms: Record<Side, CloudWatchArmMetrics>,
    thresholdsMs: readonly number[],
    watermark: string | null,
  ): Promise<CountsRead> {
    const queries = [
      ...countQueries('canary', arms.canary, thresholdsMs, this.periodSeconds),
      ...countQueries('primary', arms.primary, thresholdsMs, this.periodSeconds),
    ];
    const read = await this.readClosed(queries, watermark);
    if (!read.window) return { counts: null, window: null, watermark };
    const gaps: string[] = [];
    const arm = (side: Side): ArmDelta => {
      const byTime = (id: string) => new Map((read.series.get(id) ?? []).map((p) => [p.at.getTime(), p.value]));
      const requests = byTime(`${side}_requests`);
      const delta: ArmDelta = { requests: 0, errors: 0, slow: {} };
      for (const n of requests.values()) delta.requests += Math.round(n);
      arms[side].errors.forEach((_, i) => {
        for (const n of byTime(`${side}_errors_${i}`).values()) delta.errors += Math.round(n);
      });
      for (const ms of thresholdsMs) {
        const rank = byTime(`${side}_pr_${thresholdId(ms)}`);
        let slow = 0;
        for (const [at, n] of requests) {
          const pr = rank.get(at);
          // Requests without a percentile rank cannot be split into fast and slow: a gap, not "all fast".
          if (pr === undefined) {
            if (n > 0) gaps.push(`${side}.slow[${ms}]@${new Date(at).toISOString()}`);
            continue;
          }
          slow += Math.round((n * (100 - pr)) / 100);
        }
        delta.slow[String(ms)] = slow;
      }
      return delta;
    };
    return { counts: { canary: arm('canary'), primary: arm('primary'), resets: 0, gaps }, window: read.window, watermark: read.watermark };
  }

  async #read(queries: MetricDataQuery[], window: ClosedWindow): Promise<Map<string, Point[]>> {
    const series = new Map<string, Point[]>();
    let nextToken: string | undefined;
    do {
      const input: GetMetricDataCommandInput = {
        MetricDataQueries: queries,
        StartTime: window.start,
        EndTime: window.end,
        ScanBy: 'TimestampAscending',
      };
      if (nextToken) input.NextToken = nextToken;
      let output;
      try {
        output = await this.#client.send(new GetMetricDataCommand(input));
      } catch (error) {
        throw new Error(
          `CloudWatch GetMetricData for ${window.start.toISOString()}..${window.end.toISOString()} failed: ${(error as Error).message}`,
          { cause: error },
        );
      }
      for (const result of output.MetricDataResults ?? []) collect(series, result);
      nextToken = output.NextToken;
    } while (nextToken);
    return series;
  }

  /** True when CloudWatch holds the metric with these dimensions (ListMetrics: published within the last two weeks). */
  async metricExists(ref: CloudWatchMetricRef): Promise<boolean> {
    let output;
    try {
      output = await this.#client.send(
        new ListMetricsCommand({
          Namespace: ref.namespace,
          MetricName: ref.metricName,
          Dimensions: Object.entries(ref.dimensions).map(([Name, Value]) => ({ Name, Value })),
        }),
      );
    } catch (error) {
      throw new Error(`CloudWatch ListMetrics for ${ref.namespace}/${ref.metricName} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return (output.Metrics ?? []).length > 0;
  }

  /** Fills each MetricStat without a Period with the provider's period. */
  withPeriod(queries: MetricDataQuery[]): MetricDataQuery[] {
    return queries.map((q) =>
      q.MetricStat && q.MetricStat.Period === undefined ? { ...q, MetricStat: { ...q.MetricStat, Period: this.periodSeconds } } : q,
    );
  }
}

function collect(series: Map<string, Point[]>, result: MetricDataResult): void {
  if (result.StatusCode === 'InternalError' || result.StatusCode === 'Forbidden') {
    const messages = (result.Messages ?? []).map((m) => `${m.Code ?? ''} ${m.Value ?? ''}`.trim()).join('; ');
    throw new Error(`CloudWatch query ${String(result.Id)} answered ${result.StatusCode}${messages ? `: ${messages}` : ''}`);
  }
  const id = result.Id ?? '';
  const points = series.get(id) ?? [];
  const times = result.Timestamps ?? [];
  (result.Values ?? []).forEach((value, i) => {
    const at = times[i];
    if (at !== undefined) points.push({ at: new Date(at), value });
  });
  series.set(id, points);
}

function parseQueries(query: string): MetricDataQuery[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(query);
  } catch (error) {
    throw new Error(`CloudWatch query is not JSON (expected a MetricDataQuery array): ${query.slice(0, 200)}`, { cause: error });
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length === 0 ||
    !parsed.every((q) => typeof q === 'object' && q !== null && typeof (q as { Id?: unknown }).Id === 'string')
  ) {
    throw new Error(`CloudWatch query must be a non-empty array of MetricDataQuery objects, each with an Id: ${query.slice(0, 200)}`);
  }
  return parsed as MetricDataQuery[];
}

function thresholdId(ms: number): string {
  return String(ms).replace('.', '_');
}

function metricStat(ref: CloudWatchMetricRef, stat: string, period: number): MetricDataQuery['MetricStat'] {
  return {
    Metric: {
      Namespace: ref.namespace,
      MetricName: ref.metricName,
      Dimensions: Object.entries(ref.dimensions).map(([Name, Value]) => ({ Name, Value })),
    },
    Period: period,
    Stat: stat,
  };
}

/** The GetMetricData queries of one arm's counts (ids: `<arm>_requests`, `<arm>_errors_<i>`, `<arm>_pr_<t>`). */
export function countQueries(
  side: Side,
  metrics: CloudWatchArmMetrics,
  thresholdsMs: readonly number[],
  period: number,
): MetricDataQuery[] {
  const inUnit = (ms: number) => (metrics.latency.unit === 's' ? ms / 1000 : ms);
  return [
    { Id: `${side}_requests`, MetricStat: metricStat(metrics.latency, 'SampleCount', period), ReturnData: true },
    ...metrics.errors.map((ref, i) => ({ Id: `${side}_errors_${i}`, MetricStat: metricStat(ref, 'Sum', period), ReturnData: true })),
    ...thresholdsMs.map((ms) => ({
      Id: `${side}_pr_${thresholdId(ms)}`,
      MetricStat: metricStat(metrics.latency, `PR(:${inUnit(ms)})`, period),
      ReturnData: true,
    })),
  ];
}
