/**
 * A halted fleet rolls back the clusters it already promoted (spec.fleet.onHalt.promotedWaves):
 * statemachine/fleet.asl.json in the local engine, members and judged rollbacks as nested
 * executions of statemachine/rollout.asl.json, against three Kubernetes API stand-ins. The fault
 * is in cluster b only; a was promoted in the wave before.
 */
import { describe, expect, it } from 'vitest';
import { validateSpec } from '../lambdas/core/spec.ts';
import { fleetSpec, versionOf, weightsOf } from './support/fleet-clusters.ts';
import { useHaltedFleet } from './support/halted-fleet.ts';

const fleet = useHaltedFleet();

describe('a halted fleet rolls back its promoted waves: restore', () => {
  it('restore: a gets its kept template back on the primary without analysis, recorded as reverted (restore)', async () => {
    // Act
    const summary = await fleet.release('restore', fleet.badB());
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
    expect([versionOf(fleet.clusters, 'a'), versionOf(fleet.clusters, 'b'), versionOf(fleet.clusters, 'c')]).toEqual(['v1', 'v1', 'v1']);
    for (const cluster of ['a', 'b', 'c']) expect(weightsOf(fleet.clusters, cluster)).toEqual({ primary: 100, canary: 0 });
    // No analysis ran for the restore: a has its one rollout only.
    expect((await fleet.runtime!.deps.store.listRollouts('podinfo@a')).map((r) => r.execution)).toEqual(['podinfo-a-v2']);
    for (const key of ['podinfo', 'podinfo@a', 'podinfo@b']) expect(await fleet.runtime!.deps.store.getLock(key)).toBeNull();
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
