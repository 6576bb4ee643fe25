import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransientError } from '../../core/errors.ts';
import { builtInQuery, renderQuery } from '../../core/queries.ts';
import { parseSpec, type RolloutSpec } from '../../core/spec.ts';
import { startEnvoyMetrics, type EnvoyMetricsServer } from '../../../test/support/envoy-metrics.ts';
import { freePort, startPrometheus, type RunningPrometheus } from '../../../local/sandbox/prometheus.ts';
import { readMetrics } from './factory.ts';
import { PrometheusProvider } from './prometheus.ts';

const NS = 'gloo-system';
const cluster = (upstream: string) => `${upstream}_${NS}`;

function rolloutSpec(address: string, canary: string, metrics: unknown[]): RolloutSpec {
  return parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'podinfo' },
    spec: {
      cluster: { kubeconfigContext: 'test' },
      router: {
        name: 'podinfo',
        namespace: NS,
        primary: { upstream: { name: 'podinfo-primary', namespace: NS } },
        canary: { upstream: { name: canary, namespace: NS } },
      },
      strategy: { stepWeights: [10, 50], interval: '1m' },
      analysis: { judge: 'threshold', prometheus: { address }, metrics },
    },
  });
}

const BUILT_INS = [
  { name: 'request-success-rate', thresholdRange: { min: 99 } },
  { name: 'request-duration', thresholdRange: { max: 500 } },
];

/** A loopback HTTP(S) server answering with `handler`, remembering each request's headers. */
async function stub(handler: (req: IncomingMessage, res: ServerResponse) => void, tls?: { key: string; cert: string }) {
  const seen: IncomingMessage['headers'][] = [];
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    seen.push(req.headers);
    handler(req, res);
  };
  const server: Server = tls ? createHttpsServer(tls, listener) : createHttpServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const vectorOne = (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1700000000, '1'] }] } }));
};

describe('PrometheusProvider against a real Prometheus', () => {
  let envoy: EnvoyMetricsServer;
  let prometheus: RunningPrometheus;

  beforeAll(async () => {
    // Prepare: Envoy-named series at zero, scraped once, then traffic (rate() needs the "before").
    envoy = await startEnvoyMetrics();
    for (const upstream of ['podinfo-primary', 'podinfo-canary', 'podinfo-broken', 'podinfo-idle']) envoy.declare(cluster(upstream));
    prometheus = await startPrometheus({ scrapeTargets: [envoy.target] });
    await prometheus.waitForSeries(`envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="${cluster('podinfo-idle')}"}`);
    envoy.record(cluster('podinfo-primary'), { requests: 500, latencyMs: 20 });
    envoy.record(cluster('podinfo-canary'), {
      requests: 1000,
      errors: 30,
      latencyMs: [
        { ms: 20, count: 900 },
        { ms: 400, count: 100 },
      ],
    });
    envoy.record(cluster('podinfo-broken'), { requests: 50, errors: 50, latencyMs: 5 });
    await prometheus.waitForSeries(`sum(envoy_cluster_upstream_rq{envoy_cluster_name="${cluster('podinfo-canary')}"}) >= 1000`);
    await prometheus.waitForSeries(`sum(envoy_cluster_upstream_rq_time_count{envoy_cluster_name="${cluster('podinfo-broken')}"}) >= 50`);
  });

  afterAll(async () => {
    await prometheus?.close();
    await envoy?.close();
  });

  it('reads the built-in success rate and p99 of the canary, and the primary beside it', async () => {
    const spec = rolloutSpec(prometheus.url, 'podinfo-canary', BUILT_INS);

    const readings = await readMetrics(spec);

    const [successRate, duration] = readings;
    expect(successRate?.name).toBe('request-success-rate');
    expect(successRate?.value).toBeCloseTo(97, 6); // 970 of 1000 not 5xx
    expect(successRate?.primaryValue).toBeCloseTo(100, 6);
    expect(successRate?.thresholdRange).toEqual({ min: 99 });
    expect(successRate?.query).toContain(`envoy_cluster_name="${cluster('podinfo-canary')}"`);
    // p99 of 900 at 20 ms + 100 at 400 ms: rank 990 lies 90% into the (250, 500] bucket.
    expect(duration?.value).toBeCloseTo(475, 6);
    // all 500 at 20 ms: 99% into the (10, 25] bucket.
    expect(duration?.primaryValue).toBeCloseTo(24.85, 6);
  });

  it('reads 0%, not "no data", for a canary that answers only 5xx', async () => {
    const spec = rolloutSpec(prometheus.url, 'podinfo-broken', BUILT_INS.slice(0, 1));

    const [successRate] = await readMetrics(spec);

    expect(successRate?.value).toBe(0);
  });

  it('reads null for a canary without traffic and for an unknown cluster', async () => {
    const provider = new PrometheusProvider({ address: prometheus.url });
    const query = (upstream: string) =>
      renderQuery(builtInQuery('request-success-rate', 'canary'), { canaryCluster: cluster(upstream), interval: '1m' });

    expect(await provider.runQuery(query('podinfo-idle'))).toBeNull(); // 0/0 = NaN: no data
    expect(await provider.runQuery(query('no-such-upstream'))).toBeNull(); // empty result
    expect(
      await provider.runQuery(
        renderQuery(builtInQuery('request-duration', 'canary'), { canaryCluster: cluster('podinfo-idle'), interval: '1m' }),
      ),
    ).toBeNull();
  });

  it('runs a custom query with the template variables, without a primary value', async () => {
    const spec = rolloutSpec(prometheus.url, 'podinfo-canary', [
      {
        name: 'canary-503s',
        query: 'sum(envoy_cluster_upstream_rq{envoy_cluster_name="{{canaryCluster}}",envoy_response_code="503"})',
        thresholdRange: { max: 1 },
      },
    ]);

    const [reading] = await readMetrics(spec);

    expect(reading).toEqual({
      name: 'canary-503s',
      value: 30,
      thresholdRange: { max: 1 },
      query: `sum(envoy_cluster_upstream_rq{envoy_cluster_name="${cluster('podinfo-canary')}",envoy_response_code="503"})`,
    });
  });

  it('is online, and evaluates at the time it is given', async () => {
    const at = new Date('2026-01-02T03:04:05.000Z');
    const provider = new PrometheusProvider({ address: prometheus.url, time: () => at });

    await expect(provider.isOnline()).resolves.toBeUndefined();
    expect(await provider.runQuery('time()')).toBe(at.getTime() / 1000);
  });

  it('rejects bad PromQL with Prometheus’ reason and the query, not as transient', async () => {
    const provider = new PrometheusProvider({ address: prometheus.url });
    const query = 'sum(rate(envoy_cluster_upstream_rq[1m])';

    const error = await provider.runQuery(query).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/^Prometheus rejected the query \(400\): .*parse error/);
    expect((error as Error).message).toContain(query);
  });

  it('refuses a query that returns several series instead of picking one', async () => {
    const provider = new PrometheusProvider({ address: prometheus.url });

    await expect(provider.runQuery('sum by (envoy_cluster_name) (envoy_cluster_upstream_rq)')).rejects.toThrow(
      /returned 4 series, expected one: aggregate it/,
    );
  });
});

