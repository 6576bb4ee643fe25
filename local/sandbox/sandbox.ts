/**
 * The demo sandbox: everything a real canary rollout needs, on loopback, on
 * one machine, from the repository alone.
 *
 *   startSandbox(options) starts, on free ports:
 *   - the Kubernetes API stand-in, seeded with Upstreams `demo-primary` and `demo-canary`
 *     (gloo-system, spec.static → the apps), UpstreamGroup `demo` (100/0), VirtualService `demo`
 *     (route `main` → the group) and Deployments `podinfo-primary` (VERSION v1) and `podinfo`
 *     (the canary: VERSION v2 with the scenario's ERROR_RATE and LATENCY_MS) in `default`;
 *   - two app processes, each serving what its Deployment's template says (app-main.ts);
 *   - the weighted gateway, following the group and the route through watches (gateway.ts);
 *   - a steady load generator against the gateway (load.ts);
 *   - Debian's Prometheus scraping the gateway every second when installed; otherwise (with
 *     `prometheus: 'optional'`) `metricsSource` is 'direct' and the runtime options carry the
 *     direct metric provider (direct-metrics.ts). `notice` then holds the one line to print.
 *   It resolves once the primary's built-in metrics have data, so the preflight passes.
 *
 * Use (what `sluice demo` does):
 *
 *   const sandbox = await startSandbox({ rps: 100, canaryErrorRate: 0.1, seed: 7, signals: 'ignore' });
 *   if (sandbox.notice) console.error(sandbox.notice);
 *   const runtime = await startLocalRuntime({ dir, ...sandbox.runtimeOptions, onEvent });
 *   const summary = await (await startRollout(runtime, sandbox.spec, { version: 'v2' })).done;
 *   const { requests, detectionMs } = sandbox.traffic();   // from what the gateway served
 *   await runtime.close(); await sandbox.close();
 *
 * Teardown: `close()` stops the load, the gateway, the apps, Prometheus and the stand-in (waiting
 * for every child to exit) and removes the temp dir; a failure during start tears down what was
 * started. With `signals: 'close-and-exit'` (the default) SIGINT/SIGTERM close the sandbox and exit
 * 130/143; a caller that handles Ctrl-C itself (the demo aborts the rollout first) passes 'ignore'
 * and calls close() when done. If the process exits without close(), an exit hook kills the
 * children; the apps also exit on their own when their parent dies (IPC channel closed).
 */
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../../lambdas/core/duration.ts';
import type { Side } from '../../lambdas/core/records.ts';
import { metricQueries, queryVariables, renderQuery } from '../../lambdas/core/queries.ts';
import { SpecError, validateSpec } from '../../lambdas/core/spec.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import type { KubeConfigSource } from '../../lambdas/wiring/seams.ts';
import type { HandlerDeps } from '../../lambdas/app/deps.ts';
import { startKubeStandIn } from '../kube/stand-in.ts';
import type { KubeObject, KubeStandIn } from '../kube/stand-in.ts';
import { startApp } from './app.ts';
import type { AppProcess } from './app.ts';
import { directMetricDeps } from './direct-metrics.ts';
import { startGateway } from './gateway.ts';
import type { Gateway } from './gateway.ts';
import { startLoad } from './load.ts';
import type { UserStats } from './load.ts';
import type { LoadGenerator } from './load.ts';
import { prometheusAvailable, PROMETHEUS_BINARY, startPrometheus } from './prometheus.ts';
import type { RunningPrometheus } from './prometheus.ts';
import { randomSeed } from './random.ts';

/** The demo's spec as a user reads it. */
export const DEMO_SPEC_PATH = fileURLToPath(new URL('../../examples/demo.yaml', import.meta.url));

