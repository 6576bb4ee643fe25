/**
 * A whole rollout judged by the sequential judge on CloudWatch counts: the real ASL in the local
 * engine, the real handlers, the real counter reader and CloudWatch provider, and the AWS SDK's
 * CloudWatchClient stubbed at its boundary (aws-sdk-client-mock) by a stand-in that behaves like
 * CloudWatch does for count metrics published every second:
 *
 * - a period's Sum becomes visible one period after the period ends (CloudWatch data arrives late);
 * - one period never arrives at all (a lost batch of EMF records);
 * - a period still open answers its partial Sum if anyone asks (GetMetricData does);
 * - periods without errors have no error datapoint (count metrics like ALB's HTTPCode_*_5XX_Count
 *   are published only when non-zero);
 * - GetMetricData with no queries answers a ValidationError once the credentials are accepted.
 *
 * The traffic behind the counts follows the weights the rollout actually set on the router.
 */
import {
  CloudWatchClient,
  GetMetricDataCommand,
  type GetMetricDataCommandInput,
  ListMetricsCommand,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startRollout } from '../local/commands/run.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { SHORT_RETRIES, SHORT_WAITS, webSpec } from './support/flow.ts';
import { RecordingRouter, recordingCluster } from './support/recording-router.ts';

const PERIOD_MS = 1000;
const DELAY_S = 2;
const RPS = 400;
const PRIMARY_ERROR_RATE = 0.005;

type Side = 'canary' | 'primary';
type Counts = Record<Side, { trials: number; events: number }>;

/** The service and CloudWatch behind it: traffic split by the router's weights, summed per 1 s period. */
class CloudWatchStandIn {
  readonly periods = new Map<number, Counts>();
  /** Each GetMetricData with queries: when it was sent and the window it asked for. */
  readonly reads: Array<{ sentAt: number; start: number; end: number; unarrived: number[] }> = [];
  missingPeriod: number | null = null;
  /** Lose the period that follows the first read's window (set by the read, so it always falls inside the rollout's reads). */
  loseThePeriodAfterTheFirstRead = false;
  #timer: NodeJS.Timeout;
  #seed = 12345;

  readonly router: RecordingRouter;
  readonly canaryErrorRate: number;

  constructor(router: RecordingRouter, canaryErrorRate: number) {
    this.router = router;
    this.canaryErrorRate = canaryErrorRate;
    this.#timer = setInterval(() => this.#serve(50), 50);
  }

  /** A small LCG: the same traffic each run. */
  #random(): number {
    this.#seed = (this.#seed * 1103515245 + 12345) % 2 ** 31;
    return this.#seed / 2 ** 31;
  }

  #serve(ms: number): void {
    const period = Math.floor(Date.now() / PERIOD_MS) * PERIOD_MS;
    const counts = this.periods.get(period) ?? { canary: { trials: 0, events: 0 }, primary: { trials: 0, events: 0 } };
    const total = (RPS * ms) / 1000;
    const share = this.router.weights.canary / (this.router.weights.canary + this.router.weights.primary);
    for (const [side, n, rate] of [
      ['canary', Math.round(total * share), this.canaryErrorRate],
      ['primary', Math.round(total * (1 - share)), PRIMARY_ERROR_RATE],
    ] as const) {
      counts[side].trials += n;
      for (let i = 0; i < n; i++) if (this.#random() < rate) counts[side].events += 1;
    }
    this.periods.set(period, counts);
  }

  /** A period's Sum is published one period after it ends; the missing one never is. */
  arrived(period: number, now: number): boolean {
    return period !== this.missingPeriod && now >= period + 2 * PERIOD_MS;
  }

  getMetricData(input: GetMetricDataCommandInput): { MetricDataResults: MetricDataResult[] } {
    const queries = input.MetricDataQueries ?? [];
    if (queries.length === 0) throw Object.assign(new Error('The parameter MetricDataQueries is required.'), { name: 'ValidationError' });
    const now = Date.now();
    const start = (input.StartTime as Date).getTime();
    const end = (input.EndTime as Date).getTime();
    // Chosen at the first read, not from the wall clock before the runtime starts: on a loaded machine
    // Prepare took longer than a fixed 2 s offset and the rollout's reads began after the lost period.
    if (this.loseThePeriodAfterTheFirstRead && this.missingPeriod === null) this.missingPeriod = end;
    const asked = [...this.periods.keys()].filter((p) => p >= start && p < end).sort((a, b) => a - b);
    this.reads.push({ sentAt: now, start, end, unarrived: asked.filter((p) => !this.arrived(p, now)) });
    return {
      MetricDataResults: queries.map((q) => {
        const [side, which] = (q.Id ?? '').split('_') as [Side, 'trials' | 'events'];
        const dimension = q.MetricStat?.Metric?.Dimensions?.[0]?.Value;
        expect(q.MetricStat?.Stat).toBe('Sum');
        expect(q.MetricStat?.Period).toBe(1);
        expect(dimension).toBe(side);
        // The open period answers its partial Sum, like GetMetricData; a late one is not there yet.
        const points = asked.filter((p) => (p + PERIOD_MS > now || this.arrived(p, now)) && p !== this.missingPeriod);
        const values = points.map((p) => this.periods.get(p)?.[side][which] ?? 0);
        const kept = points.map((p, i) => [p, values[i] as number] as const).filter(([, v]) => which === 'trials' || v > 0);
        return {
          Id: q.Id,
          StatusCode: 'Complete',
          Timestamps: kept.map(([p]) => new Date(p)),
          Values: kept.map(([, v]) => v),
        };
      }),
    };
  }

  close(): void {
    clearInterval(this.#timer);
  }
}

