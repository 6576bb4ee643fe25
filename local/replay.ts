/**
 * `sluice replay`'s engine: re-decides a recorded rollout (or a window of counts read from
 * Prometheus) look by look under other settings, with the same pure code the live flow runs —
 * the judges (lambdas/core/sequential/judge.ts, judge-threshold.ts), the flow's view of a
 * sequential decision (judge-sequential.ts `scheduleDecision`) and what follows a look
 * (rollout.ts). Nothing here judges on its own: it feeds the recorded counts in order and keeps
 * the variant's schedule (its steps, its look count, its step clock).
 *
 * The data is the traffic as recorded: at the weights the recorded rollout routed. A variant that
 * advances when the recording did not is judged on the recorded weight's traffic (each look says
 * so), and a variant that would go on past the recording's last look has no data beyond it: the
 * replay stops there and says so.
 */
import type { ArmDelta, LookCounts, SourceTally } from '../lambdas/core/counts.ts';
import { parseDuration } from '../lambdas/core/duration.ts';
import { scheduleDecision } from '../lambdas/core/judge-sequential.ts';
import { thresholdJudge } from '../lambdas/core/judge-threshold.ts';
import { lookWord } from '../lambdas/core/look-word.ts';
import type { LookWord } from '../lambdas/core/look-word.ts';
import type { Weights } from '../lambdas/core/records.ts';
import { decideAfterLook, decideSequentialLook, initialRun, splitWeights } from '../lambdas/core/rollout.ts';
import { judgeLook, sequentialConfig } from '../lambdas/core/sequential/judge.ts';
import type { SequentialState } from '../lambdas/core/sequential/judge.ts';
import { compareArms } from '../lambdas/core/arms.ts';
import { sequentialPlan } from '../lambdas/core/sequential/metrics.ts';
import { bakeSeconds } from '../lambdas/core/spec.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import type { RunState } from '../lambdas/core/task.ts';
import type { LookArmCounts, MetricReading, Verdict, VerdictEvidence } from '../lambdas/core/verdict.ts';

/** A look's raw counts and the counter reads they lie between. */
export type RecordedCounts = NonNullable<VerdictEvidence['counts']>;

/**
 * One look as it was recorded: when, at which step and weights, the verdict with its evidence and
 * the raw counts. A window read from Prometheus has counts only (nothing decided it).
 */
export interface RecordedLook {
  at: string;
  stepIndex: number;
  weights?: Weights | undefined;
  verdict?: Verdict | undefined;
  /** The recorded word ("continue", "pass", …). */
  word?: string | undefined;
  counts?: RecordedCounts | undefined;
}

export interface Recording {
  execution: string;
  target: string;
  version: string;
  /** What the recorded rollout ended in; null for a window (no rollout decided it). */
  outcome: string | null;
  reason: string;
  startedAt: string;
  spec: RolloutSpec;
  looks: RecordedLook[];
}

/** What a look decided and what the flow did next (`stop`: the recording ended there without a decision). */
export interface Decision {
  look: number;
  at: string;
  stepIndex: number;
  decision: LookWord;
  next: 'bake' | 'advance' | 'promote' | 'rollback' | 'stop';
}

export interface ReplayLook extends Decision {
  verdict: Verdict;
  /** Why the flow did what it did (the run's reason), when it says. */
  reason?: string | undefined;
  /** The weights the variant would have routed at this look. */
  weights: Weights;
  /** The recorded looks this look read (1-based, inclusive). */
  recorded: { from: number; to: number; stepIndex: number };
}

export interface Replay {
  looks: ReplayLook[];
  decisions: Decision[];
  outcome: 'promoted' | 'rolled-back' | 'undecided';
  reason: string;
  /** Set when the variant would have gone on past the recording's last look. */
  endOfData?: string | undefined;
  /** The variant's look interval, in recorded looks per look. */
  looksPerLook: number;
}

/** Bad settings for this recording: the CLI names the flag (`flag`) and exits 2. */
export class ReplayInputError extends Error {
  readonly flag: string;
  constructor(flag: string, message: string) {
    super(`${flag}: ${message}`);
    this.flag = flag;
  }
}

/** The decisions a recorded rollout made, in the shape a replay's compare to. */
export function recordedDecisions(recording: Recording): Decision[] {
  const looks = recording.looks;
  return looks.map((look, i) => {
    const after = looks[i + 1];
    let next: Decision['next'];
    if (after) next = after.stepIndex > look.stepIndex ? 'advance' : 'bake';
    else if (recording.outcome === 'promoted') next = 'promote';
    else if (recording.outcome === 'rolled-back') next = 'rollback';
    else next = 'stop';
    const decision = asWord(look.word) ?? (look.verdict ? lookWord(look.verdict) : 'no-data');
    return { look: i + 1, at: look.at, stepIndex: look.stepIndex, decision, next };
  });
}

