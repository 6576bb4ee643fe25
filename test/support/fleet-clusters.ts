/**
 * Three clusters for fleet flow tests: one Kubernetes API stand-in each (Gloo UpstreamGroup,
 * podinfo-primary on v1 and the podinfo canary on v2), a fleet spec over them with a compressed
 * schedule, and the local runtime options that route each member to its own stand-in.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parseSpec } from '../../lambdas/core/spec.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import { APP_NS, GLOO_NS, deployment, glooSettled, seedGloo, testSpec } from '../../lambdas/adapters/kube/cluster.fixtures.ts';
import { startKubeStandIn } from '../../local/kube/stand-in.ts';
import type { KubeStandIn } from '../../local/kube/stand-in.ts';
import type { FleetRuntimeOptions } from '../../local/fleet.ts';
import { scriptedMetrics } from './recording-router.ts';
import type { Script } from './recording-router.ts';
import { SHORT_RETRIES, SHORT_WAITS } from './flow.ts';

export const CLUSTERS = ['a', 'b', 'c'] as const;

export type Wave = { clusters: string[]; maxParallel?: number; pause?: string; strategy?: { stepWeights: number[] } };

export interface FleetClusters {
  kubes: Map<string, KubeStandIn>;
  dir: string;
  close(): Promise<void>;
}

export async function startFleetClusters(): Promise<FleetClusters> {
  const kubes = new Map<string, KubeStandIn>();
  for (const cluster of CLUSTERS) {
    const kube = await startKubeStandIn({ deploymentReadyDelayMs: 50, glooStatusLagMs: 20 });
    seedGloo(kube);
    kube.apply(deployment('podinfo-primary', { app: 'podinfo-primary', env: { VERSION: 'v1' } }));
    kube.apply(deployment('podinfo', { app: 'podinfo', env: { VERSION: 'v2' } }));
    await glooSettled(kube);
    kubes.set(cluster, kube);
  }
  await new Promise((resolve) => setTimeout(resolve, 200)); // the Deployments ready
  const dir = mkdtempSync(join(tmpdir(), 'sluice-fleet-'));
  return {
    kubes,
    dir,
    close: async () => {
      await Promise.all([...kubes.values()].map((kube) => kube.close()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One step of 50% per member unless a wave says otherwise (1-second looks). */
export function fleetSpec(waves: Wave[], fleet: Record<string, unknown> = {}, strategy: Record<string, unknown> = {}): RolloutSpec {
  const base = testSpec({
    strategy: { stepWeights: [50], interval: '1s', lookInterval: '1s', threshold: 2, deadline: '5m', ...strategy },
    analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
  });
  return parseSpec({
    ...base,
    spec: { ...base.spec, fleet: { clusters: CLUSTERS.map((name) => ({ name, kubeconfigContext: name })), waves, ...fleet } },
  });
}

export function fleetRuntimeOptions(
  clusters: FleetClusters,
  script: Script,
  options: Partial<FleetRuntimeOptions> = {},
): FleetRuntimeOptions {
  return {
    dir: join(clusters.dir, 'state'),
    advertise: false,
    env: {},
    log: () => {},
    // Each member's spec names its cluster's context: its own stand-in.
    kubeConfigOf: async (spec: RolloutSpec) => {
      const context = 'kubeconfigContext' in spec.spec.cluster ? spec.spec.cluster.kubeconfigContext : '';
      const kube = clusters.kubes.get(context);
      if (!kube) throw new Error(`no stand-in for context ${context}`);
      return kube.kubeConfig() as KubeConfig;
    },
    routerTuning: { statusSettleMs: 60 },
    overrides: scriptedMetrics(script),
    retryIntervalOverrides: {
      ...SHORT_RETRIES,
      Plan: 50,
      ResolveMember: 50,
      WaveDone: 50,
      Watch: 50,
      Finish: 50,
      PlanRevert: 50,
      RevertMember: 50,
    },
    waitTimeOverrides: SHORT_WAITS,
    fleetWaitTimeOverrides: { Pause: 100, WaitRevertReady: 100 },
    ...options,
  };
}

export function weightsOf(clusters: FleetClusters, cluster: string): { primary?: number; canary?: number } {
  const spec = clusters.kubes.get(cluster)?.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.spec as {
    destinations: { weight: number }[];
  };
  return { primary: spec.destinations[0]?.weight, canary: spec.destinations[1]?.weight };
}

/** The VERSION env of a Deployment's pod template (podinfo-primary or podinfo, the canary). */
export function versionOf(clusters: FleetClusters, cluster: string, name = 'podinfo-primary'): string | undefined {
  const spec = clusters.kubes.get(cluster)?.get('apps/v1', 'Deployment', APP_NS, name)?.spec as {
    template: { spec: { containers: { env: { name: string; value: string }[] }[] } };
  };
  return spec.template.spec.containers[0]?.env.find((e) => e.name === 'VERSION')?.value;
}

/** Patch requests a cluster's API stand-in received (what Sluice wrote there). */
export function patchesOn(clusters: FleetClusters, cluster: string): number {
  return (
    clusters.kubes
      .get(cluster)
      ?.audit()
      .filter((e) => e.verb === 'patch').length ?? 0
  );
}
