import { describe, expect, it } from 'vitest';
import { clopperPearsonUpper, rateWithin, targetsFor } from '../bench/judge/targets.ts';
import type { TargetCell } from '../bench/judge/targets.ts';

describe('the judge bench holds its figures against the targets', () => {
  it('computes the exact Clopper–Pearson upper bound', () => {
    // Prepare: reference values from SciPy 1.17 (scipy.stats.beta.ppf(0.975, k + 1, n - k)).
    const reference: Array<[number, number, number]> = [
      [0, 2000, 0.0018427397934059364],
      [5, 100, 0.11283491110546275],
      [10, 1000, 0.01831324305511245],
      [1, 10, 0.4450161170281954],
      [19, 2000, 0.01479583217228858],
      [20, 2000, 0.015402125783560048],
      [50, 1000, 0.06539048791549364],
      [3, 500, 0.017433673725913514],
      [999, 1000, 0.9999746825125088],
    ];
    // Act / Assess
    for (const [k, n, upper] of reference) expect(clopperPearsonUpper(k, n)).toBeCloseTo(upper, 9);
    // k = 0 has a closed form: 1 − 0.025^(1/n).
    expect(clopperPearsonUpper(0, 500)).toBeCloseTo(1 - 0.025 ** (1 / 500), 12);
    expect(clopperPearsonUpper(7, 7)).toBe(1);
    expect(clopperPearsonUpper(0, 0)).toBe(1);
  });

  it('refuses counts that are not a binomial sample', () => {
    expect(() => clopperPearsonUpper(3, 2)).toThrow(/0 <= k <= n, got k=3, n=2/);
    expect(() => clopperPearsonUpper(0.5, 10)).toThrow(/whole numbers/);
  });

  it('passes a rate bound only when the estimate and 1.5× the bound hold both', () => {
    // 19 of 2000 (0.95%): upper 1.48% ≤ 1.5% → holds. 20 of 2000 (1.0%): upper 1.54% > 1.5% → fails.
    expect(rateWithin(19, 2000, 0.01).pass).toBe(true);
    expect(rateWithin(20, 2000, 0.01).pass).toBe(false);
    // A small sample at 0 cannot pass on luck: 0 of 200 has an upper bound of 1.8%.
    expect(rateWithin(0, 200, 0.01).pass).toBe(false);
    // Over the point estimate fails whatever the sample.
    expect(rateWithin(110, 10_000, 0.01).pass).toBe(false);
  });

  it('applies each target to the cells the issue names', () => {
    const cell = (over: Partial<TargetCell>): TargetCell => ({
      id: 'c',
      kind: 'healthy',
      rps: 200,
      scrapeSeconds: 15,
      stepSeconds: 300,
      canaryWithinHalfLimit: true,
      twiceInsideThreshold: false,
      ...over,
    });
    const healthy = { runs: 2000, rolledBack: 4, promoteVsFixed: [0.5, 0.7], steps: 10_000, earlySteps: 7000 };

    // 15 s scrapes at 200 req/s: ≤ 0.6 × fixed (mean 0.6 holds).
    expect(targetsFor(cell({}), healthy).map((r) => [r.target, r.pass])).toEqual([
      ['rolled back ≤ 1% (95% CP upper ≤ 1.5%)', true],
      ['mean time to promote ≤ 0.6 × fixed', true],
    ]);
    // 60 s scrapes: ≤ 1.0; 0.3 req/s: no rollback target, no promotion target at 15 s under 200 req/s.
    expect(targetsFor(cell({ scrapeSeconds: 60 }), healthy)[1]?.target).toBe('mean time to promote ≤ 1.0 × fixed');
    expect(targetsFor(cell({ rps: 0.3 }), healthy)).toEqual([]);
    // A cell whose canary is pushed over its limit by a shared burst has no promotion target.
    expect(targetsFor(cell({ canaryWithinHalfLimit: false }), healthy)).toHaveLength(1);
    // Beside the promotion target, the oracle's figure; one above the bound says no test reaches it (the row still fails).
    const slow = { ...healthy, promoteVsFixed: [0.87], oraclePromoteVsFixed: { 'one-arm': 0.73, 'two-arm': 0.8 } };
    expect(targetsFor(cell({}), slow)[1]).toMatchObject({
      measured: '0.87 ± 0.000; oracles 0.73 one-arm / 0.80 two-arm (out of reach: no test with this alphaPromote meets it)',
      pass: false,
    });
    const twoArm = { ...healthy, promoteVsFixed: [0.69], oraclePromoteVsFixed: { 'one-arm': 0.5, 'two-arm': 0.62 } };
    expect(targetsFor(cell({}), twoArm)[1]?.measured).toMatch(/\(out of reach for a test that compares the arms\)$/);
    expect(targetsFor(cell({}), { ...healthy, oraclePromoteVsFixed: { 'one-arm': 0.38, 'two-arm': 0.4 } })[1]?.measured).toMatch(
      /; oracles 0\.38 one-arm \/ 0\.40 two-arm$/,
    );

    const bad = targetsFor(cell({ kind: 'bad', twiceInsideThreshold: true }), {
      runs: 1000,
      rolledBack: 1000,
      promoteVsFixed: [],
      steps: 1500,
      earlySteps: 60,
      meanErrors: { sequential: 95, flagger: 1000, oracle: 30 },
    });
    // 4% early (upper ≤ 7.5%) holds; 95 ≤ max(100, 90) holds.
    expect(bad.map((r) => [r.target, r.pass])).toEqual([
      ['steps ended early ≤ 5% (95% CP upper ≤ 7.5%)', true],
      ['mean canary errors ≤ max(Flagger ÷ 10, 3 × oracle)', true],
    ]);
  });
});
