/**
 * Whole rollouts (the real ASL in the local engine, the real handlers and counter reader) judged by
 * the sequential judge against Debian's real Prometheus, scraping every second a service whose
 * traffic follows the weights each rollout sets:
 *
 * - a business metric of the service's own raw counters (orders_failed_total out of orders_total,
 *   per app), read from Prometheus;
 * - Envoy's built-in counters read through an Amazon Managed Prometheus stand-in: a proxy in front
 *   of the same Prometheus that answers only requests whose SigV4 signature (service `aps`) it can
 *   recompute from the request as received, as AMP does (403 otherwise).
 *
 * Each test runs a healthy and a bad canary at once, as two targets in one engine.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpec, RolloutSpecInput } from '../lambdas/core/spec.ts';
import { startRollout } from '../local/commands/run.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { envoyMetricFamilies, envoyServerUptime, metricsHandler } from '../local/sandbox/envoy-metrics.ts';
import { startPrometheus, type RunningPrometheus } from '../local/sandbox/prometheus.ts';
import { SHORT_RETRIES, SHORT_WAITS } from './support/flow.ts';
import { RecordingRouter } from './support/recording-router.ts';

const NS = 'gloo-system';
const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'token-1' };
const REGION = 'eu-west-1';

const registry = new Registry();
const envoy = envoyMetricFamilies(registry);
envoyServerUptime(registry, Date.now());
const orders = new Counter({ name: 'orders_total', help: 'Orders placed', labelNames: ['app'] as const, registers: [registry] });
const failed = new Counter({ name: 'orders_failed_total', help: 'Orders failed', labelNames: ['app'] as const, registers: [registry] });

/** Each running target: its router (the weights) and its canary's failure rate. */
const targets = new Map<string, { router: RecordingRouter; canaryFailure: number; carry: Record<'canary' | 'primary', number> }>();

/** 300 orders (requests) a second per target, split by its weights; failures spread evenly (deterministic). */
function serve(): void {
  for (const [name, target] of targets) {
    const { canary, primary } = target.router.weights;
    const share = canary / (canary + primary);
    for (const [side, n, rate] of [
      ['canary', Math.round(30 * share), target.canaryFailure],
      ['primary', 30 - Math.round(30 * share), 0.005],
    ] as const) {
      if (n === 0) continue;
      const upstream = `${name}-${side}`;
      target.carry[side] += n * rate;
      const bad = Math.floor(target.carry[side]);
      target.carry[side] -= bad;
      orders.labels(upstream).inc(n);
      if (bad) failed.labels(upstream).inc(bad);
      envoy.requests.labels(`${upstream}_${NS}`, '200').inc(n - bad);
      if (bad) envoy.requests.labels(`${upstream}_${NS}`, '500').inc(bad);
    }
  }
}

/** What AMP does: recompute the signature from the request as received. */
async function expectedAuthorization(req: IncomingMessage): Promise<string> {
  const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) query[name] = value;
  const date = String(req.headers['x-amz-date']);
  const signingDate = new Date(
    `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
  );
  const signer = new SignatureV4({ service: 'aps', region: REGION, sha256: Sha256, credentials: CREDENTIALS });
  const signed = await signer.sign(
    new HttpRequest({
      method: 'GET',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query,
      headers: { host: String(req.headers.host), 'x-amz-security-token': String(req.headers['x-amz-security-token']) },
    }),
    { signingDate },
  );
  return String(signed.headers.authorization);
}

let prometheus: RunningPrometheus;
let metricsServer: Server;
let amp: Server;
let workspaceUrl: string;
const signed = { accepted: 0, refused: 0, queries: [] as string[] };
let timer: NodeJS.Timeout;
let dir: string;
let runtime: LocalRuntime;

beforeAll(async () => {
  metricsServer = createServer(metricsHandler(registry));
  await new Promise<void>((resolve) => metricsServer.listen(0, '127.0.0.1', resolve));
  timer = setInterval(serve, 100);
  prometheus = await startPrometheus({
    scrapeTargets: [`127.0.0.1:${(metricsServer.address() as AddressInfo).port}`],
    scrapeIntervalSeconds: 1,
  });
  await prometheus.waitForSeries('envoy_server_uptime');
  const backend = new URL(prometheus.url);
  amp = createServer((req, res) => {
    void expectedAuthorization(req).then((expected) => {
      const prefix = '/workspaces/ws-e2e';
      if (req.headers.authorization !== expected || !req.url?.startsWith(prefix)) {
        signed.refused += 1;
        res
          .writeHead(403, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ message: 'The request signature we calculated does not match' }));
        return;
      }
      signed.accepted += 1;
      const path = req.url.slice(prefix.length);
      signed.queries.push(new URL(path, 'http://x').searchParams.get('query') ?? '');
      const forward = request({ host: backend.hostname, port: backend.port, path, method: 'GET' }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      forward.on('error', (error) => res.writeHead(502).end(String(error)));
      forward.end();
    });
  });
  await new Promise<void>((resolve) => amp.listen(0, '127.0.0.1', resolve));
  workspaceUrl = `http://127.0.0.1:${(amp.address() as AddressInfo).port}/workspaces/ws-e2e`;
  // The AMP provider signs with the Node credential chain, whose first link is the environment.
  vi.stubEnv('AWS_ACCESS_KEY_ID', CREDENTIALS.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', CREDENTIALS.secretAccessKey);
  vi.stubEnv('AWS_SESSION_TOKEN', CREDENTIALS.sessionToken);
  dir = mkdtempSync(join(tmpdir(), 'sluice-flow-prom-'));
  runtime = await startLocalRuntime({
    dir,
    advertise: false,
    env: {},
    log: () => {},
    retryIntervalOverrides: SHORT_RETRIES,
    waitTimeOverrides: SHORT_WAITS,
    overrides: {
      routerFor: async (spec) => {
        const target = targets.get(spec.metadata.name);
        if (!target) throw new Error(`no router for ${spec.metadata.name}`);
        return target.router;
      },
      workloadFor: async () => null,
    },
  });
}, 30_000);