/** The names the sandbox seeds (and examples/demo.yaml refers to). */
export const SANDBOX_NAMES = {
  glooNamespace: 'gloo-system',
  upstreamGroup: 'demo',
  /** With `router: 'route-table'`: the RouteTable the VirtualService delegates to, whose route carries the weights. */
  routeTable: 'demo-routes',
  virtualService: 'demo',
  route: 'main',
  upstreams: { primary: 'demo-primary', canary: 'demo-canary' },
  workloadNamespace: 'default',
  deployments: { primary: 'podinfo-primary', canary: 'podinfo' },
  versions: { primary: 'v1', canary: 'v2' },
} as const;

/**
 * The demo's A/B and blue/green traffic. A/B: the load sends the match header on a stated share of
 * requests (these users get the canary). Blue/green: green gets no user traffic, so the load sends a
 * share of test requests through a route of the VirtualService that always goes to green (how a
 * team's smoke or load test reaches it through Gloo, where Envoy's metrics see it).
 */
export const DEMO_TRAFFIC = {
  ab: { share: 0.2, header: 'x-canary', value: 'insider' },
  blueGreen: { share: 0.1, header: 'x-test-traffic', value: 'green', route: 'green-test' },
  /** Session affinity: the cookie, and simulated users per request per second (each user asks every 3 s). */
  affinity: { cookieName: 'sluice-canary', usersPerRps: 3 },
} as const;

export interface SandboxOptions {
  /**
   * The strategy the spec gets: A/B testing (strategy.match) or blue/green; 'affinity' keeps the
   * file's canary steps with session affinity (the threshold judge; simulated users keep cookies).
   * Default the file's canary steps.
   */
  strategy?: 'ab' | 'blue-green' | 'affinity';
  /** Requests per second through the gateway. Default 100 (enough for 5% steps to see traffic; 2 cores). */
  rps?: number;
  /** Fraction (0..1) of the canary's requests answered 500. Default 0. */
  canaryErrorRate?: number;
  /** Added to the canary's healthy 10–30 ms. Default 0. */
  canaryLatencyMs?: number;
  /** Seeds the gateway's weighted pick and the apps' injected faults. Default: random (see `seed`). */
  seed?: number;
  /** strategy.interval and lookInterval of the spec (e.g. '2s'); metric windows become max(10s, interval). Default: the file's. */
  interval?: string;
  /** Adds a shadowing stage (100% mirrored to the canary for two intervals) to the spec. */
  shadow?: boolean;
  /** 'required' (tests): no Prometheus is an error. 'optional' (default, the demo): fall back to the direct provider. */
  prometheus?: 'required' | 'optional';
  /** Default 'close-and-exit'. 'ignore' when the caller handles SIGINT/SIGTERM and calls close(). */
  signals?: 'close-and-exit' | 'ignore';
  /** The spec file to start from. Default examples/demo.yaml. */
  specPath?: string;
  /** Prometheus' scrape interval in seconds. Default 1. */
  scrapeIntervalSeconds?: number;
  /** The gateway retries a failed answer this many times (Envoy's retry_on: 5xx). Default 0. */
  gatewayRetries?: number;
  /** How long a weight change takes to reach the gateway's data plane (xDS). Default 1000 ms. */
  xdsDelayMs?: number;
  /**
   * Which Gloo objects carry the weights. 'upstream-group' (default): the VirtualService's route
   * sends traffic to the UpstreamGroup. 'route-table': the VirtualService's route delegates
   * (`delegateAction.ref`) to RouteTable `demo-routes`, whose route's `multi` destinations carry
   * the weights, and the spec's router is that RouteTable (preflight finds the delegation by listing).
   */
  router?: 'upstream-group' | 'route-table';
}

export interface SandboxTraffic {
  /** Live requests the gateway sent to an upstream (mirrored copies not included). */
  requests: { total: number; canary: number; canaryErrors: number; canaryShadow: number };
  /** Epoch ms of the first request the canary served (live or mirrored). */
  canaryFirstRequestAt?: number;
  /** Epoch ms the gateway saw the canary's weight back at 0 (and no mirroring) after that. */
  canaryOffAt?: number;
  /** canaryOffAt − canaryFirstRequestAt: the demo's detectionMs when the rollout rolled back. */
  detectionMs?: number;
  /** A/B or blue/green: the load's requests that carried the match (or test) header, and the versions that answered them. */
  marked?: { sent: number; versions: Record<string, number> };
  /** Session affinity: what the simulated users (each with its cookie jar) saw. */
  users?: UserStats;
}

