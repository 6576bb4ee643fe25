/**
 * `sluice replay --spec FILE --from T --to T`: a past window judged from the counters Debian's real
 * Prometheus (the sandbox's, scraping every second) kept, read at each look's instant through
 * the real adapter. The gateway is Envoy's metric families in prom-client on a port of its own.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { replayCommand } from '../local/commands/replay.ts';
import { envoyMetricFamilies, envoyServerUptime, metricsHandler } from '../local/sandbox/envoy-metrics.ts';
import { startPrometheus } from '../local/sandbox/prometheus.ts';

const NS = 'gloo-system';
const CLUSTER = { canary: `web-canary_${NS}`, primary: `web-primary_${NS}` };
const dir = mkdtempSync(join(tmpdir(), 'sluice-replay-window-'));
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('sluice replay over a window read from Prometheus', () => {
  it('judges both arms’ counts of a past time range look by look, and names the flag of a window without data', async () => {
    // Prepare: a gateway whose canary (10% of 200 requests/s) fails 20% of its requests; Prometheus scrapes it every second.
    const registry = new Registry();
    const { requests, latency } = envoyMetricFamilies(registry);
    envoyServerUptime(registry, Date.now());
    for (const cluster of Object.values(CLUSTER)) latency.zero({ envoy_cluster_name: cluster });
    const gateway = createServer(metricsHandler(registry));
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => gateway.close(() => resolve())));
    const prometheus = await startPrometheus({
      scrapeTargets: [`127.0.0.1:${(gateway.address() as AddressInfo).port}`],
      scrapeIntervalSeconds: 1,
    });
    closers.push(() => prometheus.close());
    let tick = 0;
    const timer = setInterval(() => {
      tick += 1;
      requests.labels(CLUSTER.primary, '200').inc(18);
      for (let i = 0; i < 18; i++) latency.labels(CLUSTER.primary).observe(20);
      requests.labels(CLUSTER.canary, tick % 5 === 0 ? '503' : '200').inc(2);
      for (let i = 0; i < 2; i++) latency.labels(CLUSTER.canary).observe(20);
    }, 100);
    closers.push(async () => clearInterval(timer));
    await prometheus.waitForSeries(`count_over_time(envoy_cluster_upstream_rq{envoy_cluster_name="${CLUSTER.canary}"}[1m]) >= 2`);
    const from = new Date();
    await sleep(8000);
    const to = new Date();
    const specPath = join(dir, 'web.json');
    writeFileSync(
      specPath,
      JSON.stringify({
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
          strategy: { stepWeights: [10, 50], interval: '30s', lookInterval: '1s', deadline: '10m' },
          analysis: {
            judge: 'sequential',
            noData: 'fail',
            prometheus: { address: 'http://prometheus.invalid' },
            metrics: [
              { name: 'request-success-rate', thresholdRange: { min: 99 } },
              { name: 'request-duration', thresholdRange: { max: 250 } },
            ],
          },
        },
      }),
    );
    const run = async (options: Parameters<typeof replayCommand>[1]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await replayCommand(
        undefined,
        { spec: specPath, prometheus: prometheus.url, out: join(dir, 'window.html'), json: true, ...options },
        { stdout: (t) => out.push(t), stderr: (t) => err.push(t) },
      );
      return { code, out: out.join(''), err: err.join('') };
    };

    // Act
    const window = await run({ from: from.toISOString(), to: to.toISOString() });
    const empty = await run({ from: new Date(Date.parse('2020-01-01T00:00:00Z')).toISOString(), to: '2020-01-01T00:01:00Z' });

    // Assess: the canary's errors roll it back within the window; the looks are one second apart.
    expect(window.code, window.err).toBe(0);
    const json = JSON.parse(window.out) as {
      outcome: string;
      reason: string;
      original: unknown;
      decisions: Array<{ at: string; decision: string; next: string }>;
    };
    expect(json.original).toBeNull();
    expect(json.outcome).toBe('rolled-back');
    expect(json.reason).toMatch(/^sequential judge: canary worse/);
    expect(json.decisions.at(-1)).toMatchObject({ decision: 'fail', next: 'rollback' });
    expect(Date.parse(json.decisions[0]?.at ?? '')).toBe(from.getTime() + 1000);
    expect(empty.code).toBe(2);
    expect(empty.err).toMatch(/^--from: Prometheus at .* has no request counters of the primary/);
  });
});