function asWord(word: string | undefined): LookWord | undefined {
  return word === 'pass' || word === 'fail' || word === 'no-data' || word === 'continue' || word === 'advance' ? word : undefined;
}

// ---------------------------------------------------------------- counts

const zeroArm = (): ArmDelta => ({ requests: 0, errors: 0, slow: {} });

function addArm(total: ArmDelta, arm: LookArmCounts): ArmDelta {
  const slow = { ...total.slow };
  for (const [ms, n] of Object.entries(arm.slow)) slow[ms] = (slow[ms] ?? 0) + n;
  const retries = arm.retries !== undefined || total.retries !== undefined ? (total.retries ?? 0) + (arm.retries ?? 0) : undefined;
  return {
    requests: total.requests + arm.requests,
    errors: total.errors + arm.errors,
    slow,
    ...(retries !== undefined ? { retries } : {}),
  };
}

function addTally(total: SourceTally | undefined, tally: SourceTally | undefined): SourceTally | undefined {
  if (!tally) return total;
  if (!total) return { ...tally };
  return {
    counted: total.counted + tally.counted,
    stale: total.stale + tally.stale,
    absent: total.absent + tally.absent,
    added: total.added + tally.added,
    reset: total.reset + tally.reset,
    backward: total.backward + tally.backward,
  };
}

/** The counts of consecutive recorded looks as one look's (a longer look interval reads them together). */
export function mergeCounts(recorded: readonly RecordedCounts[]): LookCounts {
  let canary = zeroArm();
  let primary = zeroArm();
  let clean: { canary: ArmDelta; primary: ArmDelta } | undefined;
  let sources: SourceTally | undefined;
  const anyClean = recorded.some((c) => c.clean);
  for (const counts of recorded) {
    canary = addArm(canary, counts.canary);
    primary = addArm(primary, counts.primary);
    // A window without a clean part recorded was clean whole.
    if (anyClean) {
      const part = counts.clean ?? { canary: counts.canary, primary: counts.primary };
      clean = { canary: addArm(clean?.canary ?? zeroArm(), part.canary), primary: addArm(clean?.primary ?? zeroArm(), part.primary) };
    }
    sources = addTally(sources, counts.sources);
  }
  const newScrape = recorded.some((c) => c.newScrape !== false);
  return {
    canary,
    primary,
    ...(clean ? { clean } : {}),
    resets: 0,
    gaps: [],
    ...(newScrape ? {} : { newScrape: false }),
    ...(sources ? { sources } : {}),
  };
}

// ---------------------------------------------------------------- the loop

interface Group {
  /** Indices into the recording's looks, inclusive. */
  from: number;
  to: number;
}

function groups(count: number, size: number): Group[] {
  const out: Group[] = [];
  for (let from = 0; from + size <= count; from += size) out.push({ from, to: from + size - 1 });
  return out;
}

/** The recorded look interval (s): the spec's, else the median gap between looks. */
function recordedLookSeconds(recording: Recording): number {
  return bakeSeconds(recording.spec);
}

/**
 * When the judge looked, per recorded look (epoch ms). Within a recorded step the judge's own
 * clock is exact (its `secondsInStep`); the step's start is anchored at its first look's record.
 */
function judgeTimes(recording: Recording): number[] {
  let anchor = 0;
  let stepOfAnchor: number | undefined;
  return recording.looks.map((look) => {
    const at = Date.parse(look.at);
    const seconds = look.verdict?.evidence?.secondsInStep;
    if (seconds === undefined) return at;
    if (stepOfAnchor !== look.verdict?.evidence?.stepIndex) {
      stepOfAnchor = look.verdict?.evidence?.stepIndex;
      anchor = at - seconds * 1000;
    }
    return anchor + seconds * 1000;
  });
}

/** The recorded look that began the recorded step `i` is in. */
function recordedStepStarts(recording: Recording): number[] {
  const starts: number[] = [];
  recording.looks.forEach((look, i) => {
    const previous = recording.looks[i - 1];
    starts.push(previous && previous.stepIndex === look.stepIndex ? (starts[i - 1] ?? i) : i);
  });
  return starts;
}

function weightsOf(run: RunState): Weights {
  if (run.phase === 'shadow') return splitWeights(0, run.weightScale);
  return splitWeights(run.weights[run.stepIndex] ?? 0, run.weightScale);
}

