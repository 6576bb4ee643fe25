/**
 * A/B testing and blue/green through the real ASL in the local engine, against Deployments and Gloo
 * objects in the Kubernetes API stand-in. Routing is checked the way the sandbox gateway routes a
 * request (local/sandbox/gateway/routes.ts on Gloo's matcher semantics: a route's header matchers are
 * exact, or RE2 full-match with `regex: true`; gloo.solo.io HeaderMatcher, solo-io/gloo docs
 * "Header Matching"), fed with the objects the rollout wrote.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startRollout } from '../local/commands/run.ts';
import { kubeconfigSource, startLocalRuntime } from '../local/runtime.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import type { ControlPlane } from '../local/control.ts';
import { statusCommand } from '../local/commands/control-commands.ts';
import { startKubeStandIn } from '../local/kube/stand-in.ts';
import type { KubeStandIn } from '../local/kube/stand-in.ts';
import { RouteTable, targetsOf } from '../local/sandbox/gateway/routes.ts';
import { upstreamGroupSchema, virtualServiceSchema } from '../lambdas/core/gloo-schema.ts';
import type { UpstreamGroup } from '../lambdas/core/gloo-schema.ts';
import type { RolloutSpecInput } from '../lambdas/core/spec.ts';
import type { MatchRule } from '../lambdas/core/match.ts';
import {
  APP_NS,
  CANARY_UPSTREAM,
  GLOO_NS,
  PRIMARY_UPSTREAM,
  deployment,
  glooSettled,
  seedGloo,
  testSpec,
} from '../lambdas/adapters/kube/cluster.fixtures.ts';
import { scriptedMetrics, successRate } from './support/recording-router.ts';
import { SHORT_RETRIES, SHORT_WAITS } from './support/flow.ts';

let kube: KubeStandIn;
let dir: string;
let runtime: LocalRuntime | undefined;
/** Traffic changes and Deployment changes in order. */
let trail: string[];

const MARKER = 'sluice-ab-podinfo';
const MATCH: MatchRule[] = [
  { headers: { cookie: { regex: '^(.*?;)?(canary=always)(;.*)?$' } } },
  { headers: { 'x-canary': { exact: 'insider' } } },
];

const routeNames = () =>
  (
    (kube.get('gateway.solo.io/v1', 'VirtualService', GLOO_NS, 'podinfo')?.spec as { virtualHost: { routes: { name?: string }[] } })
      .virtualHost.routes ?? []
  ).map((r) => r.name);
const versionOf = (name: string) =>
  (
    kube.get('apps/v1', 'Deployment', APP_NS, name)?.spec as {
      template: { spec: { containers: { env: { name: string; value: string }[] }[] } };
    }
  ).template.spec.containers[0]?.env.find((e) => e.name === 'VERSION')?.value;

/** Where the sandbox gateway would send a request with these headers, from the objects in the stand-in now. */
function routedTo(headers: Record<string, string>): string | undefined {
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

type Strategy = NonNullable<RolloutSpecInput['spec']['strategy']>;

/** What `sluice status` prints for the target now. */
async function statusNow(rt: LocalRuntime): Promise<string> {
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

async function start(strategy: Strategy, options: { rate?: (look: number) => number; onLook?: (look: number) => void } = {}) {
  const kubeconfigPath = join(dir, 'kubeconfig');
  kube.writeKubeconfigFile(kubeconfigPath);
  const metrics = scriptedMetrics((look) => {
    options.onLook?.(look);
    return [successRate(options.rate?.(look) ?? 99.9)];
  });
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
    analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
  } as Parameters<typeof testSpec>[0]);
  return startRollout(runtime, spec, { version: 'v2' });
}

