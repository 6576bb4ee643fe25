/**
 * Analyze: query the metrics, judge the look, record the verdict with its numbers, decide what comes next.
 * With `look: promotion` (the PromotionLook state) it looks at a progressive promotion's split instead
 * (app/promotion-steps.ts): thresholds and alarms on each arm, no judge.
 */
import * as z from 'zod';
import { promotionLook } from '../app/promotion-steps.ts';
import { decideAfterLook } from '../core/rollout.ts';
import { windowState } from '../core/windows.ts';
import { withOverride } from '../core/window-override.ts';
import { stepInputSchema } from '../core/task.ts';
import type { RunState, StepInput } from '../core/task.ts';
import type { DepsSource, HandlerDeps } from '../app/deps.ts';
import { assertNotAborted, assertPrimaryUntouched, requireRollout, spendTaskToken } from '../app/guards.ts';
import { rolloutHandler } from '../app/middleware.ts';
import { judgeFor } from '../core/judge.ts';
import type { Verdict } from '../core/verdict.ts';
import { rollbackByWebhook, webhookFailureVerdict } from '../core/webhooks.ts';
import { callHooks, publishWithHooks } from '../adapters/webhooks/client.ts';
import { awsHandlerDeps } from '../wiring/aws.ts';
import { lockExpiresAt } from '../core/recovery.ts';
import type { AbortFlags, AnalysisStates, RolloutLog, RolloutRecords, TargetLocks, TaskTokens, WindowOverrides } from '../core/ports.ts';

/** The store ports this step uses (core/ports.ts). */
type AnalyzeStore = AbortFlags & RolloutRecords & RolloutLog & TargetLocks & TaskTokens & WindowOverrides & AnalysisStates;

export async function analyze(deps: HandlerDeps<AnalyzeStore>, input: StepInput): Promise<RunState> {
  const { spec, execution, run } = input;
  const target = spec.metadata.name;
  await spendTaskToken(deps.store, target, execution);
  await assertNotAborted(deps.store, execution);
  const record = await requireRollout(deps.store, execution);
  await assertPrimaryUntouched(await deps.workloadFor(spec), record);

  const now = deps.now();
  const context = {
    noData: spec.spec.analysis.noData,
    now,
    promoteNow: input.wake?.command === 'promote',
    // A window override (sluice override) makes a closed window count as open until it ends.
    window: withOverride(windowState(spec.spec.strategy.windows, now), await deps.store.getOverride(target), now),
  };
  let verdict: Verdict;
  let next: RunState;
  // `rollback` hooks are polled at every look (and at the confirm-rollout gate): a 2xx stops the rollout.
  const rollbackHook = (await callHooks(spec, 'rollback', 'Progressing')).find((r) => r.ok);
  const rolloutFailures = rollbackHook ? [] : (await callHooks(spec, 'rollout', 'Progressing')).filter((r) => !r.ok);
  if (rollbackHook) {
    verdict = { result: 'fail', checks: [], summary: `rollback webhook ${rollbackHook.name} answered ${rollbackHook.status ?? 'ok'}` };
    next = rollbackByWebhook(run, rollbackHook);
  } else if (rolloutFailures.length) {
    // A failing `rollout` hook is a failed check (the metrics are not read at this look, as in Flagger), whatever the judge.
    verdict = webhookFailureVerdict(rolloutFailures);
    next = decideAfterLook(run, { ...context, verdict, threshold: spec.spec.strategy.threshold });
  } else {
    ({ verdict, next } = await judgeFor(spec, deps).look(execution, run, context));
  }
  // A hold pushes the deadline back; the lock follows liveness, renewed here so its backstop clock never lapses under a long hold.
  if ((next.heldSeconds ?? 0) > (run.heldSeconds ?? 0)) await deps.store.acquireLock(target, execution, lockExpiresAt(deps.now()));
  const at = deps.now().toISOString();
  await deps.store.appendStep({ execution, at, kind: 'analysis', stepIndex: run.stepIndex, weights: record.lastWeights, verdict });
  await deps.store.appendStep({
    execution,
    at,
    kind: 'decision',
    stepIndex: next.stepIndex,
    detail: next.reason ? `${next.next}: ${next.reason}` : next.next,
  });
  await publishWithHooks(deps, spec, {
    detailType: 'Analysis Completed',
    target,
    version: input.version,
    execution,
    weights: record.lastWeights,
    verdict,
    ...(next.reason ? { reason: next.reason } : {}),
  });
  return next;
}

/** Analyze's input: a look of the rollout (Analyze) or of a progressive promotion (PromotionLook). */
const analyzeInputSchema = stepInputSchema.extend({ look: z.enum(['rollout', 'promotion']).default('rollout') });

export function createAnalyzeHandler(deps: DepsSource<HandlerDeps<AnalyzeStore>>) {
  return rolloutHandler(analyzeInputSchema, async ({ look, ...event }) =>
    look === 'promotion' ? promotionLook(await deps(), event) : analyze(await deps(), event),
  );
}

/** The Lambda entry point. */
export const handler = createAnalyzeHandler(awsHandlerDeps);
