/**
 * A seeded random source for simulations (validity tests, the judge bench): same seed, same
 * stream. Not for anything secret.
 */

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Binomial(n, p) draw. */
  binomial(n: number, p: number): number;
  /** Poisson(mean) draw. */
  poisson(mean: number): number;
}

/** mulberry32: 32-bit state, fast, good enough for Monte Carlo at this scale. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = (): number => {
    const u = 1 - next();
    const v = next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  // Inversion: exact, O(n·p) steps; used while the mean is small enough for (1-p)^n not to underflow.
  const invert = (n: number, p: number): number => {
    const u = next();
    const ratio = p / (1 - p);
    let pk = Math.pow(1 - p, n);
    let cdf = pk;
    let k = 0;
    while (u > cdf && k < n) {
      pk *= ((n - k) / (k + 1)) * ratio;
      k++;
      cdf += pk;
    }
    return k;
  };
  const binomial = (n: number, p: number): number => {
    if (n <= 0 || p <= 0) return 0;
    if (p >= 1) return n;
    if (p > 0.5) return n - binomial(n, 1 - p);
    const mean = n * p;
    if (mean < 200) return invert(n, p);
    // Large means: the normal approximation (error far below the bench's noise).
    const draw = Math.round(mean + Math.sqrt(mean * (1 - p)) * normal());
    return Math.min(n, Math.max(0, draw));
  };
  const poisson = (mean: number): number => {
    if (mean <= 0) return 0;
    if (mean < 200) {
      const limit = Math.exp(-mean);
      let k = 0;
      let prod = next();
      while (prod > limit) {
        k++;
        prod *= next();
      }
      return k;
    }
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal()));
  };
  return { next, binomial, poisson };
}
