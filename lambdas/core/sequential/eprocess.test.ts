import { describe, expect, it } from 'vitest';
import {
  applyLogFactors,
  betaBinomialConfidenceSequence,
  betaBinomialE,
  centralHypergeometricLogPmf,
  createEProcess,
  eValue,
  exactMixtureE,
  gridMixtureRunningE,
  logBinomialFactor,
  logExactFactor,
  qOf,
  twoSampleLogFactors,
} from './eprocess.ts';
import { logChoose, logFisherNoncentral, logSumExp } from './stats.ts';

const TOL = 1e-6;
const GRID = [1.25, 1.5, 2, 3, 5, 10];

function binomialPmf(n: number, p: number, x: number): number {
  return Math.exp(logChoose(n, x) + x * Math.log(p) + (n - x) * Math.log1p(-p));
}

describe('(a) beta-binomial e-value, constant rho', () => {
  it('Q-5, Q-5b, Q-5c, Q-5d', () => {
    expect(Math.abs(betaBinomialE(12, 50, 0.1, 1, 9) - 9.373681839)).toBeLessThan(TOL);
    expect(Math.abs(betaBinomialE(5, 50, 0.1, 1, 9) - 0.3814270539)).toBeLessThan(TOL);
    expect(Math.abs(betaBinomialE(30, 100, 0.2, 2, 8) - 3.369352024)).toBeLessThan(TOL);
    expect(Math.abs(betaBinomialE(3, 3, 0.1, 1, 9) - 4.545454545)).toBeLessThan(TOL);
  });

  it('Q-6: the 95% confidence sequence from Q-5', () => {
    const cs = betaBinomialConfidenceSequence(12, 50, 0.1, 1, 9, 0.05);
    // q is given to 6 decimals, psi to 4: compared to the precision the vectors state.
    expect(Math.abs(cs.q[0] - 0.090953)).toBeLessThan(5e-7);
    expect(Math.abs(cs.q[1] - 0.452174)).toBeLessThan(5e-7);
    expect(Math.abs(cs.psi[0] - 0.9005)).toBeLessThan(5e-5);
    expect(Math.abs(cs.psi[1] - 7.4286)).toBeLessThan(5e-5);
    // Its ends are where the e-value against that q0 reaches 1/alpha.
    expect(betaBinomialE(12, 50, cs.q[0], 1, 9)).toBeCloseTo(20, 6);
    expect(betaBinomialE(12, 50, cs.q[1], 1, 9)).toBeCloseTo(20, 6);
  });

  it('has expectation exactly 1 under q = rho (sum over every outcome)', () => {
    for (const [n, rho, a, b] of [
      [50, 0.1, 1, 9],
      [3, 0.1, 1, 9],
      [100, 0.2, 2, 8],
      [37, 0.5, 1, 1],
    ] as const) {
      let mean = 0;
      for (let x = 0; x <= n; x++) mean += binomialPmf(n, rho, x) * betaBinomialE(x, n, rho, a, b);
      expect(Math.abs(mean - 1)).toBeLessThan(1e-9);
    }
  });
});

describe('(b) grid mixture over psi with changing rho', () => {
  it('Q-7: running E per window, crossing 20 at window 4', () => {
    const running = gridMixtureRunningE(GRID, [
      { rho: 0.05, x: 2, m: 20 },
      { rho: 0.05, x: 3, m: 25 },
      { rho: 0.1, x: 6, m: 30 },
      { rho: 0.1, x: 7, m: 28 },
      { rho: 0.25, x: 15, m: 40 },
    ]);
    // The vectors give 5-6 significant digits: compared to half a unit of the last one.
    const expected = [1.02476, 1.99996, 5.60231, 48.593, 135.583];
    const precision = [5e-6, 5e-6, 5e-6, 5e-4, 5e-4];
    running.forEach((e, i) => expect(Math.abs(e - (expected[i] as number))).toBeLessThan(precision[i] as number));
    expect(running.findIndex((e) => e >= 20)).toBe(3);
  });

  it('each grid factor and the mixture have expectation 1 under no difference (every outcome of a window)', () => {
    for (const [rho, m] of [
      [0.05, 20],
      [0.1, 30],
      [0.25, 40],
      [0.5, 7],
    ] as const) {
      let mixture = 0;
      for (let x = 0; x <= m; x++) {
        const factors = GRID.map((psi) => Math.exp(logBinomialFactor(psi, 1, rho, x, m)));
        mixture += (binomialPmf(m, rho, x) * factors.reduce((s, f) => s + f, 0)) / GRID.length;
      }
      expect(Math.abs(mixture - 1)).toBeLessThan(1e-9);
    }
  });

  it('stays at or below 1 when the canary is better (psi < 1), and for the promotion null psi >= margin', () => {
    const rho = 0.1;
    const m = 40;
    for (const psi of [0.2, 0.5, 0.9]) {
      let mean = 0;
      for (let x = 0; x <= m; x++) mean += binomialPmf(m, qOf(psi, rho), x) * Math.exp(logBinomialFactor(3, 1, rho, x, m));
      expect(mean).toBeLessThanOrEqual(1 + 1e-9);
    }
    // Promotion: alternatives below the margin 2, tested at the null psi = 2 and psi = 4.
    for (const truth of [2, 4]) {
      let mean = 0;
      for (let x = 0; x <= m; x++) mean += binomialPmf(m, qOf(truth, rho), x) * Math.exp(logBinomialFactor(1, 2, rho, x, m));
      expect(mean).toBeLessThanOrEqual(1 + 1e-9);
    }
  });

  it('a running product over two windows keeps expectation 1 (joint enumeration)', () => {
    const windows = [
      { rho: 0.05, m: 12 },
      { rho: 0.3, m: 9 },
    ];
    let mean = 0;
    const [w1, w2] = windows as [{ rho: number; m: number }, { rho: number; m: number }];
    for (let x1 = 0; x1 <= w1.m; x1++) {
      for (let x2 = 0; x2 <= w2.m; x2++) {
        let state = createEProcess(GRID);
        state = applyLogFactors(
          state,
          GRID.map((psi) => logBinomialFactor(psi, 1, w1.rho, x1, w1.m)),
        );
        state = applyLogFactors(
          state,
          GRID.map((psi) => logBinomialFactor(psi, 1, w2.rho, x2, w2.m)),
        );
        mean += binomialPmf(w1.m, w1.rho, x1) * binomialPmf(w2.m, w2.rho, x2) * eValue(state);
      }
    }
    expect(Math.abs(mean - 1)).toBeLessThan(1e-9);
  });

  it('the binomial factor stays valid when the exact law is hypergeometric (convex order)', () => {
    const [nC, nB, m] = [30, 70, 25];
    const hyper = centralHypergeometricLogPmf(nC, nB, m);
    const rho = nC / (nC + nB);
    for (const psi of GRID) {
      const mean = hyper.logPmf.reduce((s, lp, i) => s + Math.exp(lp + logBinomialFactor(psi, 1, rho, hyper.lo + i, m)), 0);
      expect(mean).toBeLessThanOrEqual(1 + 1e-9);
    }
  });
});

