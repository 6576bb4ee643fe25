/**
 * The threshold judge (Flagger semantics): each metric checked against its
 * `thresholdRange`, both ends inclusive. `thresholdJudge` judges one look's readings; counting
 * failed checks across looks and applying `noData` is the decision's (rollout.ts decideAfterLook).
 * `createThresholdJudge` is this judge behind the judge seam: it remembers nothing between looks,
 * so start and rebase have nothing to do.
 */
import type { Judge, JudgePorts } from './judge-seam.ts';
import type { CheckResult, MetricCheck, MetricReading, Verdict } from './verdict.ts';
import { decideAfterLook } from './rollout.ts';
import type { RolloutSpec } from './spec.ts';

function format(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return value.toFixed(2);
}

function check(reading: MetricReading): MetricCheck {
  const { name, value } = reading;
  const min = reading.thresholdRange?.min;
  const max = reading.thresholdRange?.max;
  let result: CheckResult;
  // NaN is what Prometheus answers for 0/0: no traffic, so no data, never a pass.
  if (value === null || Number.isNaN(value)) result = 'no-data';
  else if ((min !== undefined && value < min) || (max !== undefined && value > max)) result = 'fail';
  else result = 'pass';
  const out: MetricCheck = { name, value: value === null || Number.isNaN(value) ? null : value, min, max, result };
  // The primary's value rides along as evidence for the picture; it never decides the verdict.
  if (reading.primaryValue !== undefined)
    out.primary = reading.primaryValue === null || Number.isNaN(reading.primaryValue) ? null : reading.primaryValue;
  return out;
}

/** "request-success-rate 97.20 < min 99", "request-duration 120.00 <= max 500", "x: no data". */
export function describeCheck(c: MetricCheck): string {
  if (c.result === 'no-data' || c.value === null) return `${c.name}: no data`;
  const v = format(c.value);
  if (c.result === 'fail') {
    if (c.min !== undefined && c.value < c.min) return `${c.name} ${v} < min ${c.min}`;
    return `${c.name} ${v} > max ${String(c.max)}`;
  }
  const bounds = [c.min !== undefined ? `>= min ${c.min}` : '', c.max !== undefined ? `<= max ${c.max}` : ''].filter(Boolean);
  return bounds.length ? `${c.name} ${v} ${bounds.join(', ')}` : `${c.name} ${v}`;
}

export const thresholdJudge = {
  judge(readings: MetricReading[]): Verdict {
    const checks = readings.map(check);
    if (checks.length === 0) return { result: 'no-data', checks, summary: 'no metrics to judge' };
    const failed = checks.filter((c) => c.result === 'fail');
    const missing = checks.filter((c) => c.result === 'no-data');
    const result: CheckResult = failed.length ? 'fail' : missing.length ? 'no-data' : 'pass';
    // The line leads with what decided the verdict, so a person sees the reason first.
    const lead = result === 'fail' ? failed : result === 'no-data' ? missing : checks;
    const rest = checks.filter((c) => !lead.includes(c));
    const summary = [...lead, ...rest].map(describeCheck).join('; ');
    return { result, checks, summary };
  },
};

export function createThresholdJudge(spec: RolloutSpec, ports: Pick<JudgePorts, 'readMetrics'>): Judge {
  return {
    start: async (_execution, run) => ({ run, notes: [] }),
    rebase: async () => undefined,
    look: async (_execution, run, context) => {
      const verdict = thresholdJudge.judge(await ports.readMetrics(spec));
      return { verdict, next: decideAfterLook(run, { ...context, verdict, threshold: spec.spec.strategy.threshold }) };
    },
  };
}
