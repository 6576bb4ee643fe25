/**
 * A tiny /metrics endpoint serving counters and histograms named like Gloo's Envoy exports them,
 * with values the test controls: "canary served 1000 requests, 30 of them 503, at ~20 ms".
 *
 * rate() needs a sample from before the traffic: `declare()` a cluster first (its series at
 * zero), wait until Prometheus has scraped them, then `record()` traffic.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { envoyMetricFamilies, metricsHandler } from '../../local/sandbox/envoy-metrics.ts';

export interface Traffic {
  /** All requests, errors included. */
  requests: number;
  /** How many of them answered `errorCode` (default 503). */
  errors?: number;
  errorCode?: string;
  /** Latency of every request, or a spread: [{ ms: 20, count: 900 }, { ms: 400, count: 100 }] (counts sum to `requests`). */
  latencyMs?: number | Array<{ ms: number; count: number }>;
}

export interface EnvoyMetricsServer {
  /** host:port, for a Prometheus scrape config. */
  target: string;
  /** http://host:port/metrics */
  url: string;
  /** Creates the cluster's series at zero (codes 200 and the error code, every bucket). */
  declare(cluster: string, errorCode?: string): void;
  /** Adds traffic to the cluster's counters and latency histogram. */
  record(cluster: string, traffic: Traffic): void;
  close(): Promise<void>;
}

export async function startEnvoyMetrics(): Promise<EnvoyMetricsServer> {
  const registry = new Registry();
  const { requests, latency } = envoyMetricFamilies(registry);

  const server: Server = createServer(metricsHandler(registry));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const declare = (cluster: string, errorCode = '503') => {
    requests.labels(cluster, '200').inc(0);
    requests.labels(cluster, errorCode).inc(0);
    latency.zero({ envoy_cluster_name: cluster });
  };

  const record = (cluster: string, traffic: Traffic) => {
    const errors = traffic.errors ?? 0;
    if (errors > traffic.requests) throw new Error(`errors (${errors}) exceed requests (${traffic.requests})`);
    requests.labels(cluster, '200').inc(traffic.requests - errors);
    requests.labels(cluster, traffic.errorCode ?? '503').inc(errors);
    const spread =
      typeof traffic.latencyMs === 'number' || traffic.latencyMs === undefined
        ? [{ ms: traffic.latencyMs ?? 10, count: traffic.requests }]
        : traffic.latencyMs;
    const total = spread.reduce((sum, part) => sum + part.count, 0);
    if (total !== traffic.requests) throw new Error(`latency counts sum to ${total}, expected ${traffic.requests}`);
    const child = latency.labels(cluster);
    for (const part of spread) for (let i = 0; i < part.count; i++) child.observe(part.ms);
  };

  return {
    target: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}/metrics`,
    declare,
    record,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