describe('(c) exact per-window e-value: Fisher noncentral over central hypergeometric', () => {
  it('Q-7b, Q-7c, Q-7d', () => {
    expect(Math.abs(exactMixtureE(GRID, 12, 1000, 9000, 50) - 20.70012712)).toBeLessThan(TOL);
    expect(Math.abs(exactMixtureE(GRID, 5, 1000, 9000, 50) - 0.3091848967)).toBeLessThan(TOL);
    expect(Math.abs(exactMixtureE(GRID, 20, 500, 500, 30) - 2.778533627)).toBeLessThan(TOL);
  });

  it('equals FNCH / Hyper computed from the pmfs directly', () => {
    const hyper = centralHypergeometricLogPmf(1000, 9000, 50);
    const direct = logFisherNoncentral(12, 10000, 1000, 50, 3) - logFisherNoncentral(12, 10000, 1000, 50, 1);
    expect(logExactFactor(3, 1, 12, hyper)).toBeCloseTo(direct, 9);
  });

  it('has expectation 1 under the central law and under the promotion null (every outcome)', () => {
    for (const [nC, nB, m] of [
      [1000, 9000, 50],
      [500, 500, 30],
      [40, 60, 70],
      [3, 200, 10],
    ] as const) {
      const hyper = centralHypergeometricLogPmf(nC, nB, m);
      const mean = logSumExp(
        hyper.logPmf.map((lp, i) => lp + logSumExp(GRID.map((psi) => logExactFactor(psi, 1, hyper.lo + i, hyper))) - Math.log(GRID.length)),
      );
      expect(Math.abs(Math.exp(mean) - 1)).toBeLessThan(1e-9);
      // Promotion: alternatives {0.5, 1} against the odds ratio 2, under FNCH(odds = 2).
      let promo = 0;
      for (let i = 0; i < hyper.logPmf.length; i++) {
        const x = hyper.lo + i;
        const p = Math.exp(logFisherNoncentral(x, nC + nB, nC, m, 2));
        promo += (p * (Math.exp(logExactFactor(0.5, 2, x, hyper)) + Math.exp(logExactFactor(1, 2, x, hyper)))) / 2;
      }
      expect(Math.abs(promo - 1)).toBeLessThan(1e-9);
    }
  });
});

describe('running e-process', () => {
  it('chooses the exact factor above 5% events and none for an empty arm or no events', () => {
    const grid = [2, 5];
    expect(twoSampleLogFactors(grid, 1, { canaryRequests: 100, primaryRequests: 900, canaryEvents: 3, primaryEvents: 5 }).method).toBe(
      'binomial',
    );
    expect(twoSampleLogFactors(grid, 1, { canaryRequests: 100, primaryRequests: 900, canaryEvents: 30, primaryEvents: 40 }).method).toBe(
      'exact',
    );
    expect(twoSampleLogFactors(grid, 1, { canaryRequests: 0, primaryRequests: 900, canaryEvents: 0, primaryEvents: 5 })).toEqual({
      method: 'none',
      logFactors: [0, 0],
    });
    expect(twoSampleLogFactors(grid, 1, { canaryRequests: 10, primaryRequests: 900, canaryEvents: 0, primaryEvents: 0 }).method).toBe(
      'none',
    );
  });

  it('keeps the always-valid p-value as the running minimum of 1/E and survives JSON', () => {
    let state = createEProcess(GRID);
    const p: number[] = [];
    for (const w of [
      { rho: 0.1, x: 8, m: 20 },
      { rho: 0.1, x: 0, m: 30 },
    ]) {
      state = applyLogFactors(
        state,
        GRID.map((psi) => logBinomialFactor(psi, 1, w.rho, w.x, w.m)),
      );
      state = JSON.parse(JSON.stringify(state)) as typeof state;
      p.push(state.p);
    }
    expect(p[0]).toBeLessThan(1);
    expect(p[1]).toBe(p[0]);
    expect(eValue(state)).toBeLessThan(1 / (p[1] as number));
  });
});
