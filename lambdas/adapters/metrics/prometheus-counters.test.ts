/**
 * Raw counters through a real Prometheus: the per-look deltas of the sequential judge, across a
 * counter reset (the metrics server restarted) and a scrape gap (the target failed its scrapes).
 * A loopback relay on a fixed port stands between Prometheus and the Envoy-named metrics server,
 * so the server can be swapped for a fresh one (counters from zero) or made to fail.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deltaCounts, nextBaseline, type CounterSnapshot } from '../../core/counts.ts';
import { counterQueries } from '../../core/queries.ts';
import { parseSpec } from '../../core/spec.ts';
import { startEnvoyMetrics, type EnvoyMetricsServer } from '../../../test/support/envoy-metrics.ts';
import { startPrometheus, type RunningPrometheus } from '../../../local/sandbox/prometheus.ts';
import { PrometheusProvider, snapshotCounters } from './prometheus.ts';

const NS = 'gloo-system';
const CANARY = `podinfo-canary_${NS}`;
const PRIMARY = `podinfo-primary_${NS}`;

const spec = parseSpec({
  apiVersion: 'sluice.dev/v1',
  kind: 'Rollout',
  metadata: { name: 'podinfo' },
  spec: {
    cluster: { kubeconfigContext: 'test' },
    router: {
      name: 'podinfo',
      namespace: NS,
      primary: { upstream: { name: 'podinfo-primary', namespace: NS } },
      canary: { upstream: { name: 'podinfo-canary', namespace: NS } },
    },
    strategy: { stepWeights: [10, 50] },
    analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
  },
});

/** Relays GET /metrics to the current Envoy metrics server, or fails every scrape while `failing`. */
async function startRelay(initial: EnvoyMetricsServer) {
  const state = { upstream: initial, failing: false };
  const server: Server = createServer((req, res) => {
    if (state.failing) {
      res.writeHead(500).end('scrape refused by the test');
      return;
    }
    fetch(state.upstream.url)
      .then(async (answer) =>
        res.writeHead(answer.status, { 'Content-Type': answer.headers.get('content-type') ?? 'text/plain' }).end(await answer.text()),
      )
      .catch((error: unknown) => res.writeHead(502).end(String(error)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    target: `127.0.0.1:${port}`,
    state,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('snapshotCounters + deltaCounts against a real Prometheus', () => {
  const servers: EnvoyMetricsServer[] = [];
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let prometheus: RunningPrometheus;
  let provider: PrometheusProvider;
  const queries = counterQueries(spec, [500]);
  const total = (cluster: string) => `sum(envoy_cluster_upstream_rq{envoy_cluster_name="${cluster}"})`;
  const snapshot = () => snapshotCounters(provider, queries, new Date());

  async function freshEnvoy(): Promise<EnvoyMetricsServer> {
    const envoy = await startEnvoyMetrics();
    servers.push(envoy);
    envoy.declare(CANARY);
    envoy.declare(PRIMARY);
    return envoy;
  }

  beforeAll(async () => {
    relay = await startRelay(await freshEnvoy());
    prometheus = await startPrometheus({ scrapeTargets: [relay.target] });
    provider = new PrometheusProvider({ address: prometheus.url });
    await prometheus.waitForSeries(total(CANARY));
  });

  afterAll(async () => {
    await prometheus?.close();
    await relay?.close();
    await Promise.all(servers.map((s) => s.close()));
  });

  it('counts each look exactly, through a reset and a scrape gap', async () => {
    // Prepare: the rollout's starting snapshot, then one look's traffic.
    let envoy = relay.state.upstream;
    envoy.record(CANARY, {
      requests: 100,
      errors: 5,
      latencyMs: [
        { ms: 20, count: 90 },
        { ms: 700, count: 10 },
      ],
    });
    envoy.record(PRIMARY, { requests: 200, latencyMs: 20 });
    await prometheus.waitForSeries(`${total(PRIMARY)} == 200`);
    const start = await snapshot();
    envoy.record(CANARY, {
      requests: 50,
      errors: 3,
      latencyMs: [
        { ms: 20, count: 46 },
        { ms: 2000, count: 4 },
      ],
    });
    envoy.record(PRIMARY, { requests: 100, errors: 1, latencyMs: 20 });
    await prometheus.waitForSeries(`${total(PRIMARY)} == 300`);

    // Act 1: a plain look.
    const look1 = await snapshot();
    const plain = deltaCounts(start, look1);

    // Assess 1
    expect(plain).toMatchObject({
      canary: { requests: 50, errors: 3, slow: { '500': 4 } },
      primary: { requests: 100, errors: 1, slow: { '500': 0 } },
      resets: 0,
      gaps: [],
      newScrape: true,
    });
    // Each sample carries its own scrape time, not the query's evaluation time.
    expect(look1.canary.requests[0]?.timestamp).toBeLessThanOrEqual(Date.parse(look1.at));
    expect(look1.canary.requests[0]?.timestamp).toBeGreaterThan(Date.parse(start.at) - 5_000);
    expect(look1.canary.requests.map((s) => s.labels.envoy_response_code).sort()).toEqual(['200', '503']); // per series, not summed

    // Act 2: the metrics server restarts (counters from zero) and serves a little before the next look.
    envoy = await freshEnvoy();
    relay.state.upstream = envoy;
    envoy.record(CANARY, {
      requests: 20,
      errors: 1,
      latencyMs: [
        { ms: 20, count: 19 },
        { ms: 600, count: 1 },
      ],
    });
    envoy.record(PRIMARY, { requests: 30, latencyMs: 20 });
    await prometheus.waitForSeries(`${total(PRIMARY)} == 30`);
    const look2 = await snapshot();
    const afterReset = deltaCounts(look1, look2);

    // Assess 2: what the restarted server served, not a negative or a wrapped number.
    expect(afterReset.canary).toEqual({ requests: 20, errors: 1, slow: { '500': 1 } });
    expect(afterReset.primary).toEqual({ requests: 30, errors: 0, slow: { '500': 0 } });
    expect(afterReset.resets).toBeGreaterThan(0);

    // Act 3: scrapes fail until Prometheus marks the series stale; traffic goes on meanwhile.
    relay.state.failing = true;
    await prometheus.waitForSeries(`absent(envoy_cluster_upstream_rq{envoy_cluster_name="${PRIMARY}"})`);
    envoy.record(CANARY, { requests: 40, errors: 2, latencyMs: 20 });
    envoy.record(PRIMARY, { requests: 60, latencyMs: 20 });
    const look3 = await snapshot();
    const gapLook = deltaCounts(look2, look3);
    relay.state.failing = false;
    await prometheus.waitForSeries(`${total(PRIMARY)} == 90`);
    const look4 = await snapshot();
    const afterGap = deltaCounts(nextBaseline(look2, look3), look4);

    // Assess 3: the gap look names what it missed and counts nothing; the next look counts the gap's traffic once.
    expect(gapLook.canary).toEqual({ requests: 0, errors: 0, slow: { '500': 0 } });
    expect(gapLook.gaps).toContain(`sluice-test/${relay.target}: not in this look's scrape (left out on both arms)`);
    expect(afterGap).toMatchObject({
      canary: { requests: 40, errors: 2, slow: { '500': 0 } },
      primary: { requests: 60, errors: 0, slow: { '500': 0 } },
      resets: 0,
      gaps: [],
    });
  });

  it('evaluates both arms at the one instant it is given', async () => {
    const before: CounterSnapshot = await snapshotCounters(provider, queries, new Date(Date.now() - 3_600_000));

    expect(before.at).toBe(new Date(Date.parse(before.at)).toISOString());
    expect(before.canary.requests).toEqual([]); // an hour ago nothing was scraped yet
    expect(before.primary.requests).toEqual([]);
  });
});
