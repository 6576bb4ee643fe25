/**
 * Fleet releases in the reliability soak: R releases at once, each of one target over three
 * clusters (three Kubernetes API stand-ins a, b, c), run by statemachine/fleet.asl.json in the
 * local engine with each cluster's rollout a nested execution of statemachine/rollout.asl.json.
 * Each release carries one fault in one cluster (seeded); its `onHalt.promotedWaves` rotates
 * through keep, restore and rollout. After every release ended, three invariants are checked
 * against the API servers, never against what Sluice says:
 *
 *  (g) a fault in one cluster never moves another cluster's traffic: a cluster the fleet never
 *      started got no write at all, and every write to a target's objects came from that target's
 *      own Sluice (its own token), never from another release's;
 *  (h) every cluster ends on a safe side: all traffic on one side, no rollout record or lock left open;
 *  (i) the fleet's summary is truthful per cluster: `promoted` runs v2 with all traffic on its
 *      primary, `reverted`/`rolled-back`/`aborted`/`not-started` run v1 there, `promotion-failed`
 *      holds all traffic on the canary; `promoted` as the fleet's outcome only when every cluster is.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { memberAddress, targetOf } from '../../lambdas/core/fleet-member.ts';
import { memberExecutionName, revertExecutionName } from '../../lambdas/core/fleet.ts';
import { parseSpec } from '../../lambdas/core/spec.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import type { MetricReading } from '../../lambdas/core/verdict.ts';
import { abortFleetRelease, startFleet, startLocalFleetRuntime, stopFleet } from '../../local/fleet.ts';
import type { FleetRunSummary, StartedFleet } from '../../local/fleet.ts';
import { startKubeStandIn } from '../../local/kube/stand-in.ts';
import type { KubeStandIn } from '../../local/kube/stand-in.ts';
import { compressedRetryOverrides } from './budget.ts';
import type { CompressedPauses } from './budget.ts';
import { APP_NS, GLOO_NS, groupWeights, primaryVersion, seedTarget, specFor } from './targets.ts';
import type { GroupState, Target } from './targets.ts';

export const FLEET_CLUSTERS = ['a', 'b', 'c'] as const;
type Cluster = (typeof FLEET_CLUSTERS)[number];

/** What goes wrong in the one faulty cluster of a release. */
export const FLEET_FAULTS = [
  'canary-errors', // its canary fails every look: its member rolls back, the fleet halts
  'api-503-sustained', // its UpstreamGroup answers 503 for a while from the first move
  'api-drop-burst', // two dropped connections on its UpstreamGroup (within the retry budget)
  'primary-never-ready', // its primary never becomes ready after the template copy: traffic held on the canary
  'abort', // a person aborts the fleet (`sluice abort <target>`) when this cluster first moves
  'stop-execution', // the fleet execution is stopped (StopExecution) when this cluster first moves
] as const;
export type FleetFault = (typeof FLEET_FAULTS)[number];

const ON_HALT = ['keep', 'restore', 'rollout'] as const;

export const FLEET_INVARIANTS = {
  g: "a fault in one cluster never moves another cluster's traffic",
  h: 'every cluster ends on a safe side, nothing left open',
  i: "the fleet's summary is truthful per cluster",
} as const;

export interface FleetViolation {
  invariant: keyof typeof FLEET_INVARIANTS;
  release: string;
  fault: FleetFault;
  cluster: string;
  message: string;
}

export interface FleetReleaseResult {
  target: string;
  fault: FleetFault;
  faultyCluster: Cluster;
  waves: string[][];
  onHalt: (typeof ON_HALT)[number];
  injected: boolean;
  outcome: FleetRunSummary['outcome'];
  reason: string;
  clusters: Array<{ cluster: string; outcome: string; revert?: string; weights: GroupState | null; primaryVersion: string | null }>;
  durationMs: number;
}

export interface FleetSoakReport {
  releases: number;
  seed: number;
  durationMs: number;
  invariants: typeof FLEET_INVARIANTS;
  violations: FleetViolation[];
  results: FleetReleaseResult[];
}

export interface FleetSoakOptions {
  releases: number;
  seed: number;
  retryPauses: CompressedPauses;
  log?: (line: string) => void;
}

