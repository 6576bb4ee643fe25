/**
 * One-sample e-processes for a metric's `thresholdRange`: is the canary's own rate of events
 * (errors, or requests over a latency threshold) within the allowed rate p0? Each window
 * contributes, per grid point p, the binomial likelihood ratio (p/p0)^x ((1−p)/(1−p0))^(n−x) of x
 * events in n canary requests. With every p on one side of p0 the ratio is monotone in x, so its
 * expectation is at most 1 whenever the true rate is on the null side — at every look. Pure.
 */
import type { EProcessState } from './eprocess.ts';
import { createEProcess } from './eprocess.ts';

/** Multipliers of p0 for the alternatives of "the rate is above p0" (fail). */
export const ABOVE_MULTIPLIERS = [1.25, 1.5, 2, 3, 5, 10] as const;
/** Multipliers of p0 for the alternatives of "the rate is below p0" (promotion). */
export const BELOW_MULTIPLIERS = [0.6, 0.35, 0.1] as const;

/** The smallest allowed rate the tests work with: a limit of exactly 0 is treated as this. */
export const MIN_RATE = 1e-6;

export type OneSampleDirection = 'above' | 'below';

/**
 * A one-sample e-process. `above`: null "rate <= p0", evidence that the canary breaks its limit.
 * `below`: null "rate >= p0", evidence that it keeps it (the promotion side).
 */
export function createOneSample(p0: number, direction: OneSampleDirection): EProcessState {
  const limit = Math.min(Math.max(p0, MIN_RATE), 1 - MIN_RATE);
  const multipliers = direction === 'above' ? ABOVE_MULTIPLIERS : BELOW_MULTIPLIERS;
  const grid = [...new Set(multipliers.map((k) => Math.min(k * limit, 1 - (1 - limit) / 10)))];
  return createEProcess(grid);
}

/** The p0 a state was built for is kept beside it by the caller; this computes the factors. */
export function oneSampleLogFactors(
  grid: readonly number[],
  p0: number,
  requests: number,
  events: number,
  maxLogFactor = Number.POSITIVE_INFINITY,
): number[] {
  if (requests <= 0) return grid.map(() => 0);
  if (events > requests) throw new RangeError(`more events (${events}) than requests (${requests})`);
  const limit = Math.min(Math.max(p0, MIN_RATE), 1 - MIN_RATE);
  // Capping a factor keeps its expectation at most 1 (min(F, c) <= F), so validity holds; it
  // bounds how much one look (a burst shared by both arms) can add.
  return grid.map((p) => Math.min(maxLogFactor, events * Math.log(p / limit) + (requests - events) * Math.log((1 - p) / (1 - limit))));
}

/**
 * The allowed rate of events a `thresholdRange` states, or null when it sets none the judge can
 * test. Errors (and a metric's own events out of trials): `min` is a success rate in percent (99 → 1% errors), `max` an error rate in
 * percent. Latency (`slowerThanMs`): `max` is a quantile bound in ms (p99 ≤ 500 ms → at most 1% of
 * requests over 500 ms); `quantile` says which quantile (0.99 by default).
 */
export function allowedRate(
  kind: 'errors' | { slowerThanMs: number } | { counter: string },
  range: { min?: number | undefined; max?: number | undefined } | undefined,
  quantile = 0.99,
): number | null {
  if (!range) return null;
  // A metric's own counters read like errors: `min` a success rate, `max` an event rate, in percent.
  if (kind === 'errors' || 'counter' in kind) {
    if (range.min !== undefined) return Math.max(0, 1 - range.min / 100);
    if (range.max !== undefined) return Math.max(0, range.max / 100);
    return null;
  }
  if (range.max === undefined) return null;
  return 1 - quantile;
}
