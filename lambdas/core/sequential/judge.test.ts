import { describe, expect, it } from 'vitest';
import type { ArmDelta, LookCounts } from '../counts.ts';
import type { SequentialContext, SequentialMetric, SequentialState } from './judge.ts';
import { analysisSchema } from '../spec.ts';
import { judgeLook, SEQUENTIAL_DEFAULTS, sequentialConfig } from './judge.ts';
import { seededRandom } from './random.ts';
import { normalCdf, wilsonInterval } from './stats.ts';

const ERRORS: SequentialMetric = { name: 'request-success-rate', kind: 'errors', thresholdRange: { min: 99 } };
const LATENCY: SequentialMetric = { name: 'request-duration', kind: { slowerThanMs: 500 }, thresholdRange: { max: 500 } };

function look(canary: [number, number, number?], primary: [number, number, number?]): LookCounts {
  const arm = ([requests, errors, slow]: [number, number, number?]): ArmDelta => ({
    requests,
    errors,
    slow: slow === undefined ? {} : { '500': slow },
  });
  return { canary: arm(canary), primary: arm(primary), resets: 0, gaps: [] };
}

function ctx(stepIndex: number, lookInStep: number, secondsInStep: number, atTopWeight = false, metrics = [ERRORS]): SequentialContext {
  return { stepIndex, lookInStep, secondsInStep, atTopWeight, metrics };
}

describe('sequential judge: words', () => {
  it('names each rate by what it counted, never an error rate under the success-rate name', () => {
    // Prepare: a canary failing 8% of its requests, some over 500 ms.
    const counts = look([50, 4, 2], [950, 0, 10]);
    // Act
    const r = judgeLook(null, counts, ctx(0, 0, 10, false, [ERRORS, LATENCY]));
    // Assess
    expect(r.verdict.summary).toContain('errors: canary 8.00% vs primary 0.00%');
    expect(r.verdict.summary).toContain('requests over 500 ms: canary 4.00% vs primary 1.05%');
    expect(r.verdict.summary).not.toContain('request-success-rate canary');
    expect(r.verdict.checks.map((check) => check.evidence?.counted)).toEqual(['errors', 'requests over 500 ms']);
  });
});

describe('sequential judge: failing a bad canary', () => {
  it('rolls back a canary with ten times the errors within a few looks, with its evidence', () => {
    // Prepare: 10% canary share, primary at 0.5% errors, canary at 5%.
    let state: SequentialState | null = null;
    const decisions: string[] = [];
    // Act
    for (let i = 0; i < 5; i++) {
      const r = judgeLook(state, look([100, 5], [900, 4]), ctx(0, i, 10 * (i + 1)));
      state = r.state;
      decisions.push(r.decision);
      if (r.decision === 'fail') {
        // Assess
        expect(r.verdict.result).toBe('fail');
        expect(r.verdict.evidence?.eValue).toBeGreaterThanOrEqual(100);
        expect(r.verdict.evidence?.pValue).toBeLessThanOrEqual(0.01);
        expect(r.verdict.checks[0]?.result).toBe('fail');
        expect(r.verdict.checks[0]?.evidence?.rollout.canary).toEqual({ requests: 100 * (i + 1), events: 5 * (i + 1) });
        expect(r.verdict.summary).toMatch(/^canary worse/);
        break;
      }
    }
    expect(decisions.at(-1)).toBe('fail');
    expect(decisions.length).toBeLessThanOrEqual(3);
  });

  // Changed with per-source counting: the threshold test compares the canary with the larger of its limit and
  // the primary's rate in the same window, so a canary exactly as bad as a primary that is itself
  // over the limit (a shared incident) is no longer rolled back by it.
  it('fails a canary above its threshold while the primary keeps it, the one-sample test adding at most tenfold per look', () => {
    let state: SequentialState | null = null;
    let decision = '';
    for (let i = 0; i < 6 && decision !== 'fail'; i++) {
      const r = judgeLook(state, look([1000, 50], [9000, 45]), ctx(0, i, 10 * (i + 1)));
      // One look can raise the one-sample e-value at most tenfold.
      expect((r.state.metrics[0]?.threshold?.fail.logE ?? 0) - (state?.metrics[0]?.threshold?.fail.logE ?? 0)).toBeLessThanOrEqual(
        Math.log(10) + 1e-9,
      );
      state = r.state;
      decision = r.decision;
    }
    expect(decision).toBe('fail');
    expect(state?.metrics[0]?.threshold?.fail.logE).toBeGreaterThan(0);
  });

  it('does not roll back a canary no worse than the primary through a shared incident over the limit', () => {
    // Prepare: both arms at 5% errors for ten looks (the limit is 1%).
    let state: SequentialState | null = null;
    const decisions: string[] = [];
    // Act
    for (let i = 0; i < 10; i++) {
      const r = judgeLook(state, look([1000, 50], [9000, 450]), ctx(0, i, 10 * (i + 1)));
      state = r.state;
      decisions.push(r.decision);
    }
    // Assess
    expect(decisions).not.toContain('fail');
    expect(state?.metrics[0]?.threshold?.fail.logE).toBeLessThan(Math.log(10));
  });

  it('judges each latency threshold as its own metric', () => {
    let state: SequentialState | null = null;
    let r = judgeLook(state, look([200, 0, 30], [1800, 0, 4]), ctx(0, 0, 10, false, [ERRORS, LATENCY]));
    state = r.state;
    r = judgeLook(state, look([200, 0, 30], [1800, 0, 4]), ctx(0, 1, 20, false, [ERRORS, LATENCY]));
    expect(r.decision).toBe('fail');
    expect(r.verdict.checks.map((c) => [c.name, c.result])).toEqual([
      ['request-success-rate', 'pass'],
      ['request-duration', 'fail'],
    ]);
  });
});

