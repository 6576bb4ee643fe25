/**
 * The sequential judge inside the flow. Its memory (the e-processes, the counter baseline, when
 * the step began) lives in the store, not in the execution state. Counters are snapshotted when
 * the rollout starts and again at every weight change, so each look counts only what happened
 * since the previous look, and a step's promotion evidence only what its own weight served.
 */
import { deltaCounts, nextBaseline } from '../core/counts.ts';
import type { CounterSnapshot } from '../core/counts.ts';
import { RefusedError } from '../core/errors.ts';
import type { Verdict } from '../core/ports.ts';
import { decideSequentialLook } from '../core/rollout.ts';
import type { SequentialLookContext } from '../core/rollout.ts';
import type { RolloutSpec } from '../core/spec.ts';
import { judgeLook, sequentialConfig } from '../core/sequential/judge.ts';
import type { SequentialDecision, SequentialState } from '../core/sequential/judge.ts';
import { expectations } from '../core/sequential/expectations.ts';
import { sequentialPlan } from '../core/sequential/metrics.ts';
import type { RunState } from '../core/task.ts';
import type { HandlerDeps } from './deps.ts';

interface AnalysisState {
  judge: SequentialState | null;
  baseline: CounterSnapshot;
  stepStartedAt: string;
  emptyLooks: number;
}

function snapshotter(deps: HandlerDeps) {
  if (!deps.snapshotCounters) throw new Error('the sequential judge needs raw request counters (Prometheus or Amazon Managed Prometheus), and this deployment has no counter source');
  return deps.snapshotCounters;
}

const sum = (series: { value: number }[]) => series.reduce((total, s) => total + s.value, 0);

/** Prepare: the primary's counters answer, the baseline is taken, and people learn what to expect at this rate. */
export async function startSequential(deps: HandlerDeps, spec: RolloutSpec, execution: string, run: RunState): Promise<string[]> {
  const plan = sequentialPlan(spec);
  const snapshot = snapshotter(deps);
  const first = await snapshot(spec, plan.thresholdsMs);
  if (first.primary.requests.length === 0) {
    throw new RefusedError('the primary has no request counters (envoy_cluster_upstream_rq): check spec.router.envoyClusterName and that the primary serves traffic');
  }
  // A second snapshot a moment later measures the request rate the expectations are for.
  const pauseMs = 2000;
  await new Promise((resolve) => setTimeout(resolve, pauseMs));
  const second = await snapshot(spec, plan.thresholdsMs);
  const look = deltaCounts(first, second);
  const seconds = Math.max(0.001, (Date.parse(second.at) - Date.parse(first.at)) / 1000);
  const rps = (look.primary.requests + look.canary.requests) / seconds;
  const primaryRequests = sum(second.primary.requests);
  const success = plan.metrics.find((m) => m.kind === 'errors');
  const lines = expectations({
    rps,
    canaryShares: run.weights.map((w) => w / run.weightScale),
    intervalSeconds: run.bakeSeconds * run.looksPerStep,
    lookIntervalSeconds: run.bakeSeconds,
    baselineErrorRate: primaryRequests > 0 ? sum(second.primary.errors) / primaryRequests : 0,
    allowedErrorRate: success?.thresholdRange?.min !== undefined ? 1 - success.thresholdRange.min / 100 : null,
    config: sequentialConfig(spec.spec.analysis.sequential),
  }).lines;
  const state: AnalysisState = { judge: null, baseline: second, stepStartedAt: second.at, emptyLooks: 0 };
  await deps.store.putAnalysisState(execution, state);
  return lines;
}

/** SetWeight: a new step counts from its own weight change. */
export async function rebaseSequential(deps: HandlerDeps, spec: RolloutSpec, execution: string): Promise<void> {
  const state = (await deps.store.getAnalysisState(execution)) as AnalysisState | null;
  const baseline = await snapshotter(deps)(spec, sequentialPlan(spec).thresholdsMs);
  await deps.store.putAnalysisState(execution, { judge: state?.judge ?? null, baseline, stepStartedAt: baseline.at, emptyLooks: state?.emptyLooks ?? 0 } satisfies AnalysisState);
}

/** Analyze: one look of the sequential judge (alarms first: they are hard stops). */
export async function lookSequential(
  deps: HandlerDeps,
  spec: RolloutSpec,
  execution: string,
  run: RunState,
  context: Omit<SequentialLookContext, 'decision' | 'emptyLooks' | 'verdict'>,
): Promise<{ verdict: Verdict; next: RunState; decision: SequentialDecision }> {
  const plan = sequentialPlan(spec);
  if (plan.alarms.length) {
    const alarmReadings = await deps.readMetrics({ ...spec, spec: { ...spec.spec, analysis: { ...spec.spec.analysis, metrics: plan.alarms } } });
    const firing = alarmReadings.filter((r) => (r.value ?? 0) > 0);
    if (firing.length) {
      const verdict: Verdict = { result: 'fail', checks: [], summary: `CloudWatch alarm in ALARM: ${firing.map((r) => r.name).join(', ')}` };
      return { verdict, decision: 'fail', next: { ...run, next: 'rollback', reason: verdict.summary } };
    }
  }
  const stored = (await deps.store.getAnalysisState(execution)) as AnalysisState | null;
  if (!stored) throw new Error(`rollout ${execution} has no counter baseline: Prepare did not take one`);
  const current = await snapshotter(deps)(spec, plan.thresholdsMs);
  const look = deltaCounts(stored.baseline, current);
  const result = judgeLook(
    stored.judge,
    look,
    {
      stepIndex: run.phase === 'shadow' ? -1 : run.stepIndex,
      lookInStep: run.lookInStep,
      secondsInStep: (Date.parse(current.at) - Date.parse(stored.stepStartedAt)) / 1000,
      atTopWeight: run.phase !== 'shadow' && run.stepIndex + 1 >= run.weights.length,
      metrics: plan.metrics,
    },
    sequentialConfig(spec.spec.analysis.sequential),
  );
  const emptyLooks = result.decision === 'no-evidence' ? stored.emptyLooks + 1 : 0;
  const next = decideSequentialLook(run, { ...context, verdict: result.verdict, decision: result.decision, emptyLooks });
  await deps.store.putAnalysisState(execution, { judge: result.state, baseline: nextBaseline(stored.baseline, current), stepStartedAt: stored.stepStartedAt, emptyLooks } satisfies AnalysisState);
  return { verdict: result.verdict, next, decision: result.decision };
}
