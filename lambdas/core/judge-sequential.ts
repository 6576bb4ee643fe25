/**
 * The sequential judge behind the judge seam: reads the counters of both arms (Prometheus, AMP or
 * CloudWatch counts, through the ports), keeps the judge's memory in the store (not in the execution state) and turns
 * its decisions into the flow's. The judging itself is the stateful shape in
 * sequential/session.ts (start, rebase, look) over the statistics in sequential/.
 */
import type { CounterHistory, CounterSnapshot } from './counts.ts';
import { RefusedError } from './errors.ts';
import type { Judge, JudgeLook, JudgeLookContext, JudgePorts } from './judge-seam.ts';
import type { Verdict } from './verdict.ts';
import { decideSequentialLook } from './rollout.ts';
import type { SequentialLookContext } from './rollout.ts';
import type { RolloutSpec } from './spec.ts';
import { sequentialConfig } from './sequential/judge.ts';
import type { SequentialDecision } from './sequential/judge.ts';
import { duration, expectations } from './sequential/expectations.ts';
import { compareArms, splitPopulation } from './arms.ts';
import { sequentialPlan } from './sequential/metrics.ts';
import { lookJudge, rebaseJudge, startJudge } from './sequential/session.ts';
import type { JudgeMemory } from './sequential/session.ts';
import type { RunState } from './task.ts';

/** How much raw history Prepare reads for the scrape interval and the expected rates. */
export const HISTORY_SECONDS = 300;
/** Fewer canary requests than this per look at the first step, and looks carry little evidence. */
export const THIN_CANARY_REQUESTS = 5;

function snapshotter(deps: Pick<JudgePorts, 'snapshotCounters'>) {
  if (!deps.snapshotCounters)
    throw new Error(
      'the sequential judge needs raw counters (Prometheus, Amazon Managed Prometheus or CloudWatch counts), and this deployment has no counter source',
    );
  return deps.snapshotCounters;
}

const sum = (series: { value: number }[]) => series.reduce((total, s) => total + s.value, 0);

/** Stores written before per-source counting kept `emptyLooks` and no `evidenceAt`. */
function memoryOf(stored: unknown, execution: string): JudgeMemory {
  if (!stored || typeof stored !== 'object') throw new Error(`rollout ${execution} has no counter baseline: Prepare did not take one`);
  const memory = stored as JudgeMemory;
  return { ...memory, evidenceAt: memory.evidenceAt ?? memory.stepStartedAt };
}

/**
 * Raises the look interval to the scrape interval: looking more often than Prometheus scrapes
 * finds no new sample. The step keeps at least its interval.
 */
function fitToScrapes(run: RunState, scrapeSeconds: number | null, interval: CounterHistory['interval']): { run: RunState; note?: string } {
  if (scrapeSeconds === null || scrapeSeconds <= run.bakeSeconds) return { run };
  const bakeSeconds = Math.ceil(scrapeSeconds);
  const stepBefore = run.bakeSeconds * run.looksPerStep;
  const looksPerStep = Math.max(1, Math.ceil(stepBefore / bakeSeconds));
  const stepAfter = bakeSeconds * looksPerStep;
  // Longer steps push the deadline back by what they add.
  const deadlineAt = new Date(Date.parse(run.deadlineAt) + 1000 * (stepAfter - stepBefore) * run.weights.length).toISOString();
  return {
    run: { ...run, bakeSeconds, looksPerStep, deadlineAt },
    note:
      interval?.kind === 'period'
        ? `lookInterval raised from ${duration(run.bakeSeconds)} to ${duration(bakeSeconds)}: CloudWatch counts come in ${duration(scrapeSeconds)} periods, and a look before the next period closes sees nothing new (${looksPerStep} looks per ${duration(stepAfter)} step)`
        : `lookInterval raised from ${duration(run.bakeSeconds)} to ${duration(bakeSeconds)}: Prometheus scrapes these counters every ${duration(scrapeSeconds)}, and a look between scrapes sees nothing new (${looksPerStep} looks per ${duration(stepAfter)} step)`,
  };
}