describe('PrometheusProvider failures', () => {
  it('reports an unreachable server as transient, so the state machine retries', async () => {
    const address = `http://127.0.0.1:${await freePort()}`;
    const provider = new PrometheusProvider({ address });

    const error = await provider.isOnline().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).name).toBe('Sluice.Transient');
    expect((error as Error).message).toBe(`Prometheus at ${address} is unreachable (ECONNREFUSED) — query: vector(1)`);
  });

  it('gives up after the timeout with a transient error', async () => {
    const server = await stub(() => undefined); // never answers
    try {
      const provider = new PrometheusProvider({ address: server.address, timeout: '200ms' });

      const error = await provider.runQuery('vector(1)').catch((e: unknown) => e);

      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).message).toContain('did not answer within 200ms');
    } finally {
      await server.close();
    }
  });

  it('treats a 5xx as transient and keeps Prometheus’ reason', async () => {
    const server = await stub((_req, res) => {
      res.writeHead(503, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ status: 'error', errorType: 'timeout', error: 'query timed out in expression evaluation' }));
    });
    try {
      const error = await new PrometheusProvider({ address: server.address }).runQuery('up').catch((e: unknown) => e);

      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).message).toContain('503 timeout: query timed out in expression evaluation');
    } finally {
      await server.close();
    }
  });

  it('sends a bearer token', async () => {
    const server = await stub(vectorOne);
    try {
      await new PrometheusProvider({ address: server.address, bearerToken: 's3cret' }).isOnline();

      expect(server.seen[0]?.authorization).toBe('Bearer s3cret');
    } finally {
      await server.close();
    }
  });

  it('sends basic auth', async () => {
    const server = await stub(vectorOne);
    try {
      await new PrometheusProvider({ address: server.address, basicAuth: { username: 'sluice', password: 'p:w' } }).isOnline();

      expect(server.seen[0]?.authorization).toBe(`Basic ${Buffer.from('sluice:p:w').toString('base64')}`);
    } finally {
      await server.close();
    }
  });

  it('says when the credentials are refused, without retrying', async () => {
    const server = await stub((_req, res) => res.writeHead(401, { 'Content-Type': 'text/plain' }).end('Unauthorized'));
    try {
      const error = await new PrometheusProvider({ address: server.address, bearerToken: 'wrong' }).runQuery('up').catch((e: unknown) => e);

      expect(error).not.toBeInstanceOf(TransientError);
      expect((error as Error).message).toContain('refused the credentials (401: Unauthorized)');
    } finally {
      await server.close();
    }
  });

  describe('with a private CA', () => {
    let dir: string;
    let tls: { key: string; cert: string };

    beforeAll(() => {
      // A self-signed certificate for 127.0.0.1 that is its own CA. Needs the openssl binary.
      dir = mkdtempSync(join(tmpdir(), 'sluice-ca-'));
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'pipe' },
      );
      tls = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
    });

    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('trusts a server signed by the CA given as PEM', async () => {
      const server = await stub(vectorOne, tls);
      try {
        await expect(new PrometheusProvider({ address: server.address, ca: tls.cert }).runQuery('vector(1)')).resolves.toBe(1);
      } finally {
        await server.close();
      }
    });

    it('refuses the same server without the CA, saying to set it', async () => {
      const server = await stub(vectorOne, tls);
      try {
        const error = await new PrometheusProvider({ address: server.address }).runQuery('vector(1)').catch((e: unknown) => e);

        expect(error).not.toBeInstanceOf(TransientError);
        expect((error as Error).message).toMatch(
          /TLS verification failed \(DEPTH_ZERO_SELF_SIGNED_CERT\); set the server's CA as PEM in 'ca'/,
        );
      } finally {
        await server.close();
      }
    });
  });
});
