/**
 * A canary's first 5xx arrives as a brand-new series (Envoy creates a response code's counter at
 * its first such answer; there is no zero sample before it). rate() cannot count what the series
 * held at its first sample, so a judge that only looked for growth from zero would miss the start
 * of an incident. Both judges must still roll such a canary back, read through Debian's real
 * Prometheus (1 s scrapes) with the built-in queries.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it, type TestContext } from 'vitest';
import { readMetrics } from './factory.ts';
import { PrometheusProvider, snapshotCounters } from './prometheus.ts';
import { thresholdJudge } from '../../core/judge-threshold.ts';
import { counterQueries } from '../../core/queries.ts';
import { decideAfterLook, initialRun } from '../../core/rollout.ts';
import { parseSpec } from '../../core/spec.ts';
import type { RunState } from '../../core/task.ts';
import { lookJudge, rebaseJudge, startJudge } from '../../core/sequential/session.ts';
import { sequentialConfig } from '../../core/sequential/judge.ts';
import { sequentialPlan } from '../../core/sequential/metrics.ts';
import { envoyMetricFamilies, envoyServerUptime, metricsHandler } from '../../../local/sandbox/envoy-metrics.ts';
import { startPrometheus } from '../../../local/sandbox/prometheus.ts';

const NS = 'gloo-system';
const CANARY = `web-canary_${NS}`;
const PRIMARY = `web-primary_${NS}`;

/** A gateway's metrics with live traffic and a Prometheus scraping them, stopped when the test ends (the tests run concurrently: nothing shared). */
async function world(onTestFinished: TestContext['onTestFinished']) {
  const closers: Array<() => Promise<void>> = [];
  onTestFinished(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
  const registry = new Registry();
  const { requests } = envoyMetricFamilies(registry);
  envoyServerUptime(registry, Date.now());
  const server: Server = createServer(metricsHandler(registry));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const target = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const prometheus = await startPrometheus({ scrapeTargets: [target], scrapeIntervalSeconds: 1 });
  closers.push(() => prometheus.close());
  // Healthy traffic on both arms: 200s only, so no 5xx series exists for either.
  const state = { canaryFailing: false };
  const timer = setInterval(() => {
    requests.labels(PRIMARY, '200').inc(45);
    if (state.canaryFailing) {
      requests.labels(CANARY, '200').inc(3);
      // From its first 503 on, 40% of the canary's answers: the series is created by the first inc().
      requests.labels(CANARY, '503').inc(2);
    } else requests.labels(CANARY, '200').inc(5);
  }, 100);
  closers.push(async () => clearInterval(timer));
  await prometheus.waitForSeries(`count_over_time(envoy_cluster_upstream_rq{envoy_cluster_name="${CANARY}"}[1m]) >= 3`);
  const spec = parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'web' },
    spec: {
      cluster: { kubeconfigContext: 'test' },
      router: {
        name: 'web',
        namespace: NS,
        primary: { upstream: { name: 'web-primary', namespace: NS } },
        canary: { upstream: { name: 'web-canary', namespace: NS } },
      },
      strategy: { stepWeights: [10, 50], interval: '2s', lookInterval: '1s', threshold: 2, deadline: '5m' },
      analysis: {
        judge: 'threshold',
        noData: 'fail',
        prometheus: { address: prometheus.url },
        metrics: [{ name: 'request-success-rate', interval: '10s', thresholdRange: { min: 99 } }],
      },
    },
  });
  return { prometheus, spec, state };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Each test waits on the wall clock with a Prometheus of its own: the two run at the same time.
describe.concurrent('a first 5xx that arrives as a brand-new series', () => {
  it('is rolled back by the threshold judge (the built-in success-rate query, Flagger semantics)', async ({ onTestFinished }) => {
    // Prepare: checks pass while the canary answers only 200.
    const { spec, state } = await world(onTestFinished);
    let run: RunState = initialRun(spec, new Date());
    const before = thresholdJudge.judge(await readMetrics(spec));
    expect(before.result).toBe('pass');

    // Act: the canary starts failing mid-rollout; one check a second.
    state.canaryFailing = true;
    const results: string[] = [];
    for (let i = 0; i < 15 && run.next !== 'rollback'; i++) {
      await sleep(1000);
      const verdict = thresholdJudge.judge(await readMetrics(spec));
      results.push(verdict.result);
      run = decideAfterLook(
        { ...run, stepIndex: 0, lookInStep: 0 },
        { verdict, noData: 'fail', threshold: spec.spec.strategy.threshold, now: new Date() },
      );
    }

    // Assess
    expect(run.next).toBe('rollback');
    expect(run.reason).toMatch(/^analysis failed 2\/2 checks/);
  }, 60_000);

  it('is rolled back by the sequential judge, which counts the new series whole', async ({ onTestFinished }) => {
    const { prometheus, spec, state } = await world(onTestFinished);
    const provider = new PrometheusProvider({ address: prometheus.url });
    const sequentialSpec = parseSpec({ ...spec, spec: { ...spec.spec, analysis: { ...spec.spec.analysis, judge: 'sequential' } } });
    const plan = sequentialPlan(sequentialSpec);
    const config = sequentialConfig(sequentialSpec.spec.analysis.sequential);
    const snap = () => snapshotCounters(provider, counterQueries(sequentialSpec, plan.thresholdsMs), new Date());
    let memory = rebaseJudge(startJudge(await snap(), new Date()), new Date(Date.now() - 5000), config);

    // Act
    state.canaryFailing = true;
    const decisions: string[] = [];
    for (let i = 0; i < 15 && decisions.at(-1) !== 'fail'; i++) {
      await sleep(1000);
      const out = lookJudge(
        memory,
        await snap(),
        { stepIndex: 0, lookInStep: i, atTopWeight: false, metrics: plan.metrics },
        config,
        new Date(),
      );
      memory = out.memory;
      decisions.push(out.decision);
    }

    // Assess
    expect(decisions.at(-1)).toBe('fail');
    expect(memory.judge?.metrics[0]?.rollout.canary.events).toBeGreaterThan(0);
  }, 60_000);
});
