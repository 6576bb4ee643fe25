/** Chooses the judge a rollout asked for (spec.analysis.judge). Pure. */
import type { Judge } from './ports.ts';
import type { AnalysisSpec } from './spec.ts';
import { thresholdJudge } from './judge-threshold.ts';

export type JudgeKind = AnalysisSpec['judge'];

export function judgeFactory(kind: JudgeKind): Judge {
  switch (kind) {
    case 'threshold':
      return thresholdJudge;
    case 'sequential':
      throw new Error('the sequential judge is not supported yet');
    default: {
      const unknown: never = kind;
      throw new Error(`unknown judge "${String(unknown)}"`);
    }
  }
}