export interface Sandbox {
  /** The rollout spec for this sandbox (examples/demo.yaml with its addresses and options filled in). */
  spec: RolloutSpec;
  /** A kubeconfig file (context 'stand-in') for `sluice run --kubeconfig` or kubectl-like tools. */
  kubeconfigPath: string;
  kubeConfig(): KubeConfig;
  /** Spread into startLocalRuntime: cluster access, and the direct metrics when Prometheus is absent. */
  runtimeOptions: { kubeConfigOf: KubeConfigSource; overrides?: Partial<HandlerDeps> };
  metricsSource: 'prometheus' | 'direct';
  /** One line to print when something is degraded (Prometheus absent); undefined otherwise. */
  notice?: string;
  /** The seed in use (repeat a run with it). */
  seed: number;
  gatewayUrl: string;
  prometheusUrl?: string;
  gateway: Gateway;
  standIn: KubeStandIn;
  apps: Record<Side, AppProcess>;
  load: LoadGenerator;
  /** What the gateway served, for the demo's summary. */
  traffic(): SandboxTraffic;
  /** Prometheus' scrape interval (seconds); 0 when reading the gateway directly. */
  scrapeIntervalSeconds: number;
  /**
   * Replaces the gateway's process (new admin port, so a new `instance`; every counter and the
   * uptime from zero) and points Prometheus at it. Resolves with when and the new instance.
   */
  restartGateway(): Promise<{ at: string; instance: string }>;
  close(): Promise<void>;
}

function deployment(name: string, env: Record<string, string>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: SANDBOX_NAMES.workloadNamespace, labels: { app: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            { name: 'podinfo', image: 'sluice-sandbox-app', env: Object.entries(env).map(([key, value]) => ({ name: key, value })) },
          ],
        },
      },
    },
  };
}

/** A static Upstream at `host:port` in the sandbox's Gloo namespace (the fleet sandbox names one per cluster). */
export function upstream(name: string, address: string): KubeObject {
  const [addr = '127.0.0.1', port = '0'] = address.split(':');
  return {
    apiVersion: 'gloo.solo.io/v1',
    kind: 'Upstream',
    metadata: { name, namespace: SANDBOX_NAMES.glooNamespace },
    spec: { static: { hosts: [{ addr, port: Number(port) }] } },
  };
}

/** Blue/green's test route: requests with the test header always go to green, ahead of the weighted route. */
function greenTestRoute(): Record<string, unknown> {
  const { header, value, route } = DEMO_TRAFFIC.blueGreen;
  return {
    name: route,
    matchers: [{ prefix: '/', headers: [{ name: header, value }] }],
    routeAction: { single: { upstream: { name: SANDBOX_NAMES.upstreams.canary, namespace: SANDBOX_NAMES.glooNamespace } } },
  };
}

function glooObjects(router: SandboxOptions['router'] = 'upstream-group', strategy?: SandboxOptions['strategy']): KubeObject[] {
  const objects = glooObjectsFor(router);
  if (strategy !== 'blue-green') return objects;
  return objects.map((object) => {
    if (object.kind !== 'VirtualService') return object;
    const host = (object.spec as { virtualHost: { routes: unknown[] } }).virtualHost;
    return {
      ...object,
      spec: { ...(object.spec as Record<string, unknown>), virtualHost: { ...host, routes: [greenTestRoute(), ...host.routes] } },
    };
  });
}