describe('sequential judge: no evidence', () => {
  it('a look where either arm served nothing carries no evidence and changes no e-value', () => {
    const before = judgeLook(null, look([100, 1], [900, 4]), ctx(0, 0, 10)).state;
    for (const empty of [look([0, 0], [900, 4]), look([100, 1], [0, 0]), look([0, 0], [0, 0])]) {
      const r = judgeLook(before, empty, ctx(0, 1, 20));
      expect(r.decision).toBe('no-evidence');
      expect(r.verdict.result).toBe('no-data');
      expect(r.verdict.checks[0]?.value).toBeNull();
      expect(r.state.metrics).toEqual(before.metrics.map((m) => ({ ...m, lastMethod: 'none' })));
    }
  });

  // Changed with per-source counting: a source left out (gap) no longer voids the look — both arms lose it alike.
  it('a missing latency count is no evidence, never a pass; a source left out does not void the look', () => {
    const missingSlow = judgeLook(null, look([100, 0], [900, 0, 2]), ctx(0, 0, 10, false, [ERRORS, LATENCY]));
    expect(missingSlow.decision).toBe('no-evidence');
    const gap = judgeLook(null, { ...look([100, 0], [900, 0]), gaps: ["gloo/10.0.0.2:8081: not in this look's scrape"] }, ctx(0, 0, 10));
    expect(gap.decision).toBe('continue');
    expect(gap.state.stepLooks).toBe(1);
  });

  it('a look that finds no new scrape is neither evidence nor empty', () => {
    const before = judgeLook(null, look([100, 1], [900, 4]), ctx(0, 0, 10)).state;
    const sources = { counted: 0, stale: 2, absent: 0, added: 0, reset: 0, backward: 0 };

    const r = judgeLook(before, { ...look([0, 0], [0, 0]), newScrape: false, sources }, ctx(0, 1, 20));

    expect(r.decision).toBe('no-new-scrape');
    expect(r.verdict.result).toBe('pass');
    expect(r.verdict.summary).toMatch(/^no new scrape since the previous look/);
    expect(r.state.stepLooks).toBe(before.stepLooks);
    expect(r.state.metrics.map((m) => m.fail.logE)).toEqual(before.metrics.map((m) => m.fail.logE));
  });

  it('a look whose every source is missing is no evidence, not "no new scrape"', () => {
    const sources = { counted: 0, stale: 0, absent: 1, added: 0, reset: 0, backward: 0 };
    const r = judgeLook(
      null,
      { ...look([0, 0], [0, 0]), newScrape: false, sources, gaps: ["gloo/a: not in this look's scrape"] },
      ctx(0, 0, 10),
    );
    expect(r.decision).toBe('no-evidence');
    expect(r.verdict.summary).toContain("gloo/a: not in this look's scrape");
  });
});