/** What a person should expect of a weighted canary (its requests per look by step), and a warning for thin traffic. */
function canaryExpectations(
  spec: RolloutSpec,
  plan: ReturnType<typeof sequentialPlan>,
  next: RunState,
  rps: number,
  baselineErrorRate: number,
): string[] {
  const success = plan.metrics.find((m) => m.kind === 'errors');
  const shares = next.weights.map((w) => w / next.weightScale);
  const notes: string[] = [];
  notes.push(
    ...expectations({
      rps,
      canaryShares: shares,
      intervalSeconds: next.bakeSeconds * next.looksPerStep,
      lookIntervalSeconds: next.bakeSeconds,
      baselineErrorRate,
      allowedErrorRate: success?.thresholdRange?.min !== undefined ? 1 - success.thresholdRange.min / 100 : null,
      config: sequentialConfig(spec.spec.analysis.sequential),
    }).lines,
  );
  const perLook = rps * (shares[0] ?? 0) * next.bakeSeconds;
  if (perLook < THIN_CANARY_REQUESTS) {
    notes.push(
      `thin traffic: about ${perLook.toFixed(1)} canary requests per look at the first step (under ${THIN_CANARY_REQUESTS}); looks carry little evidence, so expect the fixed schedule, and no evidence for a whole interval rolls back under noData: fail`,
    );
  }
  return notes;
}

/** Prepare: the primary's counters answer, the baseline is taken, the look interval fits the scrapes, and people learn what to expect. */
async function startSequential(
  deps: JudgePorts,
  spec: RolloutSpec,
  execution: string,
  run: RunState,
): Promise<{ notes: string[]; run: RunState }> {
  const plan = sequentialPlan(spec);
  const first = await snapshotter(deps)(spec, plan.thresholdsMs, { historySeconds: HISTORY_SECONDS });
  if (plan.metrics.some((m) => m.kind === 'errors' || 'slowerThanMs' in m.kind) && first.primary.requests.length === 0) {
    throw new RefusedError(
      'the primary has no request counters (envoy_cluster_upstream_rq): check spec.router.envoyClusterName and that the primary serves traffic',
    );
  }
  spec.spec.analysis.metrics.forEach((metric, i) => {
    if (metric.counters && !first.primary.counters?.[metric.name]?.trials.length)
      throw new RefusedError(
        `spec.analysis.metrics[${i}].counters.primary.trials: no series answered: check the query and that the primary serves traffic`,
      );
  });
  const history = first.history;
  const fitted = fitToScrapes(run, history?.scrapeIntervalSeconds ?? null, history?.interval);
  const next = fitted.run;
  const notes: string[] = fitted.note ? [fitted.note] : [];
  if (history?.interval?.kind === 'period' && history.scrapeIntervalSeconds !== null) {
    notes.push(
      `CloudWatch counts: a period is judged once it has closed and ${duration(history.interval.delaySeconds)} have passed, so the judge sees a change at least ${duration(history.interval.delaySeconds + history.scrapeIntervalSeconds)} after it happens; CloudWatch alarms stay the fast path`,
    );
  }
  // The rate over minutes of raw samples (an increase, not two instant reads seconds apart, which
  // see 0 between scrapes and a whole scrape's worth otherwise). For the expectations only.
  const rps = history ? history.primaryRps + history.canaryRps : 0;
  const primaryRequests = sum(first.primary.requests);
  const baselineErrorRate = history?.primaryErrorRate ?? (primaryRequests > 0 ? sum(first.primary.errors) / primaryRequests : 0);
  const mode = splitPopulation(spec);
  if (mode) {
    // No weighted share: the canary's traffic is the matched users' (or test traffic), which no
    // weight predicts, so the expectations in requests per look are not computed.
    notes.push(
      compareArms(spec)
        ? `${mode}: canary and primary serve different requests; the two-arm test is on (analysis.compareArms: true), so a difference between them may be the population's`
        : `${mode}: canary and primary serve different requests, so the two-arm test is off; each metric judges the canary against its thresholdRange (analysis.compareArms: true turns the two-arm test on)`,
    );
  } else {
    notes.push(...canaryExpectations(spec, plan, next, rps, baselineErrorRate));
  }
  await deps.store.putAnalysisState(execution, startJudge(first, deps.now()));
  return { notes, run: next };
}

/** SetWeight: a new step counts from its own weight change (its two-arm tests from the first scrape after it has propagated). */
async function rebaseSequential(deps: JudgePorts, spec: RolloutSpec, execution: string): Promise<void> {
  const stored = await deps.store.getAnalysisState(execution);
  const config = sequentialConfig(spec.spec.analysis.sequential);
  const memory: JudgeMemory = stored
    ? memoryOf(stored, execution)
    : startJudge(await snapshotter(deps)(spec, sequentialPlan(spec).thresholdsMs), deps.now());
  await deps.store.putAnalysisState(execution, rebaseJudge(memory, deps.now(), config));
}