afterAll(async () => {
  clearInterval(timer);
  vi.unstubAllEnvs();
  await runtime?.close();
  await prometheus?.close();
  for (const server of [metricsServer, amp]) {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Metrics = NonNullable<NonNullable<RolloutSpecInput['spec']['analysis']>['metrics']>;

function specFor(name: string, metrics: Metrics, prometheusAddress?: string): RolloutSpec {
  return parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name },
    spec: {
      cluster: { kubeconfigContext: 'unused' },
      router: {
        name,
        namespace: NS,
        primary: { upstream: { name: `${name}-primary`, namespace: NS } },
        canary: { upstream: { name: `${name}-canary`, namespace: NS } },
      },
      strategy: { stepWeights: [20, 50], interval: '3s', lookInterval: '1s', threshold: 2, deadline: '5m' },
      analysis: {
        judge: 'sequential',
        sequential: { minSecondsPerStep: 0, minCanaryRequestsPerStep: 20, settleSeconds: 0 },
        ...(prometheusAddress ? { prometheus: { address: prometheusAddress } } : {}),
        metrics,
      },
    },
  });
}

/** A healthy and a bad canary, rolled out at once; resolves with both summaries. */
async function bothRollouts(prefix: string, metricsOf: (name: string) => Metrics, prometheusAddress?: string) {
  const run = async (name: string, canaryFailure: number) => {
    const router = new RecordingRouter();
    targets.set(name, { router, canaryFailure, carry: { canary: 0, primary: 0 } });
    // The primary serves for a few scrapes first: preflight reads its rate.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const started = await startRollout(runtime, specFor(name, metricsOf(name), prometheusAddress), { version: 'v2' });
    const summary = await started.done;
    targets.delete(name);
    return { summary, router };
  };
  const [healthy, bad] = await Promise.all([run(`${prefix}-good`, 0.005), run(`${prefix}-bad`, 0.2)]);
  return { healthy, bad };
}

describe('the sequential judge on Prometheus and AMP counters (real ASL, real Prometheus)', () => {
  it("judges a business metric from the service's own raw counters: promotes the healthy canary, rolls back the one failing 20% of orders", async () => {
    // Prepare
    const counters = (name: string): Metrics => [
      {
        name: 'orders-failed',
        thresholdRange: { max: 2 },
        counters: {
          canary: { events: 'orders_failed_total{app="{{canary}}"}', trials: 'orders_total{app="{{canary}}"}' },
          primary: { events: 'orders_failed_total{app="{{primary}}"}', trials: `orders_total{app="${name}-primary"}` },
        },
      },
    ];

    // Act
    const { healthy, bad } = await bothRollouts('orders', counters, prometheus.url);

    // Assess
    expect(healthy.summary.outcome).toBe('promoted');
    expect(healthy.router.canaryWeights()).toEqual(expect.arrayContaining([20, 50]));
    expect(bad.summary.outcome).toBe('rolled-back');
    expect(bad.summary.reason).toMatch(/orders-failed \(events out of trials\): canary (1[5-9]|2[0-5])\.\d\d% vs primary/);
    expect(bad.router.weights).toEqual({ primary: 100, canary: 0 });
  }, 60_000);

  it("judges Envoy's built-in counters read from AMP with SigV4: promotes the healthy canary, rolls back the bad one", async () => {
    // Prepare
    const builtIn = (): Metrics => [
      {
        name: 'request-success-rate',
        interval: '10s',
        provider: { type: 'amp', workspaceUrl, region: REGION },
        thresholdRange: { min: 98 },
      },
    ];

    // Act
    const { healthy, bad } = await bothRollouts('edge', builtIn);

    // Assess
    expect(healthy.summary.outcome).toBe('promoted');
    expect(bad.summary.outcome).toBe('rolled-back');
    expect(bad.router.weights).toEqual({ primary: 100, canary: 0 });
    // Every request was signed so that AMP accepts it, and the judge read raw counters and their scrape times.
    expect(signed.refused).toBe(0);
    expect(signed.queries).toEqual(
      expect.arrayContaining([
        'envoy_cluster_upstream_rq{envoy_cluster_name="edge-bad-canary_gloo-system",envoy_response_code=~"5.."}',
        'timestamp(envoy_cluster_upstream_rq{envoy_cluster_name="edge-bad-canary_gloo-system"})',
        // AMP has no targets API: Prepare learns the scrape interval from a range selector's raw samples.
        'envoy_cluster_upstream_rq{envoy_cluster_name="edge-bad-primary_gloo-system"}[300s]',
      ]),
    );
  }, 60_000);
});
