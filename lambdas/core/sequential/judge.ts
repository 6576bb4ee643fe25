/**
 * The sequential judge. Each look brings the integer deltas of the
 * raw counters per arm (counts.ts). Per metric (errors, and each latency threshold as its own
 * metric) it keeps, for the whole rollout, an anytime-valid e-process of "the canary is worse than
 * the primary", plus a one-sample e-process of "the canary's rate is above its allowed rate" when
 * the metric has a `thresholdRange`. The rollout fails when the mean of those k e-values reaches
 * 1/alpha, so the chance of ever failing a canary that is no worse stays below alpha however many
 * looks there are. A step ends early only through separate promotion e-processes, started afresh
 * at each step, whose null is "the canary is worse than allowed"; all must reach 1/alphaPromote.
 * Pure: the caller keeps the JSON state between looks.
 */
import type { ArmDelta, LookCounts } from '../counts.ts';
import type { ArmEvidence, CheckEvidence, CheckResult, MetricCheck, Verdict, VerdictEvidence } from '../verdict.ts';
import type { EProcessState, FactorMethod } from './eprocess.ts';
import { applyLogFactors, betaBinomialConfidenceSequence, createEProcess, eValue, twoSampleLogFactors } from './eprocess.ts';
import { allowedRate, createOneSample, MIN_RATE, oneSampleLogFactors } from './onesample.ts';
import { logSumExp } from './stats.ts';

export interface SequentialConfig {
  /** Chance of failing a canary that is no worse than the primary and within its thresholds. */
  alpha: number;
  /** Chance of ending a step early for a canary that is worse than allowed. */
  alphaPromote: number;
  /** Rate ratio (canary over primary) from which a canary counts as worse than allowed. */
  margin: number;
  /**
   * Absolute difference in rates (0.0005 = 0.05 percentage points) a canary may exceed the primary
   * by and still count as within allowed, when that is more than the ratio margin allows: at a
   * 0.01% baseline a 2× margin is a 0.01-point difference no step can prove, this one can.
   */
  marginAbsolute: number;
  minLooksPerStep: number;
  minSecondsPerStep: number;
  minCanaryRequestsPerStep: number;
  /** Never end the step at the top weight early: it runs its whole interval. */
  fullIntervalAtTopWeight: boolean;
  /** Share of a window's requests that are events above which the exact hypergeometric factor is used. */
  exactAbove: number;
  /** Most one look may multiply a one-sample failure e-process by (a shared error burst alone should not roll back). */
  thresholdMaxFactor: number;
  /** Seconds after a weight change before a scrape counts as taken at the new weight (xDS propagation). */
  settleSeconds: number;
}

export const SEQUENTIAL_DEFAULTS: SequentialConfig = {
  alpha: 0.01,
  alphaPromote: 0.05,
  margin: 2,
  marginAbsolute: 0.0005,
  minLooksPerStep: 2,
  minSecondsPerStep: 30,
  minCanaryRequestsPerStep: 200,
  fullIntervalAtTopWeight: true,
  exactAbove: 0.05,
  thresholdMaxFactor: 10,
  settleSeconds: 2,
};

/** Knobs as the spec carries them (`spec.analysis.sequential`): any may be absent. */
export type SequentialOptions = { [K in keyof SequentialConfig]?: SequentialConfig[K] | undefined };

