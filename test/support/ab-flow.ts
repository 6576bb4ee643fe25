/**
 * The A/B and blue/green flow tests' harness: the real ASL in the local engine against Deployments
 * and Gloo objects in the Kubernetes API stand-in, a trail of the traffic and Deployment changes in
 * order, and where the sandbox gateway would route a request (local/sandbox/gateway/routes.ts on
 * Gloo's matcher semantics) from the objects the rollout wrote.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { startRollout } from '../../local/commands/run.ts';
import { kubeconfigSource, startLocalRuntime } from '../../local/runtime.ts';
import type { LocalRuntime } from '../../local/runtime.ts';
import type { ControlPlane } from '../../local/control.ts';
import { statusCommand } from '../../local/commands/control-commands.ts';
import { startKubeStandIn } from '../../local/kube/stand-in.ts';
import type { KubeStandIn } from '../../local/kube/stand-in.ts';
import { RouteTable, targetsOf } from '../../local/sandbox/gateway/routes.ts';
import { upstreamGroupSchema, virtualServiceSchema } from '../../lambdas/core/gloo-schema.ts';
import type { UpstreamGroup } from '../../lambdas/core/gloo-schema.ts';
import type { RolloutSpecInput } from '../../lambdas/core/spec.ts';
import type { MatchRule } from '../../lambdas/core/match.ts';
import type { CounterSnapshot } from '../../lambdas/core/counts.ts';
import type { MetricDeps } from '../../lambdas/app/deps.ts';
import {
  APP_NS,
  CANARY_UPSTREAM,
  GLOO_NS,
  PRIMARY_UPSTREAM,
  deployment,
  glooSettled,
  seedGloo,
  testSpec,
} from '../../lambdas/adapters/kube/cluster.fixtures.ts';
import { scriptedMetrics, successRate } from './recording-router.ts';
import { SHORT_RETRIES, SHORT_WAITS } from './flow.ts';

let kube: KubeStandIn;
let dir: string;
let runtime: LocalRuntime | undefined;
/** Traffic changes and Deployment changes in order. */
let trail: string[];

/** The trail of the current test: traffic and Deployment changes in order. */
export const trailNow = (): readonly string[] => trail;
/** The runtime of the current test (after start). */
export const runtimeNow = (): LocalRuntime | undefined => runtime;

export const MARKER = 'sluice-ab-podinfo';
export const MATCH: MatchRule[] = [
  { headers: { cookie: { regex: '^(.*?;)?(canary=always)(;.*)?$' } } },
  { headers: { 'x-canary': { exact: 'insider' } } },
];

export const routeNames = () =>
  (
    (kube.get('gateway.solo.io/v1', 'VirtualService', GLOO_NS, 'podinfo')?.spec as { virtualHost: { routes: { name?: string }[] } })
      .virtualHost.routes ?? []
  ).map((r) => r.name);
export const versionOf = (name: string) =>
  (
    kube.get('apps/v1', 'Deployment', APP_NS, name)?.spec as {
      template: { spec: { containers: { env: { name: string; value: string }[] }[] } };
    }
  ).template.spec.containers[0]?.env.find((e) => e.name === 'VERSION')?.value;

