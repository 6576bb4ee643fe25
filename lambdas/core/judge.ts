/**
 * Picks the judge a rollout asked for (spec.analysis.judge): the one place that knows the judge
 * kinds. The handlers call the judge it returns (start, rebase, look) and never ask which it is.
 * A new judge is one file implementing judge-seam.ts's `Judge`, one value in the spec's `judge`
 * enum and one case here (docs/judges.md, "Adding a judge").
 */
import type { Judge, JudgePorts } from './judge-seam.ts';
import { createSequentialJudge } from './judge-sequential.ts';
import { createThresholdJudge } from './judge-threshold.ts';
import type { AnalysisSpec, RolloutSpec } from './spec.ts';

export type JudgeKind = AnalysisSpec['judge'];

export function judgeFor(spec: RolloutSpec, ports: JudgePorts): Judge {
  const kind: JudgeKind = spec.spec.analysis.judge;
  switch (kind) {
    case 'threshold':
      return createThresholdJudge(spec, ports);
    case 'sequential':
      return createSequentialJudge(spec, ports);
    default: {
      // The spec's schema admits only the kinds above; a stored spec from elsewhere may not.
      const unknown: never = kind;
      throw new Error(`spec.analysis.judge: unknown judge "${String(unknown)}"; expected threshold or sequential`);
    }
  }
}
