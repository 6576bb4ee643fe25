/**
 * Promote: the template copy, and nothing else. Template mode (Flagger's): copy the canary's pod
 * template into the primary and return; the state machine then waits for the primary in its own
 * Wait/Choice loop (WaitForPrimary → CheckPrimary → PrimaryReady?) and switches traffic in Switch.
 * Route mode: nothing to copy; Switch routes everything to the canary upstream.
 *
 * The canary becomes the safe side only once the copy has landed: a copy that failed leaves the
 * old primary as the safe side (Rollback puts traffic back on it, `rolled-back`), a copy whose
 * answer was lost is read back from the Deployment before deciding.
 */
import { TransientError } from '../core/errors.ts';
import type { AbortFlags, RolloutLog, RolloutRecords, Workload } from '../core/ports.ts';
import { allOn, readyByFrom, sameWeights } from '../core/rollout.ts';
import type { Weights } from '../core/records.ts';
import { promotionMode } from '../core/spec.ts';
import { stepInputSchema } from '../core/task.ts';
import type { RunState, StepInput } from '../core/task.ts';
import type { DepsSource, HandlerDeps } from '../app/deps.ts';
import { assertNotAborted, assertPrimaryUntouched, requireRollout } from '../app/guards.ts';
import { rolloutHandler } from '../app/middleware.ts';
import { awsHandlerDeps } from '../wiring/aws.ts';
import { publishWithHooks } from '../adapters/webhooks/client.ts';
import { GREEN_SWITCH_DETAIL } from '../core/match.ts';

/** The store ports this step uses (core/ports.ts). */
type PromoteStore = AbortFlags & RolloutRecords & RolloutLog;

/** After a failed copy: did it land anyway (a lost answer)? Unknown counts as no, so the old primary stays safe. */
async function copyLanded(workload: Workload): Promise<boolean> {
  try {
    return await workload.primaryRunsCanaryTemplate();
  } catch {
    return false;
  }
}

export async function promote(deps: HandlerDeps<PromoteStore>, input: StepInput): Promise<RunState> {
  const { spec, execution, run } = input;
  // Before the copy an abort rolls back to the old primary.
  await assertNotAborted(deps.store, execution);
  const record = await requireRollout(deps.store, execution);
  const note = (detail: string) => deps.store.appendStep({ execution, at: deps.now().toISOString(), kind: 'promotion', detail });
  const readyBy = readyByFrom(spec, deps.now());

  if (promotionMode(spec) === 'route') {
    return { ...run, promotion: { side: 'primary', ready: true, readyBy, checks: 0, copied: false } };
  }
  const workload = await deps.workloadFor(spec);
  if (!workload) throw new Error('template promotion needs spec.workload');
  // A retried Promote whose first copy landed (its answer lost) finds the primary already on the canary's template.
  const alreadyCopied = await workload.primaryRunsCanaryTemplate();
  if (!alreadyCopied && spec.spec.strategy.blueGreen) {
    await switchToGreen(deps, input, record.lastWeights);
    // Checked again after the switch: an abort (or a StopExecution, which the safety net flags as one)
    // that arrived while users moved to green must not be followed by the copy into the primary (the
    // soak caught a Promote running on after its stop that copied and ended the rollout promoted).
    await assertNotAborted(deps.store, execution);
  }
  if (!alreadyCopied) {
    await assertPrimaryUntouched(workload, record);
    try {
      await workload.promoteTemplate();
    } catch (error) {
      // Transient: the state machine retries Promote, which reads the primary back first.
      if (error instanceof TransientError || !(await copyLanded(workload))) throw error;
    }
  }
  // Only now is the canary the side known to be good: the primary runs the new template.
  // Sluice's own change to the primary is the new baseline for "someone else changed it".
  await deps.store.updateRollout(execution, { safeSide: 'canary', primaryFingerprint: await workload.templateFingerprint('primary') });
  await note('copied the canary pod template into the primary; waiting for the primary to be ready');
  return { ...run, promotion: { side: 'primary', ready: false, readyBy, checks: 0, copied: true } };
}

/**
 * Blue/green, template mode: the one switch of all traffic to green (the canary Deployment, scaled
 * to the primary's size and ready: CheckCanary) before the copy, so users never meet the primary's
 * rolling update; Switch moves them back once the primary runs green's template and is ready. The
 * old primary stays the safe side until the copy lands: an abort or a failure before it puts
 * traffic back on blue. Idempotent on a retry.
 */
async function switchToGreen(deps: HandlerDeps<PromoteStore>, input: StepInput, last: Weights): Promise<void> {
  const { spec, execution, run } = input;
  const green = allOn('canary', run.weightScale);
  if (sameWeights(last, green)) return;
  const router = await deps.routerFor(spec, execution);
  // Recorded first: a crash between the write and the record still leaves weights the reconciler knows as Sluice's own.
  await deps.store.updateRollout(execution, { pendingWeights: green });
  await router.setWeights(green, last);
  await deps.store.updateRollout(execution, { lastWeights: green });
  await deps.store.appendStep({
    execution,
    at: deps.now().toISOString(),
    kind: 'weight',
    stepIndex: run.stepIndex,
    weights: green,
    detail: GREEN_SWITCH_DETAIL,
  });
  // Users moved: the same event as any weight change (the Slack thread, EventBridge rules and the soak's bookkeeping read it).
  await publishWithHooks(deps, spec, {
    detailType: 'Weight Changed',
    target: spec.metadata.name,
    version: input.version,
    execution,
    weights: green,
  });
}

export function createPromoteHandler(deps: DepsSource<HandlerDeps<PromoteStore>>) {
  return rolloutHandler(stepInputSchema, async (event) => promote(await deps(), event));
}

/** The Lambda entry point. */
export const handler = createPromoteHandler(awsHandlerDeps);