/** Where the sandbox gateway would send a request with these headers, from the objects in the stand-in now. */
export function routedTo(headers: Record<string, string>): string | undefined {
  const targets = targetsOf(
    [PRIMARY_UPSTREAM, CANARY_UPSTREAM].map((name, i) => ({ name, namespace: GLOO_NS, address: `127.0.0.1:${1000 + i}` })),
    (u) => u.name,
  );
  const table = new RouteTable(targets, GLOO_NS);
  const group = upstreamGroupSchema.parse(kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo'));
  table.setGroups(new Map<string, UpstreamGroup>([[`${GLOO_NS}/podinfo`, group]]), new Set([`${GLOO_NS}/podinfo`]));
  table.setVirtualService(virtualServiceSchema.parse(kube.get('gateway.solo.io/v1', 'VirtualService', GLOO_NS, 'podinfo')));
  const found = table.resolve({ path: '/api/info', headers, query: new URLSearchParams() });
  const live = found?.resolved.destinations.filter((d) => d.weight > 0) ?? [];
  return live.length === 1 ? live[0]?.name : `split:${live.map((d) => `${d.name}=${d.weight}`).join(',')}`;
}

/** Registers the stand-in and the runtime around each test of the calling file. */
export function useAbFlow(): void {
  beforeEach(async () => {
    kube = await startKubeStandIn({ deploymentReadyDelayMs: 50, glooStatusLagMs: 20 });
    seedGloo(kube);
    kube.apply(deployment('podinfo-primary', { app: 'podinfo-primary', replicas: 3, env: { VERSION: 'v1' } }));
    kube.apply(deployment('podinfo', { app: 'podinfo', replicas: 1, env: { VERSION: 'v2' } }));
    await glooSettled(kube);
    await new Promise((resolve) => setTimeout(resolve, 200)); // both Deployments ready
    dir = mkdtempSync(join(tmpdir(), 'sluice-ab-flow-'));
    trail = [];
    kube.onChange(({ object }) => {
      let entry: string | undefined;
      if (object.kind === 'UpstreamGroup')
        entry = `group:canary=${(object.spec as { destinations: { weight: number }[] }).destinations[1]?.weight}`;
      if (object.kind === 'VirtualService')
        entry = `routes:${(object.spec as { virtualHost: { routes: { name?: string }[] } }).virtualHost.routes.map((r) => r.name).join(',')}`;
      if (object.kind === 'Deployment') {
        const spec = object.spec as { replicas: number; template: { spec: { containers: { env: { name: string; value: string }[] }[] } } };
        const available = (object.status as { availableReplicas?: number } | undefined)?.availableReplicas ?? 0;
        entry = `${object.metadata.name}:replicas=${spec.replicas},version=${spec.template.spec.containers[0]?.env.find((e) => e.name === 'VERSION')?.value},available=${available}`;
      }
      if (entry && trail.at(-1) !== entry) trail.push(entry);
    });
  });

  afterEach(async () => {
    await runtime?.close();
    runtime = undefined;
    await kube.close();
    rmSync(dir, { recursive: true, force: true });
  });
}

type Strategy = NonNullable<RolloutSpecInput['spec']['strategy']>;

/** What `sluice status` prints for the target now. */
export async function statusNow(rt: LocalRuntime): Promise<string> {
  let out = '';
  const control: ControlPlane = {
    kind: 'local',
    sfn: rt.sfn,
    stateMachineArn: rt.engine.stateMachineArn,
    store: rt.deps.store,
    events: rt.deps.events,
    loadTarget: async () => {
      throw new Error('status loads no spec');
    },
    close: async () => {},
  };
  await statusCommand(control, 'podinfo', {}, { stdout: (text: string) => void (out += text), stderr: () => {} });
  return out;
}

interface StartOptions {
  rate?: (look: number) => number;
  onLook?: (look: number) => void;
  /** The sequential judge, reading these counters instead of the scripted readings. */
  sequential?: { compareArms?: boolean; counters: () => CounterSnapshot };
}

export async function start(strategy: Strategy, options: StartOptions = {}) {
  const kubeconfigPath = join(dir, 'kubeconfig');
  kube.writeKubeconfigFile(kubeconfigPath);
  const scripted = scriptedMetrics((look) => {
    options.onLook?.(look);
    return [successRate(options.rate?.(look) ?? 99.9)];
  });
  const sequential = options.sequential;
  const metrics: MetricDeps = sequential
    ? {
        ...scripted,
        snapshotCounters: async (_spec, _thresholds, read) => ({
          ...sequential.counters(),
          ...(read?.historySeconds
            ? { history: { seconds: 300, scrapeIntervalSeconds: 1, canaryRps: 0, primaryRps: 1000, primaryErrorRate: 0.001 } }
            : {}),
        }),
      }
    : scripted;
  runtime = await startLocalRuntime({
    dir: join(dir, 'state'),
    advertise: false,
    env: {},
    log: () => {},
    kubeConfigOf: kubeconfigSource(kubeconfigPath),
    overrides: metrics,
    retryIntervalOverrides: SHORT_RETRIES,
    waitTimeOverrides: SHORT_WAITS,
  });
  const spec = testSpec({
    strategy: { interval: '1s', lookInterval: '1s', threshold: 2, deadline: '5m', ...strategy },
    analysis: sequential
      ? {
          judge: 'sequential',
          prometheus: { address: 'http://127.0.0.1:9' },
          metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 } }],
          sequential: { settleSeconds: 0, minSecondsPerStep: 0 },
          ...(sequential.compareArms ? { compareArms: true } : {}),
        }
      : { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
  } as Parameters<typeof testSpec>[0]);
  return startRollout(runtime, spec, { version: 'v2' });
}
