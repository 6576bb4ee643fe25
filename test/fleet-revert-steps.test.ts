/**
 * The revert steps of the fleet file (KeepTemplates, RevertMember, CheckRevert, RevertFailed) with a
 * real sqlite store and a scripted Deployment pair: the failure paths a flow test cannot reach cheaply.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import type { SqliteRolloutStore } from '../lambdas/adapters/store/sqlite.ts';
import type { PodTemplateCopy, Workload } from '../lambdas/core/ports.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import { fleetRevert, revertStates } from '../lambdas/app/fleet-revert.ts';
import type { RevertChild } from '../lambdas/app/fleet-revert.ts';
import { fleetSpec } from './support/fleet-clusters.ts';

let dir: string;
let store: SqliteRolloutStore;
let now: Date;
const template = (version: string): PodTemplateCopy => ({
  annotations: {},
  spec: { containers: [{ name: 'app', env: [{ name: 'VERSION', value: version }] }] },
});

/** a's two Deployments: what each holds, and whether each is ready. */
function deployments() {
  const held = { primary: template('v1'), canary: template('v2') };
  const ready = { primary: true, canary: true };
  const workload = {
    isReady: async (side: 'primary' | 'canary') => ready[side],
    podTemplate: async (side: 'primary' | 'canary') => held[side],
    setPodTemplate: async (side: 'primary' | 'canary', copy: PodTemplateCopy) => {
      held[side] = copy;
      ready[side] = false;
    },
    scale: async () => {},
    servingReplicas: async () => 2,
  } as unknown as Workload;
  return { held, ready, workload };
}