describe('sequential judge: advancing early', () => {
  const healthy = () => look([2000, 1], [18000, 90]);

  it('advances only after the minimum exposure (2 looks, 30 s, enough canary requests)', () => {
    let state: SequentialState | null = null;
    const r1 = judgeLook(state, healthy(), ctx(0, 0, 10));
    state = r1.state;
    // The evidence is already there after one look, but the exposure is not.
    expect(r1.verdict.evidence?.promotionEValue).toBeGreaterThanOrEqual(20);
    expect(r1.decision).toBe('continue');
    const r2 = judgeLook(state, healthy(), ctx(0, 1, 20));
    expect(r2.decision).toBe('continue');
    const r3 = judgeLook(r2.state, healthy(), ctx(0, 2, 30));
    expect(r3.decision).toBe('advance-early');
    expect(r3.verdict.result).toBe('pass');
    // Few canary requests: no early advance however long.
    const few = sequentialConfig({ minCanaryRequestsPerStep: 1_000_000 });
    const r4 = judgeLook(judgeLook(null, healthy(), ctx(0, 0, 10), few).state, healthy(), ctx(0, 5, 60), few);
    expect(r4.decision).toBe('continue');
  });

  it('never uses an earlier step’s data for the current step', () => {
    // Strong evidence in step 0 (too early to advance there).
    let state = judgeLook(null, healthy(), ctx(0, 0, 10)).state;
    state = judgeLook(state, healthy(), ctx(0, 1, 20)).state;
    // Step 1: a thin look past the minimum time must not inherit step 0's promotion evidence.
    const r = judgeLook(state, look([150, 0], [1350, 6]), ctx(1, 2, 30));
    expect(r.decision).toBe('continue');
    expect(r.verdict.evidence?.promotionEValue).toBeLessThan(20);
    expect(r.state.metrics[0]?.step.canary).toEqual({ requests: 150, events: 0 });
    // …while the failure evidence runs for the whole rollout.
    expect(r.state.metrics[0]?.rollout.canary.requests).toBe(4150);
  });

  it('runs the full interval at the top weight unless told otherwise', () => {
    let state = judgeLook(null, healthy(), ctx(4, 0, 10, true)).state;
    state = judgeLook(state, healthy(), ctx(4, 1, 20, true)).state;
    expect(judgeLook(state, healthy(), ctx(4, 2, 30, true)).decision).toBe('continue');
    const early = sequentialConfig({ fullIntervalAtTopWeight: false });
    let s2 = judgeLook(null, healthy(), ctx(4, 0, 10, true), early).state;
    s2 = judgeLook(s2, healthy(), ctx(4, 1, 20, true), early).state;
    expect(judgeLook(s2, healthy(), ctx(4, 2, 30, true), early).decision).toBe('advance-early');
  });

  it('does not advance a canary twice as bad as the primary', () => {
    let state: SequentialState | null = null;
    const decisions: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = judgeLook(state, look([2000, 20], [18000, 90]), ctx(0, i, 10 * (i + 1)));
      state = r.state;
      decisions.push(r.decision);
    }
    expect(decisions).not.toContain('advance-early');
    expect(state?.stepLooks).toBe(6);
  });

  // Changed with per-source counting: the promotion e-value is the minimum of the ratio and threshold
  // e-values (the union null "worse than the margin or above the limit"), not their mean.
  it('does not end a step early for a canary twice as bad as the primary but inside its threshold', () => {
    // Prepare: primary 0.1%, canary 0.2%, limit 1%: the threshold test alone would promote at once.
    let state: SequentialState | null = null;
    const decisions: string[] = [];
    let last: ReturnType<typeof judgeLook> | null = null;
    // Act
    for (let i = 0; i < 12; i++) {
      last = judgeLook(state, look([5000, 10], [45000, 45]), ctx(0, i, 10 * (i + 1)));
      state = last.state;
      decisions.push(last.decision);
    }
    // Assess
    expect(decisions).not.toContain('advance-early');
    const m = state?.metrics[0];
    expect(Math.exp(m?.threshold?.promote.logE ?? 0)).toBeGreaterThan(1000);
    expect(last?.verdict.evidence?.promotionEValue).toBeCloseTo(Math.exp(m?.promote.logE ?? 0), 6);
  });

  it('ends steps early for a low-error service through the absolute margin (0.05 points by default)', () => {
    // Prepare: both arms at 0.01% errors; a 2x ratio margin alone is a 0.01-point difference.
    const run = (marginAbsolute: number) => {
      let state: SequentialState | null = null;
      const decisions: string[] = [];
      for (let i = 0; i < 10; i++) {
        const r = judgeLook(state, look([10000, 1], [90000, 9]), ctx(0, i, 10 * (i + 1)), { ...SEQUENTIAL_DEFAULTS, marginAbsolute });
        state = r.state;
        decisions.push(r.decision);
      }
      return decisions;
    };
    // Act / Assess
    expect(SEQUENTIAL_DEFAULTS.marginAbsolute).toBe(0.0005);
    expect(run(0.0005)).toContain('advance-early');
    expect(run(0)).not.toContain('advance-early');
  });

  it('counts retried attempts as failed attempts: a canary retried into success is still seen', () => {
    // Prepare: every canary answer is 200, but one in ten attempts failed and was retried.
    let state: SequentialState | null = null;
    let decision = '';
    // Act
    for (let i = 0; i < 10 && decision !== 'fail'; i++) {
      const r = judgeLook(
        state,
        {
          ...look([1000, 0], [9000, 9]),
          canary: { requests: 1000, errors: 0, slow: {}, retries: 100 },
          primary: { requests: 9000, errors: 9, slow: {}, retries: 0 },
        },
        ctx(0, i, 10 * (i + 1)),
      );
      state = r.state;
      decision = r.decision;
    }
    // Assess
    expect(decision).toBe('fail');
  });

  it('keeps a window that straddles a weight change out of the two-arm tests, not out of the canary’s own threshold test', () => {
    const straddling: LookCounts = {
      ...look([1000, 30], [9000, 9]),
      clean: { canary: { requests: 0, errors: 0, slow: {} }, primary: { requests: 0, errors: 0, slow: {} } },
    };

    const r = judgeLook(null, straddling, ctx(0, 0, 10));

    expect(r.state.metrics[0]?.fail.logE).toBe(0);
    expect(r.state.metrics[0]?.threshold?.fail.logE).toBeGreaterThan(0);
    expect(r.state.metrics[0]?.step.canary.requests).toBe(0);
    expect(r.state.metrics[0]?.rollout.canary.requests).toBe(1000);
  });

  it('keeps its state JSON-serializable: a round trip gives the same decisions', () => {
    let direct: SequentialState | null = null;
    let viaJson: SequentialState | null = null;
    for (let i = 0; i < 4; i++) {
      const l = look([300 + i, i], [2700, 10 + i]);
      const a = judgeLook(direct, l, ctx(0, i, 10 * (i + 1)));
      const b = judgeLook(viaJson, l, ctx(0, i, 10 * (i + 1)));
      direct = a.state;
      viaJson = JSON.parse(JSON.stringify(b.state)) as SequentialState;
      expect(b.decision).toBe(a.decision);
      expect(JSON.stringify(b.verdict)).toBe(JSON.stringify(a.verdict));
    }
  });
});

