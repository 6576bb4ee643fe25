/**
 * The sequential judge's production path (its start in Prepare, rebase in SetWeight, look in
 * Analyze with the flow's decisions) against Debian's real Prometheus at scaled
 * time (1–3 s scrapes), through the real adapter (timestamps, uptime, file-based targets):
 * the routine events that rolled healthy canaries back before per-source counting.
 *
 * - a gateway pod replaced (new `instance`, counters from zero);
 * - a gateway restarted in place, with a response-code series (an old 504) not re-created;
 * - a scrape interval three times the look interval.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it, type TestContext } from 'vitest';
import { PrometheusProvider, snapshotCounters } from '../lambdas/adapters/metrics/prometheus.ts';
import { createSequentialJudge } from '../lambdas/core/judge-sequential.ts';
import type { SequentialJudge } from '../lambdas/core/judge-sequential.ts';
import { counterQueries } from '../lambdas/core/queries.ts';
import { initialRun } from '../lambdas/core/rollout.ts';
import { judgeTestSpec } from '../lambdas/core/judge.fixtures.ts';
import type { RunState } from '../lambdas/core/task.ts';
import { envoyMetricFamilies, envoyServerUptime, metricsHandler } from '../local/sandbox/envoy-metrics.ts';
import { startPrometheus, type RunningPrometheus } from '../local/sandbox/prometheus.ts';

const NS = 'gloo-system';
const CLUSTER = { canary: `web-canary_${NS}`, primary: `web-primary_${NS}` };
type Closers = Array<() => Promise<void>>;

/** What one test starts, stopped in reverse order when it ends (the tests run concurrently: no shared list). */
function closersOf(onTestFinished: TestContext['onTestFinished']): Closers {
  const closers: Closers = [];
  onTestFinished(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
  return closers;
}

/** A gateway process as Prometheus sees it: Envoy's counter families and its uptime, on its own port. */
async function startGatewayProcess(closers: Closers, history: { primary504?: number } = {}, port = 0) {
  const registry = new Registry();
  const { requests } = envoyMetricFamilies(registry);
  envoyServerUptime(registry, Date.now());
  // A long-lived process: lifetime counts, and an old 504 that this process may never answer again.
  requests.labels(CLUSTER.primary, '200').inc(50_000);
  if (history.primary504) requests.labels(CLUSTER.primary, '504').inc(history.primary504);
  const server: Server = createServer(metricsHandler(registry));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  closers.push(stop);
  return { target: `127.0.0.1:${bound}`, requests, stop };
}

type GatewayProcess = Awaited<ReturnType<typeof startGatewayProcess>>;

/** Steady traffic: 200 req/s, 10% to the canary, 0.5% errors on both arms (deterministic). */
function startTraffic(closers: Closers, current: () => GatewayProcess) {
  let tick = 0;
  const timer = setInterval(() => {
    tick += 1;
    const { requests } = current();
    requests.labels(CLUSTER.primary, '200').inc(18);
    requests.labels(CLUSTER.canary, '200').inc(2);
    if (tick % 5 === 0) requests.labels(CLUSTER.primary, '503').inc(1);
    if (tick % 50 === 0) requests.labels(CLUSTER.canary, '503').inc(1);
  }, 100);
  closers.push(async () => clearInterval(timer));
}

function specFor(prometheus: RunningPrometheus, lookInterval: string) {
  return judgeTestSpec({
    judge: 'sequential',
    strategy: { stepWeights: [10, 50], interval: '30s', lookInterval, deadline: '10m' },
    prometheusAddress: prometheus.url,
    minSuccessRate: 98,
  });
}

/** The sequential judge with its ports wired to the real Prometheus adapter (the store in memory). */
function judgeOn(prometheus: RunningPrometheus, spec: ReturnType<typeof specFor>): SequentialJudge {
  const provider = new PrometheusProvider({ address: prometheus.url });
  const memory = new Map<string, unknown>();
  return createSequentialJudge(spec, {
    now: () => new Date(),
    snapshotCounters: (asked, thresholds, options) => snapshotCounters(provider, counterQueries(asked, thresholds), new Date(), options),
    readMetrics: async () => [],
    store: {
      getAnalysisState: async (execution) => memory.get(execution) ?? null,
      putAnalysisState: async (execution, state) => {
        memory.set(execution, structuredClone(state));
      },
    },
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Looks every `everyMs` for `count` looks, as Bake → Analyze would; returns each look's judge decision and the flow's next action. */
async function looks(judge: SequentialJudge, run: RunState, count: number, everyMs: number, during?: (i: number) => Promise<void>) {
  const seen: Array<{ decision: string; next: string; summary: string }> = [];
  let state = run;
  for (let i = 0; i < count; i++) {
    await sleep(everyMs);
    await during?.(i);
    const { verdict, next, decision } = await judge.look('e1', { ...state, next: 'bake' }, { noData: 'fail', now: new Date() });
    seen.push({ decision, next: next.next, summary: verdict.summary });
    if (next.next === 'rollback' || next.next === 'promote') break;
    // Stay in the step: this test watches the judge, not the schedule.
    state = { ...next, stepIndex: 0, lookInStep: 0 };
  }
  return seen;
}

// Each test waits on the wall clock (its own Prometheus, 12-14 looks a second apart) and shares
// nothing with the other: the two run at the same time.
describe.concurrent('the sequential judge on a real Prometheus through routine events', () => {
  it('keeps judging, without a rollback, through a gateway pod replacement (new instance, counters from zero)', async ({
    onTestFinished,
  }) => {
    const closers = closersOf(onTestFinished);
    // Prepare: one gateway, 1 s scrapes, the rollout at 10%.
    let gateway = await startGatewayProcess(closers);
    const prometheus = await startPrometheus({ scrapeTargets: [gateway.target], scrapeIntervalSeconds: 1 });
    closers.push(() => prometheus.close());
    startTraffic(closers, () => gateway);
    await prometheus.waitForSeries(`count_over_time(envoy_cluster_upstream_rq{envoy_cluster_name="${CLUSTER.canary}"}[1m]) >= 2`);
    const spec = specFor(prometheus, '1s');
    const judge = judgeOn(prometheus, spec);
    const run = (await judge.start('e1', initialRun(spec, new Date()))).run;
    await judge.rebase('e1');

    // Act: the pod is replaced at the 4th look (a new port, so a new instance label).
    const seen = await looks(judge, run, 14, 1000, async (i) => {
      if (i !== 3) return;
      const replacement = await startGatewayProcess(closers);
      await prometheus.setTargets([replacement.target]);
      const old = gateway;
      gateway = replacement;
      await old.stop();
    });

    // Assess: never rolled back; the new pod's traffic is counted again within a few looks.
    expect(seen.map((s) => s.next)).not.toContain('rollback');
    const after = seen.slice(4);
    expect(after.filter((s) => s.decision === 'continue').length).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it('counts from zero after a restart in place, and a 504 series that is not re-created voids nothing', async ({ onTestFinished }) => {
    const closers = closersOf(onTestFinished);
    let gateway = await startGatewayProcess(closers, { primary504: 3 });
    const prometheus = await startPrometheus({ scrapeTargets: [gateway.target], scrapeIntervalSeconds: 1 });
    closers.push(() => prometheus.close());
    startTraffic(closers, () => gateway);
    await prometheus.waitForSeries(`count_over_time(envoy_cluster_upstream_rq{envoy_cluster_name="${CLUSTER.canary}"}[1m]) >= 2`);
    const spec = specFor(prometheus, '1s');
    const judge = judgeOn(prometheus, spec);
    const run = (await judge.start('e1', initialRun(spec, new Date()))).run;
    await judge.rebase('e1');

    // Act: the process restarts on the same port between looks 3 and 4; its old 504 never comes back.
    const seen = await looks(judge, run, 12, 1000, async (i) => {
      if (i !== 3) return;
      // Same address as before: Prometheus keeps the instance label; the counters and uptime start again.
      const port = Number(gateway.target.split(':')[1]);
      await gateway.stop();
      gateway = await startGatewayProcess(closers, {}, port);
    });

    // Assess
    expect(seen.map((s) => s.next)).not.toContain('rollback');
    expect(seen.filter((s) => s.decision === 'no-evidence')).toEqual([]);
    expect(seen.slice(4).filter((s) => s.decision === 'continue').length).toBeGreaterThanOrEqual(5);
  }, 60_000);
});

// This one measures Prometheus' own scrape gaps: alone, so that no neighbour's load stretches them.
describe('the sequential judge on a real Prometheus with slow scrapes', () => {
  it('raises a look interval shorter than the scrapes, and a look between scrapes is "no new scrape", not empty', async ({
    onTestFinished,
  }) => {
    const closers = closersOf(onTestFinished);
    const gateway = await startGatewayProcess(closers);
    const prometheus = await startPrometheus({ scrapeTargets: [gateway.target], scrapeIntervalSeconds: 3 });
    closers.push(() => prometheus.close());
    startTraffic(closers, () => gateway);
    await prometheus.waitForSeries(`count_over_time(envoy_cluster_upstream_rq{envoy_cluster_name="${CLUSTER.canary}"}[1m]) >= 3`, 30_000);
    const spec = specFor(prometheus, '1s');
    const judge = judgeOn(prometheus, spec);

    // Act
    const started = await judge.start('e1', initialRun(spec, new Date()));
    await judge.rebase('e1');
    // Looks every second anyway (three per scrape), as a lookInterval of 1 s would.
    const seen = await looks(judge, started.run, 12, 1000);

    // Assess
    expect(started.run.bakeSeconds).toBe(3);
    expect(started.run.looksPerStep).toBe(10);
    expect(started.notes[0]).toMatch(/^lookInterval raised from 1s to 3s: Prometheus scrapes these counters every 3s/);
    expect(seen.map((s) => s.next)).not.toContain('rollback');
    const decisions = seen.map((s) => s.decision);
    expect(decisions.filter((d) => d === 'no-new-scrape').length).toBeGreaterThanOrEqual(5);
    expect(decisions.filter((d) => d === 'continue').length).toBeGreaterThanOrEqual(3);
    expect(decisions).not.toContain('no-evidence');
  }, 60_000);
});
