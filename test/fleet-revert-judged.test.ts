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

describe('a halted fleet rolls back its promoted waves: a judged rollout of the version before', () => {
  it('rollout: a judged rollout of the version before promotes it on a, recorded as reverted (rollout) with its execution', async () => {
    const summary = await release('rollout', badB());
    const a = summary.clusters.find((c) => c.cluster === 'a');
    expect(summary.outcome).toBe('halted');
    expect(a).toMatchObject({
      outcome: 'reverted',
      revert: { how: 'rollout', outcome: 'reverted', execution: 'podinfo-a-v2-revert', to: 'before-v2' },
    });
    expect(versionOf(clusters, 'a')).toBe('v1');
    expect(weightsOf(clusters, 'a')).toEqual({ primary: 100, canary: 0 });
    const [revert] = await runtime!.deps.store.listRollouts('podinfo@a', 1);
    expect(revert).toMatchObject({ execution: 'podinfo-a-v2-revert', version: 'before-v2', outcome: 'promoted' });
    expect(await runtime!.deps.store.getLock('podinfo@a')).toBeNull();
  });

  it('rollout: a judged rollback whose version before fails its analysis leaves a on the new version and says so', async () => {
    const summary = await release('rollout', badB(50));
    const a = summary.clusters.find((c) => c.cluster === 'a');
    expect(a?.outcome).toBe('promoted');
    expect(a?.revert).toMatchObject({ how: 'rollout', outcome: 'failed', execution: 'podinfo-a-v2-revert' });
    expect(a?.revert?.reason).toMatch(/judged rollback (ended rolled-back|did not promote)/);
    expect(summary.reason).toMatch(/promoted clusters rolled back: a failed \(rollout\)$/);
    // The judge sent a's traffic back to its primary, which runs v2.
    expect(versionOf(clusters, 'a')).toBe('v2');
    expect(weightsOf(clusters, 'a')).toEqual({ primary: 100, canary: 0 });
  });
});
