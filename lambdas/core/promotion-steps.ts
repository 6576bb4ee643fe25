/**
 * Progressive promotion (`spec.strategy.stepWeightPromotion`, Flagger's field): after the template
 * copy and the primary's readiness loop, traffic moves back from the canary to the primary in steps
 * of `stepWeightPromotion`, one interval each, with a look at every split (the ASL's PromotionStep →
 * PromotionBake → PromotionLook → PromotionDecide loop). The step that would reach 100% on the
 * primary is left to Switch, the promotion's one all-on-the-primary write.
 *
 * Both arms now run the new version, so a look compares nothing: each arm's readings are checked
 * against the metrics' thresholds on their own (the threshold judge's per-metric check, whatever
 * the rollout's judge), and an alarm metric fails as at any look. Failed checks count against the
 * run's `threshold` as in the analysis (Flagger's one count per run); reaching it holds traffic on
 * the canary (the safe side since the copy): `promotion-failed`. Pure.
 */
import { thresholdJudge } from './judge-threshold.ts';
import { currentCanaryWeight } from './rollout.ts';
import type { RolloutSpec } from './spec.ts';
import type { RunState } from './task.ts';
import type { MetricReading, Verdict } from './verdict.ts';

/**
 * The canary weight the next promotion step routes: `step` less than where the loop is (at its
 * first step, where the analysis left traffic: the current step's weight, or 0 in the shadow stage).
 * Computed from the run alone, so a retried step whose write landed routes the same split again.
 */
export function nextPromotionCanaryWeight(run: RunState): number {
  const steps = run.promotionSteps;
  if (!steps) throw new Error('a promotion step was reached without spec.strategy.stepWeightPromotion');
  const from = steps.canaryWeight ?? (run.phase === 'shadow' ? 0 : currentCanaryWeight(run));
  return Math.max(0, from - steps.step);
}

/**
 * One look at a promotion split: every metric checked on each arm it was measured on (the canary's
 * value, and the primary's where the query has one), against its own thresholdRange. No data on
 * one arm is no verdict on it (a thin arm at the last split); no data on every arm is `no-data`.
 */
export function promotionStepVerdict(readings: readonly MetricReading[]): Verdict {
  // The canary's check keeps the metric's own name (status, progress and the report's charts find it by
  // name, with the primary's value riding along as evidence); the primary's is a check of its own.
  const perArm: MetricReading[] = readings.flatMap((reading) => {
    const { primaryValue, ...rest } = reading;
    return [reading, ...(primaryValue === undefined ? [] : [{ ...rest, name: `${reading.name} (primary)`, value: primaryValue }])];
  });
  const verdict = thresholdJudge.judge(perArm);
  if (verdict.result !== 'no-data' || verdict.checks.length === 0) return verdict;
  // Something had no data and nothing failed: a pass when at least one arm was measured.
  return verdict.checks.some((check) => check.result === 'pass') ? { ...verdict, result: 'pass' } : verdict;
}

export interface PromotionLookContext {
  verdict: Verdict;
  noData: RolloutSpec['spec']['analysis']['noData'];
  threshold: number;
  /** A person asked to promote now: the remaining steps are skipped (Switch routes the rest). */
  promoteNow?: boolean;
}

/**
 * What follows a promotion look: the next step (`advance`), the same split again after a failed
 * check below the threshold (`bake`), straight to Switch on promote-now (`promote`), or a hold on
 * the canary (`rollback`, which the handler raises as a failed promotion). `noData: fail` counts a
 * look without any data as a failed check; `hold` and `pass` go on (holding a split that both
 * arms serve with the same version buys nothing, and the steps are bounded).
 */
export function decideAfterPromotionLook(run: RunState, look: PromotionLookContext): RunState {
  const steps = run.promotionSteps;
  if (!steps) throw new Error('a promotion look was reached without spec.strategy.stepWeightPromotion');
  const base: RunState = { ...run, reason: undefined, promotionSteps: { ...steps, looks: steps.looks + 1 } };
  const { result, summary } = look.verdict;
  if (result === 'fail' || (result === 'no-data' && look.noData === 'fail')) {
    const failedChecks = run.failedChecks + 1;
    const why = result === 'fail' ? summary : `no metric data (${summary})`;
    if (failedChecks >= look.threshold)
      return { ...base, failedChecks, next: 'rollback', reason: `promotion step failed ${failedChecks}/${look.threshold} checks: ${why}` };
    return { ...base, failedChecks, next: 'bake', reason: `failed check ${failedChecks}/${look.threshold} during the promotion: ${why}` };
  }
  if (look.promoteNow) return { ...base, next: 'promote', reason: 'promoted on request: the remaining promotion steps skipped' };
  return { ...base, next: 'advance' };
}
