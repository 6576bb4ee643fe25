/**
 * A halted fleet rolls back the clusters it already promoted (spec.fleet.onHalt.promotedWaves):
 * statemachine/fleet.asl.json in the local engine, members and judged rollbacks as nested
 * executions of statemachine/rollout.asl.json, against three Kubernetes API stand-ins. The fault
 * is in cluster b only; a was promoted in the wave before.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFleet, startLocalFleetRuntime } from '../local/fleet.ts';
import type { LocalFleetRuntime } from '../local/fleet.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import { validateSpec } from '../lambdas/core/spec.ts';
import { fleetRuntimeOptions, fleetSpec, startFleetClusters, versionOf, weightsOf } from './support/fleet-clusters.ts';
import type { FleetClusters } from './support/fleet-clusters.ts';
import { successRate } from './support/recording-router.ts';
import type { Script } from './support/recording-router.ts';

let clusters: FleetClusters;
let runtime: LocalFleetRuntime | undefined;

beforeEach(async () => {
  clusters = await startFleetClusters();
});
afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
  await clusters.close();
});

/** b fails every look; `aAfter` answers for a once its canary runs the version before (a judged rollback). */
const badB =
  (aAfter = 99.9): Script =>
  (_look, member: RolloutSpec) => {
    if (member.metadata.name === 'podinfo@b') return [successRate(50)];
    if (member.metadata.name === 'podinfo@a' && versionOf(clusters, 'a', 'podinfo') === 'v1') return [successRate(aAfter)];
    return [successRate(99.9)];
  };

async function release(promotedWaves: 'rollout' | 'restore', script: Script) {
  runtime = await startLocalFleetRuntime(fleetRuntimeOptions(clusters, script));
  // One failed look rolls a member back (threshold 1): the fault in b halts the fleet at once.
  const spec = fleetSpec([{ clusters: ['a'] }, { clusters: ['b'] }, { clusters: ['c'] }], { onHalt: { promotedWaves } }, { threshold: 1 });
  return startFleet(runtime, spec, { version: 'v2' }).done;
}

describe('a halted fleet rolls back its promoted waves: restore', () => {
  it('restore: a gets its kept template back on the primary without analysis, recorded as reverted (restore)', async () => {
    // Act
    const summary = await release('restore', badB());
    // Assess
    expect(summary.outcome).toBe('halted');
    expect(summary.exitCode).toBe(3);
    expect(summary.clusters.map((c) => [c.cluster, c.outcome, c.revert?.how, c.revert?.outcome])).toEqual([
      ['a', 'reverted', 'restore', 'reverted'],
      ['b', 'rolled-back', undefined, undefined],
      ['c', 'not-started', undefined, undefined],
    ]);
    expect(summary.reason).toMatch(
      /^halted at wave 2 cluster b: rolled-back \(.*\); promoted clusters rolled back: a reverted \(restore\)$/,
    );
    expect([versionOf(clusters, 'a'), versionOf(clusters, 'b'), versionOf(clusters, 'c')]).toEqual(['v1', 'v1', 'v1']);
    for (const cluster of ['a', 'b', 'c']) expect(weightsOf(clusters, cluster)).toEqual({ primary: 100, canary: 0 });
    // No analysis ran for the restore: a has its one rollout only.
    expect((await runtime!.deps.store.listRollouts('podinfo@a')).map((r) => r.execution)).toEqual(['podinfo-a-v2']);
    for (const key of ['podinfo', 'podinfo@a', 'podinfo@b']) expect(await runtime!.deps.store.getLock(key)).toBeNull();
  });

  it('refuses rolling promoted waves back without template promotion, naming the field', () => {
    const spec = fleetSpec([{ clusters: ['a', 'b', 'c'] }]);
    const { workload: _, ...rest } = spec.spec;
    const result = validateSpec({ ...spec, spec: { ...rest, fleet: { ...spec.spec.fleet, onHalt: { promotedWaves: 'restore' } } } });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toContainEqual({
      path: 'spec.fleet.onHalt.promotedWaves',
      message: 'is restore: rolling promoted clusters back needs template promotion (spec.workload names the Deployments)',
    });
  });
});
