/**
 * The fleet sandbox: one service on several clusters, on one machine. Per cluster a Kubernetes API
 * stand-in (its own Gloo objects and Deployments), the two app processes following their
 * Deployments, a weighted gateway exporting Envoy's metrics and a steady load; one Prometheus
 * scrapes every cluster's gateway (a shared Prometheus, the way a central Prometheus or a remote
 * write receiver sees a fleet). The clusters name their upstreams apart (`demo-primary-a`), so each
 * gateway's Envoy cluster names are its own in the shared Prometheus and each member's queries read
 * its own cluster only; the fleet spec carries those names as per-cluster router overrides.
 *
 * The fault (an error rate, a latency) goes into one cluster's canary Deployment; the others are healthy.
 * `close()` tears everything down in reverse order; a failed start tears down what it started.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { fleetMemberDocument } from '../../lambdas/core/fleet-member.ts';
import { metricQueries } from '../../lambdas/core/queries.ts';
import { SpecError, validateSpec } from '../../lambdas/core/spec.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import type { Side, Weights } from '../../lambdas/core/records.ts';
import { startKubeStandIn } from '../kube/stand-in.ts';
import type { KubeObject, KubeStandIn } from '../kube/stand-in.ts';
import { startApp } from './app.ts';
import type { AppProcess } from './app.ts';
import { startGateway } from './gateway.ts';
import type { Gateway } from './gateway.ts';
import { startLoad } from './load.ts';
import type { LoadGenerator } from './load.ts';
import { PROMETHEUS_BINARY, prometheusAvailable, startPrometheus } from './prometheus.ts';
import type { RunningPrometheus } from './prometheus.ts';
import { randomSeed } from './random.ts';
import { DEMO_SPEC_PATH, SANDBOX_NAMES, glooObjectsFor, upstream } from './sandbox.ts';

/** The shared Prometheus' scrape interval (s); the gateways flush their histograms as often. */
const SCRAPE_SECONDS = 2;

export interface FleetWaveOption {
  clusters: string[];
  /** The bake before the next wave (e.g. '5s'); default none. */
  pause?: string;
  /** A shorter step plan for this wave. */
  stepWeights?: number[];
}

export interface FleetSandboxOptions {
  /** The clusters' names, in the order they start. Default a, b, c. */
  clusters?: string[];
  /** The waves over them. Default one wave per cluster, in order. */
  waves?: FleetWaveOption[];
  /** The cluster whose canary carries the fault; the others are healthy. */
  faultyCluster?: string;
  canaryErrorRate?: number;
  canaryLatencyMs?: number;
  /** Requests per second through each cluster's gateway. Default 50 (three clusters: 150 in all). */
  rpsPerCluster?: number;
  seed?: number;
  /** strategy.interval (and the threshold judge's look interval), e.g. '5s'. Default the file's. */
  interval?: string;
  /** The judge of every member. Default the file's (sequential). */
  judge?: 'threshold' | 'sequential';
  /** How long a weight change takes to reach each gateway's data plane. Default 1000 ms. */
  xdsDelayMs?: number;
  /** The Kubernetes API stand-ins' Deployment readiness delay (tests shorten it). */
  deploymentReadyDelayMs?: number;
}

export interface FleetSandboxCluster {
  name: string;
  standIn: KubeStandIn;
  gateway: Gateway;
  apps: Record<Side, AppProcess>;
  load: LoadGenerator;
  upstreams: { primary: string; canary: string };
  /** The group's weights as this cluster's gateway follows them (100/0 before it has seen the group). */
  weights(): Weights;
  /** Requests this cluster's gateway sent to each side so far. */
  requests(): { total: number; canary: number; canaryErrors: number };
}

export interface FleetSandbox {
  /** The fleet spec: examples/demo.yaml plus spec.fleet over the sandbox's clusters. */
  spec: RolloutSpec;
  clusters: FleetSandboxCluster[];
  prometheusUrl: string;
  seed: number;
  /** Spread into startLocalFleetRuntime: each member's kubeconfig context reaches its cluster's stand-in. */
  runtimeOptions: { kubeConfigOf: (spec: RolloutSpec) => Promise<KubeConfig> };
  close(): Promise<void>;
}

