/** Test fixtures: a rollout recorded in a store the way the handlers record one. */
import type { EventLog, RolloutLog, RolloutRecords } from '../../lambdas/core/ports.ts';
import type { Verdict } from '../../lambdas/core/verdict.ts';

export const FIXTURE_START = Date.parse('2026-03-12T10:00:00.000Z');
export const at = (seconds: number): string => new Date(FIXTURE_START + seconds * 1000).toISOString();

function verdict(result: 'pass' | 'fail', value: number): Verdict {
  return {
    result,
    checks: [
      { name: 'request-success-rate', value, primary: 99.9, min: 99, result },
      { name: 'request-duration', value: 120, primary: 90, max: 250, result: 'pass' },
    ],
    summary: result === 'fail' ? `request-success-rate ${value} < min 99` : 'all metrics within range',
  };
}

/** A rollout as the handlers record it: weights 10 then 20 (per-mille), a pass, a fail, rollback. */
export async function recordRollout(store: RolloutRecords & RolloutLog & EventLog, execution: string, scale: number): Promise<void> {
  await store.createRollout({
    execution,
    target: 'podinfo',
    version: 'v2',
    requestedBy: 'alice',
    startedAt: at(0),
    safeSide: 'primary',
    lastWeights: { primary: scale, canary: 0 },
    status: 'running',
  });
  await store.appendStep({ execution, at: at(1), kind: 'weight', stepIndex: 0, weights: { primary: scale - 10, canary: 10 } });
  await store.appendStep({
    execution,
    at: at(11),
    kind: 'analysis',
    stepIndex: 0,
    weights: { primary: scale - 10, canary: 10 },
    verdict: verdict('pass', 99.9),
  });
  await store.appendStep({ execution, at: at(11), kind: 'decision', stepIndex: 1, detail: 'advance' });
  await store.appendStep({ execution, at: at(11.2), kind: 'weight', stepIndex: 1, weights: { primary: scale - 20, canary: 20 } });
  await store.appendStep({
    execution,
    at: at(21),
    kind: 'analysis',
    stepIndex: 1,
    weights: { primary: scale - 20, canary: 20 },
    verdict: verdict('fail', 95),
  });
  await store.appendStep({
    execution,
    at: at(21.3),
    kind: 'rollback',
    weights: { primary: scale, canary: 0 },
    detail: 'rolled-back: analysis failed',
  });
  await store.updateRollout(execution, {
    lastWeights: { primary: scale, canary: 0 },
    status: 'finished',
    outcome: 'rolled-back',
    reason: 'analysis failed 1 time',
    finishedAt: at(21.3),
  });
  await store.appendEvent({
    detailType: 'Rollout Rolled Back',
    target: 'podinfo',
    version: 'v2',
    execution,
    sequence: 1,
    at: at(21.3),
    outcome: 'rolled-back',
    reason: 'analysis failed 1 time',
  });
}