/** The routing objects over the two upstreams: 100/0 through an UpstreamGroup, or a RouteTable delegated from the VirtualService. */
export function glooObjectsFor(
  router: SandboxOptions['router'] = 'upstream-group',
  upstreams: { primary: string; canary: string } = SANDBOX_NAMES.upstreams,
): KubeObject[] {
  const ns = SANDBOX_NAMES.glooNamespace;
  const { primary, canary } = upstreams;
  if (router === 'route-table') {
    return [
      {
        apiVersion: 'gateway.solo.io/v1',
        kind: 'VirtualService',
        metadata: { name: SANDBOX_NAMES.virtualService, namespace: ns },
        spec: {
          virtualHost: {
            domains: ['*'],
            routes: [{ matchers: [{ prefix: '/' }], delegateAction: { ref: { name: SANDBOX_NAMES.routeTable, namespace: ns } } }],
          },
        },
      },
      {
        apiVersion: 'gateway.solo.io/v1',
        kind: 'RouteTable',
        metadata: { name: SANDBOX_NAMES.routeTable, namespace: ns },
        spec: {
          routes: [
            {
              name: SANDBOX_NAMES.route,
              matchers: [{ prefix: '/' }],
              routeAction: {
                multi: {
                  destinations: [
                    { destination: { upstream: { name: primary, namespace: ns } }, weight: 100 },
                    { destination: { upstream: { name: canary, namespace: ns } }, weight: 0 },
                  ],
                },
              },
            },
          ],
        },
      },
    ];
  }
  return [
    {
      apiVersion: 'gloo.solo.io/v1',
      kind: 'UpstreamGroup',
      metadata: { name: SANDBOX_NAMES.upstreamGroup, namespace: ns },
      spec: {
        destinations: [
          { destination: { upstream: { name: primary, namespace: ns } }, weight: 100 },
          { destination: { upstream: { name: canary, namespace: ns } }, weight: 0 },
        ],
      },
    },
    {
      apiVersion: 'gateway.solo.io/v1',
      kind: 'VirtualService',
      metadata: { name: SANDBOX_NAMES.virtualService, namespace: ns },
      spec: {
        virtualHost: {
          domains: ['*'],
          routes: [
            {
              name: SANDBOX_NAMES.route,
              matchers: [{ prefix: '/' }],
              routeAction: { upstreamGroup: { name: SANDBOX_NAMES.upstreamGroup, namespace: ns } },
            },
          ],
        },
      },
    },
  ];
}

type Doc = {
  spec: {
    router: Record<string, unknown>;
    strategy: Record<string, unknown>;
    analysis: { prometheus?: { address?: string }; metrics?: Array<Record<string, unknown>> };
  };
};

/** examples/demo.yaml with the sandbox's Prometheus and the options applied, validated like any spec. */
async function buildSpec(options: SandboxOptions, prometheusUrl: string | undefined): Promise<RolloutSpec> {
  const path = options.specPath ?? DEMO_SPEC_PATH;
  const document = parseYaml(await readFile(path, 'utf8')) as Doc;
  const { strategy, analysis } = document.spec;
  if (options.router === 'route-table') {
    // The RouteTable's route carries the weights; no VirtualService named: preflight finds the one delegating to it.
    const ns = SANDBOX_NAMES.glooNamespace;
    document.spec.router = {
      ...document.spec.router,
      kind: 'RouteTable',
      name: SANDBOX_NAMES.routeTable,
      namespace: ns,
      route: { routeTable: SANDBOX_NAMES.routeTable, namespace: ns, name: SANDBOX_NAMES.route },
    };
  }
  if (prometheusUrl) analysis.prometheus = { ...analysis.prometheus, address: prometheusUrl };
  if (options.interval !== undefined) {
    const ms = parseDuration(options.interval);
    strategy.interval = options.interval;
    strategy.lookInterval = options.interval;
    const windowSeconds = Math.max(10, Math.ceil(ms / 1000));
    for (const metric of analysis.metrics ?? []) if (metric.query === undefined) metric.interval = `${windowSeconds}s`;
    // Room for every step plus the failed checks and promotion, far below the history limit.
    strategy.deadline = `${Math.max(300, Math.ceil((ms / 1000) * 20))}s`;
  }
  if (options.strategy === 'affinity') {
    strategy.sessionAffinity = { cookieName: DEMO_TRAFFIC.affinity.cookieName, maxAge: 3600 };
    // Sticky users are not assigned to an arm request by request: each arm is judged against its thresholds.
    (analysis as Record<string, unknown>).judge = 'threshold';
  } else if (options.strategy) {
    // One stage of four looks with no weighted share: matched users (A/B) or test traffic (blue/green) reach the canary.
    delete strategy.stepWeights;
    strategy.iterations = 4;
    if (options.strategy === 'ab') strategy.match = [{ headers: { [DEMO_TRAFFIC.ab.header]: { exact: DEMO_TRAFFIC.ab.value } } }];
    else strategy.blueGreen = {};
  }
  if (options.shadow) {
    const intervalMs = parseDuration(String(strategy.interval ?? '5s'));
    strategy.shadow = { percentage: 100, duration: `${Math.ceil((2 * intervalMs) / 1000)}s` };
  }
  const result = validateSpec(document);
  if (!result.ok) throw new SpecError(result.problems, `sandbox spec (from ${path})`);
  return result.spec;
}

