/** Test fixtures: a fleet's members recorded in a store the way the handlers record them. */
import type { RolloutStore } from '../../lambdas/core/ports.ts';
import type { Verdict } from '../../lambdas/core/verdict.ts';
import { at } from './fixtures.ts';
import type { FleetReportSummary } from './fleet-report.ts';

export const pass: Verdict = { result: 'pass', checks: [], summary: 'all metrics within range' };
const fail: Verdict = { result: 'fail', checks: [], summary: 'request-success-rate 90 < min 99' };

/** One member recorded the way the handlers record it: steps of 10 and 50, a look at each, then its outcome (or still at its first step). */
export async function recordMember(
  store: RolloutStore,
  cluster: string,
  startS: number,
  end: { outcome: 'promoted' | 'rolled-back'; second: Verdict } | 'running',
): Promise<void> {
  const execution = `podinfo-${cluster}-v2`;
  await store.createRollout({
    execution,
    target: `podinfo@${cluster}`,
    version: 'v2',
    requestedBy: 'sluice demo --fleet',
    startedAt: at(startS),
    safeSide: 'primary',
    lastWeights: { primary: 100, canary: 0 },
    status: 'running',
  });
  await store.appendStep({ execution, at: at(startS + 1), kind: 'weight', stepIndex: 0, weights: { primary: 90, canary: 10 } });
  await store.appendStep({
    execution,
    at: at(startS + 6),
    kind: 'analysis',
    stepIndex: 0,
    weights: { primary: 90, canary: 10 },
    verdict: pass,
  });
  if (end === 'running') {
    await store.updateRollout(execution, { lastWeights: { primary: 90, canary: 10 } });
    return;
  }
  await store.appendStep({ execution, at: at(startS + 6.5), kind: 'weight', stepIndex: 1, weights: { primary: 50, canary: 50 } });
  await store.appendStep({
    execution,
    at: at(startS + 11),
    kind: 'analysis',
    stepIndex: 1,
    weights: { primary: 50, canary: 50 },
    verdict: end.second,
  });
  await store.updateRollout(execution, {
    lastWeights: { primary: 100, canary: 0 },
    status: 'finished',
    outcome: end.outcome,
    reason: end.outcome === 'promoted' ? 'promoted' : 'analysis failed 1 time',
    finishedAt: at(startS + 12),
  });
}

/** What `sluice demo --fleet --scenario errors --json` prints: a promoted, b rolled back, c never started. */
export const halted: FleetReportSummary = {
  execution: 'podinfo-v2',
  target: 'podinfo',
  version: 'v2',
  outcome: 'halted',
  reason: 'halted at wave 2 cluster b: rolled-back (analysis failed 1 time)',
  clusters: [
    { cluster: 'a', wave: 1, outcome: 'promoted', execution: 'podinfo-a-v2' },
    { cluster: 'b', wave: 2, outcome: 'rolled-back', execution: 'podinfo-b-v2', reason: 'analysis failed 1 time' },
    { cluster: 'c', wave: 3, outcome: 'not-started', execution: 'podinfo-c-v2' },
  ],
};

export async function haltedFleet(store: RolloutStore): Promise<void> {
  await recordMember(store, 'a', 0, { outcome: 'promoted', second: pass });
  await recordMember(store, 'b', 20, { outcome: 'rolled-back', second: fail });
}
