/** Finish: record the promotion, release the lock, announce it (after Switch: traffic is already on the promoted side). */
import { describeMatch } from '../core/match.ts';
import { compareArms } from '../core/arms.ts';
import { stepInputSchema } from '../core/task.ts';
import type { RunState, StepInput } from '../core/task.ts';
import type { DepsSource, StoreDeps } from '../app/deps.ts';
import { requireRollout, spendTaskToken } from '../app/guards.ts';
import { rolloutHandler } from '../app/middleware.ts';
import { awsStoreDeps } from '../wiring/aws-store.ts';
import { fireHooks, publishWithHooks } from '../adapters/webhooks/client.ts';
import type { RolloutRecords, TargetLocks, TaskTokens } from '../core/ports.ts';

/** The store ports this step uses (core/ports.ts). */
type FinishStore = RolloutRecords & TaskTokens & TargetLocks;

export async function finish(deps: StoreDeps<FinishStore>, input: StepInput): Promise<RunState> {
  const { spec, execution, run } = input;
  const target = spec.metadata.name;
  const record = await requireRollout(deps.store, execution);
  // Finish runs after Switch, past the promotion's point of no return (guards.ts, passPointOfNoReturn):
  // an abort since then was answered "too late" and flagged nothing, so there is none to honour here.
  const { strategy } = spec.spec;
  // A/B and blue/green have one stage: say what it was (the Slack thread, status and summary show this reason).
  const judged = compareArms(spec)
    ? 'the canary compared with the primary (analysis.compareArms)'
    : 'the canary judged against its thresholds';
  const stage = strategy.match
    ? `promoted after ${run.lookInStep} looks of the A/B stage (requests where ${describeMatch(strategy.match)} on the canary; ${judged})`
    : strategy.blueGreen
      ? `promoted after ${run.lookInStep} looks of green on its own traffic and one switch of all traffic`
      : `promoted after ${run.weights.length} steps`;
  const reason = run.reason ?? stage;
  await deps.store.updateRollout(execution, { status: 'finished', outcome: 'promoted', reason, finishedAt: deps.now().toISOString() });
  await spendTaskToken(deps.store, target, execution);
  await deps.store.releaseLock(target, execution);
  await publishWithHooks(deps, spec, {
    detailType: 'Rollout Promoted',
    target,
    version: input.version,
    execution,
    weights: record.lastWeights,
    outcome: 'promoted',
    reason,
  });
  // post-rollout hooks only inform: their failures are logged, the rollout stays promoted.
  await fireHooks(spec, 'post-rollout', 'Succeeded');
  return { ...run, reason };
}

export function createFinishHandler(deps: DepsSource<StoreDeps<FinishStore>>) {
  return rolloutHandler(stepInputSchema, async (event) => finish(await deps(), event));
}

/** The Lambda entry point. */
export const handler = createFinishHandler(awsStoreDeps);
