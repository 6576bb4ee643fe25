/**
 * The data behind `sluice report`: one shape built either from a rollout summary (what `--json`
 * prints, optionally with a per-second `timeline`) or from the local store's history of an
 * execution. Pure apart from the store calls; the renderer never sees where the data came from.
 *
 * Times are epoch milliseconds; weights are percent of traffic (per-mille scales divided by 10),
 * so the renderer has one axis whatever `weightScale` the rollout used.
 */
import * as z from 'zod';
import { lookWord } from '../../lambdas/core/look-word.ts';
import type { LookWord } from '../../lambdas/core/look-word.ts';
import type { CheckEvidence, MetricCheck, VerdictEvidence } from '../../lambdas/core/verdict.ts';
import type { Outcome, SluiceEvent, StepRecord, Weights } from '../../lambdas/core/records.ts';
import type { EventLog, RolloutLog, RolloutRecords } from '../../lambdas/core/ports.ts';
import type { RolloutSummary } from '../summary.ts';
import { audienceOf } from './audience.ts';
import type { Audience } from './audience.ts';

/** One arm's traffic during one timeline sample (counts served since the previous sample). */
export interface TimelineArm {
  requests: number;
  errors: number;
  /** p99 latency of the sample in ms; absent or null when the arm served nothing or it was not measured. */
  p99Ms?: number | null;
}

/** A per-second sample of what the gateway routed and served (the demo records these). */
export interface TimelineSample {
  at: string;
  weights: Weights;
  canary?: TimelineArm;
  primary?: TimelineArm;
}

export type Timeline = TimelineSample[];

/** A summary as `--json` prints it, with the optional extras the report can use. */
/** Session affinity as the demo saw it: the cookie, and what its simulated users (each with a cookie jar) did. */
export interface AffinitySummary {
  cookieName: string;
  users?: { total: number; holding: number; sawBoth: number; switchedWhileHolding: number };
}

/** "135 of 300 users (45%) got sluice-canary and stayed on the canary; …": the demo's and the report's line. */
export function describeStickyUsers(cookieName: string, users: NonNullable<AffinitySummary['users']>): string {
  const share = users.total ? Math.round((100 * users.holding) / users.total) : 0;
  // Not "saw both versions": after a promotion every user sees the new version on the primary too.
  return `${users.holding} of ${users.total} users (${share}%) got ${cookieName} and stayed on the canary; ${users.switchedWhileHolding} answers to a holder came from the other version`;
}

export type ReportSummary = RolloutSummary & {
  /** Session affinity (the demo): the cookie and the share of sticky users. */
  affinity?: AffinitySummary;
  timeline?: Timeline;
  /** When the execution started (otherwise estimated from the looks and `durationMs`). */
  startedAt?: string;
  /** The planned canary weights in the router's scale (otherwise the weights the looks saw). */
  plannedWeights?: number[];
};

export type ReportOutcome = Outcome | 'running';

/** The canary's share from `t` on, until the next point. */
export interface WeightPoint {
  t: number;
  percent: number;
}

/** A metric value at `t`; null is a gap (no data). */
export interface ValuePoint {
  t: number;
  value: number | null;
}

export interface MetricSeries {
  /** The check's name, e.g. `request-success-rate`. */
  name: string;
  canary: ValuePoint[];
  primary: ValuePoint[];
  min?: number;
  max?: number;
  /** `timeline`: smoothed per-second samples; `looks`: the judged values at each look. */
  source: 'looks' | 'timeline';
}

export interface ReportLook {
  /** 1, 2, … in time order. */
  n: number;
  t: number;
  stepIndex: number;
  /** The canary weight the look judged, percent; null when not recorded. */
  weightPercent: number | null;
  /** What the look decided: pass/fail/no-data, or continue/advance for the sequential judge. */
  verdict: LookWord;
  summary: string;
  checks: MetricCheck[];
  /** The sequential judge's decision, e-values and bars at this look. */
  judged?: VerdictEvidence;
}