const cw = mockClient(CloudWatchClient);
let dir: string;
let runtime: LocalRuntime | undefined;
let standIn: CloudWatchStandIn | undefined;

beforeEach(() => {
  cw.reset();
  dir = mkdtempSync(join(tmpdir(), 'sluice-flow-cw-'));
});

afterEach(async () => {
  standIn?.close();
  await runtime?.close();
  runtime = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const count = (metricName: string, side: Side) => ({ namespace: 'Shop/Web', metricName, dimensions: { arm: side } });

async function rollout(canaryErrorRate: number) {
  const router = new RecordingRouter();
  standIn = new CloudWatchStandIn(router, canaryErrorRate);
  const cloudWatch = standIn;
  cw.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => cloudWatch.getMetricData(input));
  cw.on(ListMetricsCommand).callsFake(
    (input: { Namespace?: string; MetricName?: string; Dimensions?: { Name?: string; Value?: string }[] }) => ({
      Metrics: [{ Namespace: input.Namespace, MetricName: input.MetricName, Dimensions: input.Dimensions }],
    }),
  );
  // Traffic for a few periods before the rollout: Prepare reads them for its expectations.
  await new Promise((resolve) => setTimeout(resolve, 3 * PERIOD_MS));
  // The period right after the first read's window never arrives.
  standIn.loseThePeriodAfterTheFirstRead = true;
  runtime = await startLocalRuntime({
    dir: join(dir, 'state'),
    advertise: false,
    env: {},
    log: () => {},
    retryIntervalOverrides: SHORT_RETRIES,
    waitTimeOverrides: SHORT_WAITS,
    overrides: recordingCluster(router),
  });
  const spec = webSpec({
    strategy: { stepWeights: [20, 50], interval: '6s', lookInterval: '1s', threshold: 2, deadline: '5m' },
    analysis: {
      judge: 'sequential',
      sequential: { minSecondsPerStep: 0, minCanaryRequestsPerStep: 20, settleSeconds: 0 },
      metrics: [
        {
          name: 'errors',
          provider: { type: 'cloudwatch', region: 'eu-west-1', period: '1s', delay: `${DELAY_S}s` },
          thresholdRange: { max: 2 },
          counters: {
            canary: { events: count('Errors', 'canary'), trials: count('Requests', 'canary') },
            primary: { events: count('Errors', 'primary'), trials: count('Requests', 'primary') },
          },
        },
      ],
    },
  });
  const run = await startRollout(runtime, spec, { version: 'v2' });
  const summary = await run.done;
  return { summary, router, reads: standIn.reads, executionArn: run.executionArn, rt: runtime };
}

/** Periods read: each window starts where the previous ended, ends on a period that closed DELAY_S before, asks nothing unpublished but the lost period. */
function expectClosedPeriodsReadOnce(reads: CloudWatchStandIn['reads'], missing: number | null): void {
  expect(reads.length).toBeGreaterThan(2);
  // The lost period fell inside the rollout: a window covered it.
  expect(reads.some((r) => missing !== null && r.start <= missing && missing < r.end)).toBe(true);
  for (const [i, read] of reads.entries()) {
    expect(read.end).toBeLessThanOrEqual(Math.floor((read.sentAt - DELAY_S * 1000) / PERIOD_MS) * PERIOD_MS);
    expect(read.unarrived.filter((p) => p !== missing)).toEqual([]);
    if (i > 0) expect(read.start).toBe(reads[i - 1]?.end);
  }
}

describe('the sequential judge on CloudWatch counts (real ASL, CloudWatch at the SDK boundary)', () => {
  it('rolls back a canary failing 30% of requests, reading each closed period once', async () => {
    // Act
    const { summary, router, reads } = await rollout(0.3);

    // Assess
    expect(summary.outcome).toBe('rolled-back');
    expect(router.weights).toEqual({ primary: 100, canary: 0 });
    expect(router.canaryWeights()).not.toContain(100);
    expectClosedPeriodsReadOnce(reads, standIn?.missingPeriod ?? null);
    // Both arms' trials metrics were checked to exist before any traffic moved.
    const listed = cw.commandCalls(ListMetricsCommand).map((c) => c.args[0].input);
    expect(listed).toEqual(
      expect.arrayContaining([
        { Namespace: 'Shop/Web', MetricName: 'Requests', Dimensions: [{ Name: 'arm', Value: 'canary' }] },
        { Namespace: 'Shop/Web', MetricName: 'Requests', Dimensions: [{ Name: 'arm', Value: 'primary' }] },
      ]),
    );
  }, 60_000);

  it('promotes a healthy canary through a lost period, late periods and an open one, never reading a period early', async () => {
    // Act
    const { summary, router, reads, rt, executionArn } = await rollout(PRIMARY_ERROR_RATE);

    // Assess
    expect(summary.outcome).toBe('promoted');
    expect(router.canaryWeights()).toEqual(expect.arrayContaining([20, 50]));
    expectClosedPeriodsReadOnce(reads, standIn?.missingPeriod ?? null);
    // Prepare announced the lag: the judge sees a change at least delay + one period after it.
    const steps = await rt.deps.store.listSteps(executionArn.split(':').at(-1) ?? '');
    expect(JSON.stringify(steps)).toMatch(/at least 3s after it happens; CloudWatch alarms stay the fast path/);
  }, 60_000);
});