/** The flow's view of a judge decision, on wall time (the judge and `sluice replay` share it). */
export function scheduleDecision(
  decision: SequentialDecision,
  secondsWithoutEvidence: number,
  nothingCountable: boolean,
  run: RunState,
  noData: SequentialLookContext['noData'],
): { decision: SequentialLookContext['decision']; emptyLooks: number } {
  const interval = run.phase === 'shadow' ? (run.shadowLooks ?? 1) : run.looksPerStep;
  // Wall seconds without evidence, in looks: the flow rolls back (noData: fail) after a whole interval of them.
  const emptyLooks = Math.max(1, Math.floor(secondsWithoutEvidence / run.bakeSeconds + 1e-9));
  // A look where no source could be counted (a gateway replaced, scrapes not yet taken) is like
  // one without a new scrape; a canary that serves nothing while the primary does is not.
  const effective: SequentialDecision = decision === 'no-evidence' && nothingCountable ? 'no-new-scrape' : decision;
  switch (effective) {
    case 'no-new-scrape':
      // Nothing new is not nothing served: the schedule runs on — unless scrapes have stopped for a whole interval.
      return emptyLooks >= interval ? { decision: 'no-evidence', emptyLooks } : { decision: 'continue', emptyLooks: 0 };
    case 'no-evidence':
      // noData: fail is judged in wall time: the schedule runs on until a whole interval has
      // passed without evidence, then the flow rolls back. (hold and pass keep their meaning.)
      if (noData === 'fail' && emptyLooks < interval) return { decision: 'continue', emptyLooks: 0 };
      return { decision: effective, emptyLooks };
    case 'fail':
    case 'advance-early':
    case 'continue':
      return { decision: effective, emptyLooks: 0 };
    default: {
      const unknown: never = effective;
      throw new Error(`unknown decision ${String(unknown)}`);
    }
  }
}

/** Analyze: one look of the sequential judge (alarms first: they are hard stops). */
async function lookSequential(
  deps: JudgePorts,
  spec: RolloutSpec,
  execution: string,
  run: RunState,
  context: JudgeLookContext,
): Promise<{ verdict: Verdict; next: RunState; decision: SequentialDecision }> {
  const plan = sequentialPlan(spec);
  if (plan.alarms.length) {
    const alarmReadings = await deps.readMetrics({
      ...spec,
      spec: { ...spec.spec, analysis: { ...spec.spec.analysis, metrics: plan.alarms } },
    });
    const firing = alarmReadings.filter((r) => (r.value ?? 0) > 0);
    if (firing.length) {
      const verdict: Verdict = {
        result: 'fail',
        checks: [],
        summary: `CloudWatch alarm in ALARM: ${firing.map((r) => r.name).join(', ')}`,
      };
      return { verdict, decision: 'fail', next: { ...run, next: 'rollback', reason: verdict.summary } };
    }
  }
  const memory = memoryOf(await deps.store.getAnalysisState(execution), execution);
  const current: CounterSnapshot = await snapshotter(deps)(spec, plan.thresholdsMs, { baseline: memory.baseline });
  const outcome = lookJudge(
    memory,
    current,
    {
      stepIndex: run.phase === 'shadow' ? -1 : run.stepIndex,
      lookInStep: run.lookInStep,
      atTopWeight: run.phase !== 'shadow' && run.stepIndex + 1 >= run.weights.length,
      metrics: plan.metrics,
      twoArm: compareArms(spec),
    },
    sequentialConfig(spec.spec.analysis.sequential),
    deps.now(),
  );
  const flow = scheduleDecision(outcome.decision, outcome.secondsWithoutEvidence, outcome.nothingCountable, run, context.noData);
  const next = decideSequentialLook(run, { ...context, verdict: outcome.verdict, decision: flow.decision, emptyLooks: flow.emptyLooks });
  await deps.store.putAnalysisState(execution, outcome.memory);
  return { verdict: outcome.verdict, next, decision: outcome.decision };
}

/** The sequential judge's look also answers its own decision (e.g. "no-new-scrape", which the flow turns into continue): tests and the bench read it. */
export interface SequentialJudge extends Judge {
  look(execution: string, run: RunState, context: JudgeLookContext): Promise<JudgeLook & { decision: SequentialDecision }>;
}

export function createSequentialJudge(spec: RolloutSpec, ports: JudgePorts): SequentialJudge {
  return {
    start: (execution, run) => startSequential(ports, spec, execution, run),
    rebase: (execution) => rebaseSequential(ports, spec, execution),
    look: (execution, run, context) => lookSequential(ports, spec, execution, run, context),
  };
}