/** What the preflight reads for the primary: a built-in's query, or a metric's own trials counter. */
function primaryQuery(spec: RolloutSpec, metric: RolloutSpec['spec']['analysis']['metrics'][number]): string | undefined {
  const trials = metric.counters?.primary.trials;
  if (metric.counters) return typeof trials === 'string' ? renderQuery(trials, queryVariables(spec, metric)) : undefined;
  return metricQueries(spec, metric).primary;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const errorRate = options.canaryErrorRate ?? 0;
  if (!(errorRate >= 0 && errorRate <= 1)) throw new Error(`canaryErrorRate must be a fraction between 0 and 1, got ${errorRate}`);
  const latencyMs = options.canaryLatencyMs ?? 0;
  if (!(latencyMs >= 0)) throw new Error(`canaryLatencyMs must be >= 0, got ${latencyMs}`);
  const rps = options.rps ?? 100;
  if (!(rps > 0)) throw new Error(`rps must be positive, got ${rps}`);
  const wantPrometheus = options.prometheus ?? 'optional';
  const havePrometheus = prometheusAvailable();
  if (wantPrometheus === 'required' && !havePrometheus) {
    throw new Error(
      `Prometheus is required but not installed at ${PROMETHEUS_BINARY}: apt-get install -y prometheus (or set SLUICE_PROMETHEUS_BIN)`,
    );
  }
  const seed = options.seed ?? randomSeed();
  const scrapeSeconds = options.scrapeIntervalSeconds ?? 1;
  if (!(Number.isInteger(scrapeSeconds) && scrapeSeconds >= 1 && scrapeSeconds <= 300))
    throw new Error(`scrapeIntervalSeconds must be whole seconds from 1 to 300, got ${scrapeSeconds}`);
  // A bad spec file or option fails here, before anything starts.
  await buildSpec(options, undefined);

  // Teardown in reverse order of start; also what a failed start runs.
  const closers: Array<() => Promise<void>> = [];
  const pids = new Set<number>();
  let dir: string | undefined;
  const emergency = () => {
    // Synchronous only: the process is exiting without close().
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', emergency);
  let signalHandler: ((signal: NodeJS.Signals) => void) | undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      if (signalHandler) {
        process.off('SIGINT', signalHandler);
        process.off('SIGTERM', signalHandler);
      }
      const errors: unknown[] = [];
      for (const closer of closers.reverse()) {
        try {
          await closer();
        } catch (error) {
          errors.push(error);
        }
      }
      if (dir) await rm(dir, { recursive: true, force: true });
      process.off('exit', emergency);
      if (errors.length) throw new AggregateError(errors, `sandbox teardown: ${errors.map((e) => (e as Error).message).join('; ')}`);
    })());

  if ((options.signals ?? 'close-and-exit') === 'close-and-exit') {
    signalHandler = (signal) => {
      const code = signal === 'SIGINT' ? 130 : 143;
      if (closing) {
        emergency();
        process.exit(code);
      }
      void close()
        .catch(() => undefined)
        .finally(() => process.exit(code));
    };
    process.on('SIGINT', signalHandler);
    process.on('SIGTERM', signalHandler);
  }

  try {
    dir = await mkdtemp(join(tmpdir(), 'sluice-sandbox-'));
    const standIn = await startKubeStandIn();
    closers.push(() => standIn.close());
    const kubeconfigPath = join(dir, 'kubeconfig');
    standIn.writeKubeconfigFile(kubeconfigPath);
    const { deployments, versions } = SANDBOX_NAMES;
    standIn.apply(deployment(deployments.primary, { VERSION: versions.primary, ERROR_RATE: '0', LATENCY_MS: '0' }));
    standIn.apply(
      deployment(deployments.canary, { VERSION: versions.canary, ERROR_RATE: String(errorRate), LATENCY_MS: String(latencyMs) }),
    );

    const startOne = async (side: Side, appSeed: number) => {
      const app = await startApp({
        kubeconfigPath,
        namespace: SANDBOX_NAMES.workloadNamespace,
        deployment: deployments[side],
        seed: appSeed,
      });
      pids.add(app.pid);
      closers.push(() => app.close());
      return app;
    };
    const [primaryApp, canaryApp] = await Promise.all([startOne('primary', seed + 1), startOne('canary', seed + 2)]);
    const apps: Record<Side, AppProcess> = { primary: primaryApp, canary: canaryApp };

    const { upstreams } = SANDBOX_NAMES;
    standIn.apply(upstream(upstreams.primary, apps.primary.address));
    standIn.apply(upstream(upstreams.canary, apps.canary.address));
    for (const object of glooObjects(options.router, options.strategy)) standIn.apply(object);

    const gateway = await startGateway({
      kubeConfig: standIn.kubeConfig(),
      virtualService: { namespace: SANDBOX_NAMES.glooNamespace, name: SANDBOX_NAMES.virtualService },
      upstreams: [
        { name: upstreams.primary, namespace: SANDBOX_NAMES.glooNamespace, address: apps.primary.address },
        { name: upstreams.canary, namespace: SANDBOX_NAMES.glooNamespace, address: apps.canary.address },
      ],
      seed,
      ...(options.gatewayRetries ? { retries: options.gatewayRetries } : {}),
      xdsDelayMs: options.xdsDelayMs ?? 1000,
      // Envoy flushes histograms every 5 s against scrapes of 15 s and more; the sandbox keeps that
      // proportion at scaled time (1 s scrapes: a 1 s flush).
      statsFlushMs: Math.min(5000, scrapeSeconds * 1000),
    });
    closers.push(() => gateway.close());
    await gateway.synced;
    await gateway.waitForWeights((w) => w[upstreams.primary] === 100 && w[upstreams.canary] === 0, 10_000);

    // Traffic from now on: it flows while Prometheus starts, so the primary has data sooner.
    const marked: { share: number; headers: Record<string, string> } | undefined =
      options.strategy === 'ab'
        ? { share: DEMO_TRAFFIC.ab.share, headers: { [DEMO_TRAFFIC.ab.header]: DEMO_TRAFFIC.ab.value } }
        : options.strategy === 'blue-green'
          ? { share: DEMO_TRAFFIC.blueGreen.share, headers: { [DEMO_TRAFFIC.blueGreen.header]: DEMO_TRAFFIC.blueGreen.value } }
          : undefined;
    const users = options.strategy === 'affinity' ? Math.round(rps * DEMO_TRAFFIC.affinity.usersPerRps) : 0;
    const load = startLoad({ url: `${gateway.url}/`, rps, ...(marked ? { marked } : {}), ...(users ? { users } : {}) });
    closers.push(async () => {
      await load.close();
    });

    let prometheus: RunningPrometheus | undefined;
    // The apps' own business counters (orders) are scraped beside the gateway's.
    const appTargets = [apps.primary.address, apps.canary.address];
    if (havePrometheus) {
      // Warm up at 1 s scrapes so the preflight has data within seconds, then scrape as asked (a
      // Prometheus that has been running for a while, reconfigured).
      prometheus = await startPrometheus({
        scrapeTargets: [gateway.metricsTarget, ...appTargets],
        scrapeIntervalSeconds: 1,
        dieWithParent: true,
      });
      pids.add(prometheus.pid);
      const running = prometheus;
      closers.push(() => running.close());
    }
    const spec = await buildSpec(options, prometheus?.url);

    // The preflight needs data for the primary: wait until each built-in query answers a number
    // (rate() needs two scrapes, and histograms appear at the gateway's stats flush).
    if (prometheus) {
      for (const metric of spec.spec.analysis.metrics) {
        const primary = primaryQuery(spec, metric);
        if (primary) await prometheus.waitForSeries(`(${primary}) > 0`, 30_000);
      }
      if (scrapeSeconds !== 1) {
        // A reload restarts the scrape loop (the series can read as stale until its first scrape
        // at the new interval): wait for that scrape, so the rollout starts with counters to read.
        await prometheus.setScrapeInterval(scrapeSeconds);
        for (const metric of spec.spec.analysis.metrics) {
          const primary = primaryQuery(spec, metric);
          if (primary) await prometheus.waitForSeries(`(${primary}) > 0`, 30_000 + 2000 * scrapeSeconds);
        }
      }
    } else {
      const until = Date.now() + 10_000;
      while (gateway.window(upstreams.primary, 10).requests === 0) {
        if (Date.now() > until) throw new Error('sandbox: the primary served no request within 10 s of starting the load');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    const direct = !prometheus;
    const traffic = (): SandboxTraffic => {
      const stats = gateway.stats();
      const primary = stats.upstreams[upstreams.primary];
      const canary = stats.upstreams[upstreams.canary];
      const out: SandboxTraffic = {
        requests: {
          total: (primary?.requests ?? 0) + (canary?.requests ?? 0),
          canary: canary?.requests ?? 0,
          canaryErrors: canary?.errors ?? 0,
          canaryShadow: canary?.shadowRequests ?? 0,
        },
      };
      if (marked) out.marked = load.stats().marked;
      const userStats = load.stats().users;
      if (userStats) out.users = userStats;
      const firsts = [canary?.firstRequestAt, canary?.firstShadowAt].filter((t): t is number => t !== undefined);
      if (firsts.length === 0) return out;
      const first = Math.min(...firsts);
      out.canaryFirstRequestAt = first;
      const off = stats.weightChanges.find(
        (c) => c.at >= first && (c.weights[upstreams.canary] ?? 0) === 0 && c.shadow?.upstream !== upstreams.canary,
      );
      if (off) {
        out.canaryOffAt = off.at;
        out.detectionMs = off.at - first;
      }
      return out;
    };

    return {
      spec,
      kubeconfigPath,
      kubeConfig: () => standIn.kubeConfig(),
      runtimeOptions: {
        kubeConfigOf: async () => standIn.kubeConfig(),
        ...(direct ? { overrides: directMetricDeps(gateway) } : {}),
      },
      metricsSource: direct ? 'direct' : 'prometheus',
      ...(direct
        ? {
            notice: `Prometheus is not installed (${PROMETHEUS_BINARY}): reading the gateway's counters directly instead (apt-get install prometheus for the real thing)`,
          }
        : {}),
      seed,
      gatewayUrl: gateway.url,
      ...(prometheus ? { prometheusUrl: prometheus.url } : {}),
      gateway,
      standIn,
      apps,
      load,
      traffic,
      scrapeIntervalSeconds: prometheus ? scrapeSeconds : 0,
      restartGateway: async () => {
        const instance = await gateway.restart();
        await prometheus?.setTargets([instance, ...appTargets]);
        return { at: new Date().toISOString(), instance };
      },
      close,
    };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