function finish(looks: ReplayLook[], recording: Recording, run: RunState | undefined, factor: number, total: number): Replay {
  const last = looks.at(-1);
  const base = { looks, decisions: looks.map(decisionOf), looksPerLook: factor };
  // Finish's words when the last step simply ran out (lambdas/handlers/finish.ts).
  if (last?.next === 'promote')
    return { ...base, outcome: 'promoted', reason: last.reason ?? `promoted after ${run?.weights.length ?? 0} steps` };
  if (last?.next === 'rollback') return { ...base, outcome: 'rolled-back', reason: last.reason ?? 'rolled back' };
  const left = total - (last ? last.recorded.to : 0);
  const where = run
    ? `step ${run.stepIndex + 1}/${run.weights.length} (canary ${weightsOf(run).canary} of ${run.weightScale})`
    : 'its start';
  const ended = recording.outcome ? `the recorded rollout ${recording.outcome} there` : 'the window ends there';
  const endOfData = `no data beyond look ${total}: ${ended}, and this variant would have gone on at ${where}${left > 0 ? ` (${left} recorded look${left === 1 ? '' : 's'} too few for one more look)` : ''}; replay stops here`;
  if (last) last.next = 'stop';
  return { ...base, decisions: looks.map(decisionOf), outcome: 'undecided', reason: endOfData, endOfData };
}

function decisionOf(look: ReplayLook): Decision {
  return { look: look.look, at: look.at, stepIndex: look.stepIndex, decision: look.decision, next: look.next };
}

function nextOf(run: RunState): ReplayLook['next'] {
  return run.next;
}

/** The recorded counts of every look, or the first look that has none. */
function countsOf(recording: Recording, flag: string): RecordedCounts[] {
  return recording.looks.map((look, i) => {
    const counts = look.counts;
    if (!counts)
      throw new ReplayInputError(
        flag,
        `look ${i + 1} of ${recording.execution} kept no per-look counts (${recording.spec.spec.analysis.judge === 'threshold' ? 'the threshold judge records rates, not counts' : 'recorded before counts were kept'}); replay a window from Prometheus instead (--from/--to with --spec)`,
      );
    return counts;
  });
}

/** How many recorded looks one of the variant's looks reads. */
function lookFactor(recording: Recording, variant: RolloutSpec, flag: string): number {
  const recorded = recordedLookSeconds(recording);
  // The duration as written (bakeSeconds rounds it to whole seconds).
  const { strategy, analysis } = variant.spec;
  const wanted = parseDuration(analysis.judge === 'threshold' ? strategy.interval : strategy.lookInterval) / 1000;
  const factor = wanted / recorded;
  if (!Number.isInteger(factor) || factor < 1)
    throw new ReplayInputError(
      flag,
      `the variant looks every ${wanted}s, the recording every ${recorded}s: replay can only read whole recorded looks together (a multiple of ${recorded}s)`,
    );
  return factor;
}

