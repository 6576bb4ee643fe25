import { describe, expect, it } from 'vitest';
import { expectations } from './expectations.ts';

const schedule = { canaryShares: [0.1, 0.2, 0.3, 0.4, 0.5], lookIntervalSeconds: 10, allowedErrorRate: 0.01 };

describe('what to expect before the first step', () => {
  it('states the time to catch a 2x canary and to promote a healthy one, as an approximation', () => {
    // Prepare / Act
    const e = expectations({ ...schedule, rps: 1000, intervalSeconds: 60, baselineErrorRate: 0.005 });
    // Assess
    expect(e.method).toBe('approximation');
    expect(e.fixedSeconds).toBe(300);
    expect(e.badCanaryRate).toBeCloseTo(0.01, 12);
    expect(e.catchSeconds).not.toBeNull();
    expect(e.catchSeconds as number).toBeLessThan(120);
    // Never faster than the minimum exposure allows (4 x 30 s + the full top interval), never slower than the schedule.
    expect(e.promoteSeconds).toBeGreaterThanOrEqual(180);
    expect(e.promoteSeconds).toBeLessThanOrEqual(300);
    expect(e.lines[0]).toContain('1000 requests/s');
    expect(e.lines.join('\n')).toMatch(/twice the baseline error rate \(1\.0% against 0\.50%\) is rolled back after about \d/);
    expect(e.lines.join('\n')).toContain('approximation');
  });

  it('says so when the traffic is too thin to catch a 2x canary within the schedule', () => {
    const e = expectations({ ...schedule, rps: 20, intervalSeconds: 60, baselineErrorRate: 0.005 });
    expect(e.catchSeconds).toBeNull();
    expect(e.lines[1]).toContain('probably not caught within the 5m schedule');
    expect(e.promoteSeconds).toBe(300);
  });

  it('catches sooner and promotes no later with more traffic', () => {
    const slow = expectations({ ...schedule, rps: 200, intervalSeconds: 300, baselineErrorRate: 0.005 });
    const fast = expectations({ ...schedule, rps: 1000, intervalSeconds: 300, baselineErrorRate: 0.005 });
    expect(fast.catchSeconds as number).toBeLessThan(slow.catchSeconds as number);
    expect(fast.promoteSeconds).toBeLessThanOrEqual(slow.promoteSeconds);
  });

  it('over a zero baseline, speaks of a canary failing the allowed rate', () => {
    const e = expectations({ ...schedule, rps: 200, intervalSeconds: 60, baselineErrorRate: 0 });
    expect(e.lines[1]).toContain('a canary failing 1.0% of requests (the primary fails none)');
    expect(e.catchSeconds).not.toBeNull();
  });
});
