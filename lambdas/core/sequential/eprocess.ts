/**
 * Anytime-valid e-processes on error counts, conditioned on the errors seen in each window
 * (vectors file, "E-processes"). Per window t: canary requests nC, primary requests nB, canary
 * "events" x (errors, or requests over a latency threshold), primary events y, m = x + y, and the
 * measured canary share rho = nC / (nC + nB). Under a rate ratio psi an event lands in the canary
 * with chance q(psi) = psi·rho / (psi·rho + 1 − rho).
 *
 * Each window contributes a likelihood-ratio factor per grid point; a grid point's wealth is the
 * product of its factors, and E is the prior-weighted mixture of the wealths (log-sum-exp). Every
 * factor has expectation at most 1 under the null given the window's margins (nC, nB, m), so the
 * choice between the binomial factor (b) and the exact hypergeometric one (c) may depend on the
 * margins, and the mixture stays valid at every look, however many looks there are. Pure.
 */
import { hypergeometricSupport, logBeta, logChoose, logSumExp } from './stats.ts';

/** Chance that an event lands in the canary under a rate ratio psi and canary share rho. */
export function qOf(psi: number, rho: number): number {
  return (psi * rho) / (psi * rho + 1 - rho);
}

/** The rate ratio psi that makes q the canary's chance of an event at share rho. */
export function psiOf(q: number, rho: number): number {
  return (q * (1 - rho)) / (rho * (1 - q));
}

/**
 * (a) Constant rho, Beta(a, b) prior on q: the mixture e-value of x canary events out of n
 * against q = rho. E = B(a + x, b + n − x) / B(a, b) / (rho^x (1 − rho)^(n − x)).
 */
export function betaBinomialE(x: number, n: number, rho: number, a: number, b: number): number {
  return Math.exp(logBeta(a + x, b + n - x) - logBeta(a, b) - x * Math.log(rho) - (n - x) * Math.log1p(-rho));
}

/**
 * The (1 − alpha) confidence sequence that (a) yields: every q0 whose e-value
 * B(a + x, b + n − x) / B(a, b) / (q0^x (1 − q0)^(n − x)) stays below 1/alpha, and the same set
 * as rate ratios at share rho. The set is an interval (the log-likelihood is concave in q0).
 */
