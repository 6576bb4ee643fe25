/** Analyze: query the metrics, judge the look, record the verdict with its numbers, decide what comes next. */
import { decideAfterLook, effectiveDeadline } from '../core/rollout.ts';
import { windowState } from '../core/windows.ts';
import { stepInputSchema } from '../core/task.ts';
import type { RunState, StepInput } from '../core/task.ts';
import type { DepsSource, HandlerDeps } from './deps.ts';
import { assertNotAborted, assertPrimaryUntouched, requireRollout } from './guards.ts';
import { rolloutHandler } from './middleware.ts';
import { lookSequential } from './sequential-look.ts';
import type { Verdict } from '../core/ports.ts';
import { awsHandlerDeps } from '../adapters/aws-deps.ts';

/** As in Prepare: the lock outlives the (effective) deadline a little. */
const LOCK_GRACE_MS = 10 * 60_000;

export async function analyze(deps: HandlerDeps, input: StepInput): Promise<RunState> {
  const { spec, execution, run } = input;
  const target = spec.metadata.name;
  const pending = await deps.store.getTaskToken(target);
  if (pending?.execution === execution) await deps.store.clearTaskToken(target, pending.token);
  await assertNotAborted(deps.store, execution);
  const record = await requireRollout(deps.store, execution);
  await assertPrimaryUntouched(await deps.workloadFor(spec), record);

  const now = deps.now();
  const context = {
    noData: spec.spec.analysis.noData,
    now,
    promoteNow: input.wake?.command === 'promote',
    window: windowState(spec.spec.strategy.windows, now),
  };
  let verdict: Verdict;
  let next: RunState;
  if (spec.spec.analysis.judge === 'sequential') {
    ({ verdict, next } = await lookSequential(deps, spec, execution, run, context));
  } else {
    verdict = deps.judgeFor(spec).judge(await deps.readMetrics(spec));
    next = decideAfterLook(run, { ...context, verdict, threshold: spec.spec.strategy.threshold });
  }
  // A hold pushes the deadline back: the lock (taken until deadline + grace) follows, so nobody takes over a held target.
  if ((next.heldSeconds ?? 0) > (run.heldSeconds ?? 0)) await deps.store.acquireLock(target, execution, new Date(effectiveDeadline(next) + LOCK_GRACE_MS));
  const at = deps.now().toISOString();
  await deps.store.appendStep({ execution, at, kind: 'analysis', stepIndex: run.stepIndex, weights: record.lastWeights, verdict });
  await deps.store.appendStep({ execution, at, kind: 'decision', stepIndex: next.stepIndex, detail: next.reason ? `${next.next}: ${next.reason}` : next.next });
  await deps.events.publish({ detailType: 'Analysis Completed', target, version: input.version, execution, weights: record.lastWeights, verdict, ...(next.reason ? { reason: next.reason } : {}) });
  return next;
}

export function createAnalyzeHandler(deps: DepsSource<HandlerDeps>) {
  return rolloutHandler(stepInputSchema, async (event) => analyze(await deps(), event));
}

/** The Lambda entry point. */
export const handler = createAnalyzeHandler(awsHandlerDeps);