export function sequentialConfig(options: SequentialOptions = {}): SequentialConfig {
  const config = { ...SEQUENTIAL_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  const inOpenUnit = (v: number) => v > 0 && v < 1;
  if (!inOpenUnit(config.alpha)) throw new RangeError(`sequential.alpha must be in (0, 1), got ${config.alpha}`);
  if (!inOpenUnit(config.alphaPromote)) throw new RangeError(`sequential.alphaPromote must be in (0, 1), got ${config.alphaPromote}`);
  if (!(config.margin > 1)) throw new RangeError(`sequential.margin must be above 1, got ${config.margin}`);
  if (!(config.marginAbsolute >= 0 && config.marginAbsolute < 1))
    throw new RangeError(`sequential.marginAbsolute must be in [0, 1), got ${config.marginAbsolute}`);
  return config;
}

/** Alternatives of the failure test: canary/primary rate ratios above 1. */
export const FAIL_GRID = [1.25, 1.5, 2, 3, 5, 10, 30, 100] as const;
/** Alternatives of the promotion test, as fractions of the margin. */
export const PROMOTE_FRACTIONS = [0.75, 0.5, 0.25] as const;

/** Errors, requests slower than a bucket boundary, or a metric's own counters (`counter`: its name), events out of trials. */
export type MetricKind = 'errors' | { slowerThanMs: number } | { counter: string };

export interface SequentialMetric {
  name: string;
  kind: MetricKind;
  thresholdRange?: { min?: number | undefined; max?: number | undefined } | undefined;
  /** For latency metrics: the quantile the thresholdRange bounds (0.99 = p99). */
  quantile?: number;
}

export interface SequentialContext {
  stepIndex: number;
  /** Looks already done in this step before this one (RunState.lookInStep). */
  lookInStep: number;
  secondsInStep: number;
  atTopWeight: boolean;
  metrics: SequentialMetric[];
  /**
   * The two-arm tests (canary against primary) count; default true. Off under A/B testing or
   * blue/green unless `analysis.compareArms` opts in: the arms serve different requests (matched
   * users, or test traffic), so a difference between them is no evidence against the canary.
   * The canary's own threshold tests judge alone then.
   */
  twoArm?: boolean | undefined;
}

/** `no-new-scrape`: no source was scraped since the previous look — neither evidence nor an empty look. */
export type SequentialDecision = 'fail' | 'advance-early' | 'continue' | 'no-evidence' | 'no-new-scrape';

interface Counts {
  canary: ArmEvidence;
  primary: ArmEvidence;
}

interface MetricState {
  name: string;
  /** "Canary worse than primary" (psi > 1), whole rollout. */
  fail: EProcessState;
  /** "Canary within margin" (psi < margin), current step. */
  promote: EProcessState;
  threshold: { allowedRate: number; fail: EProcessState; promote: EProcessState } | null;
  rollout: Counts;
  step: Counts;
  lastMethod: FactorMethod;
}

/** The judge's memory between looks: JSON-serializable (no Infinity, no class instances). */
export interface SequentialState {
  version: 1;
  stepIndex: number;
  looks: number;
  /** Looks in the current step that carried evidence. */
  stepLooks: number;
  stepCanaryRequests: number;
  /** Always-valid p-value of the mean failure e-value. */
  pValue: number;
  metrics: MetricState[];
}

export interface SequentialResult {
  state: SequentialState;
  verdict: Verdict;
  decision: SequentialDecision;
}

const zeroCounts = (): Counts => ({ canary: { requests: 0, events: 0 }, primary: { requests: 0, events: 0 } });

function promoteGrid(config: SequentialConfig): number[] {
  return PROMOTE_FRACTIONS.map((f) => f * config.margin);
}

function newMetricState(metric: SequentialMetric, config: SequentialConfig): MetricState {
  const rate = allowedRate(metric.kind, metric.thresholdRange, metric.quantile);
  return {
    name: metric.name,
    fail: createEProcess(FAIL_GRID),
    promote: createEProcess(promoteGrid(config)),
    // A limit of 100% (success rate min 0) constrains nothing: no test.
    threshold:
      rate === null || rate >= 1
        ? null
        : { allowedRate: rate, fail: createOneSample(rate, 'above'), promote: createOneSample(rate, 'below') },
    rollout: zeroCounts(),
    step: zeroCounts(),
    lastMethod: 'none',
  };
}

export function createSequentialState(
  metrics: readonly SequentialMetric[],
  config: SequentialConfig = SEQUENTIAL_DEFAULTS,
  stepIndex = 0,
): SequentialState {
  if (metrics.length === 0) throw new RangeError('the sequential judge needs at least one metric');
  const names = new Set(metrics.map((m) => m.name));
  if (names.size !== metrics.length) throw new RangeError('metric names must be unique');
  return {
    version: 1,
    stepIndex,
    looks: 0,
    stepLooks: 0,
    stepCanaryRequests: 0,
    pValue: 1,
    metrics: metrics.map((m) => newMetricState(m, config)),
  };
}

/** A new step: the promotion evidence and step counts start again; the failure evidence carries on. */
function enterStep(state: SequentialState, stepIndex: number, config: SequentialConfig): SequentialState {
  return {
    ...state,
    stepIndex,
    stepLooks: 0,
    stepCanaryRequests: 0,
    metrics: state.metrics.map((m) => ({
      ...m,
      promote: createEProcess(promoteGrid(config)),
      threshold: m.threshold ? { ...m.threshold, promote: createOneSample(m.threshold.allowedRate, 'below') } : null,
      step: zeroCounts(),
    })),
  };
}

function eventsOf(arm: ArmDelta, kind: MetricKind): number | undefined {
  // A retried attempt failed (Envoy retries on 5xx, resets, timeouts): it is an error the final answer hides.
  if (kind === 'errors') return arm.errors + (arm.retries ?? 0);
  if ('counter' in kind) return arm.counters?.[kind.counter]?.events;
  return arm.slow[String(kind.slowerThanMs)];
}

/** Requests the events are out of: for errors, every attempt (final answers plus retried ones); a metric's own trials. */
function requestsOf(arm: ArmDelta, kind: MetricKind): number {
  if (kind === 'errors') return arm.requests + (arm.retries ?? 0);
  if ('counter' in kind) return arm.counters?.[kind.counter]?.trials ?? 0;
  return arm.requests;
}

/** The requests a look shows beside a metric's events (a metric's own trials; final answers for the built-ins). */
function lookRequests(arm: ArmDelta, kind: MetricKind): number {
  return typeof kind === 'object' && 'counter' in kind ? requestsOf(arm, kind) : arm.requests;
}

/**
 * What each arm served in a look: its requests, or — when every metric counts its own trials (no
 * built-in metric reads Envoy's requests) — the first metric's trials.
 */
function servedOf(arm: ArmDelta, metrics: readonly SequentialMetric[]): number {
  const first = metrics[0];
  if (first && metrics.every((m) => typeof m.kind === 'object' && 'counter' in m.kind)) return requestsOf(arm, first.kind);
  return arm.requests;
}

/** True when sources answered but none was scraped since the previous look. */
function noNewScrape(look: LookCounts): boolean {
  return look.newScrape === false && (look.sources?.stale ?? 0) > 0;
}

/** Why a look carries no evidence, or null when it does. Sources left out (gaps) do not void a look. */
function missingEvidence(look: LookCounts, metrics: readonly SequentialMetric[]): string | null {
  const absent = look.gaps.length ? ` (${look.gaps.join('; ')})` : '';
  const canary = servedOf(look.canary, metrics);
  const primary = servedOf(look.primary, metrics);
  if (canary <= 0 && primary <= 0) return `neither arm served requests${absent}`;
  if (canary <= 0) return `the canary served no requests${absent}`;
  if (primary <= 0) return `the primary served no requests${absent}`;
  for (const metric of metrics) {
    for (const side of ['canary', 'primary'] as const) {
      const events = eventsOf(look[side], metric.kind);
      const requests = requestsOf(look[side], metric.kind);
      if (events === undefined || !Number.isFinite(events) || events < 0) return `${metric.name}: no ${side} count`;
      if (events > requests) return `${metric.name}: more ${side} events (${events}) than requests (${requests})`;
    }
  }
  return null;
}

/**
 * The ratio the promotion test takes as "worse than allowed" for this window: the margin, or the
 * primary's rate plus `marginAbsolute` over it when that is more. The primary's rate comes from
 * the looks before this one (plus half an event, so a primary with no events yet is not infinitely
 * good), so each window's null is fixed before its counts are seen.
 */
function promoteMargin(m: MetricState, config: SequentialConfig): number {
  if (config.marginAbsolute <= 0) return config.margin;
  const { requests, events } = m.rollout.primary;
  if (requests <= 0) return config.margin;
  const rate = (events + 0.5) / (requests + 1);
  return Math.max(config.margin, (rate + config.marginAbsolute) / rate);
}

const MAX_REPORTED = 1e300;
const finite = (v: number) => (Number.isFinite(v) ? v : v > 0 ? MAX_REPORTED : 0);
const add = (a: ArmEvidence, requests: number, events: number): ArmEvidence => ({
  requests: a.requests + requests,
  events: a.events + events,
});

/** What a metric's events are, in words: "errors", "requests over 500 ms". */
export function countedAs(kind: MetricKind): string {
  if (kind === 'errors') return 'errors';
  if ('counter' in kind) return `${kind.counter} (events out of trials)`;
  return `requests over ${kind.slowerThanMs} ms`;
}

/** The value a person compares with the range: success rate for errors with a min, else the event rate, in percent. */
function displayRate(metric: SequentialMetric, arm: ArmEvidence): number | null {
  if (arm.requests <= 0) return null;
  const pct = (100 * arm.events) / arm.requests;
  const rateLike = metric.kind === 'errors' || 'counter' in metric.kind;
  return rateLike && metric.thresholdRange?.min !== undefined ? 100 - pct : pct;
}

function promotionE(m: MetricState, twoArm = true): number {
  if (!twoArm) return m.threshold ? eValue(m.threshold.promote) : 0;
  // The null a step ends early against is the union "worse than the margin OR above the
  // threshold": both tests must reject it, so the smaller e-value decides. (The mean would test
  // "worse on both counts" and end steps early for a canary twice as bad but inside its limit.)
  return m.threshold ? Math.min(eValue(m.promote), eValue(m.threshold.promote)) : eValue(m.promote);
}

/**
 * The one-sample tests of one window. Failure: the canary against the larger of its limit and the
 * primary's rate in the same window — a shared incident (both arms over the limit) is not the
 * canary's fault, and the two-arm test still sees a canary worse than the primary. The grid is
 * scaled to that window's null, so each factor has expectation at most 1 whenever the canary's
 * rate is at most it. Promotion: the canary below its limit, on clean windows only.
 */
function thresholdUpdate(
  t: NonNullable<MetricState['threshold']>,
  config: SequentialConfig,
  all: { nC: number; x: number; nP: number; y: number },
  clean: { nC: number; x: number },
): NonNullable<MetricState['threshold']> {
  const primaryRate = all.nP > 0 ? all.y / all.nP : 0;
  const p0 = Math.max(t.allowedRate, primaryRate);
  const scale = p0 / Math.max(t.allowedRate, MIN_RATE);
  const grid = t.fail.grid.map((p) => Math.min(p * scale, 1 - (1 - p0) / 10));
  const failFactors = p0 >= 1 ? grid.map(() => 0) : oneSampleLogFactors(grid, p0, all.nC, all.x, Math.log(config.thresholdMaxFactor));
  return {
    ...t,
    fail: applyLogFactors(t.fail, failFactors),
    promote: applyLogFactors(t.promote, oneSampleLogFactors(t.promote.grid, t.allowedRate, clean.nC, clean.x)),
  };
}

function metricFailLogs(m: MetricState, twoArm = true): number[] {
  if (!twoArm) return m.threshold ? [m.threshold.fail.logE] : [];
  return m.threshold ? [m.fail.logE, m.threshold.fail.logE] : [m.fail.logE];
}

function format(v: number): string {
  if (v >= 1e6) return v.toExponential(2);
  return v >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

export function judgeLook(
  previous: SequentialState | null | undefined,
  look: LookCounts,
  context: SequentialContext,
  config: SequentialConfig = SEQUENTIAL_DEFAULTS,
): SequentialResult {
  let state = previous ?? createSequentialState(context.metrics, config, context.stepIndex);
  const known = state.metrics.map((m) => m.name).join(',');
  if (known !== context.metrics.map((m) => m.name).join(',')) {
    throw new Error(
      `the sequential judge's metrics changed mid-rollout (state: ${known}; look: ${context.metrics.map((m) => m.name).join(',')})`,
    );
  }
  // Promotion never uses an earlier step's data.
  if (state.stepIndex !== context.stepIndex) state = enterStep(state, context.stepIndex, config);

  const twoArm = context.twoArm !== false;
  if (!twoArm && state.metrics.every((m) => !m.threshold))
    throw new RangeError(
      'with the two-arm test off, the sequential judge needs a metric with a thresholdRange (the canary judged against it)',
    );
  const failAt = 1 / config.alpha;
  const promoteAt = 1 / config.alphaPromote;
  const totalRequests = servedOf(look.canary, context.metrics) + servedOf(look.primary, context.metrics);
  const canaryShare = totalRequests > 0 ? servedOf(look.canary, context.metrics) / totalRequests : null;
  const stale = noNewScrape(look);
  const missing = stale ? null : missingEvidence(look, context.metrics);

  if (stale) {
    state = { ...state, looks: state.looks + 1, metrics: state.metrics.map((m) => ({ ...m, lastMethod: 'none' as const })) };
  } else if (!missing) {
    // The two-arm tests read only windows that began at the current weight (`clean`); a window that
    // straddles a weight change mixes two canary shares. The canary's own threshold tests read all.
    const clean = look.clean ?? { canary: look.canary, primary: look.primary };
    state = {
      ...state,
      looks: state.looks + 1,
      stepLooks: state.stepLooks + 1,
      stepCanaryRequests: state.stepCanaryRequests + servedOf(clean.canary, context.metrics),
      metrics: state.metrics.map((m, i) => {
        const metric = context.metrics[i] as SequentialMetric;
        const nC = requestsOf(look.canary, metric.kind);
        const nP = requestsOf(look.primary, metric.kind);
        const x = eventsOf(look.canary, metric.kind) as number;
        const y = eventsOf(look.primary, metric.kind) as number;
        const cleanC = requestsOf(clean.canary, metric.kind);
        const cleanX = eventsOf(clean.canary, metric.kind) ?? 0;
        const cleanY = eventsOf(clean.primary, metric.kind) ?? 0;
        const window = {
          canaryRequests: cleanC,
          primaryRequests: requestsOf(clean.primary, metric.kind),
          canaryEvents: cleanX,
          primaryEvents: cleanY,
        };
        const fail = twoSampleLogFactors(m.fail.grid, 1, window, config.exactAbove);
        const margin = promoteMargin(m, config);
        const promoteGridNow = PROMOTE_FRACTIONS.map((f) => f * margin);
        const promote = twoSampleLogFactors(promoteGridNow, margin, window, config.exactAbove);
        const threshold = m.threshold ? thresholdUpdate(m.threshold, config, { nC, x, nP, y }, { nC: cleanC, x: cleanX }) : null;
        return {
          ...m,
          // Off, the two-arm e-processes stay at 1: they neither fail nor promote the canary.
          fail: fail.method === 'none' || !twoArm ? m.fail : applyLogFactors(m.fail, fail.logFactors),
          promote: promote.method === 'none' || !twoArm ? m.promote : applyLogFactors(m.promote, promote.logFactors),
          threshold,
          rollout: { canary: add(m.rollout.canary, nC, x), primary: add(m.rollout.primary, nP, y) },
          step: {
            canary: add(m.step.canary, cleanC, cleanX),
            primary: add(m.step.primary, requestsOf(clean.primary, metric.kind), cleanY),
          },
          lastMethod: fail.method,
        };
      }),
    };
  } else {
    state = { ...state, looks: state.looks + 1, metrics: state.metrics.map((m) => ({ ...m, lastMethod: 'none' as const })) };
  }

  const failLogs = state.metrics.flatMap((m) => metricFailLogs(m, twoArm));
  const meanE = Math.exp(logSumExp(failLogs) - Math.log(failLogs.length));
  const pValue = Math.min(state.pValue, Math.min(1, 1 / meanE));
  state = { ...state, pValue };
  // Off, a metric without a threshold has no test at all: it neither holds promotion back nor decides it.
  const promotionEs = state.metrics.filter((m) => twoArm || m.threshold).map((m) => promotionE(m, twoArm));
  const minPromotion = Math.min(...promotionEs);
  const looksInStep = context.lookInStep + 1;

  let decision: SequentialDecision;
  if (meanE >= failAt) decision = 'fail';
  else if (stale) decision = 'no-new-scrape';
  else if (missing) decision = 'no-evidence';
  else if (
    minPromotion >= promoteAt &&
    state.stepLooks >= config.minLooksPerStep &&
    looksInStep >= config.minLooksPerStep &&
    context.secondsInStep >= config.minSecondsPerStep &&
    state.stepCanaryRequests >= config.minCanaryRequestsPerStep &&
    !(context.atTopWeight && config.fullIntervalAtTopWeight)
  )
    decision = 'advance-early';
  else decision = 'continue';

  const failLog = (m: MetricState) => {
    const logs = metricFailLogs(m, twoArm);
    return logs.length ? logSumExp(logs) : Number.NEGATIVE_INFINITY;
  };
  const worst = state.metrics.reduce((best, m, i) => (failLog(m) > failLog(state.metrics[best] as MetricState) ? i : best), 0);
  const checks: MetricCheck[] = state.metrics.map((m, i) => {
    const metric = context.metrics[i] as SequentialMetric;
    const lookCanary: ArmEvidence = { requests: lookRequests(look.canary, metric.kind), events: eventsOf(look.canary, metric.kind) ?? 0 };
    const lookPrimary: ArmEvidence = {
      requests: lookRequests(look.primary, metric.kind),
      events: eventsOf(look.primary, metric.kind) ?? 0,
    };
    const ownLogs = metricFailLogs(m, twoArm);
    const ownMean = ownLogs.length ? Math.exp(logSumExp(ownLogs) - Math.log(ownLogs.length)) : 0;
    let result: CheckResult;
    if (missing || stale) result = decision === 'fail' && i === worst ? 'fail' : 'no-data';
    else result = ownMean >= failAt || (decision === 'fail' && i === worst) ? 'fail' : 'pass';
    const evidence: CheckEvidence = {
      eValue: finite(eValue(m.fail)),
      pValue: m.fail.p,
      method: twoArm ? m.lastMethod : 'none',
      promotionEValue: finite(promotionE(m, twoArm)),
      look: { canary: lookCanary, primary: lookPrimary },
      step: m.step,
      rollout: m.rollout,
      counted: countedAs(metric.kind),
    };
    if (m.threshold)
      evidence.threshold = { allowedRate: m.threshold.allowedRate, eValue: finite(eValue(m.threshold.fail)), pValue: m.threshold.fail.p };
    const stepEvents = m.step.canary.events + m.step.primary.events;
    const stepRequests = m.step.canary.requests + m.step.primary.requests;
    if (twoArm && stepEvents > 0 && m.step.canary.requests > 0 && m.step.primary.requests > 0) {
      const rho = m.step.canary.requests / stepRequests;
      const cs = betaBinomialConfidenceSequence(m.step.canary.events, stepEvents, rho, 1, Math.max(1, (1 - rho) / rho), config.alpha);
      evidence.ratioBounds = { lower: cs.psi[0], upper: Number.isFinite(cs.psi[1]) ? cs.psi[1] : null, confidence: 1 - config.alpha };
    }
    const check: MetricCheck = {
      name: m.name,
      value: missing ? null : displayRate(metric, lookCanary),
      result,
      primary: missing ? null : displayRate(metric, lookPrimary),
      evidence,
    };
    if (metric.kind === 'errors' || 'counter' in metric.kind) {
      check.min = metric.thresholdRange?.min;
      check.max = metric.thresholdRange?.max;
    }
    return check;
  });

  const evidence: VerdictEvidence = {
    judge: 'sequential',
    decision,
    eValue: finite(meanE),
    failAt,
    promotionEValue: finite(minPromotion),
    promoteAt,
    pValue,
    stepIndex: context.stepIndex,
    looksInStep,
    secondsInStep: context.secondsInStep,
    canaryShare,
    ...(twoArm ? {} : { twoArm: false as const }),
  };
  // No new scrape is not an empty look: the verdict passes (nothing against the canary) and the decision says why.
  const result: CheckResult = decision === 'fail' ? 'fail' : decision === 'no-evidence' ? 'no-data' : 'pass';
  return {
    state,
    verdict: {
      result,
      checks,
      summary: summarize(decision, state, context.metrics, meanE, minPromotion, failAt, promoteAt, missing, twoArm),
      evidence,
    },
    decision,
  };
}

function summarize(
  decision: SequentialDecision,
  state: SequentialState,
  metrics: readonly SequentialMetric[],
  meanE: number,
  minPromotion: number,
  failAt: number,
  promoteAt: number,
  missing: string | null,
  twoArm: boolean,
): string {
  const rate = (a: ArmEvidence) => (a.requests > 0 ? `${((100 * a.events) / a.requests).toFixed(2)}%` : 'n/a');
  // Rates are named by what was counted: an error rate is never shown under a success-rate name.
  const perMetric = state.metrics
    .map((m, i) => {
      const counted = metrics[i] ? countedAs(metrics[i].kind) : m.name;
      if (twoArm)
        return `${counted}: canary ${rate(m.rollout.canary)} vs primary ${rate(m.rollout.primary)} (E ${format(finite(eValue(m.fail)))})`;
      // The primary's rate is shown, not compared: it serves other requests.
      const own = m.threshold
        ? `limit ${(100 * m.threshold.allowedRate).toFixed(2)}% (E ${format(finite(eValue(m.threshold.fail)))})`
        : 'no threshold, not judged';
      return `${counted}: canary ${rate(m.rollout.canary)}, ${own}; primary ${rate(m.rollout.primary)}`;
    })
    .join('; ')
    .concat(twoArm ? '' : '; two-arm test off: canary and primary serve different requests');
  switch (decision) {
    case 'fail':
      return `canary worse: mean e-value ${format(finite(meanE))} >= ${format(failAt)}; ${perMetric}`;
    case 'no-evidence':
      return `no evidence this look (${missing ?? 'no data'}); ${perMetric}`;
    case 'no-new-scrape':
      return `no new scrape since the previous look (neither evidence nor an empty look); ${perMetric}`;
    case 'advance-early':
      return `canary within allowed: promotion e-value ${format(finite(minPromotion))} >= ${format(promoteAt)} for every metric; ${perMetric}`;
    case 'continue':
      return `no decision yet: e-value ${format(finite(meanE))} < ${format(failAt)}, promotion ${format(finite(minPromotion))} < ${format(promoteAt)}; ${perMetric}`;
    default: {
      const unknown: never = decision;
      throw new Error(`unknown decision ${String(unknown)}`);
    }
  }
}