const spec = (): RolloutSpec => fleetSpec([{ clusters: ['a'] }, { clusters: ['b', 'c'] }], { onHalt: { promotedWaves: 'restore' } });
const base = { version: 'v2', requestedBy: 'alice', attempt: 1, execution: 'podinfo-v2-fleet' };
const deps = (workload: Workload) =>
  ({ store, now: () => now, workloadFor: async () => workload }) as unknown as Parameters<typeof fleetRevert>[0];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-fleet-revert-steps-'));
  // The store reads the test's clock too: a lock's expiry is judged against the same fixed time the steps use.
  store = openSqliteStore(join(dir, 'sluice.db'), { now: () => now });
  now = new Date('2026-12-07T08:00:00Z');
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the revert steps', () => {
  it('keeps a template once (a retried KeepTemplates never replaces it) and restores it onto the primary under the cluster lock', async () => {
    // Prepare
    const a = deployments();
    const member = { cluster: 'a', wave: 0 };
    await fleetRevert(deps(a.workload), { ...base, spec: spec(), action: 'keep-templates', members: [member] });
    a.held.primary = template('v2'); // the member promoted
    await fleetRevert(deps(a.workload), { ...base, spec: spec(), action: 'keep-templates', members: [member] });
    // Act
    const child = (await fleetRevert(deps(a.workload), {
      ...base,
      spec: spec(),
      action: 'revert-member',
      how: 'restore',
      member,
    })) as RevertChild;
    const lockedMeanwhile = await store.getLock('podinfo@a');
    const waiting = (await fleetRevert(deps(a.workload), {
      ...base,
      spec: spec(),
      action: 'revert-ready',
      how: 'restore',
      member,
      child,
    })) as RevertChild;
    a.ready.primary = true;
    const done = (await fleetRevert(deps(a.workload), {
      ...base,
      spec: spec(),
      action: 'revert-ready',
      how: 'restore',
      member,
      child,
    })) as RevertChild;
    // Assess
    expect(a.held.primary).toEqual(template('v1'));
    expect(lockedMeanwhile?.owner).toBe('podinfo-a-v2-revert');
    expect([waiting.ready, done.ready, done.run]).toEqual([false, true, false]);
    expect(await store.getLock('podinfo@a')).toBeNull();
    expect((await revertStates(store, spec(), base.execution)).get('a')).toMatchObject({
      how: 'restore',
      outcome: 'reverted',
      to: 'before-v2',
    });
  });

  it('refuses a restore while someone else holds the cluster, and records the revert failed without touching that lock', async () => {
    const a = deployments();
    const member = { cluster: 'a', wave: 0 };
    await fleetRevert(deps(a.workload), { ...base, spec: spec(), action: 'keep-templates', members: [member] });
    a.held.primary = template('v2');
    await store.acquireLock('podinfo@a', 'podinfo-a-v3', new Date(now.getTime() + 3600_000));
    // Act
    const refused = fleetRevert(deps(a.workload), { ...base, spec: spec(), action: 'revert-member', how: 'restore', member });
    await expect(refused).rejects.toThrow('cluster a is locked by podinfo-a-v3: its primary was left on v2');
    await fleetRevert(deps(a.workload), {
      ...base,
      spec: spec(),
      action: 'revert-failed',
      how: 'restore',
      member,
      error: { Error: 'Sluice.Refused', Cause: 'cluster a is locked by podinfo-a-v3: its primary was left on v2' },
    });
    // Assess
    expect(a.held.primary).toEqual(template('v2'));
    expect((await store.getLock('podinfo@a'))?.owner).toBe('podinfo-a-v3');
    expect((await revertStates(store, spec(), base.execution)).get('a')).toMatchObject({
      how: 'restore',
      outcome: 'failed',
      reason: 'the restore failed: Sluice.Refused: cluster a is locked by podinfo-a-v3: its primary was left on v2',
    });
  });

  it('gives up on a Deployment that is not ready by its deadline (the revert fails instead of waiting forever)', async () => {
    const a = deployments();
    const member = { cluster: 'a', wave: 0 };
    await fleetRevert(deps(a.workload), { ...base, spec: spec(), action: 'keep-templates', members: [member] });
    const child = (await fleetRevert(deps(a.workload), {
      ...base,
      spec: spec(),
      action: 'revert-member',
      how: 'rollout',
      member,
    })) as RevertChild;
    now = new Date(now.getTime() + 601_000);
    await expect(
      fleetRevert(deps(a.workload), { ...base, spec: spec(), action: 'revert-ready', how: 'rollout', member, child }),
    ).rejects.toThrow(`the canary Deployment of podinfo@a was not ready by ${child.readyBy}`);
    expect(a.held.canary).toEqual(template('v1'));
  });

  it('plans no revert with onHalt keep, and only the clusters this release promoted otherwise', async () => {
    const a = deployments();
    const keep = fleetSpec([{ clusters: ['a'] }, { clusters: ['b', 'c'] }]);
    expect(await fleetRevert(deps(a.workload), { ...base, spec: keep, action: 'revert-plan' })).toEqual({
      run: false,
      how: 'keep',
      members: [],
      maxParallel: 1,
    });
    await fleetRevert(deps(a.workload), {
      ...base,
      spec: spec(),
      action: 'keep-templates',
      members: [
        { cluster: 'a', wave: 0 },
        { cluster: 'b', wave: 1 },
      ],
    });
    for (const [execution, target, outcome] of [
      ['podinfo-a-v2', 'podinfo@a', 'promoted'],
      ['podinfo-b-v2', 'podinfo@b', 'rolled-back'],
    ] as const) {
      await store.createRollout({
        execution,
        target,
        version: 'v2',
        requestedBy: 'x',
        startedAt: now.toISOString(),
        safeSide: 'primary',
        lastWeights: { primary: 100, canary: 0 },
        status: 'finished',
        outcome,
      });
    }
    expect(await fleetRevert(deps(a.workload), { ...base, spec: spec(), action: 'revert-plan' })).toEqual({
      run: true,
      how: 'restore',
      members: [{ cluster: 'a', wave: 0 }],
      maxParallel: 1,
    });
  });
});