/** The sequential judge on recorded counts, look by look. */
function replaySequential(recording: Recording, spec: RolloutSpec): Replay {
  const counts = countsOf(recording, '--judge sequential');
  const plan = sequentialPlan(spec);
  for (const ms of plan.thresholdsMs) {
    const kept = counts.every((c) => c.canary.slow[String(ms)] !== undefined && c.primary.slow[String(ms)] !== undefined);
    if (!kept)
      throw new ReplayInputError(
        '--max',
        `the recording counted requests over ${Object.keys(counts[0]?.canary.slow ?? {}).join(', ') || 'no'} ms only, not over ${ms} ms; a window replay reads any bucket boundary`,
      );
  }
  const config = sequentialConfig(spec.spec.analysis.sequential);
  const noData = spec.spec.analysis.noData;
  const factor = lookFactor(recording, spec, '--look-interval');
  const times = judgeTimes(recording);
  const starts = recordedStepStarts(recording);
  let run = initialRun(spec, new Date(recording.startedAt));
  let state: SequentialState | null = null;
  let stepStartMs = times[0] !== undefined ? times[0] - 1000 * secondsInStepOf(recording.looks[0]) : 0;
  let stepFirstLook = 0;
  let evidenceAtMs = stepStartMs;
  const looks: ReplayLook[] = [];
  for (const group of groups(recording.looks.length, factor)) {
    const last = recording.looks[group.to] as RecordedLook;
    const nowMs = times[group.to] ?? Date.parse(last.at);
    const look = mergeCounts(counts.slice(group.from, group.to + 1));
    // The variant's step clock is the recording's when both steps began at the same look.
    const recordedSeconds = last.verdict?.evidence?.secondsInStep;
    const sameClock = factor === 1 && starts[group.to] === stepFirstLook && recordedSeconds !== undefined;
    const secondsInStep = sameClock ? recordedSeconds : (nowMs - stepStartMs) / 1000;
    const result = judgeLook(
      state,
      look,
      {
        stepIndex: run.phase === 'shadow' ? -1 : run.stepIndex,
        lookInStep: run.lookInStep,
        secondsInStep,
        atTopWeight: run.phase !== 'shadow' && run.stepIndex + 1 >= run.weights.length,
        metrics: plan.metrics,
        twoArm: compareArms(spec),
      },
      config,
    );
    state = result.state;
    const evidence = result.decision === 'fail' || result.decision === 'continue' || result.decision === 'advance-early';
    const withoutEvidence = evidence ? 0 : Math.max(0, (nowMs - evidenceAtMs) / 1000);
    if (evidence) evidenceAtMs = nowMs;
    const nothingCountable = look.sources !== undefined && look.sources.counted === 0;
    const flow = scheduleDecision(result.decision, withoutEvidence, nothingCountable, run, noData);
    const verdict: Verdict = result.verdict.evidence
      ? { ...result.verdict, evidence: { ...result.verdict.evidence, counts: recordedSpan(counts, group) } }
      : result.verdict;
    const next = decideSequentialLook(run, { verdict, decision: flow.decision, emptyLooks: flow.emptyLooks, noData, now: new Date(nowMs) });
    looks.push(replayLook(looks.length + 1, last, run, next, verdict, group, recording));
    if (next.next === 'rollback' || next.next === 'promote') return finish(looks, recording, next, factor, recording.looks.length);
    if (next.next === 'advance') {
      // The next step starts at its weight change: where the recording changed weight here too, at that moment.
      const following = group.to + 1;
      const recordedChange = starts[following] === following && recording.looks[following]?.verdict?.evidence !== undefined;
      stepStartMs = recordedChange ? (times[following] ?? nowMs) - 1000 * secondsInStepOf(recording.looks[following]) : nowMs;
      stepFirstLook = following;
      evidenceAtMs = stepStartMs;
    }
    run = next;
  }
  return finish(looks, recording, run, factor, recording.looks.length);
}

function secondsInStepOf(look: RecordedLook | undefined): number {
  return look?.verdict?.evidence?.secondsInStep ?? 0;
}

function recordedSpan(counts: readonly RecordedCounts[], group: Group): RecordedCounts {
  const first = counts[group.from] as RecordedCounts;
  const last = counts[group.to] as RecordedCounts;
  if (group.from === group.to) return first;
  const merged = mergeCounts(counts.slice(group.from, group.to + 1));
  return {
    from: first.from,
    to: last.to,
    canary: merged.canary,
    primary: merged.primary,
    ...(merged.clean ? { clean: merged.clean } : {}),
    ...(merged.newScrape === false ? { newScrape: false } : {}),
    ...(merged.sources ? { sources: merged.sources } : {}),
  };
}