export function betaBinomialConfidenceSequence(
  x: number,
  n: number,
  rho: number,
  a: number,
  b: number,
  alpha: number,
): { q: [number, number]; psi: [number, number] } {
  const logMix = logBeta(a + x, b + n - x) - logBeta(a, b);
  const logE = (q0: number): number => logMix - (x > 0 ? x * Math.log(q0) : 0) - (n - x > 0 ? (n - x) * Math.log1p(-q0) : 0);
  const bound = -Math.log(alpha);
  const mle = n > 0 ? x / n : 0.5;
  const solve = (inside: number, outside: number): number => {
    // Bisection between a point inside the set and one outside it.
    let lo = inside;
    let hi = outside;
    for (let i = 0; i < 45; i++) {
      const mid = (lo + hi) / 2;
      if (logE(mid) < bound) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };
  const lowQ = x === 0 || logE(Number.MIN_VALUE) < bound ? 0 : solve(mle, 0);
  const highQ = x === n || logE(1 - Number.EPSILON) < bound ? 1 : solve(mle, 1);
  return { q: [lowQ, highQ], psi: [psiOf(lowQ, rho), highQ >= 1 ? Number.POSITIVE_INFINITY : psiOf(highQ, rho)] };
}

/** (b) log of one window's binomial likelihood ratio: x of m events in the canary under psi against psi0. */
export function logBinomialFactor(psi: number, psi0: number, rho: number, x: number, m: number): number {
  if (m === 0) return 0;
  const q = qOf(psi, rho);
  const q0 = qOf(psi0, rho);
  return x * Math.log(q / q0) + (m - x) * Math.log((1 - q) / (1 - q0));
}

/**
 * The log-pmf of the central hypergeometric law of x (events in the canary) over its support,
 * given nC canary requests, nB primary requests and m events.
 */
export function centralHypergeometricLogPmf(nC: number, nB: number, m: number): { lo: number; logPmf: number[] } {
  const total = nC + nB;
  const { lo, hi } = hypergeometricSupport(total, nC, m);
  const logPmf: number[] = [];
  const logNorm = logChoose(total, m);
  for (let y = lo; y <= hi; y++) logPmf.push(logChoose(nC, y) + logChoose(nB, m - y) - logNorm);
  return { lo, logPmf };
}

/** log E_hyper[odds^Y]: Fisher's noncentral normalizer relative to the central law. */
function logOddsMoment(hyper: { lo: number; logPmf: number[] }, logOdds: number): number {
  return logSumExp(hyper.logPmf.map((lp, i) => lp + (hyper.lo + i) * logOdds));
}

/**
 * (c) log of one window's exact factor: Fisher's noncentral hypergeometric at odds ratio psi over
 * the same law at psi0 (psi0 = 1: the central hypergeometric), for x of m events in the canary.
 * FNCH(x; psi) = Hyper(x) psi^x / E_hyper[psi^Y], so the ratio needs only the two moments.
 */
export function logExactFactor(psi: number, psi0: number, x: number, hyper: { lo: number; logPmf: number[] }): number {
  const a = Math.log(psi);
  const b = Math.log(psi0);
  return x * (a - b) - logOddsMoment(hyper, a) + (psi0 === 1 ? 0 : logOddsMoment(hyper, b));
}

/** A running e-process: one log-wealth per grid point, mixed by fixed prior weights. JSON-safe. */
export interface EProcessState {
  /** The alternatives (rate or odds ratios for two-sample tests, rates for one-sample tests). */
  grid: number[];
  logWeights: number[];
  logWealth: number[];
  /** log of the mixture E. */
  logE: number;
  /** Always-valid p-value: min over looks of 1/E, at most 1. */
  p: number;
  /** Windows that carried evidence. */
  windows: number;
}

export function createEProcess(grid: readonly number[], weights?: readonly number[]): EProcessState {
  if (grid.length === 0) throw new RangeError('an e-process needs at least one alternative');
  const w = weights ?? grid.map(() => 1 / grid.length);
  if (w.length !== grid.length) throw new RangeError('one weight per grid point');
  const total = w.reduce((s, v) => s + v, 0);
  return { grid: [...grid], logWeights: w.map((v) => Math.log(v / total)), logWealth: grid.map(() => 0), logE: 0, p: 1, windows: 0 };
}

/** Applies one window's log factors (one per grid point) and refreshes E and the always-valid p. */
export function applyLogFactors(state: EProcessState, logFactors: readonly number[]): EProcessState {
  const logWealth = state.logWealth.map((w, i) => w + (logFactors[i] as number));
  const logE = logSumExp(logWealth.map((w, i) => w + (state.logWeights[i] as number)));
  return { ...state, logWealth, logE, p: Math.min(state.p, Math.min(1, Math.exp(-logE))), windows: state.windows + 1 };
}

export function eValue(state: EProcessState): number {
  return Math.exp(state.logE);
}

/** One window of a two-sample comparison. */
export interface TwoSampleWindow {
  canaryRequests: number;
  primaryRequests: number;
  canaryEvents: number;
  primaryEvents: number;
}

export type FactorMethod = 'binomial' | 'exact' | 'none';

/**
 * The log factors of one two-sample window against the null ratio psi0, per grid point: (b) the
 * binomial factor normally, (c) the exact hypergeometric one when more than `exactAbove` of the
 * window's requests are events (the binomial conditioning assumes rare events). A window where
 * either arm served nothing, or with no events, carries no evidence (all factors 1).
 */
export function twoSampleLogFactors(
  grid: readonly number[],
  psi0: number,
  w: TwoSampleWindow,
  exactAbove = 0.05,
): { method: FactorMethod; logFactors: number[] } {
  const nC = w.canaryRequests;
  const nB = w.primaryRequests;
  const x = w.canaryEvents;
  const m = w.canaryEvents + w.primaryEvents;
  if (nC <= 0 || nB <= 0 || m === 0) return { method: 'none', logFactors: grid.map(() => 0) };
  if (x > nC || m - x > nB) throw new RangeError(`more events than requests in a window (${x}/${nC} canary, ${m - x}/${nB} primary)`);
  if (m / (nC + nB) > exactAbove) {
    const hyper = centralHypergeometricLogPmf(nC, nB, m);
    return { method: 'exact', logFactors: grid.map((psi) => logExactFactor(psi, psi0, x, hyper)) };
  }
  const rho = nC / (nC + nB);
  return { method: 'binomial', logFactors: grid.map((psi) => logBinomialFactor(psi, psi0, rho, x, m)) };
}

/** (b) offline: the running E of a grid mixture over windows given as (rho, x, m). */
export function gridMixtureRunningE(grid: readonly number[], windows: readonly { rho: number; x: number; m: number }[]): number[] {
  let state = createEProcess(grid);
  return windows.map((w) => {
    state = applyLogFactors(
      state,
      grid.map((psi) => logBinomialFactor(psi, 1, w.rho, w.x, w.m)),
    );
    return eValue(state);
  });
}

/** (c) offline: the exact per-window e-value of x canary events, mixed over the grid (equal weights). */
export function exactMixtureE(grid: readonly number[], x: number, nC: number, nB: number, m: number): number {
  const hyper = centralHypergeometricLogPmf(nC, nB, m);
  const logs = grid.map((psi) => logExactFactor(psi, 1, x, hyper) - Math.log(grid.length));
  return Math.exp(logSumExp(logs));
}