describe('sequential judge: false alarms under repeated looks', () => {
  it('fails a canary no worse than the primary in at most alpha of runs (simulated, 95% bound), where a per-look z-test does not', () => {
    // Prepare: canary and primary both exactly at the allowed 1% (the edge of both nulls).
    const runs = 1500;
    const looks = 30;
    const config = sequentialConfig({ alpha: 0.05 });
    const random = seededRandom(20261127);
    let judgeFalseAlarms = 0;
    let zFalseAlarms = 0;
    for (let run = 0; run < runs; run++) {
      let state: SequentialState | null = null;
      let judged = false;
      let zFired = false;
      let cx = 0;
      let cn = 0;
      let bx = 0;
      let bn = 0;
      for (let i = 0; i < looks; i++) {
        const total = 400;
        const nC = random.binomial(total, 0.2);
        const nB = total - nC;
        const x = random.binomial(nC, 0.01);
        const y = random.binomial(nB, 0.01);
        // Act
        if (!judged) {
          const r = judgeLook(state, look([nC, x], [nB, y]), ctx(Math.floor(i / 6), i % 6, 10 * ((i % 6) + 1)), config);
          state = r.state;
          if (r.decision === 'fail') judged = true;
        }
        cx += x;
        cn += nC;
        bx += y;
        bn += nB;
        const pooled = (cx + bx) / (cn + bn);
        const se = Math.sqrt(pooled * (1 - pooled) * (1 / cn + 1 / bn));
        if (se > 0 && 1 - normalCdf((cx / cn - bx / bn) / se) < 0.05) zFired = true;
      }
      if (judged) judgeFalseAlarms++;
      if (zFired) zFalseAlarms++;
    }
    // Assess
    expect(wilsonInterval(judgeFalseAlarms, runs).upper).toBeLessThanOrEqual(0.05);
    expect(wilsonInterval(zFalseAlarms, runs).lower).toBeGreaterThan(0.05);
  });
});

