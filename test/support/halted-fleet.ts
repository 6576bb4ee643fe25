/**
 * A fleet of three stand-in clusters whose wave [b] fails, for the tests of rolling promoted waves
 * back (spec.fleet.onHalt.promotedWaves): a is promoted in the wave before, c never starts.
 */
import { afterEach, beforeEach } from 'vitest';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import { startFleet, startLocalFleetRuntime } from '../../local/fleet.ts';
import type { LocalFleetRuntime } from '../../local/fleet.ts';
import { fleetRuntimeOptions, fleetSpec, startFleetClusters, versionOf } from './fleet-clusters.ts';
import type { FleetClusters } from './fleet-clusters.ts';
import { successRate } from './recording-router.ts';
import type { Script } from './recording-router.ts';

export interface HaltedFleet {
  readonly clusters: FleetClusters;
  readonly runtime: LocalFleetRuntime | undefined;
  /** b fails every look; `aAfter` answers for a once its canary runs the version before (a judged rollback). */
  badB(aAfter?: number): Script;
  /** Runs the release [a] [b] [c] with one failed look rolling a member back (threshold 1): b halts the fleet at once. */
  release(promotedWaves: 'rollout' | 'restore', script: Script): ReturnType<typeof startFleet>['done'];
}

/** Registers the clusters' and runtime's set-up and tear-down around each test. */
export function useHaltedFleet(): HaltedFleet {
  let clusters: FleetClusters | undefined;
  let runtime: LocalFleetRuntime | undefined;
  beforeEach(async () => {
    clusters = await startFleetClusters();
  });
  afterEach(async () => {
    await runtime?.close();
    runtime = undefined;
    await clusters?.close();
  });
  const started = (): FleetClusters => {
    if (!clusters) throw new Error('the fleet clusters start before each test');
    return clusters;
  };
  return {
    get clusters() {
      return started();
    },
    get runtime() {
      return runtime;
    },
    badB:
      (aAfter = 99.9): Script =>
      (_look, member: RolloutSpec) => {
        if (member.metadata.name === 'podinfo@b') return [successRate(50)];
        if (member.metadata.name === 'podinfo@a' && versionOf(started(), 'a', 'podinfo') === 'v1') return [successRate(aAfter)];
        return [successRate(99.9)];
      },
    async release(promotedWaves, script) {
      runtime = await startLocalFleetRuntime(fleetRuntimeOptions(started(), script));
      const spec = fleetSpec(
        [{ clusters: ['a'] }, { clusters: ['b'] }, { clusters: ['c'] }],
        { onHalt: { promotedWaves } },
        { threshold: 1 },
      );
      return startFleet(runtime, spec, { version: 'v2' }).done;
    },
  };
}
