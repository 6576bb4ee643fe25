/**
 * The judge seam: how the flow asks "is the canary good?" without knowing which judge answers.
 * A judge is stateful across a rollout — Prepare starts it, SetWeight rebases it at every weight
 * change, Analyze asks it for one look — and keeps whatever it remembers between looks in the
 * store under the execution (never in the execution's state, which stays small).
 *
 * One file per judge (judge-threshold.ts, judge-sequential.ts), picked by judge.ts's factory.
 * A judge reads the world only through the ports below, so it stays in lambdas/core: the handlers
 * pass their deps, the bench and the tests pass stubs.
 */
import type { CounterSnapshot } from './counts.ts';
import type { MetricReading, Verdict } from './verdict.ts';
import type { RolloutStore } from './ports.ts';
import type { LookContext } from './rollout.ts';
import type { RolloutSpec } from './spec.ts';
import type { RunState } from './task.ts';

/**
 * Raw counters of both arms at one instant (Prometheus, AMP, CloudWatch counts); `historySeconds`
 * adds the raw history Prepare reads; `baseline` is the judge's last one (CloudWatch counts go on
 * from its values and watermark).
 */
export type CounterReader = (
  spec: RolloutSpec,
  thresholdsMs: readonly number[],
  options?: { historySeconds?: number; baseline?: CounterSnapshot },
) => Promise<CounterSnapshot>;

/** What a judge may read and where it keeps its memory. The handlers' deps fit as they are. */
export interface JudgePorts {
  /** Wall time: a judge's clocks (step, evidence) run on it, never on a query's evaluation time. */
  now(): Date;
  /** The spec's metrics, one value each (the threshold judge; CloudWatch alarms for the sequential one). */
  readMetrics(spec: RolloutSpec): Promise<MetricReading[]>;
  /** Absent where the deployment has no counter source; a judge that needs it says so at start. */
  snapshotCounters?: CounterReader | undefined;
  /** The judge's memory between looks (JSON), keyed by execution. */
  store: Pick<RolloutStore, 'getAnalysisState' | 'putAnalysisState'>;
}

/** What the flow knows at a look, besides the judge's own verdict. */
export type JudgeLookContext = Omit<LookContext, 'verdict' | 'threshold'>;

export interface JudgeStarted {
  /** The run as the judge needs it (the sequential judge fits the look interval to the scrapes). */
  run: RunState;
  /** Lines for people (the rollout's log and the Started event): what to expect, what was changed. */
  notes: string[];
}

export interface JudgeLook {
  verdict: Verdict;
  /** The run after this look: bake, advance, promote or rollback, with the reason. */
  next: RunState;
}

export interface Judge {
  /**
   * Prepare, after preflight, before any traffic moves. Throws RefusedError when this target
   * cannot be judged (nothing changes: Prepare closes the record and releases the lock).
   */
  start(execution: string, run: RunState): Promise<JudgeStarted>;
  /** SetWeight, right after a live weight change: a new step counts from its own change. */
  rebase(execution: string): Promise<void>;
  /** Analyze: one look → the verdict and what the flow does next. */
  look(execution: string, run: RunState, context: JudgeLookContext): Promise<JudgeLook>;
}