export interface ReportData {
  execution: string;
  target: string;
  version: string;
  outcome: ReportOutcome;
  reason: string;
  /** Which judge decided: the sequential judge's looks carry e-values, and the report draws them instead of thresholds. */
  judge: 'threshold' | 'sequential';
  weightScale: number;
  startMs: number;
  /** The right end of the time axis. */
  endMs: number;
  /** When the outcome was reached (null while running). */
  outcomeMs: number | null;
  /** The canary weight as a step line, percent. */
  weights: WeightPoint[];
  /** The new version's share after the outcome (100 promoted or held, 0 rolled back); null when unknown. */
  finalPercent: number | null;
  /** Where traffic was left, in the router's scale. */
  finalWeights?: Weights;
  plannedPercents: number[];
  looks: ReportLook[];
  success: MetricSeries | null;
  latency: MetricSeries | null;
  durationMs: number;
  transitions?: number;
  requests?: { total: number; canary: number; canaryErrors: number };
  detectionMs?: number;
  /** A/B testing or blue/green: who reached the new version in each phase (the weights stay 100/0 through the stage). */
  audience?: Audience;
  affinity?: AffinitySummary;
}

/** Requests each arm served over the looks, from the sequential judge's counts; undefined when no look counted. */
function armsFromLooks(looks: readonly ReportLook[]): { canary: number; primary: number } | undefined {
  const counted = looks.flatMap((look) => (look.judged?.counts ? [look.judged.counts] : []));
  if (counted.length === 0) return undefined;
  return {
    canary: counted.reduce((sum, c) => sum + c.canary.requests, 0),
    primary: counted.reduce((sum, c) => sum + c.primary.requests, 0),
  };
}

const SUCCESS_METRIC = 'request-success-rate';
const LATENCY_METRIC = 'request-duration';
/** Per-second samples of a 1% canary are mostly 0 or 1 request: the success rate is drawn over a trailing window. */
const TIMELINE_WINDOW_MS = 10_000;

const OUTCOMES = ['promoted', 'rolled-back', 'aborted', 'promotion-failed', 'refused', 'failed'] as const satisfies readonly Outcome[];

const weightsSchema = z.object({ primary: z.number(), canary: z.number() });
const armEvidenceSchema = z.object({ requests: z.number(), events: z.number() });
const armsSchema = z.object({ canary: armEvidenceSchema, primary: armEvidenceSchema });
const checkEvidenceSchema = z.object({
  eValue: z.number(),
  pValue: z.number(),
  method: z.enum(['binomial', 'exact', 'none']),
  threshold: z.object({ allowedRate: z.number(), eValue: z.number(), pValue: z.number() }).optional(),
  promotionEValue: z.number(),
  ratioBounds: z.object({ lower: z.number(), upper: z.number().nullable(), confidence: z.number() }).optional(),
  look: armsSchema,
  step: armsSchema,
  rollout: armsSchema,
  counted: z.string().optional(),
}) satisfies z.ZodType<CheckEvidence>;
const rawArmSchema = z.object({
  requests: z.number(),
  errors: z.number(),
  slow: z.record(z.string(), z.number()),
  retries: z.number().optional(),
});
const verdictEvidenceSchema = z.object({
  judge: z.literal('sequential'),
  decision: z.enum(['fail', 'advance-early', 'continue', 'no-evidence', 'no-new-scrape']),
  eValue: z.number(),
  failAt: z.number(),
  promotionEValue: z.number(),
  promoteAt: z.number(),
  pValue: z.number(),
  stepIndex: z.number(),
  looksInStep: z.number(),
  secondsInStep: z.number(),
  canaryShare: z.number().nullable(),
  counts: z
    .object({
      from: z.string(),
      to: z.string(),
      canary: rawArmSchema,
      primary: rawArmSchema,
      clean: z.object({ canary: rawArmSchema, primary: rawArmSchema }).optional(),
      newScrape: z.boolean().optional(),
      sources: z
        .object({
          counted: z.number(),
          stale: z.number(),
          absent: z.number(),
          added: z.number(),
          reset: z.number(),
          backward: z.number(),
        })
        .optional(),
    })
    .optional(),
}) satisfies z.ZodType<VerdictEvidence>;
const checkSchema = z.object({
  name: z.string(),
  value: z.number().nullable(),
  primary: z.number().nullish(),
  min: z.number().nullish(),
  max: z.number().nullish(),
  result: z.enum(['pass', 'fail', 'no-data']),
  evidence: checkEvidenceSchema.optional(),
});
const armSchema = z.object({ requests: z.number(), errors: z.number(), p99Ms: z.number().nullish() });
const summarySchema = z.object({
  execution: z.string(),
  target: z.string(),
  version: z.string(),
  outcome: z.enum(OUTCOMES),
  reason: z.string(),
  exitCode: z.number(),
  weights: weightsSchema.optional(),
  weightScale: z.number().positive(),
  steps: z.array(
    z.object({
      stepIndex: z.number(),
      at: z.string(),
      weights: weightsSchema.optional(),
      verdict: z.string(),
      summary: z.string().default(''),
      evidence: z.array(checkSchema).default([]),
      judged: verdictEvidenceSchema.optional(),
    }),
  ),
  requests: z.object({ total: z.number(), canary: z.number(), canaryErrors: z.number() }).optional(),
  durationMs: z.number(),
  detectionMs: z.number().optional(),
  transitions: z.number(),
  timeline: z
    .array(z.object({ at: z.string(), weights: weightsSchema, canary: armSchema.optional(), primary: armSchema.optional() }))
    .optional(),
  startedAt: z.string().optional(),
  plannedWeights: z.array(z.number()).optional(),
  affinity: z
    .object({
      cookieName: z.string(),
      users: z.object({ total: z.number(), holding: z.number(), sawBoth: z.number(), switchedWhileHolding: z.number() }).optional(),
    })
    .optional(),
  // Validated where it is used (`sluice replay` parses it as a spec).
  spec: z.unknown().optional(),
});