/** The upstream names of a cluster: apart per cluster, so Envoy's cluster names are apart in the shared Prometheus. */
export function fleetUpstreams(cluster: string): { primary: string; canary: string } {
  return { primary: `${SANDBOX_NAMES.upstreams.primary}-${cluster}`, canary: `${SANDBOX_NAMES.upstreams.canary}-${cluster}` };
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

/** The Upstreams, the UpstreamGroup (100/0) and the VirtualService routing to it: the single sandbox's, under this cluster's upstream names. */
function glooObjects(upstreams: { primary: string; canary: string }, addresses: Record<Side, string>): KubeObject[] {
  return [
    upstream(upstreams.primary, addresses.primary),
    upstream(upstreams.canary, addresses.canary),
    ...glooObjectsFor('upstream-group', upstreams),
  ];
}

type Doc = {
  spec: {
    strategy: Record<string, unknown>;
    analysis: { judge?: string; prometheus?: { address?: string }; metrics?: Array<Record<string, unknown>> };
    fleet?: unknown;
  };
};

/** examples/demo.yaml with the shared Prometheus, the options and the fleet section, validated like any spec. */
export async function buildFleetSpec(
  options: FleetSandboxOptions,
  clusters: string[],
  waves: FleetWaveOption[],
  prometheusUrl: string,
): Promise<RolloutSpec> {
  const document = parseYaml(await readFile(DEMO_SPEC_PATH, 'utf8')) as Doc;
  const { strategy, analysis } = document.spec;
  analysis.prometheus = { ...analysis.prometheus, address: prometheusUrl };
  if (options.judge) analysis.judge = options.judge;
  if (options.interval !== undefined) {
    strategy.interval = options.interval;
    if (options.judge === 'threshold') strategy.lookInterval = options.interval;
  }
  const ns = SANDBOX_NAMES.glooNamespace;
  document.spec.fleet = {
    clusters: clusters.map((name) => {
      const upstreams = fleetUpstreams(name);
      return {
        name,
        kubeconfigContext: name,
        overrides: {
          router: {
            primary: { upstream: { name: upstreams.primary, namespace: ns } },
            canary: { upstream: { name: upstreams.canary, namespace: ns } },
          },
        },
      };
    }),
    waves: waves.map((wave) => ({
      clusters: wave.clusters,
      ...(wave.pause ? { pause: wave.pause } : {}),
      ...(wave.stepWeights ? { strategy: { stepWeights: wave.stepWeights } } : {}),
    })),
  };
  const result = validateSpec(document);
  if (!result.ok) throw new SpecError(result.problems, `fleet sandbox spec (from ${DEMO_SPEC_PATH})`);
  return result.spec;
}

export async function startFleetSandbox(options: FleetSandboxOptions = {}): Promise<FleetSandbox> {
  const names = options.clusters ?? ['a', 'b', 'c'];
  const waves = options.waves ?? names.map((name) => ({ clusters: [name] }));
  if (options.faultyCluster !== undefined && !names.includes(options.faultyCluster))
    throw new Error(`faultyCluster: expected one of ${names.join(', ')}, got "${options.faultyCluster}"`);
  const rps = options.rpsPerCluster ?? 50;
  if (!(rps > 0)) throw new Error(`rpsPerCluster must be positive, got ${rps}`);
  // The demo's promise is a real Prometheus; the fleet sandbox has no direct-metrics fallback.
  if (!prometheusAvailable())
    throw new Error(`the fleet sandbox needs Prometheus, not installed at ${PROMETHEUS_BINARY}: apt-get install -y prometheus`);
  const seed = options.seed ?? randomSeed();
  // A bad option fails here, before anything starts.
  await buildFleetSpec(options, names, waves, 'http://127.0.0.1:9090');

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
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
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
      if (errors.length) throw new AggregateError(errors, `fleet sandbox teardown: ${errors.map((e) => (e as Error).message).join('; ')}`);
    })());

  try {
    dir = await mkdtemp(join(tmpdir(), 'sluice-fleet-sandbox-'));
    const clusters: FleetSandboxCluster[] = [];
    for (const [i, name] of names.entries()) {
      const standIn = await startKubeStandIn(
        options.deploymentReadyDelayMs !== undefined ? { deploymentReadyDelayMs: options.deploymentReadyDelayMs } : {},
      );
      closers.push(() => standIn.close());
      const kubeconfigPath = join(dir, `kubeconfig-${name}`);
      standIn.writeKubeconfigFile(kubeconfigPath);
      const faulty = name === options.faultyCluster;
      const { deployments, versions } = SANDBOX_NAMES;
      standIn.apply(deployment(deployments.primary, { VERSION: versions.primary, ERROR_RATE: '0', LATENCY_MS: '0' }));
      standIn.apply(
        deployment(deployments.canary, {
          VERSION: versions.canary,
          ERROR_RATE: String(faulty ? (options.canaryErrorRate ?? 0) : 0),
          LATENCY_MS: String(faulty ? (options.canaryLatencyMs ?? 0) : 0),
        }),
      );
      const clusterSeed = seed + 10 * i;
      const startOne = async (side: Side, appSeed: number) => {
        // Six app processes start on two shared cores: more time than the single sandbox's default.
        const app = await startApp({
          kubeconfigPath,
          namespace: SANDBOX_NAMES.workloadNamespace,
          deployment: deployments[side],
          seed: appSeed,
          startTimeoutMs: 45_000,
        });
        pids.add(app.pid);
        closers.push(() => app.close());
        return app;
      };
      const [primary, canary] = await Promise.all([startOne('primary', clusterSeed + 1), startOne('canary', clusterSeed + 2)]);
      const apps: Record<Side, AppProcess> = { primary, canary };
      const upstreams = fleetUpstreams(name);
      for (const object of glooObjects(upstreams, { primary: primary.address, canary: canary.address })) standIn.apply(object);
      const ns = SANDBOX_NAMES.glooNamespace;
      const gateway = await startGateway({
        kubeConfig: standIn.kubeConfig(),
        virtualService: { namespace: ns, name: SANDBOX_NAMES.virtualService },
        upstreams: [
          { name: upstreams.primary, namespace: ns, address: primary.address },
          { name: upstreams.canary, namespace: ns, address: canary.address },
        ],
        seed: clusterSeed,
        xdsDelayMs: options.xdsDelayMs ?? 1000,
        statsFlushMs: SCRAPE_SECONDS * 1000,
      });
      closers.push(() => gateway.close());
      await gateway.synced;
      await gateway.waitForWeights((w) => w[upstreams.primary] === 100 && w[upstreams.canary] === 0, 10_000);
      const load = startLoad({ url: `${gateway.url}/`, rps });
      closers.push(async () => {
        await load.close();
      });
      clusters.push({
        name,
        standIn,
        gateway,
        apps,
        load,
        upstreams,
        weights: () => {
          const byUpstream = gateway.weights() ?? {};
          return { primary: byUpstream[upstreams.primary] ?? 100, canary: byUpstream[upstreams.canary] ?? 0 };
        },
        requests: () => {
          const stats = gateway.stats().upstreams;
          const p = stats[upstreams.primary];
          const c = stats[upstreams.canary];
          return { total: (p?.requests ?? 0) + (c?.requests ?? 0), canary: c?.requests ?? 0, canaryErrors: c?.errors ?? 0 };
        },
      });
    }

    const prometheus: RunningPrometheus = await startPrometheus({
      scrapeTargets: clusters.map((cluster) => cluster.gateway.metricsTarget),
      // Every 2 s (its timeout too): one process serves three gateways' /metrics beside three loads
      // and the engine, and on two busy cores a 1 s timeout loses scrapes (a look with no evidence).
      scrapeIntervalSeconds: SCRAPE_SECONDS,
      dieWithParent: true,
    });
    pids.add(prometheus.pid);
    closers.push(() => prometheus.close());
    const spec = await buildFleetSpec(options, names, waves, prometheus.url);

    // Each member's preflight needs data for its primary: wait until every cluster's built-in queries answer.
    for (const name of names) {
      const member = fleetMemberDocument(spec, name);
      for (const metric of member.spec.analysis.metrics) {
        const primary = metricQueries(member, metric).primary;
        if (primary) await prometheus.waitForSeries(`(${primary}) > 0`, 60_000);
      }
    }

    const byName = new Map(clusters.map((cluster) => [cluster.name, cluster]));
    return {
      spec,
      clusters,
      prometheusUrl: prometheus.url,
      seed,
      runtimeOptions: {
        kubeConfigOf: async (member: RolloutSpec) => {
          const context = 'kubeconfigContext' in member.spec.cluster ? member.spec.cluster.kubeconfigContext : undefined;
          const cluster = context === undefined ? undefined : byName.get(context);
          if (!cluster) throw new Error(`fleet sandbox: no cluster for kubeconfig context ${String(context)} (${names.join(', ')})`);
          return cluster.standIn.kubeConfig();
        },
      },
      close,
    };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
