/**
 * A halted fleet rolls back the clusters it already promoted (spec.fleet.onHalt.promotedWaves):
 * statemachine/fleet.asl.json in the local engine, members and judged rollbacks as nested
 * executions of statemachine/rollout.asl.json, against three Kubernetes API stand-ins. The fault
 * is in cluster b only; a was promoted in the wave before.
 */
import { describe, expect, it } from 'vitest';
import { versionOf, weightsOf } from './support/fleet-clusters.ts';
import { useHaltedFleet } from './support/halted-fleet.ts';

const fleet = useHaltedFleet();

describe('a halted fleet rolls back its promoted waves: a judged rollout of the version before', () => {
  it('rollout: a judged rollout of the version before promotes it on a, recorded as reverted (rollout) with its execution', async () => {
    const summary = await fleet.release('rollout', fleet.badB());
    const a = summary.clusters.find((c) => c.cluster === 'a');
    expect(summary.outcome).toBe('halted');
    expect(a).toMatchObject({
      outcome: 'reverted',
      revert: { how: 'rollout', outcome: 'reverted', execution: 'podinfo-a-v2-revert', to: 'before-v2' },
    });
    expect(versionOf(fleet.clusters, 'a')).toBe('v1');
    expect(weightsOf(fleet.clusters, 'a')).toEqual({ primary: 100, canary: 0 });
    const [revert] = await fleet.runtime!.deps.store.listRollouts('podinfo@a', 1);
    expect(revert).toMatchObject({ execution: 'podinfo-a-v2-revert', version: 'before-v2', outcome: 'promoted' });
    expect(await fleet.runtime!.deps.store.getLock('podinfo@a')).toBeNull();
  });

  it('rollout: a judged rollback whose version before fails its analysis leaves a on the new version and says so', async () => {
    const summary = await fleet.release('rollout', fleet.badB(50));
    const a = summary.clusters.find((c) => c.cluster === 'a');
    expect(a?.outcome).toBe('promoted');
    expect(a?.revert).toMatchObject({ how: 'rollout', outcome: 'failed', execution: 'podinfo-a-v2-revert' });
    expect(a?.revert?.reason).toMatch(/judged rollback (ended rolled-back|did not promote)/);
    expect(summary.reason).toMatch(/promoted clusters rolled back: a failed \(rollout\)$/);
    // The judge sent a's traffic back to its primary, which runs v2.
    expect(versionOf(fleet.clusters, 'a')).toBe('v2');
    expect(weightsOf(fleet.clusters, 'a')).toEqual({ primary: 100, canary: 0 });
  });
});