describe('sequential judge: configuration', () => {
  it('takes its knobs from spec.analysis.sequential, defaults for the rest, and is the default judge', () => {
    const analysis = analysisSchema.parse({ judge: 'sequential', sequential: { alpha: 0.02, minLooksPerStep: 3 } });
    expect(sequentialConfig(analysis.sequential)).toEqual({ ...SEQUENTIAL_DEFAULTS, alpha: 0.02, minLooksPerStep: 3 });
    expect(SEQUENTIAL_DEFAULTS).toMatchObject({
      alpha: 0.01,
      alphaPromote: 0.05,
      margin: 2,
      minLooksPerStep: 2,
      minSecondsPerStep: 30,
      fullIntervalAtTopWeight: true,
    });
    expect(analysisSchema.parse({}).judge).toBe('sequential');
    expect(analysisSchema.safeParse({ sequential: { alpha: 1.5 } }).success).toBe(false);
    expect(() => sequentialConfig({ margin: 1 })).toThrow(/margin must be above 1/);
  });
});

describe("sequential judge: a metric's own counters", () => {
  const ORDERS: SequentialMetric = { name: 'orders-failed', kind: { counter: 'orders-failed' }, thresholdRange: { max: 1 } };
  const own = (canary: [number, number], primary: [number, number]): LookCounts => {
    const arm = ([trials, events]: [number, number]): ArmDelta => ({
      requests: 0,
      errors: 0,
      slow: {},
      counters: { 'orders-failed': { events, trials } },
    });
    return { canary: arm(canary), primary: arm(primary), resets: 0, gaps: [] };
  };

  it('tests events out of their own trials, with no Envoy requests at all', () => {
    // Prepare: 10% of the canary's orders fail, 0.5% of the primary's.
    let state: SequentialState | null = null;
    let decision = '';
    // Act
    for (let i = 0; i < 10 && decision !== 'fail'; i++) {
      const r = judgeLook(state, own([100, 10], [900, 4]), ctx(0, i, 10 * (i + 1), false, [ORDERS]));
      state = r.state;
      decision = r.decision;
    }
    // Assess
    expect(decision).toBe('fail');
  });

  it('says the canary placed nothing when its trials did not move, not that it is healthy', () => {
    const r = judgeLook(null, own([0, 0], [900, 4]), ctx(0, 0, 10, false, [ORDERS]));

    expect(r.decision).toBe('no-evidence');
    expect(r.verdict.summary).toContain('the canary served no requests');
    expect(r.verdict.summary).toContain('orders-failed (events out of trials)');
  });
});

describe('sequential judge: two-arm test off (A/B testing or blue/green without analysis.compareArms)', () => {
  // The canary serves the matched users at 0.8% errors, the primary everyone else at 0.1%: eight
  // times worse, yet within its 1% limit. The populations differ, so only the limit may judge it.
  const abLook = () => look([2000, 16], [10000, 10]);
  const run = (twoArm: boolean | undefined, counts: () => LookCounts, looks = 6) => {
    let state: SequentialState | null = null;
    const decisions: string[] = [];
    let last: ReturnType<typeof judgeLook> | undefined;
    for (let i = 0; i < looks && decisions.at(-1) !== 'fail'; i++) {
      last = judgeLook(state, counts(), { ...ctx(0, i, 10 * (i + 1), true), twoArm });
      state = last.state;
      decisions.push(last.decision);
    }
    return { decisions, last };
  };

  it('keeps a canary within its threshold however it compares with the primary; the two-arm test fails it when on', () => {
    // Act
    const off = run(false, abLook);
    const on = run(undefined, abLook);
    // Assess
    expect(off.decisions).toEqual(Array(6).fill('continue'));
    expect(off.last?.verdict.evidence?.twoArm).toBe(false);
    expect(off.last?.verdict.checks[0]?.evidence?.ratioBounds).toBeUndefined();
    expect(off.last?.verdict.summary).toMatch(
      /errors: canary 0\.80%, limit 1\.00% \(E .*\); primary 0\.10%; two-arm test off: canary and primary serve different requests$/,
    );
    expect(on.decisions.at(-1)).toBe('fail');
    expect(on.last?.verdict.summary).toMatch(/^canary worse/);
  });

  it('still fails a canary above its own threshold', () => {
    // Act: 5% errors against a 1% limit.
    const off = run(false, () => look([2000, 100], [10000, 10]));
    // Assess
    expect(off.decisions.at(-1)).toBe('fail');
    expect(off.last?.verdict.checks[0]?.result).toBe('fail');
  });

  it('refuses metrics none of which has a threshold (validation says so before a rollout starts)', () => {
    const bare: SequentialMetric = { name: 'request-success-rate', kind: 'errors' };
    expect(() => judgeLook(null, abLook(), { ...ctx(0, 0, 10, true, [bare]), twoArm: false })).toThrow(
      /needs a metric with a thresholdRange/,
    );
  });
});
