/**
 * The sequential judge as one stateful shape: `start` with the first counter
 * snapshot, `rebase` at every weight change, `look` with each new snapshot → a verdict, a
 * decision and the memory for the next look. Pure: the judge behind the seam
 * (lambdas/core/judge-sequential.ts) reads the counters through its ports, keeps the memory in
 * the store and turns the decision into the flow's.
 *
 * Time here is wall time (the caller's clock), never a query's evaluation time: the step clock
 * and "how long without evidence" run on it, so a look that finds no new scrape neither slows the
 * schedule nor counts as empty.
 */
import { deltaCounts, nextBaseline } from '../counts.ts';
import type { CounterSnapshot, LookCounts } from '../counts.ts';
import type { Verdict } from '../verdict.ts';
import { judgeLook } from './judge.ts';
import type { SequentialConfig, SequentialDecision, SequentialMetric, SequentialState } from './judge.ts';

/** What the judge keeps between looks (JSON). */
export interface JudgeMemory {
  judge: SequentialState | null;
  baseline: CounterSnapshot;
  /** Wall time the current step began (its weight change). */
  stepStartedAt: string;
  /** Wall time of the last look that carried evidence (or the step's start): no-evidence is judged on it. */
  evidenceAt: string;
  /** Epoch ms from which a scrape counts as taken at the current weight (weight change + settle time). */
  cleanFrom?: number | undefined;
  /** Epoch ms the rollout's first baseline was taken: a process started after it is counted whole when first seen. */
  startedAt?: number | undefined;
  /** Kept for stores written before per-source counting (consecutive empty looks). */
  emptyLooks?: number | undefined;
}

export interface LookInput {
  stepIndex: number;
  lookInStep: number;
  atTopWeight: boolean;
  metrics: SequentialMetric[];
  /** The two-arm tests count (SequentialContext.twoArm); default true. */
  twoArm?: boolean | undefined;
}

export interface LookOutcome {
  memory: JudgeMemory;
  verdict: Verdict;
  decision: SequentialDecision;
  counts: LookCounts;
  /** Wall seconds since the last look with evidence (0 when this one had some). */
  secondsWithoutEvidence: number;
  /**
   * True when no source could be counted at all (every one missing, new or stale): nothing was
   * seen, which is not the same as a canary that served nothing while the primary did.
   */
  nothingCountable: boolean;
}

export function startJudge(snapshot: CounterSnapshot, now: Date): JudgeMemory {
  return { judge: null, baseline: snapshot, stepStartedAt: now.toISOString(), evidenceAt: now.toISOString(), startedAt: now.getTime() };
}

/**
 * A weight change: the step's clock starts again, and windows count for the two-arm tests only
 * once their source's previous scrape was taken after the change has reached the data plane. The
 * baseline is kept: the straddling window still feeds the canary's own threshold tests.
 */
export function rebaseJudge(memory: JudgeMemory, now: Date, config: Pick<SequentialConfig, 'settleSeconds'>): JudgeMemory {
  return {
    ...memory,
    stepStartedAt: now.toISOString(),
    evidenceAt: now.toISOString(),
    cleanFrom: now.getTime() + 1000 * config.settleSeconds,
  };
}

export function lookJudge(
  memory: JudgeMemory,
  snapshot: CounterSnapshot,
  input: LookInput,
  config: SequentialConfig,
  now: Date,
): LookOutcome {
  const counts = deltaCounts(memory.baseline, snapshot, { cleanFrom: memory.cleanFrom, newSourcesFrom: memory.startedAt });
  const result = judgeLook(
    memory.judge,
    counts,
    {
      stepIndex: input.stepIndex,
      lookInStep: input.lookInStep,
      secondsInStep: (now.getTime() - Date.parse(memory.stepStartedAt)) / 1000,
      atTopWeight: input.atTopWeight,
      metrics: input.metrics,
      twoArm: input.twoArm,
    },
    config,
  );
  const evidence = result.decision === 'fail' || result.decision === 'continue' || result.decision === 'advance-early';
  const evidenceAt = evidence ? now.toISOString() : memory.evidenceAt;
  const { emptyLooks: _old, ...rest } = memory;
  return {
    memory: {
      ...rest,
      judge: result.state,
      baseline: nextBaseline(memory.baseline, snapshot, { newSourcesFrom: memory.startedAt }),
      evidenceAt,
    },
    // The step record keeps the raw counts and when they were read: a look can be judged again.
    verdict: result.verdict.evidence
      ? {
          ...result.verdict,
          evidence: {
            ...result.verdict.evidence,
            counts: {
              from: memory.baseline.at,
              to: snapshot.at,
              canary: counts.canary,
              primary: counts.primary,
              ...(counts.clean ? { clean: counts.clean } : {}),
              ...(counts.newScrape === false ? { newScrape: false } : {}),
              ...(counts.sources ? { sources: counts.sources } : {}),
            },
          },
        }
      : result.verdict,
    decision: result.decision,
    counts,
    secondsWithoutEvidence: evidence ? 0 : Math.max(0, (now.getTime() - Date.parse(evidenceAt)) / 1000),
    nothingCountable: counts.sources !== undefined && counts.sources.counted === 0,
  };
}
