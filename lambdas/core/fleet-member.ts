/**
 * One cluster's rollout in a fleet: the fleet spec resolved for that cluster. The fleet execution
 * carries the fleet spec once plus cluster names; each member resolves its own spec here (so the
 * fleet's state never holds N resolved specs against Step Functions' 256 KiB limit). Pure; the
 * result is a document that validateSpec checks like any other spec.
 *
 * A member is addressed `<target>@<cluster>` (its metadata.name): that address keys its lock, its
 * execution name, its history, its task tokens, its chat-ops commands and its events, so the
 * clusters of one service never lock each other out. A spec without a fleet keeps its plain name.
 */
import type { FleetSpec, RolloutSpec } from './spec-schema.ts';

/** `podinfo@eu-1`: the address of one cluster's rollout of a target. */
export function memberAddress(target: string, cluster: string): string {
  return `${target}@${cluster}`;
}

/** The target of an address (`podinfo@eu-1` -> `podinfo`; a plain target is its own). */
export function targetOf(address: string): string {
  const at = address.indexOf('@');
  return at === -1 ? address : address.slice(0, at);
}

/** The fleet cluster of an address, or undefined for a single-cluster target. */
export function clusterOf(address: string): string | undefined {
  const at = address.indexOf('@');
  return at === -1 ? undefined : address.slice(at + 1);
}

type FleetCluster = FleetSpec['clusters'][number];
type FleetWave = FleetSpec['waves'][number];

/** Where a cluster is and how to reach it: the spec.cluster of its member spec. */
function memberCluster(spec: RolloutSpec, cluster: FleetCluster): RolloutSpec['spec']['cluster'] {
  if (cluster.kubeconfigContext) return { kubeconfigContext: cluster.kubeconfigContext };
  const base = spec.spec.cluster;
  const region = cluster.region ?? ('region' in base ? base.region : undefined);
  // No region anywhere: left out, so the member spec fails validation naming spec.cluster.
  return { name: cluster.eksCluster ?? cluster.name, ...(region ? { region } : {}) } as RolloutSpec['spec']['cluster'];
}

/** The wave strategy over the spec's: a wave's step plan replaces the spec's step plan whole (never a mix of both forms). */
function memberStrategy(strategy: RolloutSpec['spec']['strategy'], wave: FleetWave | undefined): RolloutSpec['spec']['strategy'] {
  const override = wave?.strategy;
  if (!override) return strategy;
  const merged = { ...strategy };
  if (override.stepWeights) {
    delete merged.stepWeight;
    delete merged.maxWeight;
  } else if (override.stepWeight !== undefined || override.maxWeight !== undefined) {
    delete merged.stepWeights;
  }
  return { ...merged, ...override };
}

/**
 * The member spec document of `clusterName` (wave `waveIndex`, found when omitted): the fleet
 * spec without its fleet, named `<target>@<cluster>`, on the cluster's own cluster, with the
 * cluster's overrides and the wave's strategy. Throws when the fleet has no such cluster.
 */
export function fleetMemberDocument(spec: RolloutSpec, clusterName: string): RolloutSpec {
  const fleet = spec.spec.fleet;
  if (!fleet) throw new Error(`${spec.metadata.name} has no spec.fleet: it runs on one cluster`);
  const cluster = fleet.clusters.find((candidate) => candidate.name === clusterName);
  if (!cluster)
    throw new Error(`${spec.metadata.name}'s fleet has no cluster "${clusterName}" (${fleet.clusters.map((c) => c.name).join(', ')})`);
  const wave = fleet.waves.find((candidate) => candidate.clusters.includes(clusterName));
  const { fleet: _fleet, ...rest } = spec.spec;
  const overrides = cluster.overrides;
  const router = overrides?.router ? { ...rest.router, ...overrides.router } : rest.router;
  const workload = rest.workload && overrides?.workload ? { ...rest.workload, ...overrides.workload } : rest.workload;
  const analysis = overrides?.prometheus
    ? { ...rest.analysis, prometheus: { ...(rest.analysis.prometheus ?? { timeout: '5s' }), address: overrides.prometheus.address } }
    : rest.analysis;
  return {
    ...spec,
    metadata: { name: memberAddress(targetOf(spec.metadata.name), cluster.name) },
    spec: {
      ...rest,
      cluster: memberCluster(spec, cluster),
      router,
      ...(workload ? { workload } : {}),
      strategy: memberStrategy(rest.strategy, wave),
      analysis,
    },
  };
}