function replayLook(
  n: number,
  last: RecordedLook,
  run: RunState,
  next: RunState,
  verdict: Verdict,
  group: Group,
  recording: Recording,
): ReplayLook {
  return {
    look: n,
    at: last.at,
    stepIndex: run.stepIndex,
    decision: lookWord(verdict),
    next: nextOf(next),
    verdict,
    ...(next.reason ? { reason: next.reason } : {}),
    weights: weightsOf(run),
    recorded: { from: group.from + 1, to: group.to + 1, stepIndex: recording.looks[group.to]?.stepIndex ?? 0 },
  };
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

/**
 * The threshold judge's readings from recorded counts over each metric's window: the success
 * rate as Envoy's counters give it, and for a latency limit the share of requests over it (its
 * p99 is within the limit exactly when at most 1% are over it; the counts hold no p99 in ms).
 */
function readingsFromCounts(spec: RolloutSpec, window: (seconds: number) => LookCounts): MetricReading[] {
  return spec.spec.analysis.metrics.map((metric): MetricReading => {
    const seconds = Math.max(1, Math.round(parseDuration(metric.interval ?? spec.spec.strategy.interval) / 1000));
    const counts = window(seconds);
    if (metric.name === 'request-success-rate' && !metric.query) {
      const rate = (arm: ArmDelta) => (arm.requests > 0 ? (100 * (arm.requests - arm.errors)) / arm.requests : null);
      return {
        name: metric.name,
        value: rate(counts.canary),
        primaryValue: rate(counts.primary),
        ...(metric.thresholdRange ? { thresholdRange: { ...metric.thresholdRange } } : {}),
        query: `recorded counts: % non-5xx over ${seconds}s`,
      };
    }
    const max = metric.thresholdRange?.max;
    if (metric.name === 'request-duration' && !metric.query && max !== undefined) {
      const over = (arm: ArmDelta) => {
        const slow = arm.slow[String(max)];
        return arm.requests > 0 && slow !== undefined ? (100 * slow) / arm.requests : null;
      };
      return {
        name: `${metric.name} (% over ${max} ms)`,
        value: over(counts.canary),
        primaryValue: over(counts.primary),
        thresholdRange: { max: round6(100 * (1 - 0.99)) },
        query: `recorded counts: share of requests over ${max} ms over ${seconds}s (p99 <= ${max} ms when at most 1%)`,
      };
    }
    return { name: metric.name, value: null, query: 'not in the recorded counts (a custom query needs Prometheus: replay a window)' };
  });
}

/** The threshold judge on recorded counts: one look per interval, each metric over its window. */
function replayThresholdOnCounts(recording: Recording, spec: RolloutSpec): Replay {
  const counts = countsOf(recording, '--judge threshold');
  const factor = lookFactor(recording, spec, '--interval');
  const times = judgeTimes(recording);
  let run = initialRun(spec, new Date(recording.startedAt));
  const looks: ReplayLook[] = [];
  for (const group of groups(recording.looks.length, factor)) {
    const last = recording.looks[group.to] as RecordedLook;
    const nowMs = times[group.to] ?? Date.parse(last.at);
    const window = (seconds: number) => {
      const inside = counts.filter((_, i) => i <= group.to && (times[i] ?? 0) > nowMs - seconds * 1000);
      return mergeCounts(inside);
    };
    const verdict = thresholdJudge.judge(readingsFromCounts(spec, window));
    const next = decideAfterLook(run, {
      verdict,
      noData: spec.spec.analysis.noData,
      threshold: spec.spec.strategy.threshold,
      now: new Date(nowMs),
    });
    looks.push(replayLook(looks.length + 1, last, run, next, verdict, group, recording));
    if (next.next === 'rollback' || next.next === 'promote') return finish(looks, recording, next, factor, recording.looks.length);
    run = next;
  }
  return finish(looks, recording, run, factor, recording.looks.length);
}

/** The threshold judge on a threshold rollout's recorded values, against the variant's ranges and threshold. */
function replayThresholdOnValues(recording: Recording, spec: RolloutSpec): Replay {
  lookFactor(recording, spec, '--interval');
  if (bakeSeconds(spec) !== recordedLookSeconds(recording))
    throw new ReplayInputError('--interval', 'a threshold rollout recorded one value per look: replay it at its own interval');
  let run = initialRun(spec, new Date(recording.startedAt));
  const looks: ReplayLook[] = [];
  const ranges = new Map(spec.spec.analysis.metrics.map((metric) => [metric.name, metric.thresholdRange]));
  recording.looks.forEach((recorded, i) => {
    if (looks.at(-1)?.next === 'rollback' || looks.at(-1)?.next === 'promote') return;
    const readings: MetricReading[] = (recorded.verdict?.checks ?? []).map((check) => {
      const range = ranges.has(check.name) ? ranges.get(check.name) : { min: check.min, max: check.max };
      return {
        name: check.name,
        value: check.value,
        ...(check.primary !== undefined ? { primaryValue: check.primary } : {}),
        ...(range ? { thresholdRange: { ...range } } : {}),
      };
    });
    const verdict = thresholdJudge.judge(readings);
    const next = decideAfterLook(run, {
      verdict,
      noData: spec.spec.analysis.noData,
      threshold: spec.spec.strategy.threshold,
      now: new Date(recorded.at),
    });
    looks.push(replayLook(looks.length + 1, recorded, run, next, verdict, { from: i, to: i }, recording));
    run = next;
  });
  return finish(looks, recording, run, 1, recording.looks.length);
}

/** Re-decides `recording` with `variant` (a spec: the recorded one with the settings changed). */
export function replay(recording: Recording, variant: RolloutSpec): Replay {
  if (recording.looks.length === 0) throw new ReplayInputError('<execution|summary.json>', `${recording.execution} has no looks to replay`);
  const recordedCounts = recording.looks.every((look) => look.counts);
  const judge = variant.spec.analysis.judge;
  switch (judge) {
    case 'sequential':
      return replaySequential(recording, variant);
    case 'threshold':
      return recordedCounts ? replayThresholdOnCounts(recording, variant) : replayThresholdOnValues(recording, variant);
    default: {
      const unknown: never = judge;
      throw new ReplayInputError('--judge', `unknown judge ${String(unknown)}`);
    }
  }
}
