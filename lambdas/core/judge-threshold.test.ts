import { describe, expect, it } from 'vitest';
import { thresholdJudge } from './judge-threshold.ts';

const successRate = (value: number | null) => ({ name: 'request-success-rate', value, thresholdRange: { min: 99 } });
const duration = (value: number | null) => ({ name: 'request-duration', value, thresholdRange: { max: 500 } });

describe('thresholdJudge', () => {
  it('passes when every metric is within its range, ends included', () => {
    const verdict = thresholdJudge.judge([successRate(99), duration(500)]);
    expect(verdict.result).toBe('pass');
    expect(verdict.checks.map((c) => c.result)).toEqual(['pass', 'pass']);
    expect(verdict.summary).toBe('request-success-rate 99.00 >= min 99; request-duration 500.00 <= max 500');
  });

  it('fails below min and says so with the numbers', () => {
    const verdict = thresholdJudge.judge([duration(120), successRate(97.2)]);
    expect(verdict.result).toBe('fail');
    expect(verdict.checks).toContainEqual({ name: 'request-success-rate', value: 97.2, min: 99, max: undefined, result: 'fail' });
    expect(verdict.summary).toBe('request-success-rate 97.20 < min 99; request-duration 120.00 <= max 500');
  });

  it('fails above max', () => {
    const verdict = thresholdJudge.judge([successRate(100), duration(612)]);
    expect(verdict.result).toBe('fail');
    expect(verdict.summary.startsWith('request-duration 612.00 > max 500')).toBe(true);
  });

  it('fails a latency beyond the largest bucket (+Inf)', () => {
    const verdict = thresholdJudge.judge([duration(Number.POSITIVE_INFINITY)]);
    expect(verdict.result).toBe('fail');
    expect(verdict.summary).toBe('request-duration +Inf > max 500');
  });

  it('reports no data, never a pass, for a null or NaN value', () => {
    const verdict = thresholdJudge.judge([successRate(99.9), duration(null)]);
    expect(verdict.result).toBe('no-data');
    expect(verdict.summary).toBe('request-duration: no data; request-success-rate 99.90 >= min 99');
    expect(thresholdJudge.judge([successRate(Number.NaN)]).checks[0]).toMatchObject({ value: null, result: 'no-data' });
  });

  it('lets a failure win over missing data', () => {
    expect(thresholdJudge.judge([successRate(null), duration(900)]).result).toBe('fail');
  });

  it('gives no pass when there is nothing to judge', () => {
    expect(thresholdJudge.judge([]).result).toBe('no-data');
  });
});