describe('A/B testing (strategy.match) in the state machine', () => {
  it('sends matching requests to the canary for the iterations, everyone else to the primary; promotion removes the match route', async () => {
    // Prepare
    const during: Record<string, string | undefined>[] = [];
    const statuses: Promise<string>[] = [];
    const rollout = await start(
      { iterations: 2, match: MATCH },
      {
        onLook: (look) => {
          if (look === 1 && runtime) statuses.push(statusNow(runtime));
          during.push({
            cookie: routedTo({ cookie: 'canary=always; theme=dark' }),
            header: routedTo({ 'x-canary': 'insider' }),
            almost: routedTo({ 'x-canary': 'insider2' }),
            plain: routedTo({}),
          });
        },
      },
    );
    // Act
    const summary = await rollout.done;
    // Assess
    expect(summary.outcome).toBe('promoted');
    expect(summary.reason).toBe(
      'promoted after 2 looks of the A/B stage (requests where header cookie ~ /^(.*?;)?(canary=always)(;.*)?$/ or header x-canary = "insider" on the canary; each arm judged against its thresholds)',
    );
    // The first metric read is Prepare's check that the queries answer, before any route changes.
    expect(during[0]).toEqual({ cookie: PRIMARY_UPSTREAM, header: PRIMARY_UPSTREAM, almost: PRIMARY_UPSTREAM, plain: PRIMARY_UPSTREAM });
    expect(during.slice(1)).toEqual(
      Array(2).fill({ cookie: CANARY_UPSTREAM, header: CANARY_UPSTREAM, almost: PRIMARY_UPSTREAM, plain: PRIMARY_UPSTREAM }),
    );
    // The weighted share never moved; the match route came and went around the template copy.
    expect(trail.filter((t) => t.startsWith('group:'))).toEqual([]);
    const inserted = trail.indexOf(`routes:health,${MARKER},main`);
    const copied = trail.findIndex((t) => t.startsWith('podinfo-primary:') && t.includes('version=v2'));
    const removed = trail.lastIndexOf('routes:health,main');
    expect(inserted).toBeGreaterThan(-1);
    expect(copied).toBeGreaterThan(inserted);
    expect(removed).toBeGreaterThan(copied);
    expect(routeNames()).toEqual(['health', 'main']);
    expect(versionOf('podinfo-primary')).toBe('v2');
    expect(routedTo({ 'x-canary': 'insider' })).toBe(PRIMARY_UPSTREAM);
    // `sluice status` during the stage says who gets the canary, next to weights that stay 100/0.
    const [status] = await Promise.all(statuses);
    expect(status).toMatch(
      /traffic {3}primary 100% \/ canary 0%.*\n {2}A\/B {7}requests where header cookie .* or header x-canary = "insider" go to the canary/,
    );
  });

  it('rolls back when the matched users see failures: the match route is removed, the primary keeps its template', async () => {
    const rollout = await start({ iterations: 3, match: MATCH }, { rate: (look) => (look >= 1 ? 80 : 99.9) });

    const summary = await rollout.done;

    expect(summary.outcome).toBe('rolled-back');
    expect(summary.exitCode).toBe(3);
    expect(trail).toContain(`routes:health,${MARKER},main`);
    expect(routeNames()).toEqual(['health', 'main']);
    expect(versionOf('podinfo-primary')).toBe('v1');
    expect(routedTo({ cookie: 'canary=always' })).toBe(PRIMARY_UPSTREAM);
  });
});

describe('blue/green (strategy.blueGreen) in the state machine', () => {
  it('judges green with no user traffic, scales it to the primary and waits until ready, switches all traffic once, then promotes', async () => {
    const weightsDuringLooks: string[] = [];
    const rollout = await start({ iterations: 2, blueGreen: {} }, { onLook: () => weightsDuringLooks.push(routedTo({}) ?? '') });

    const summary = await rollout.done;

    expect(summary.outcome).toBe('promoted');
    expect(summary.reason).toBe('promoted after 2 looks of green on its own traffic and one switch of all traffic');
    // Prepare's metric check, then the two looks: users stay on blue throughout.
    expect(weightsDuringLooks).toEqual([PRIMARY_UPSTREAM, PRIMARY_UPSTREAM, PRIMARY_UPSTREAM]);
    const scaledReady = trail.indexOf('podinfo:replicas=3,version=v2,available=3');
    const toGreen = trail.indexOf('group:canary=100');
    const copied = trail.findIndex((t) => t.startsWith('podinfo-primary:') && t.includes('version=v2'));
    const back = trail.lastIndexOf('group:canary=0');
    expect(scaledReady).toBeGreaterThan(-1);
    expect(toGreen).toBeGreaterThan(scaledReady);
    expect(copied).toBeGreaterThan(toGreen);
    expect(back).toBeGreaterThan(copied);
    // One switch each way: no weighted split ever.
    expect(trail.filter((t) => t.startsWith('group:'))).toEqual(['group:canary=100', 'group:canary=0']);
    expect(versionOf('podinfo-primary')).toBe('v2');
  });

  it('rolls back before any user traffic moved when green fails its looks', async () => {
    const rollout = await start({ iterations: 3, blueGreen: {} }, { rate: (look) => (look >= 1 ? 50 : 99.9) });

    const summary = await rollout.done;

    expect(summary.outcome).toBe('rolled-back');
    expect(trail.filter((t) => t.startsWith('group:'))).toEqual([]);
    expect(versionOf('podinfo-primary')).toBe('v1');
  });
});
