import { describe, expect, it } from 'vitest';
import type { ArmCounters, CounterSnapshot, SeriesSample } from '../counts.ts';
import { SEQUENTIAL_DEFAULTS } from './judge.ts';
import type { SequentialMetric } from './judge.ts';
import { lookJudge, rebaseJudge, startJudge } from './session.ts';

const ERRORS: SequentialMetric = { name: 'request-success-rate', kind: 'errors', thresholdRange: { min: 99 } };
const GW = { job: 'gloo', instance: '10.0.0.1:8081' };
const T0 = Date.parse('2026-12-06T12:00:00Z');
const input = { stepIndex: 0, lookInStep: 0, atTopWeight: false, metrics: [ERRORS] };

function arm(ok: number, failed: number, ts: number): ArmCounters {
  const s = (code: string, value: number): SeriesSample => ({ labels: { ...GW, envoy_response_code: code }, value, timestamp: ts });
  const requests = [s('200', ok), ...(failed ? [s('503', failed)] : [])];
  return { requests, errors: failed ? [s('503', failed)] : [], slow: {} };
}

/** The gateway's counters scraped at `scrapeS` (seconds after T0): canary and primary totals. */
function scrape(at: number, scrapeS: number, canary: [number, number], primary: [number, number]): CounterSnapshot {
  const ts = T0 + scrapeS * 1000;
  return { at: new Date(T0 + at * 1000).toISOString(), canary: arm(canary[0], canary[1], ts), primary: arm(primary[0], primary[1], ts) };
}

describe('what a look records', () => {
  it('keeps the raw counts of the look and the counter reads they lie between, so the look can be judged again', () => {
    // Prepare
    const memory = startJudge(scrape(0, 0, [0, 0], [1000, 5]), new Date(T0));
    // Act
    const out = lookJudge(memory, scrape(10, 10, [95, 5], [1900, 7]), input, SEQUENTIAL_DEFAULTS, new Date(T0 + 10_000));
    // Assess
    expect(out.verdict.evidence?.counts).toEqual({
      from: new Date(T0).toISOString(),
      to: new Date(T0 + 10_000).toISOString(),
      canary: { requests: 100, errors: 5, slow: {} },
      primary: { requests: 902, errors: 2, slow: {} },
      sources: { counted: 1, stale: 0, absent: 0, added: 0, reset: 0, backward: 0 },
    });
    expect(out.verdict.checks[0]?.evidence?.counted).toBe('errors');
  });
});

describe('the judge session (start, rebase, look) on wall time', () => {
  it('runs the step clock on wall time and says "no new scrape" when the samples did not move', () => {
    // Prepare: scrapes every 30 s, looks every 10 s.
    let memory = startJudge(scrape(0, 0, [0, 0], [1000, 5]), new Date(T0));
    memory = rebaseJudge(memory, new Date(T0), SEQUENTIAL_DEFAULTS);
    const looks = [
      { now: 10, snap: scrape(10, 0, [0, 0], [1000, 5]) },
      { now: 20, snap: scrape(20, 0, [0, 0], [1000, 5]) },
      { now: 30, snap: scrape(30, 30, [300, 1], [3700, 14]) },
      { now: 40, snap: scrape(40, 30, [300, 1], [3700, 14]) },
    ];
    const seen: Array<{ decision: string; secondsInStep: number | undefined }> = [];
    // Act
    for (const [i, look] of looks.entries()) {
      const out = lookJudge(memory, look.snap, { ...input, lookInStep: i }, SEQUENTIAL_DEFAULTS, new Date(T0 + look.now * 1000));
      memory = out.memory;
      seen.push({ decision: out.decision, secondsInStep: out.verdict.evidence?.secondsInStep });
    }
    // Assess: the first scrape after the change straddles it (canary's own tests only); the clock is wall time.
    expect(seen).toEqual([
      { decision: 'no-new-scrape', secondsInStep: 10 },
      { decision: 'no-new-scrape', secondsInStep: 20 },
      { decision: 'continue', secondsInStep: 30 },
      { decision: 'no-new-scrape', secondsInStep: 40 },
    ]);
    expect(memory.judge?.metrics[0]?.rollout.canary.requests).toBe(301);
    expect(memory.judge?.metrics[0]?.step.canary.requests).toBe(0);
    expect(memory.evidenceAt).toBe(new Date(T0 + 30_000).toISOString());
  });

  it('feeds the two-arm tests from the first scrape taken after the weight change has settled', () => {
    let memory = startJudge(scrape(0, 0, [0, 0], [1000, 5]), new Date(T0));
    memory = rebaseJudge(memory, new Date(T0 + 5_000), SEQUENTIAL_DEFAULTS);
    // A scrape 1 s after the change (not settled), then one at 20 s, then at 35 s.
    const first = lookJudge(memory, scrape(10, 6, [10, 0], [1100, 5]), input, SEQUENTIAL_DEFAULTS, new Date(T0 + 10_000));
    const second = lookJudge(
      first.memory,
      scrape(20, 20, [200, 1], [2900, 10]),
      { ...input, lookInStep: 1 },
      SEQUENTIAL_DEFAULTS,
      new Date(T0 + 20_000),
    );
    const third = lookJudge(
      second.memory,
      scrape(35, 35, [400, 2], [4700, 14]),
      { ...input, lookInStep: 2 },
      SEQUENTIAL_DEFAULTS,
      new Date(T0 + 35_000),
    );

    expect(first.counts.clean?.canary.requests).toBe(0);
    expect(second.counts.clean?.canary.requests).toBe(0); // its window began at 6 s, before the change settled (7 s)
    expect(third.counts.clean?.canary.requests).toBe(201);
    expect(third.memory.judge?.metrics[0]?.step.canary.requests).toBe(201);
  });

  it('counts wall seconds without evidence from the last look that had some', () => {
    let memory = startJudge(scrape(0, 0, [0, 0], [1000, 5]), new Date(T0));
    memory = rebaseJudge(memory, new Date(T0), SEQUENTIAL_DEFAULTS);
    // The canary serves nothing: every scrape is new, none carries canary requests.
    const a = lookJudge(memory, scrape(10, 10, [0, 0], [1500, 6]), input, SEQUENTIAL_DEFAULTS, new Date(T0 + 10_000));
    const b = lookJudge(a.memory, scrape(25, 25, [0, 0], [2000, 8]), input, SEQUENTIAL_DEFAULTS, new Date(T0 + 25_000));

    expect([a.decision, b.decision]).toEqual(['no-evidence', 'no-evidence']);
    expect(b.secondsWithoutEvidence).toBe(25);
  });
});
