import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../lambdas/adapters/store/sqlite.ts';
import type { RolloutStore } from '../../lambdas/core/ports.ts';
import { parseSpec } from '../../lambdas/core/spec.ts';
import { testSpec } from '../../lambdas/adapters/kube/cluster.fixtures.ts';
import { pass, recordMember } from '../report/fleet-fixtures.ts';
import { fleetStatusCommand } from './fleet.ts';

/** Three clusters in waves [a], [b, c]; the second wave on a two-step plan. */
function fleetSpec() {
  const base = testSpec({
    strategy: { stepWeights: [10, 25, 50], interval: '1m', lookInterval: '1m', threshold: 2, deadline: '1h' },
    analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
  });
  return parseSpec({
    ...base,
    spec: {
      ...base.spec,
      fleet: {
        clusters: ['a', 'b', 'c'].map((name) => ({ name, kubeconfigContext: name })),
        waves: [{ clusters: ['a'] }, { clusters: ['b', 'c'], strategy: { stepWeights: [10, 50] } }],
      },
    },
  });
}

describe('sluice status <fleet target>', () => {
  let store: RolloutStore | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it("shows the waves and each cluster's state, step of its wave's plan, weights and last verdict", async () => {
    // Prepare: a promoted, b in its first step with a passing look, c not started yet.
    store = openSqliteStore(':memory:');
    await recordMember(store, 'a', 0, { outcome: 'promoted', second: pass });
    await recordMember(store, 'b', 20, 'running');
    const out: string[] = [];

    // Act
    const code = await fleetStatusCommand(store, fleetSpec(), {}, { stdout: (t) => out.push(t), stderr: () => {} });

    // Assess
    expect(code).toBe(0);
    const lines = out.join('').trimEnd().split('\n');
    expect(lines[0]).toBe('podinfo: a fleet of 3 clusters in 2 waves');
    expect(lines[1]?.trim()).toBe('wave 1');
    expect(lines[2]).toMatch(/^\s+a\s+promoted\s+v2 step 2\/3 primary 100% \/ canary 0%\s+last look: pass/);
    expect(lines[3]?.trim()).toBe('wave 2');
    expect(lines[4]).toMatch(/^\s+b\s+running\s+v2 step 1\/2 primary 90% \/ canary 10%\s+last look: pass — all metrics within range$/);
    expect(lines[5]).toMatch(/^\s+c\s+not-started$/);
  });

  it('gives the same in --json: each cluster with its wave, state, step, weights and last verdict', async () => {
    // Prepare
    store = openSqliteStore(':memory:');
    await recordMember(store, 'b', 20, 'running');
    const out: string[] = [];

    // Act
    await fleetStatusCommand(store, fleetSpec(), { json: true }, { stdout: (t) => out.push(t), stderr: () => {} });

    // Assess
    const status = JSON.parse(out.join('')) as { fleet: boolean; clusters: Array<Record<string, unknown>> };
    expect(status.fleet).toBe(true);
    expect(status.clusters.map((c) => [c.cluster, c.wave, c.state])).toEqual([
      ['a', 1, 'not-started'],
      ['b', 2, 'running'],
      ['c', 2, 'not-started'],
    ]);
    expect(status.clusters[1]).toMatchObject({
      step: { index: 1, of: 2 },
      weights: { primary: 90, canary: 10 },
      lastVerdict: { result: 'pass', summary: 'all metrics within range' },
    });
  });
});
