/**
 * Numerics the sequential judge needs, hand-written (no statistics package in the bundle) and
 * checked against independently computed values (see stats.test.ts). Pure.
 */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** log Γ(x) for x > 0 (Lanczos, g = 7; relative error about 1e-15). */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`logGamma needs x > 0, got ${x}`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0] as number;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) sum += (LANCZOS[i] as number) / (z + i);
  return LOG_SQRT_2PI + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** log B(a, b). */
export function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

/** log of the binomial coefficient C(n, k); -Infinity outside 0..n. */
export function logChoose(n: number, k: number): number {
  if (k < 0 || k > n) return Number.NEGATIVE_INFINITY;
  if (k === 0 || k === n) return 0;
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/** log(sum(exp(v))) without overflow; -Infinity for an empty list. */
export function logSumExp(values: readonly number[]): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) if (v > max) max = v;
  if (max === Number.NEGATIVE_INFINITY || max === Number.POSITIVE_INFINITY) return max;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/** Standard normal CDF Φ(x) (Hart 1968 / West 2005, double precision). */
export function normalCdf(x: number): number {
  const ax = Math.abs(x);
  let c: number;
  if (ax > 37) c = 0;
  else {
    const e = Math.exp(-(ax * ax) / 2);
    if (ax < 7.07106781186547) {
      let num = 3.52624965998911e-2 * ax + 0.700383064443688;
      num = num * ax + 6.37396220353165;
      num = num * ax + 33.912866078383;
      num = num * ax + 112.079291497871;
      num = num * ax + 221.213596169931;
      num = num * ax + 220.206867912376;
      let den = 8.83883476483184e-2 * ax + 1.75566716318264;
      den = den * ax + 16.064177579207;
      den = den * ax + 86.7807322029461;
      den = den * ax + 296.564248779674;
      den = den * ax + 637.333633378831;
      den = den * ax + 793.826512519948;
      den = den * ax + 440.413735824752;
      c = (e * num) / den;
    } else {
      let b = ax + 0.65;
      b = ax + 4 / b;
      b = ax + 3 / b;
      b = ax + 2 / b;
      b = ax + 1 / b;
      c = e / b / 2.506628274631;
    }
  }
  return x > 0 ? 1 - c : c;
}

const QA = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
const QB = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const QC = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const QD = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];

function poly(coefficients: readonly number[], x: number): number {
  let acc = 0;
  for (const c of coefficients) acc = acc * x + c;
  return acc;
}

/** Standard normal quantile Φ⁻¹(p) (Acklam's approximation refined by one Halley step). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return Number.NEGATIVE_INFINITY;
    if (p === 1) return Number.POSITIVE_INFINITY;
    throw new RangeError(`normalQuantile needs 0 <= p <= 1, got ${p}`);
  }
  const low = 0.02425;
  let x: number;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = poly(QC, q) / (poly(QD, q) * q + 1);
  } else if (p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    x = (poly(QA, r) * q) / (poly(QB, r) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -poly(QC, q) / (poly(QD, q) * q + 1);
  }
  const e = normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** log of the hypergeometric pmf: x of the n drawn are marked, from M items of which K are marked. */
export function logHypergeometric(x: number, total: number, marked: number, drawn: number): number {
  return logChoose(marked, x) + logChoose(total - marked, drawn - x) - logChoose(total, drawn);
}

/** Support of x for the (noncentral) hypergeometric: max(0, n + K - M) .. min(n, K). */
export function hypergeometricSupport(total: number, marked: number, drawn: number): { lo: number; hi: number } {
  return { lo: Math.max(0, drawn + marked - total), hi: Math.min(drawn, marked) };
}

/**
 * log of Fisher's noncentral hypergeometric pmf: x of the `drawn` items fall in the group of size
 * `marked` (out of `total`), each of those weighted by `odds`.
 */
export function logFisherNoncentral(x: number, total: number, marked: number, drawn: number, odds: number): number {
  const { lo, hi } = hypergeometricSupport(total, marked, drawn);
  if (x < lo || x > hi) return Number.NEGATIVE_INFINITY;
  const logOdds = Math.log(odds);
  const terms: number[] = [];
  for (let y = lo; y <= hi; y++) terms.push(logChoose(marked, y) + logChoose(total - marked, drawn - y) + y * logOdds);
  return logChoose(marked, x) + logChoose(total - marked, drawn - x) + x * logOdds - logSumExp(terms);
}

/** Wilson score interval of a binomial proportion (used to state simulated rates with a bound). */
export function wilsonInterval(successes: number, trials: number, confidence = 0.95): { lower: number; upper: number } {
  if (trials <= 0) return { lower: 0, upper: 1 };
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const p = successes / trials;
  const denom = 1 + (z * z) / trials;
  const centre = (p + (z * z) / (2 * trials)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / trials + (z * z) / (4 * trials * trials))) / denom;
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}
