/**
 * The sandbox's data plane: a weighted HTTP gateway standing in for Gloo's Envoy.
 *
 * Like Gloo, it learns its routing only from the Kubernetes API: it list-watches VirtualServices
 * and UpstreamGroups (client-node informers), takes the named VirtualService's first route whose
 * matcher fits the path, and sends each request to one destination picked at random by the
 * current weights (`routeAction.upstreamGroup`, `multi` or `single`). When the route carries
 * `options.shadowing`, a sampled copy of the request goes to the shadow upstream with `-shadow`
 * appended to the Host (as Envoy does) and its answer is thrown away.
 *
 * Upstreams are static addresses passed in (what a Gloo Upstream's `spec.static.hosts` says).
 * Metrics use Envoy's names and labels (`envoy_cluster_upstream_rq{envoy_cluster_name,
 * envoy_response_code}`, `envoy_cluster_upstream_rq_time` in ms with Envoy's default buckets) on a
 * separate admin port, so the built-in PromQL is the one used against real Gloo. Shadowed requests
 * count in the shadow cluster's stats, as in Envoy. A request that cannot reach its upstream
 * answers, and counts as, 503.
 *
 * Besides the Prometheus exposition it keeps exact in-memory numbers for the demo's summary and
 * for the direct metric provider used when Prometheus is not installed.
 *
 * This file holds the two HTTP servers (traffic and admin), the restart and the public handle; the
 * parts live in gateway/: routes.ts (the routing table and weights), control-plane.ts (the watches
 * and the xDS delay), proxy.ts (forwarding, mirroring, retries, timeouts), counters.ts (Envoy's
 * metrics and the exact numbers).
 */