/**
 * Reads a summary from text: a JSON object, or the output of `--json` whose last line is one.
 * Throws an error naming the first problem ("steps[0].at: expected string").
 */
export function parseSummaryJson(text: string): ReportSummary {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    const lastLine = text.trimEnd().split('\n').at(-1) ?? '';
    try {
      raw = JSON.parse(lastLine);
    } catch (error) {
      throw new Error('not JSON (neither the whole text nor its last line)', { cause: error });
    }
  }
  const parsed = summarySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path =
      issue?.path
        .map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`))
        .join('')
        .replace(/^\./, '') ?? '';
    throw new Error(`not a rollout summary: ${path || '(top level)'}: ${issue?.message ?? 'invalid'}`);
  }
  const { data } = parsed;
  return {
    ...data,
    steps: data.steps.map((step) => ({ ...step, evidence: step.evidence.map(cleanCheck) })),
  } as ReportSummary;
}

function cleanCheck(check: z.infer<typeof checkSchema>): MetricCheck {
  return {
    name: check.name,
    value: check.value,
    result: check.result,
    ...(check.min != null ? { min: check.min } : {}),
    ...(check.max != null ? { max: check.max } : {}),
    ...(check.primary !== undefined ? { primary: check.primary } : {}),
    ...(check.evidence ? { evidence: check.evidence } : {}),
  };
}

function timeOf(iso: string, what: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`${what} is not a date: "${iso}"`);
  return ms;
}

function sameSplit(a: Weights, b: Weights | undefined): boolean {
  return b !== undefined && a.primary === b.primary && a.canary === b.canary;
}

function percentOf(weights: Weights, scale: number): number {
  return (weights.canary * 100) / scale;
}

function asWord(verdict: string | undefined): LookWord {
  return verdict === 'pass' || verdict === 'fail' || verdict === 'continue' || verdict === 'advance' ? verdict : 'no-data';
}

function judgeOf(looks: ReportLook[]): ReportData['judge'] {
  return looks.some((look) => look.judged) ? 'sequential' : 'threshold';
}

/** The new version's share once the rollout is over. */
function finalShare(outcome: ReportOutcome, finalWeights: Weights | undefined, scale: number): number | null {
  switch (outcome) {
    case 'promoted':
      // Template promotion moves the new version into the primary: all traffic is on it either way.
      return 100;
    case 'promotion-failed':
      return finalWeights ? percentOf(finalWeights, scale) : 100;
    case 'rolled-back':
    case 'aborted':
    case 'failed':
      return finalWeights ? percentOf(finalWeights, scale) : 0;
    case 'refused':
    case 'running':
      return null;
    default: {
      const never: never = outcome;
      throw new Error(`unknown outcome ${String(never)}`);
    }
  }
}

function isSuccessMetric(name: string): boolean {
  return name === SUCCESS_METRIC || /success/i.test(name);
}

function isLatencyMetric(name: string): boolean {
  return name === LATENCY_METRIC || /duration|latency|p99/i.test(name);
}

/** The first metric the looks checked that `matches`, preferring the built-in name. */
function metricName(looks: ReportLook[], builtIn: string, matches: (name: string) => boolean): string | null {
  const names = looks.flatMap((look) => look.checks.map((check) => check.name));
  if (names.includes(builtIn)) return builtIn;
  return names.find(matches) ?? null;
}

function seriesFromLooks(looks: ReportLook[], name: string): MetricSeries {
  const canary: ValuePoint[] = [];
  const primary: ValuePoint[] = [];
  let min: number | undefined;
  let max: number | undefined;
  for (const look of looks) {
    const check = look.checks.find((c) => c.name === name);
    canary.push({ t: look.t, value: check?.value ?? null });
    primary.push({ t: look.t, value: check?.primary ?? null });
    if (check?.min !== undefined) min = check.min;
    if (check?.max !== undefined) max = check.max;
  }
  return { name, canary, primary, ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}), source: 'looks' };
}

interface TimedSample {
  t: number;
  sample: TimelineSample;
}

/** Success rate over the trailing window, so a 1% canary's sparse requests still draw a line. */
function windowedSuccess(samples: TimedSample[], arm: 'canary' | 'primary'): ValuePoint[] {
  const points: ValuePoint[] = [];
  let from = 0;
  let requests = 0;
  let errors = 0;
  for (let i = 0; i < samples.length; i++) {
    const current = samples[i];
    if (!current) continue;
    requests += current.sample[arm]?.requests ?? 0;
    errors += current.sample[arm]?.errors ?? 0;
    for (let old = samples[from]; old && old.t <= current.t - TIMELINE_WINDOW_MS; old = samples[++from]) {
      requests -= old.sample[arm]?.requests ?? 0;
      errors -= old.sample[arm]?.errors ?? 0;
    }
    points.push({ t: current.t, value: requests > 0 ? (100 * (requests - errors)) / requests : null });
  }
  return points;
}

function timelineSeries(samples: TimedSample[], name: string, kind: 'success' | 'latency', fromLooks: MetricSeries | null): MetricSeries {
  const limits = {
    ...(fromLooks?.min !== undefined ? { min: fromLooks.min } : {}),
    ...(fromLooks?.max !== undefined ? { max: fromLooks.max } : {}),
  };
  if (kind === 'success')
    return {
      name,
      canary: windowedSuccess(samples, 'canary'),
      primary: windowedSuccess(samples, 'primary'),
      ...limits,
      source: 'timeline',
    };
  const p99 = (arm: 'canary' | 'primary') => samples.map(({ t, sample }) => ({ t, value: sample[arm]?.p99Ms ?? null }));
  return { name, canary: p99('canary'), primary: p99('primary'), ...limits, source: 'timeline' };
}

/** Consecutive duplicates removed: a step line needs only the changes. */
function compactWeights(points: WeightPoint[]): WeightPoint[] {
  const out: WeightPoint[] = [];
  for (const point of points) {
    const last = out.at(-1);
    if (last && last.percent === point.percent) continue;
    if (last && last.t === point.t) out[out.length - 1] = point;
    else out.push(point);
  }
  return out;
}

function plannedFrom(weights: number[], scale: number): number[] {
  return [...new Set(weights.filter((w) => w > 0).map((w) => (w * 100) / scale))].sort((a, b) => a - b);
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** The report of a summary (`sluice demo --json`, `sluice run --json`). */
export function reportDataFromSummary(summary: ReportSummary, now: () => Date = () => new Date()): ReportData {
  const scale = summary.weightScale;
  const looks: ReportLook[] = summary.steps
    .map((step, i) => ({
      n: i + 1,
      t: timeOf(step.at, `steps[${i}].at`),
      stepIndex: step.stepIndex,
      weightPercent: step.weights ? percentOf(step.weights, scale) : null,
      verdict: asWord(step.verdict),
      summary: step.summary,
      checks: step.evidence,
      ...(step.judged ? { judged: step.judged } : {}),
    }))
    .sort((a, b) => a.t - b.t)
    .map((look, i) => ({ ...look, n: i + 1 }));
  const samples: TimedSample[] = (summary.timeline ?? [])
    .map((sample, i) => ({ t: timeOf(sample.at, `timeline[${i}].at`), sample }))
    .sort((a, b) => a.t - b.t);

  const firstLook = looks[0]?.t;
  const lastLook = looks.at(-1)?.t;
  let startMs: number;
  let outcomeMs: number;
  if (summary.startedAt) {
    startMs = timeOf(summary.startedAt, 'startedAt');
    outcomeMs = Math.max(startMs + summary.durationMs, lastLook ?? startMs);
  } else if (samples[0]) {
    // The timeline may start before the execution (load warming up) and run past it: the last
    // weight change it saw is the closing one (rollback to 0, or the promotion's final split).
    const lastChange = samples.findLast(({ sample }, i) => i > 0 && !sameSplit(sample.weights, samples[i - 1]?.sample.weights))?.t;
    outcomeMs = Math.max(lastLook ?? samples[0].t, lastChange ?? samples.at(-1)?.t ?? samples[0].t);
    startMs = Math.min(samples[0].t, outcomeMs - summary.durationMs);
  } else if (firstLook !== undefined && lastLook !== undefined) {
    // No start recorded: the first look came one bake after the start (the usual gap between looks),
    // and the whole run lasted durationMs, so the start is no earlier than lastLook - durationMs.
    const gap = median(looks.slice(1).map((look, i) => look.t - (looks[i]?.t ?? look.t)));
    startMs = gap === undefined ? lastLook - summary.durationMs : Math.max(lastLook - summary.durationMs, firstLook - gap);
    outcomeMs = Math.max(startMs + summary.durationMs, lastLook);
  } else {
    // Nothing timed at all (refused before any look): a run of durationMs ending now.
    outcomeMs = now().getTime();
    startMs = outcomeMs - summary.durationMs;
  }

  let weights: WeightPoint[];
  if (samples.length > 0) {
    weights = samples.map(({ t, sample }) => ({ t, percent: percentOf(sample.weights, scale) }));
    if (samples[0] && samples[0].t > startMs) weights.unshift({ t: startMs, percent: 0 });
  } else {
    // SetWeight runs right after the look before it: a look's weight held since the previous look.
    weights = [{ t: startMs, percent: 0 }];
    looks.forEach((look, i) => {
      if (look.weightPercent === null) return;
      weights.push({ t: i === 0 ? startMs : (looks[i - 1]?.t ?? startMs), percent: look.weightPercent });
    });
  }
  // The timeline may run past the outcome (traffic after rollback): the step line ends at the outcome.
  weights = compactWeights(weights.filter((point) => point.t <= outcomeMs));

  const successName = metricName(looks, SUCCESS_METRIC, isSuccessMetric);
  const latencyName = metricName(looks, LATENCY_METRIC, isLatencyMetric);
  const successLooks = successName ? seriesFromLooks(looks, successName) : null;
  const latencyLooks = latencyName ? seriesFromLooks(looks, latencyName) : null;
  // After the outcome the canary serves nothing: a trailing window would only repeat old requests.
  const served = samples.filter(({ t }) => t <= outcomeMs);
  const hasP99 = samples.some(({ sample }) => sample.canary?.p99Ms != null || sample.primary?.p99Ms != null);
  const hasCounts = samples.some(({ sample }) => sample.canary !== undefined || sample.primary !== undefined);
  const audience = audienceOf({
    spec: summary.spec,
    outcome: summary.outcome,
    startMs,
    weights,
    arms: summary.requests
      ? { canary: summary.requests.canary, primary: summary.requests.total - summary.requests.canary }
      : armsFromLooks(looks),
  });

  return {
    execution: summary.execution,
    target: summary.target,
    version: summary.version,
    outcome: summary.outcome,
    reason: summary.reason,
    judge: judgeOf(looks),
    weightScale: scale,
    startMs,
    endMs: Math.max(outcomeMs, samples.at(-1)?.t ?? outcomeMs),
    outcomeMs,
    weights,
    finalPercent: finalShare(summary.outcome, summary.weights, scale),
    ...(summary.weights ? { finalWeights: summary.weights } : {}),
    plannedPercents: plannedFrom(
      summary.plannedWeights ?? looks.flatMap((look) => (look.weightPercent === null ? [] : [(look.weightPercent * scale) / 100])),
      scale,
    ),
    looks,
    success: successLooks && hasCounts ? timelineSeries(served, successLooks.name, 'success', successLooks) : successLooks,
    latency: latencyLooks && hasP99 ? timelineSeries(served, latencyLooks.name, 'latency', latencyLooks) : latencyLooks,
    durationMs: summary.durationMs,
    transitions: summary.transitions,
    ...(summary.requests ? { requests: summary.requests } : {}),
    ...(summary.detectionMs !== undefined ? { detectionMs: summary.detectionMs } : {}),
    ...(audience ? { audience } : {}),
    ...(summary.affinity ? { affinity: summary.affinity } : {}),
  };
}

const OUTCOME_EVENTS: Partial<Record<SluiceEvent['detailType'], Outcome>> = {
  'Rollout Promoted': 'promoted',
  'Rollout Rolled Back': 'rolled-back',
  'Rollout Aborted': 'aborted',
  'Rollout Held': 'promotion-failed',
};

/**
 * The report of an execution from the store's history: its weight changes, looks and closing
 * step. Returns null when the store has no such execution. The store keeps no weight scale:
 * a recorded split always adds up to it.
 */
export async function reportDataFromStore(
  store: RolloutRecords & RolloutLog & EventLog,
  execution: string,
  now: () => Date = () => new Date(),
): Promise<ReportData | null> {
  const record = await store.getRollout(execution);
  if (!record) return null;
  const steps: StepRecord[] = (await store.listSteps(execution)).sort((a, b) => a.seq - b.seq);
  const events = (await store.listEvents(execution)).sort((a, b) => a.sequence - b.sequence);
  const split = record.lastWeights ?? steps.find((step) => step.weights)?.weights;
  const scale = split && split.primary + split.canary > 0 ? split.primary + split.canary : 100;

  const startMs = timeOf(record.startedAt, `rollout ${execution} startedAt`);
  const closing = events.find((event) => OUTCOME_EVENTS[event.detailType] !== undefined);
  const outcome: ReportOutcome =
    record.outcome ?? (closing ? (OUTCOME_EVENTS[closing.detailType] ?? 'failed') : record.status === 'finished' ? 'failed' : 'running');
  const lastStep = steps.at(-1);
  const outcomeMs =
    outcome === 'running'
      ? null
      : record.finishedAt
        ? timeOf(record.finishedAt, `rollout ${execution} finishedAt`)
        : closing
          ? timeOf(closing.at, `event ${closing.sequence} at`)
          : lastStep
            ? timeOf(lastStep.at, `step ${lastStep.seq} at`)
            : startMs;
  const lastSeen = Math.max(startMs, ...steps.map((step) => timeOf(step.at, `step ${step.seq} at`)));
  const endMs = outcomeMs ?? Math.max(lastSeen, now().getTime());

  const looks: ReportLook[] = steps
    .filter((step) => step.kind === 'analysis' && step.verdict)
    .map((step, i) => ({
      n: i + 1,
      t: timeOf(step.at, `step ${step.seq} at`),
      stepIndex: step.stepIndex ?? 0,
      weightPercent: step.weights ? percentOf(step.weights, scale) : null,
      verdict: step.verdict ? lookWord(step.verdict) : 'no-data',
      summary: step.verdict?.summary ?? '',
      checks: step.verdict?.checks ?? [],
      ...(step.verdict?.evidence ? { judged: step.verdict.evidence } : {}),
    }));
  const weightSteps = steps.filter((step) => step.kind === 'weight' && step.weights);
  // A progressive promotion's splits (kind promotion, with weights) are on the chart, stepping back down; not in the plan.
  const routed = steps.filter((step) => (step.kind === 'weight' || step.kind === 'promotion') && step.weights);
  const weights = compactWeights([
    { t: startMs, percent: 0 },
    ...routed.map((step) => ({
      t: timeOf(step.at, `step ${step.seq} at`),
      percent: step.weights ? percentOf(step.weights, scale) : 0,
    })),
  ]).filter((point) => outcomeMs === null || point.t <= outcomeMs);

  const successName = metricName(looks, SUCCESS_METRIC, isSuccessMetric);
  const latencyName = metricName(looks, LATENCY_METRIC, isLatencyMetric);
  const finalWeights = outcome === 'running' ? undefined : record.lastWeights;
  const reason = record.reason ?? closing?.reason ?? (outcome === 'running' ? 'still running' : outcome);
  const audience = audienceOf({ spec: record.spec, outcome, startMs, weights, arms: armsFromLooks(looks) });
  return {
    execution,
    target: record.target,
    version: record.version,
    outcome,
    reason,
    judge: judgeOf(looks),
    weightScale: scale,
    startMs,
    endMs,
    outcomeMs,
    weights,
    finalPercent: finalShare(outcome, finalWeights, scale),
    ...(finalWeights ? { finalWeights } : {}),
    plannedPercents: plannedFrom(
      weightSteps.map((step) => step.weights?.canary ?? 0),
      scale,
    ),
    looks,
    success: successName ? seriesFromLooks(looks, successName) : null,
    latency: latencyName ? seriesFromLooks(looks, latencyName) : null,
    durationMs: endMs - startMs,
    ...(audience ? { audience } : {}),
  };
}
