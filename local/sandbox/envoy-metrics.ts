/**
 * Envoy's metric families as Gloo's gateway-proxy exports them, in prom-client: what the sandbox
 * gateway serves and what the Prometheus tests script. The names match lambdas/core/queries.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { ENVOY_LATENCY_BUCKETS_MS } from '../../lambdas/core/queries.ts';

/** Envoy's default upstream_rq_time buckets, in milliseconds. */
export const ENVOY_BUCKETS_MS: number[] = [...ENVOY_LATENCY_BUCKETS_MS];

export function envoyMetricFamilies(registry: Registry) {
  return {
    requests: new Counter({
      name: 'envoy_cluster_upstream_rq',
      help: 'Upstream requests by response code',
      labelNames: ['envoy_cluster_name', 'envoy_response_code'] as const,
      registers: [registry],
    }),
    /** Retried attempts: with a retry policy only a request's final answer counts under upstream_rq. */
    retries: new Counter({
      name: 'envoy_cluster_upstream_rq_retry',
      help: 'Total request retries',
      labelNames: ['envoy_cluster_name'] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'envoy_cluster_upstream_rq_time',
      help: 'Upstream request time in milliseconds',
      labelNames: ['envoy_cluster_name'] as const,
      buckets: ENVOY_BUCKETS_MS,
      registers: [registry],
    }),
  };
}

/**
 * `envoy_server_uptime`: seconds since the process started (Envoy's server stats). A restart sets
 * it back to 0, which tells a counter reset from a backward step of a scrape source.
 */
export function envoyServerUptime(registry: Registry, startedAt: number): Gauge {
  return new Gauge({
    name: 'envoy_server_uptime',
    help: 'Current server uptime in seconds',
    registers: [registry],
    collect() {
      this.set(Math.floor((Date.now() - startedAt) / 1000));
    },
  });
}

/** Serves the registry at /metrics in Prometheus' text format (404 elsewhere). */
export function metricsHandler(registry: Registry) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry
      .metrics()
      .then((text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text))
      .catch((error: unknown) => res.writeHead(500).end(String(error)));
  };
}
