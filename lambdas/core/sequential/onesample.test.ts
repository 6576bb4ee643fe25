import { describe, expect, it } from 'vitest';
import { applyLogFactors, eValue } from './eprocess.ts';
import { allowedRate, createOneSample, oneSampleLogFactors } from './onesample.ts';
import { logChoose } from './stats.ts';

function logBinomialPmf(n: number, p: number, x: number): number {
  return logChoose(n, x) + x * Math.log(p) + (n - x) * Math.log1p(-p);
}

/** E[mixture factor] over every outcome of one window of n requests at true rate p. */
function expectedFactor(direction: 'above' | 'below', p0: number, n: number, p: number, maxLog?: number): number {
  const state = createOneSample(p0, direction);
  let mean = 0;
  // In log space: an extreme outcome has a tiny chance and a huge e-value.
  for (let x = 0; x <= n; x++)
    mean += Math.exp(logBinomialPmf(n, p, x) + applyLogFactors(state, oneSampleLogFactors(state.grid, p0, n, x, maxLog)).logE);
  return mean;
}

describe('one-sample e-process for a thresholdRange', () => {
  it('maps ranges to allowed rates: success rate min 99 -> 1% errors, p99 <= 500 ms -> 1% over 500 ms', () => {
    expect(allowedRate('errors', { min: 99 })).toBeCloseTo(0.01, 12);
    expect(allowedRate('errors', { max: 2 })).toBeCloseTo(0.02, 12);
    expect(allowedRate({ slowerThanMs: 500 }, { max: 500 })).toBeCloseTo(0.01, 12);
    expect(allowedRate({ slowerThanMs: 500 }, { max: 500 }, 0.95)).toBeCloseTo(0.05, 12);
    expect(allowedRate('errors', undefined)).toBeNull();
  });

  it('has expectation exactly 1 at the boundary and below 1 inside the null (every outcome of a window)', () => {
    for (const [p0, n] of [
      [0.01, 400],
      [0.05, 120],
      [0.3, 25],
    ] as const) {
      expect(Math.abs(expectedFactor('above', p0, n, p0) - 1)).toBeLessThan(1e-9);
      expect(expectedFactor('above', p0, n, p0 / 2)).toBeLessThanOrEqual(1 + 1e-9);
      expect(Math.abs(expectedFactor('below', p0, n, p0) - 1)).toBeLessThan(1e-9);
      expect(expectedFactor('below', p0, n, Math.min(0.99, p0 * 2))).toBeLessThanOrEqual(1 + 1e-9);
      // A cap per look keeps it valid (min(F, c) <= F).
      expect(expectedFactor('above', p0, n, p0, Math.log(10))).toBeLessThanOrEqual(1 + 1e-9);
    }
  });

  it('grows for a canary above its limit and shrinks for one well within it', () => {
    const state = createOneSample(0.01, 'above');
    const bad = applyLogFactors(state, oneSampleLogFactors(state.grid, 0.01, 1000, 40));
    const good = applyLogFactors(state, oneSampleLogFactors(state.grid, 0.01, 1000, 2));
    expect(eValue(bad)).toBeGreaterThan(1000);
    expect(eValue(good)).toBeLessThan(0.1);
  });

  it('a capped look multiplies the e-value by at most the cap', () => {
    const state = createOneSample(0.01, 'above');
    const capped = applyLogFactors(state, oneSampleLogFactors(state.grid, 0.01, 1000, 200, Math.log(10)));
    expect(eValue(capped)).toBeCloseTo(10, 9);
  });
});
