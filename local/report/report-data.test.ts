import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../lambdas/adapters/store/sqlite.ts';
import type { RolloutStore } from '../../lambdas/core/ports.ts';
import { FIXTURE_START as START, at, recordRollout } from './fixtures.ts';
import { reportDataFromStore } from './report-data.ts';

describe('reportDataFromStore', () => {
  let store: RolloutStore | undefined;
  afterEach(async () => {
    await store?.close();
  });

  it('builds the weight steps, the looks and the outcome from the recorded history', async () => {
    // Prepare
    store = openSqliteStore(':memory:');
    await recordRollout(store, 'podinfo-v2-1', 1000);

    // Act
    const data = await reportDataFromStore(store, 'podinfo-v2-1');

    // Assess
    expect(data).not.toBeNull();
    expect(data?.weightScale).toBe(1000);
    expect(data?.weights).toEqual([
      { t: START, percent: 0 },
      { t: START + 1000, percent: 1 },
      { t: START + 11_200, percent: 2 },
    ]);
    expect(data?.looks.map((look) => [look.n, look.verdict, look.weightPercent])).toEqual([
      [1, 'pass', 1],
      [2, 'fail', 2],
    ]);
    expect(data?.outcome).toBe('rolled-back');
    expect(data?.outcomeMs).toBe(START + 21_300);
    expect(data?.finalPercent).toBe(0);
    expect(data?.reason).toBe('analysis failed 1 time');
    expect(data?.success?.canary.map((p) => p.value)).toEqual([99.9, 95]);
    expect(data?.success?.min).toBe(99);
    expect(data?.latency?.max).toBe(250);
    expect(data?.durationMs).toBe(21_300);
    expect(data?.plannedPercents).toEqual([1, 2]);
  });

  it('shows a running rollout up to now, with no outcome yet', async () => {
    store = openSqliteStore(':memory:');
    await store.createRollout({
      execution: 'run-1',
      target: 'podinfo',
      version: 'v3',
      requestedBy: 'bob',
      startedAt: at(0),
      safeSide: 'primary',
      lastWeights: { primary: 95, canary: 5 },
      status: 'running',
    });
    await store.appendStep({ execution: 'run-1', at: at(1), kind: 'weight', stepIndex: 0, weights: { primary: 95, canary: 5 } });

    const data = await reportDataFromStore(store, 'run-1', () => new Date(START + 30_000));

    expect(data?.outcome).toBe('running');
    expect(data?.outcomeMs).toBeNull();
    expect(data?.endMs).toBe(START + 30_000);
    expect(data?.weightScale).toBe(100);
  });

  it('answers null for an execution the store does not know', async () => {
    store = openSqliteStore(':memory:');

    expect(await reportDataFromStore(store, 'nope')).toBeNull();
  });
});
