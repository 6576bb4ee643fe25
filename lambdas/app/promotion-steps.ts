/**
 * The two Tasks of a progressive promotion (core/promotion-steps.ts), run by the Switch Lambda
 * (`move: step`, the PromotionStep state) and the Analyze Lambda (`look: promotion`, the
 * PromotionLook state), which already hold the router's and the metrics' permissions.
 *
 * Both run after the template copy: the canary is the safe side, so an abort or any failure here
 * holds traffic on the canary (the ASL's Catch goes to PromotionFailedAfterCopy, `promotion-failed`).
 */
import { PromotionFailedError } from '../core/errors.ts';
import type { AbortFlags, RolloutLog, RolloutRecords, TaskTokens } from '../core/ports.ts';
import { decideAfterPromotionLook, nextPromotionCanaryWeight, promotionStepVerdict } from '../core/promotion-steps.ts';
import { formatWeights, sameWeights, splitWeights } from '../core/rollout.ts';
import type { RunState, StepInput } from '../core/task.ts';
import { publishWithHooks } from '../adapters/webhooks/client.ts';
import type { HandlerDeps } from './deps.ts';
import { assertNotAbortedInPromotion, assertPrimaryUntouched, requireRollout, spendTaskToken } from './guards.ts';

function requireCopied(run: RunState, what: string): void {
  // Stepping traffic to an old primary would be a rollback dressed as a promotion.
  if (!run.promotion?.copied) throw new Error(`${what} reached before the template copy: refusing to move traffic to the old primary`);
}

/**
 * PromotionStep: route the next split (`stepWeightPromotion` more to the primary). The split that
 * would put all traffic on the primary is not written here: `next: promote` sends the flow to
 * Switch, the one write that makes the primary the safe side and scales the canary down.
 */
export async function promotionStep(deps: HandlerDeps<AbortFlags & RolloutRecords & RolloutLog>, input: StepInput): Promise<RunState> {
  const { spec, execution, run } = input;
  await assertNotAbortedInPromotion(deps.store, execution, run.promotion?.copied ?? false);
  requireCopied(run, 'a promotion step');
  const steps = run.promotionSteps;
  const canary = nextPromotionCanaryWeight(run);
  if (!steps || canary === 0) return { ...run, next: 'promote' };
  const record = await requireRollout(deps.store, execution);
  await assertPrimaryUntouched(await deps.workloadFor(spec), record);
  const target = splitWeights(canary, run.weightScale);
  if (!sameWeights(record.lastWeights, target)) {
    const router = await deps.routerFor(spec, execution);
    // Recorded first, as every weight write: a crash between the write and the record leaves weights recovery knows as Sluice's.
    await deps.store.updateRollout(execution, { pendingWeights: target });
    await router.setWeights(target, record.lastWeights);
    await deps.store.updateRollout(execution, { lastWeights: target });
    await deps.store.appendStep({
      execution,
      at: deps.now().toISOString(),
      kind: 'promotion',
      weights: target,
      detail: `promotion step: ${formatWeights(target, run.weightScale)} (both run the new version)`,
    });
  }
  // Session affinity ends at the first split (after its guarded weight write): both sides run the new
  // version, and sticky users would keep the canary's share. Idempotent on later steps.
  if (spec.spec.strategy.sessionAffinity) await (await deps.routerFor(spec, execution)).setAffinity(null, { expected: target });
  if (!sameWeights(record.lastWeights, target)) {
    await publishWithHooks(deps, spec, {
      detailType: 'Weight Changed',
      target: spec.metadata.name,
      version: input.version,
      execution,
      weights: target,
    });
  }
  return { ...run, promotionSteps: { ...steps, canaryWeight: canary }, next: 'bake' };
}

/**
 * PromotionLook: one look at the split both arms serve with the new version — thresholds on each
 * arm and alarm metrics, never a two-arm test, whatever the rollout's judge. At the threshold of
 * failed checks it raises a failed promotion: held on the canary.
 */
export async function promotionLook(
  deps: HandlerDeps<AbortFlags & RolloutRecords & RolloutLog & TaskTokens>,
  input: StepInput,
): Promise<RunState> {
  const { spec, execution, run } = input;
  await spendTaskToken(deps.store, spec.metadata.name, execution);
  await assertNotAbortedInPromotion(deps.store, execution, run.promotion?.copied ?? false);
  requireCopied(run, 'a promotion look');
  const record = await requireRollout(deps.store, execution);
  const verdict = promotionStepVerdict(await deps.readMetrics(spec));
  const next = decideAfterPromotionLook(run, {
    verdict,
    noData: spec.spec.analysis.noData,
    threshold: spec.spec.strategy.threshold,
    promoteNow: input.wake?.command === 'promote',
  });
  const at = deps.now().toISOString();
  await deps.store.appendStep({ execution, at, kind: 'analysis', stepIndex: run.stepIndex, weights: record.lastWeights, verdict });
  await deps.store.appendStep({
    execution,
    at,
    kind: 'decision',
    stepIndex: run.stepIndex,
    detail: `promotion ${next.next}${next.reason ? `: ${next.reason}` : ''}`,
  });
  await publishWithHooks(deps, spec, {
    detailType: 'Analysis Completed',
    target: spec.metadata.name,
    version: input.version,
    execution,
    weights: record.lastWeights,
    verdict,
    ...(next.reason ? { reason: next.reason } : {}),
  });
  if (next.next === 'rollback') throw new PromotionFailedError(`${next.reason ?? 'a promotion step failed'}: traffic held on the canary`);
  return next;
}