/** A small deterministic generator (mulberry32): the same seed deals the same releases. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fleetTarget(index: number): Target {
  const name = `fleet-${String(index + 1).padStart(2, '0')}`;
  return {
    name,
    token: `sluice-${name}-token`,
    user: `sluice/${name}`,
    primaryUpstream: `${name}-primary`,
    canaryUpstream: `${name}-canary`,
    primaryDeployment: `${name}-primary`,
    canaryDeployment: name,
  };
}

interface Release {
  t: Target;
  spec: RolloutSpec;
  fault: FleetFault;
  faulty: Cluster;
  waves: string[][];
  onHalt: (typeof ON_HALT)[number];
  injected: boolean;
  started?: StartedFleet;
  heals: Array<() => void>;
}

export async function runFleetSoak(options: FleetSoakOptions): Promise<FleetSoakReport> {
  const log = options.log ?? (() => {});
  const begin = Date.now();
  const next = random(options.seed ^ 0x5f1ee7);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const kubes = new Map<Cluster, KubeStandIn>();
  for (const cluster of FLEET_CLUSTERS) kubes.set(cluster, await startKubeStandIn({ deploymentReadyDelayMs: 300, glooStatusLagMs: 100 }));
  const kube = (cluster: string): KubeStandIn => {
    const found = kubes.get(cluster as Cluster);
    if (!found) throw new Error(`no stand-in for cluster ${cluster}`);
    return found;
  };

  const releases: Release[] = [];
  for (let i = 0; i < options.releases; i++) {
    const t = fleetTarget(i);
    const fault = FLEET_FAULTS[i % FLEET_FAULTS.length] as FleetFault;
    const faulty = pick(FLEET_CLUSTERS);
    const waves = next() < 0.5 ? [['a'], ['b'], ['c']] : [['a'], ['b', 'c']];
    // The halting faults (canary errors, a primary never ready, an abort) meet a judged rollback first, then a restore, then keep.
    const onHalt = ON_HALT[(2 * i + 2 + Math.floor(i / FLEET_FAULTS.length)) % ON_HALT.length] as (typeof ON_HALT)[number];
    for (const cluster of FLEET_CLUSTERS) seedTarget(kube(cluster), t);
    const base = specFor(t, [], 'http://127.0.0.1:9');
    const spec = parseSpec({
      ...base,
      spec: {
        ...base.spec,
        fleet: {
          clusters: FLEET_CLUSTERS.map((name) => ({ name, kubeconfigContext: name })),
          waves: waves.map((clusters) => ({ clusters })),
          onHalt: { promotedWaves: onHalt },
        },
      },
    });
    releases.push({ t, spec, fault, faulty, waves, onHalt, injected: false, heals: [] });
  }
  const byTarget = new Map(releases.map((r) => [r.t.name, r]));

  const dir = mkdtempSync(join(tmpdir(), 'sluice-fleet-soak-'));
  const fleetPauses = { Plan: 150, ResolveMember: 150, KeepTemplates: 150, WaveDone: 150, Watch: 150, Finish: 150 };
  const runtime = await startLocalFleetRuntime({
    dir,
    advertise: false,
    env: {},
    log: () => {},
    // Each member reaches its own cluster with its own target's token: the audit log says who wrote.
    kubeConfigOf: async (member: RolloutSpec) => {
      const context = 'kubeconfigContext' in member.spec.cluster ? member.spec.cluster.kubeconfigContext : '';
      const release = byTarget.get(targetOf(member.metadata.name));
      return kube(context).kubeConfig(release?.t.token) as KubeConfig;
    },
    routerTuning: { statusSettleMs: 300 },
    overrides: {
      providersFor: () => [{ isOnline: async () => {}, runQuery: async () => null }],
      readMetrics: async (member: RolloutSpec): Promise<MetricReading[]> => {
        const release = byTarget.get(targetOf(member.metadata.name));
        const bad = release?.fault === 'canary-errors' && member.metadata.name === memberAddress(release.t.name, release.faulty);
        return [{ name: 'request-success-rate', value: bad ? 50 : 99.9, primaryValue: 99.9, thresholdRange: { min: 99 } }];
      },
    },
    retryIntervalOverrides: { ...compressedRetryOverrides(options.retryPauses), ...fleetPauses },
    waitTimeOverrides: { WaitForCanary: 200, WaitForPrimary: 200 },
    fleetWaitTimeOverrides: { Pause: 200, WaitRevertReady: 200 },
  });

  // Faults land at the faulty cluster's first move (its UpstreamGroup changes for the first time).
  const inject = (release: Release) => {
    if (release.injected) return;
    release.injected = true;
    const k = kube(release.faulty);
    const group = { resource: 'upstreamgroups', name: release.t.name };
    switch (release.fault) {
      case 'canary-errors':
        return;
      case 'api-503-sustained': {
        const heal = k.faults.add({ ...group, status: 503 });
        const timer = setTimeout(heal, 4000);
        release.heals.push(() => {
          clearTimeout(timer);
          heal();
        });
        return;
      }
      case 'api-drop-burst':
        k.faults.add({ ...group, drop: true, times: 2 });
        return;
      case 'primary-never-ready':
        return; // armed at the start (below): the copy lands, the primary never becomes ready
      case 'abort':
        if (release.started)
          void abortFleetRelease(
            { store: runtime.deps.store, sfn: runtime.sfn },
            {
              execution: release.started.name,
              target: release.t.name,
              version: 'v2',
              attempt: release.started.attempt,
              clusters: [...FLEET_CLUSTERS],
              requestedBy: 'soak',
            },
            'soak',
            `abort when ${release.faulty} first moved`,
          ).catch((error: unknown) => log(`${release.t.name}: abort failed: ${String(error)}`));
        return;
      case 'stop-execution':
        if (release.started) stopFleet(runtime, release.started.executionArn, `stopped when ${release.faulty} first moved`);
        return;
      default: {
        const never: never = release.fault;
        throw new Error(`unknown fleet fault ${String(never)}`);
      }
    }
  };
  const unsubscribes = FLEET_CLUSTERS.map((cluster) =>
    kube(cluster).onChange((event) => {
      if (event.object.kind !== 'UpstreamGroup') return;
      const release = byTarget.get(event.object.metadata.name);
      if (release && release.faulty === cluster && event.type === 'MODIFIED') inject(release);
    }),
  );
  for (const release of releases)
    if (release.fault === 'primary-never-ready') {
      const k = kube(release.faulty);
      k.deployments.neverReady(APP_NS, release.t.primaryDeployment);
      release.heals.push(() => k.deployments.neverReady(APP_NS, release.t.primaryDeployment, false));
    }

  log(`fleet soak: ${releases.length} releases over clusters ${FLEET_CLUSTERS.join(', ')}`);
  const results: FleetReleaseResult[] = [];
  const violations: FleetViolation[] = [];
  await Promise.all(
    releases.map(async (release) => {
      const at = Date.now();
      release.started = startFleet(runtime, release.spec, { version: 'v2', requestedBy: 'soak' });
      const summary = await release.started.done;
      for (const heal of release.heals) heal();
      const { result, found } = await judgeRelease(release, summary, kube, runtime.deps.store, Date.now() - at);
      results.push(result);
      violations.push(...found);
      log(`${release.t.name} [${release.fault} in ${release.faulty}, onHalt ${release.onHalt}]: ${summary.outcome} — ${summary.reason}`);
    }),
  );
  for (const unsubscribe of unsubscribes) unsubscribe();
  await runtime.close();
  await Promise.all([...kubes.values()].map((k) => k.close()));
  rmSync(dir, { recursive: true, force: true });
  results.sort((x, y) => x.target.localeCompare(y.target));
  return {
    releases: releases.length,
    seed: options.seed,
    durationMs: Date.now() - begin,
    invariants: FLEET_INVARIANTS,
    violations,
    results,
  };
}

type Store = Awaited<ReturnType<typeof startLocalFleetRuntime>>['deps']['store'];

async function judgeRelease(
  release: Release,
  summary: FleetRunSummary,
  kube: (cluster: string) => KubeStandIn,
  store: Store,
  durationMs: number,
): Promise<{ result: FleetReleaseResult; found: FleetViolation[] }> {
  const { t } = release;
  const found: FleetViolation[] = [];
  const violate = (invariant: FleetViolation['invariant'], cluster: string, message: string) =>
    found.push({ invariant, release: t.name, fault: release.fault, cluster, message });
  const clusters: FleetReleaseResult['clusters'] = [];
  for (const cluster of FLEET_CLUSTERS) {
    const k = kube(cluster);
    const weights = groupWeights(k.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, t.name), t) ?? null;
    const version = primaryVersion(k.get('apps/v1', 'Deployment', APP_NS, t.primaryDeployment)) ?? null;
    const reported = summary.clusters.find((c) => c.cluster === cluster);
    clusters.push({
      cluster,
      outcome: reported?.outcome ?? 'missing',
      ...(reported?.revert ? { revert: `${reported.revert.how} ${reported.revert.outcome}` } : {}),
      weights,
      primaryVersion: version,
    });
    const names = new Set([t.name, t.primaryUpstream, t.canaryUpstream, t.primaryDeployment, t.canaryDeployment]);
    const writes = k.audit().filter((a) => a.user !== 'admin' && a.name !== undefined && names.has(a.name));
    // (g) isolation: only this target's Sluice writes its objects; a cluster never started got nothing.
    for (const write of writes)
      if (write.user !== t.user && write.user !== 'controller')
        violate('g', cluster, `${write.verb} ${write.resource}/${write.name} by ${write.user}, not ${t.user}`);
    if (reported?.outcome === 'not-started' && writes.some((w) => w.user === t.user && w.code < 300))
      violate('g', cluster, `never started, yet ${writes.filter((w) => w.user === t.user).length} write(s) landed on it`);
    // (h) a safe side: all traffic on one side; nothing open.
    const allOnOne = weights !== null && (weights.canary === 0 || weights.primary === 0);
    if (!allOnOne) violate('h', cluster, `traffic split ${weights ? `${weights.primary}/${weights.canary}` : 'unreadable'}`);
    for (const execution of [
      memberExecutionName(t.name, cluster, 'v2', release.started?.attempt ?? 1),
      revertExecutionName(t.name, cluster, 'v2', release.started?.attempt ?? 1),
    ]) {
      const record = await store.getRollout(execution);
      if (record?.status === 'running')
        violate('h', cluster, `${execution} is still open (${record.lastWeights.primary}/${record.lastWeights.canary})`);
    }
    const lock = await store.getLock(memberAddress(t.name, cluster));
    if (lock) violate('h', cluster, `${memberAddress(t.name, cluster)} still locked by ${lock.owner}`);
    // (i) the summary says what the API server shows.
    const onPrimary = weights?.primary !== undefined && weights.primary > 0 && weights.canary === 0;
    const expected = (() => {
      switch (reported?.outcome) {
        case 'promoted':
          return onPrimary && version === 'v2';
        case 'reverted':
        case 'rolled-back':
        case 'aborted':
        case 'not-started':
          return onPrimary && version === 'v1';
        case 'promotion-failed':
          return weights?.primary === 0;
        case 'failed':
          return true; // someone else took the traffic: whatever it holds is theirs
        default:
          return false;
      }
    })();
    if (!expected)
      violate(
        'i',
        cluster,
        `summary says ${reported?.outcome ?? 'nothing'}${reported?.revert ? ` (revert ${reported.revert.how} ${reported.revert.outcome})` : ''}; the API server shows ${weights ? `${weights.primary}/${weights.canary}` : 'no weights'}, primary on ${version ?? 'unknown'}`,
      );
  }
  if ((summary.outcome === 'promoted') !== summary.clusters.every((c) => c.outcome === 'promoted'))
    violate('i', '-', `fleet outcome ${summary.outcome} but clusters ${summary.clusters.map((c) => c.outcome).join(', ')}`);
  if (await store.getLock(t.name)) violate('h', '-', `target ${t.name} still locked`);
  return {
    result: {
      target: t.name,
      fault: release.fault,
      faultyCluster: release.faulty,
      waves: release.waves,
      onHalt: release.onHalt,
      injected: release.injected,
      outcome: summary.outcome,
      reason: summary.reason,
      clusters,
      durationMs,
    },
    found,
  };
}

/** The fleet part of the soak's table. */
export function formatFleetTable(report: FleetSoakReport): string {
  const lines = [
    '',
    `fleet releases: ${report.releases} over clusters ${FLEET_CLUSTERS.join(', ')} in ${(report.durationMs / 1000).toFixed(1)} s`,
    `${'release'.padEnd(10)}${'fault'.padEnd(22)}${'in'.padEnd(4)}${'onHalt'.padEnd(9)}${'outcome'.padEnd(9)}clusters (outcome, weights, primary)`,
  ];
  for (const r of report.results)
    lines.push(
      `${r.target.padEnd(10)}${r.fault.padEnd(22)}${r.faultyCluster.padEnd(4)}${r.onHalt.padEnd(9)}${r.outcome.padEnd(9)}${r.clusters
        .map(
          (c) =>
            `${c.cluster}:${c.outcome}${c.revert ? `[${c.revert}]` : ''} ${c.weights ? `${c.weights.primary}/${c.weights.canary}` : '?'} ${c.primaryVersion ?? '?'}`,
        )
        .join('  ')}`,
    );
  lines.push(`${report.violations.length} fleet violation(s)`);
  for (const v of report.violations) lines.push(`  (${v.invariant}) ${v.release} [${v.fault}] cluster ${v.cluster}: ${v.message}`);
  return `${lines.join('\n')}\n`;
}
