/**
 * What to expect before the first step: at the configured rate and schedule,
 * about how long until a canary with twice the baseline error rate is caught, and how long a
 * healthy canary takes to be promoted. An approximation, not a simulation: each e-value's log is
 * taken to grow at its expected rate (the Kullback-Leibler divergence per event or request at the
 * grid point nearest the truth), without overshoot or noise; `npm run bench:judge` measures the
 * real distribution. Pure.
 */
import { qOf } from './eprocess.ts';
import { FAIL_GRID, PROMOTE_FRACTIONS, SEQUENTIAL_DEFAULTS } from './judge.ts';
import type { SequentialConfig } from './judge.ts';
import { BELOW_MULTIPLIERS } from './onesample.ts';

export interface ExpectationInput {
  /** Requests per second reaching the route (both arms). */
  rps: number;
  /** The canary's share of requests at each step (0..1). */
  canaryShares: number[];
  intervalSeconds: number;
  lookIntervalSeconds: number;
  /** The primary's error rate (0..1). */
  baselineErrorRate: number;
  /** The allowed error rate from the thresholdRange (0.01 for success rate min 99), or null. */
  allowedErrorRate: number | null;
  config?: Partial<SequentialConfig>;
}

export interface Expectations {
  method: 'approximation';
  fixedSeconds: number;
  /** Seconds until a canary at twice the baseline (or at the stated rate for a zero baseline) is caught; null: not within the schedule. */
  catchSeconds: number | null;
  /** The canary error rate the catch time is for. */
  badCanaryRate: number;
  /** Seconds until a healthy canary (the baseline's rate) is promoted. */
  promoteSeconds: number;
  lines: string[];
}

/** Expected log-likelihood ratio of one Bernoulli(p) draw, alternative a against null b. */
function drift(p: number, a: number, b: number): number {
  return p * Math.log(a / b) + (1 - p) * Math.log((1 - a) / (1 - b));
}

export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  const rest = s % 60;
  return rest ? `${m}m${rest}s` : `${m}m`;
}

export function expectations(input: ExpectationInput): Expectations {
  const config = { ...SEQUENTIAL_DEFAULTS, ...input.config };
  const { rps, canaryShares, intervalSeconds, lookIntervalSeconds: look } = input;
  const p = input.baselineErrorRate;
  const limit = input.allowedErrorRate;
  const k = limit === null ? 1 : 2;
  const fixedSeconds = canaryShares.length * intervalSeconds;
  const roundUp = (t: number) => Math.ceil(t / look - 1e-9) * look;

  // Catching a bad canary: the two-sample e-value's grid point nearest the truth must reach
  // |grid| · k / alpha (mean of k processes, equal prior weights).
  const zeroBaseline = p <= 0;
  const psi = 2;
  const badRate = zeroBaseline ? Math.max(limit ?? 0.01, 0.001) : psi * p;
  const failBar = Math.log((FAIL_GRID.length * k) / config.alpha);
  let catchSeconds: number | null = null;
  let logE = 0;
  canaryShares.forEach((w, step) => {
    if (catchSeconds !== null) return;
    const eventsPerSecond = rps * (w * badRate + (1 - w) * p);
    let perEvent: number;
    if (zeroBaseline) {
      // Every event is the canary's: the best grid point's factor per event is q(psi)/rho.
      perEvent = Math.max(...FAIL_GRID.map((g) => Math.log(qOf(g, w) / w)));
    } else {
      const q1 = qOf(psi, w);
      perEvent = Math.max(...FAIL_GRID.map((g) => drift(q1, qOf(g, w), w)));
    }
    const rate = eventsPerSecond * perEvent;
    const need = failBar - logE;
    if (rate > 0 && need / rate <= intervalSeconds) catchSeconds = roundUp(step * intervalSeconds + need / rate);
    else logE += rate * intervalSeconds;
  });

  // Promoting a healthy canary: per step, both promotion e-values (the ratio test and, with a
  // threshold, the one-sample test) must reach 1/alphaPromote — the smaller one decides.
  const promoteBar = Math.log(PROMOTE_FRACTIONS.length / config.alphaPromote);
  const margin = p > 0 ? Math.max(config.margin, (p + config.marginAbsolute) / p) : config.margin;
  let promoteSeconds = 0;
  canaryShares.forEach((w, step) => {
    const top = step === canaryShares.length - 1;
    if (top && config.fullIntervalAtTopWeight) {
      promoteSeconds += intervalSeconds;
      return;
    }
    const ratioPerEvent = Math.max(...PROMOTE_FRACTIONS.map((f) => drift(w, qOf(f * margin, w), qOf(margin, w))));
    const ratioRate = rps * p * ratioPerEvent;
    const absRate =
      limit !== null && limit > 0
        ? rps * w * Math.max(...BELOW_MULTIPLIERS.map((m) => drift(p, m * limit, limit)))
        : Number.POSITIVE_INFINITY;
    const rate = Math.min(ratioRate, absRate);
    const evidence = rate > 0 ? promoteBar / rate : Number.POSITIVE_INFINITY;
    const exposure = Math.max(config.minSecondsPerStep, config.minLooksPerStep * look, config.minCanaryRequestsPerStep / (rps * w));
    promoteSeconds += Math.min(intervalSeconds, roundUp(Math.max(evidence, exposure)));
  });

  const pct = (v: number) => `${(100 * v).toFixed(v < 0.01 ? 2 : 1)}%`;
  const schedule = `${canaryShares.length} steps of ${duration(intervalSeconds)} (${canaryShares.map(pct).join(', ')} canary), looks every ${duration(look)}`;
  const bad = zeroBaseline
    ? `a canary failing ${pct(badRate)} of requests (the primary fails none)`
    : `a canary with twice the baseline error rate (${pct(badRate)} against ${pct(p)})`;
  const lines = [
    `What to expect at ${Math.round(rps)} requests/s, ${schedule} — an approximation from the e-values' expected growth:`,
    catchSeconds !== null
      ? `  ${bad} is rolled back after about ${duration(catchSeconds)} (when the mean e-value reaches 1/alpha = ${(1 / config.alpha).toFixed(0)}).`
      : `  ${bad} is probably not caught within the ${duration(fixedSeconds)} schedule at this rate: more traffic, longer steps or a larger first weight would catch it.`,
    `  a healthy canary (${pct(p)} errors) is promoted after about ${duration(promoteSeconds)} of the fixed ${duration(fixedSeconds)} (${Math.round((100 * promoteSeconds) / fixedSeconds)}%).`,
    `  false rollbacks of a canary no worse than the primary: at most ${pct(config.alpha)}.`,
  ];
  return { method: 'approximation', fixedSeconds, catchSeconds, badCanaryRate: badRate, promoteSeconds, lines };
}
