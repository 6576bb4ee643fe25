import { describe, expect, it } from 'vitest';
import { decideAfterPromotionLook, nextPromotionCanaryWeight, promotionStepVerdict } from './promotion-steps.ts';
import { initialRun, maxHeldSeconds } from './rollout.ts';
import { promotionBudget, promotionLooks } from './spec-checks.ts';
import { parseSpec } from './spec.ts';
import type { RunState } from './task.ts';
import type { MetricReading, Verdict } from './verdict.ts';

const specWith = (stepWeightPromotion: number) =>
  parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'web' },
    spec: {
      cluster: { kubeconfigContext: 'kind' },
      router: {
        name: 'web',
        namespace: 'gloo-system',
        primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
        canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
      },
      workload: { namespace: 'apps', primary: 'web-primary', canary: 'web' },
      strategy: { stepWeights: [10, 50], stepWeightPromotion, interval: '2m', lookInterval: '10s', threshold: 3, deadline: '1h' },
      analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9090' } },
    },
  });

const now = new Date('2026-12-07T04:00:00Z');
/** The run as the analysis leaves it at its top step (50), before the first promotion step. */
const atTop = (step = 20): RunState => ({ ...initialRun(specWith(step), now), stepIndex: 1, next: 'promote' });
const rate = (value: number | null, primaryValue?: number | null): MetricReading => ({
  name: 'request-success-rate',
  value,
  ...(primaryValue === undefined ? {} : { primaryValue }),
  thresholdRange: { min: 99 },
});
const verdict = (result: Verdict['result']): Verdict => ({ result, checks: [], summary: `verdict ${result}` });

describe('progressive promotion: the plan', () => {
  it('is in the run only when stepWeightPromotion > 0: one interval per step, its looks bounded', () => {
    expect(initialRun(specWith(0), now).promotionSteps).toBeUndefined();
    // From 50 by 20: splits at 30 and 10 are looked at (2), plus threshold − 1 re-looks (2).
    expect(atTop().promotionSteps).toEqual({ step: 20, bakeSeconds: 120, looks: 0, maxLooks: 4 });
    expect(promotionLooks(50, 20, 3)).toBe(4);
    expect(promotionLooks(50, 50, 1)).toBe(0);
    expect(promotionLooks(50, 0, 3)).toBe(0);
    expect(promotionBudget(specWith(20), 50)).toEqual({ looks: 4, seconds: 5 * 120 });
    expect(promotionBudget(specWith(0), 50)).toEqual({ looks: 0, seconds: 0 });
  });

  it('keeps the promotion looks free of the time a rollout may hold outside change windows', () => {
    // 10 s looks: the history bounds the hold (not the longest deadline).
    const stepped: RunState = { ...atTop(1), bakeSeconds: 10 };
    const { promotionSteps: _, ...single } = stepped;
    // 51 promotion looks of 20 events each are 64 looks of 16: 640 s less to hold.
    expect(maxHeldSeconds(single) - maxHeldSeconds(stepped)).toBe(640);
  });

  it('steps the canary weight down from where the analysis left it, to 0 at most, the same on a retry', () => {
    const run = atTop();
    expect(nextPromotionCanaryWeight(run)).toBe(30);
    expect(nextPromotionCanaryWeight(run)).toBe(30);
    const second: RunState = { ...run, promotionSteps: { step: 20, bakeSeconds: 120, looks: 1, maxLooks: 4, canaryWeight: 30 } };
    expect(nextPromotionCanaryWeight(second)).toBe(10);
    expect(
      nextPromotionCanaryWeight({ ...second, promotionSteps: { step: 20, bakeSeconds: 120, looks: 2, maxLooks: 4, canaryWeight: 10 } }),
    ).toBe(0);
    // Promoted on request during the shadow stage: no live weight, straight to the switch.
    expect(nextPromotionCanaryWeight({ ...run, phase: 'shadow' })).toBe(0);
    expect(() => nextPromotionCanaryWeight(initialRun(specWith(0), now))).toThrow(/without spec.strategy.stepWeightPromotion/);
  });
});

describe('progressive promotion: a look at a split', () => {
  it('checks each arm against the thresholds on its own: a bad primary fails though the canary passes', () => {
    const result = promotionStepVerdict([rate(99.9, 90)]);
    expect(result.result).toBe('fail');
    expect(result.summary).toMatch(/^request-success-rate \(primary\) 90\.00 < min 99/);
    expect(result.checks.map((c) => c.name)).toEqual(['request-success-rate', 'request-success-rate (primary)']);
    expect(result.checks[0]).toMatchObject({ value: 99.9, primary: 90, result: 'pass' });
    expect(promotionStepVerdict([rate(99.9, 99.5)]).result).toBe('pass');
  });

  it('passes with one arm unmeasured, is no-data with none, and fails a firing alarm', () => {
    expect(promotionStepVerdict([rate(null, 99.9)]).result).toBe('pass');
    expect(promotionStepVerdict([rate(null, null)]).result).toBe('no-data');
    expect(promotionStepVerdict([]).result).toBe('no-data');
    const alarm: MetricReading = { name: 'latency-alarm', value: 1, thresholdRange: { max: 0 } };
    expect(promotionStepVerdict([rate(99.9), alarm])).toMatchObject({
      result: 'fail',
      summary: expect.stringMatching(/^latency-alarm 1\.00 > max 0/),
    });
  });

  it('advances on a pass, looks again after a failed check, holds at the threshold counted over the whole run', () => {
    const run = { ...atTop(), promotionSteps: { step: 20, bakeSeconds: 120, looks: 0, maxLooks: 4, canaryWeight: 30 } };
    const look = (at: RunState, result: Verdict['result'], extra: { noData?: 'fail' | 'hold' | 'pass'; promoteNow?: boolean } = {}) =>
      decideAfterPromotionLook(at, { verdict: verdict(result), noData: extra.noData ?? 'fail', threshold: 3, ...extra });
    expect(look(run, 'pass')).toMatchObject({ next: 'advance', promotionSteps: { looks: 1 } });
    const once = look(run, 'fail');
    expect(once).toMatchObject({ next: 'bake', failedChecks: 1, reason: 'failed check 1/3 during the promotion: verdict fail' });
    // Two failed checks in the analysis already: the third, during the promotion, holds.
    expect(look({ ...run, failedChecks: 2 }, 'fail')).toMatchObject({
      next: 'rollback',
      failedChecks: 3,
      reason: 'promotion step failed 3/3 checks: verdict fail',
    });
    expect(look(run, 'no-data')).toMatchObject({ next: 'bake', failedChecks: 1, reason: expect.stringContaining('no metric data') });
    expect(look(run, 'no-data', { noData: 'hold' })).toMatchObject({ next: 'advance', failedChecks: 0 });
    expect(look(run, 'pass', { promoteNow: true })).toMatchObject({
      next: 'promote',
      reason: expect.stringContaining('promoted on request'),
    });
    expect(() => look(initialRun(specWith(0), now), 'pass')).toThrow(/without spec.strategy.stepWeightPromotion/);
  });
});