import { Agent, createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { metricsHandler } from './envoy-metrics.ts';
import { followControlPlane } from './gateway/control-plane.ts';
import { GatewayCounters } from './gateway/counters.ts';
import type { UpstreamStats, WindowStats } from './gateway/counters.ts';
import { forwarder, readBody } from './gateway/proxy.ts';
import { RouteTable, pick, targetsOf } from './gateway/routes.ts';
import type { GatewayUpstream, WeightChange } from './gateway/routes.ts';
import { randomSeed, seededRandom } from './random.ts';

export { bucketQuantile } from './gateway/counters.ts';
export type { UpstreamStats, WindowStats } from './gateway/counters.ts';
export { shadowHost } from './gateway/proxy.ts';
export type { GatewayUpstream, WeightChange } from './gateway/routes.ts';

export interface GatewayOptions {
  kubeConfig: KubeConfig;
  /** The VirtualService whose routes the gateway serves. */
  virtualService: { namespace: string; name: string };
  upstreams: GatewayUpstream[];
  /** Seeds the per-request weighted pick and shadow sampling. Default: random. */
  seed?: number;
  /** Envoy's cluster name of an upstream. Default `<upstream>_<namespace>` (spec.router.envoyClusterName's default). */
  clusterName?: (upstream: { name: string; namespace: string }) => string;
  /** How long the per-second numbers behind `window()` are kept. Default 900 s. */
  retentionSeconds?: number;
  /** Upstream request timeout; a timed-out request answers 504. Default 30 s. */
  upstreamTimeoutMs?: number;
  /**
   * Envoy's `retry_on: 5xx` with `num_retries`: a 5xx answer, a reset or a timeout is retried (to
   * the same cluster) up to this many times; each retry counts under upstream_rq_retry and only
   * the final answer under upstream_rq. Default: no retries.
   */
  retries?: number;
  /** How often histograms are published (Envoy's stats_flush_interval). Default 5000 ms. */
  statsFlushMs?: number;
  /** How long a weight change takes to reach the data plane (xDS). Default 0. */
  xdsDelayMs?: number;
}

export interface GatewayStats {
  upstreams: Record<string, UpstreamStats>;
  weightChanges: WeightChange[];
  /** Requests answered without an upstream: no route (404) or no destination with weight (503). */
  unrouted: number;
  /** Watch errors the informers recovered from. */
  watchErrors: number;
}

export interface Gateway {
  /** http://127.0.0.1:PORT: send user traffic here. */
  url: string;
  /** http://127.0.0.1:ADMIN/metrics */
  metricsUrl: string;
  /** 127.0.0.1:ADMIN, for a Prometheus scrape config. */
  metricsTarget: string;
  /** Resolves once the VirtualService and UpstreamGroups have been listed. */
  synced: Promise<void>;
  /** The weights of the served route now (undefined until the route resolves). */
  weights(): Record<string, number> | undefined;
  /** Resolves when the served route's weights satisfy `accept`; rejects after `timeoutMs` (default 5 s). */
  waitForWeights(accept: (weights: Record<string, number>) => boolean, timeoutMs?: number): Promise<Record<string, number>>;
  /** The shadow target of the served route now, if any. */
  shadowing(): { upstream: string; percentage: number } | undefined;
  stats(): GatewayStats;
  window(upstream: string, seconds: number, now?: number): WindowStats;
  /**
   * Replaces the gateway's process as far as Prometheus can tell: its admin port (so its
   * `instance` label) changes and every Envoy counter and the uptime start again from zero. User
   * traffic keeps its address (a Service in front of the pods). Resolves with the new metricsTarget.
   */
  restart(): Promise<string>;
  /** How many times restart() was called. */
  restarts(): number;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const clusterName = options.clusterName ?? ((u) => `${u.name}_${u.namespace}`);
  const random = seededRandom(options.seed ?? randomSeed());
  const targets = targetsOf(options.upstreams, clusterName);
  const retryBudget = options.retries ?? 0;
  const counters = new GatewayCounters([...targets.values()], {
    retries: retryBudget,
    flushMs: options.statsFlushMs ?? 5000,
    retentionSeconds: options.retentionSeconds ?? 900,
  });
  let restartCount = 0;
  let unrouted = 0;

  const routes = new RouteTable(targets, options.virtualService.namespace);
  const controlPlane = followControlPlane(routes, {
    kubeConfig: options.kubeConfig,
    virtualService: options.virtualService,
    xdsDelayMs: options.xdsDelayMs ?? 0,
  });

  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const forward = forwarder({ agent, counters, timeoutMs: options.upstreamTimeoutMs ?? 30_000 });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://gateway');
    const found = routes.resolve({ path: url.pathname, headers: req.headers, query: url.searchParams });
    if (!found) {
      unrouted += 1;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no route');
      return;
    }
    const { shadow, destinations } = found.resolved;
    // The mirror is fire-and-forget: its answer is discarded and never delays the user's.
    if (shadow?.target && random() * 100 < shadow.percentage) void forward(shadow.target, req, body, undefined);
    const chosen = pick(destinations, random);
    if (!chosen?.target) {
      unrouted += 1;
      res.writeHead(503, { 'content-type': 'text/plain' }).end('no healthy upstream');
      return;
    }
    await forward(chosen.target, req, body, res, retryBudget, chosen.responseHeaders);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end('gateway error');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  // The admin endpoint serves whichever registry is current (a restart swaps it).
  const serveMetrics = (req: IncomingMessage, res: ServerResponse): void => metricsHandler(counters.registry)(req, res);
  let admin = createServer(serveMetrics);

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    routes.close();
    counters.close();
    await controlPlane.stop();
    for (const s of [server, admin]) s.closeAllConnections();
    await Promise.all([server, admin].map((s) => new Promise<void>((done) => s.close(() => done()))));
    agent.destroy();
  };

  let port: number;
  let adminPort: number;
  try {
    port = await listen(server);
    adminPort = await listen(admin);
  } catch (error) {
    await close();
    throw new Error(`gateway: could not listen on 127.0.0.1: ${(error as Error).message}`, { cause: error });
  }

  const restart = async (): Promise<string> => {
    // The new process listens first (a new instance), then the old one goes away with its counters.
    const next = createServer(serveMetrics);
    const nextPort = await listen(next);
    const old = admin;
    admin = next;
    adminPort = nextPort;
    counters.restart();
    restartCount += 1;
    old.closeAllConnections();
    await new Promise<void>((done) => old.close(() => done()));
    return `127.0.0.1:${adminPort}`;
  };

  return {
    url: `http://127.0.0.1:${port}`,
    get metricsUrl() {
      return `http://127.0.0.1:${adminPort}/metrics`;
    },
    get metricsTarget() {
      return `127.0.0.1:${adminPort}`;
    },
    restart,
    restarts: () => restartCount,
    synced: controlPlane.synced,
    weights: () => routes.weights(),
    waitForWeights: (accept, waitMs = 5000) => routes.waitForWeights(accept, waitMs),
    shadowing: () => routes.shadowing(),
    stats: () => ({
      upstreams: counters.upstreams(),
      weightChanges: routes.weightChanges(),
      unrouted,
      watchErrors: controlPlane.errors(),
    }),
    window: (upstream, seconds, now) => counters.window(upstream, seconds, now),
    close,
  };
}
