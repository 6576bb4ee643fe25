/**
 * A realistic rollout summary for the README's screenshot and the browser test: podinfo's canary
 * passes 1%, 5% and 10%, then a bug that shows only under load makes it fail twice at 25%, and it
 * is rolled back. Deterministic (seeded), with a per-second timeline like the demo records.
 */
import type { ArmDelta, LookCounts } from '../../lambdas/core/counts.ts';
import { lookWord } from '../../lambdas/core/look-word.ts';
import type { MetricCheck } from '../../lambdas/core/verdict.ts';
import type { Weights } from '../../lambdas/core/records.ts';
import { judgeLook } from '../../lambdas/core/sequential/judge.ts';
import type { SequentialMetric, SequentialState } from '../../lambdas/core/sequential/judge.ts';
import type { ReportSummary, TimelineArm, TimelineSample } from './report-data.ts';
import type { StepSummary } from '../summary.ts';

/** mulberry32: a small seeded generator, so the picture is the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function poisson(rand: () => number, mean: number): number {
  const limit = Math.exp(-mean);
  let k = 0;
  for (let p = rand(); p > limit; p *= rand()) k++;
  return k;
}

function binomial(rand: () => number, trials: number, p: number): number {
  let k = 0;
  for (let i = 0; i < trials; i++) if (rand() < p) k++;
  return k;
}

export interface SampleOptions {
  seed?: number;
  /** Requests per second the load generator sends. */
  rps?: number;
  startedAt?: string;
}

export function sampleSummary(options: SampleOptions = {}): ReportSummary {
  const rand = random(options.seed ?? 7);
  const rps = options.rps ?? 80;
  const start = Date.parse(options.startedAt ?? '2026-03-12T14:03:00.000Z');
  const iso = (seconds: number) => new Date(start + seconds * 1000).toISOString();
  const plan = [1, 5, 10, 25, 50];
  const minSuccess = 99;
  const maxP99 = 250;
  const lookAt = [10.6, 21.1, 31.6, 42.2, 52.7];
  const weightAt = [0.5, 10.9, 21.4, 31.9]; // SetWeight right after each passing look
  const rolledBackAt = 52.9;

  const canaryWeightAt = (s: number): number => {
    if (s >= rolledBackAt) return 0;
    let w = 0;
    weightAt.forEach((at, i) => {
      if (s >= at) w = plan[i] ?? w;
    });
    return w;
  };

  // One sample per second of what the gateway served.
  const timeline: TimelineSample[] = [];
  for (let s = 1; s <= 57; s++) {
    const w = canaryWeightAt(s - 0.5);
    const total = poisson(rand, rps);
    const canaryRequests = binomial(rand, total, w / 100);
    // The bug: under 25% of the load the canary's connection pool runs dry.
    const canaryErrorRate = w >= 25 ? 0.045 : 0.0015;
    const canary: TimelineArm = {
      requests: canaryRequests,
      errors: binomial(rand, canaryRequests, canaryErrorRate),
      p99Ms: canaryRequests > 0 ? Math.round((w >= 25 ? 168 : 118) + rand() * 34 - 17) : null,
    };
    const primaryRequests = total - canaryRequests;
    const primary: TimelineArm = {
      requests: primaryRequests,
      errors: binomial(rand, primaryRequests, 0.001),
      p99Ms: Math.round(96 + rand() * 20 - 10),
    };
    const weights: Weights = { primary: 100 - w, canary: w };
    timeline.push({ at: iso(s), weights, canary, primary });
  }

  const windowed = (from: number, to: number, arm: 'canary' | 'primary') => {
    const inWindow = timeline.filter((sample) => {
      const s = (Date.parse(sample.at) - start) / 1000;
      return s > from && s <= to;
    });
    const requests = inWindow.reduce((sum, sample) => sum + (sample[arm]?.requests ?? 0), 0);
    const errors = inWindow.reduce((sum, sample) => sum + (sample[arm]?.errors ?? 0), 0);
    const p99s = inWindow.map((sample) => sample[arm]?.p99Ms).filter((v): v is number => typeof v === 'number');
    return {
      success: requests > 0 ? Number(((100 * (requests - errors)) / requests).toFixed(2)) : null,
      p99: p99s.length > 0 ? Math.max(...p99s) : null,
    };
  };

  const steps: StepSummary[] = lookAt.map((at) => {
    const w = canaryWeightAt(at - 0.1);
    const canary = windowed(at - 10, at, 'canary');
    const primary = windowed(at - 10, at, 'primary');
    const success: MetricCheck = {
      name: 'request-success-rate',
      value: canary.success,
      primary: primary.success,
      min: minSuccess,
      result: canary.success === null ? 'no-data' : canary.success >= minSuccess ? 'pass' : 'fail',
    };
    const latency: MetricCheck = {
      name: 'request-duration',
      value: canary.p99,
      primary: primary.p99,
      max: maxP99,
      result: canary.p99 === null ? 'no-data' : canary.p99 <= maxP99 ? 'pass' : 'fail',
    };
    const failed = [success, latency].filter((check) => check.result === 'fail');
    const verdict = failed.length > 0 ? 'fail' : [success, latency].some((check) => check.result === 'no-data') ? 'no-data' : 'pass';
    return {
      stepIndex: Math.max(0, plan.indexOf(w)),
      at: iso(at),
      weights: { primary: 100 - w, canary: w },
      verdict,
      summary: failed.length > 0 ? `request-success-rate ${success.value} < min ${minSuccess}` : 'all metrics within range',
      evidence: [success, latency],
    };
  });

  const served = timeline.filter((sample) => Date.parse(sample.at) - start <= rolledBackAt * 1000);
  const canaryTotal = served.reduce((sum, sample) => sum + (sample.canary?.requests ?? 0), 0);
  const firstCanary = served.find((sample) => (sample.canary?.requests ?? 0) > 0);
  return {
    execution: 'podinfo-6-7-1-3f9c2a-1',
    target: 'podinfo',
    version: '6.7.1',
    outcome: 'rolled-back',
    reason: `analysis failed 2 times (threshold 2): ${steps.at(-1)?.summary ?? ''}`,
    exitCode: 3,
    weights: { primary: 100, canary: 0 },
    weightScale: 100,
    steps,
    requests: {
      total: served.reduce((sum, sample) => sum + (sample.canary?.requests ?? 0) + (sample.primary?.requests ?? 0), 0),
      canary: canaryTotal,
      canaryErrors: served.reduce((sum, sample) => sum + (sample.canary?.errors ?? 0), 0),
    },
    durationMs: Math.round((rolledBackAt + 0.4) * 1000),
    detectionMs: firstCanary ? Math.round(start + rolledBackAt * 1000 - (Date.parse(firstCanary.at) - 1000)) : 0,
    transitions: 29,
    timeline,
    startedAt: iso(0),
    plannedWeights: plan,
  };
}

/**
 * A sequential rollout decided by the real judge on seeded counts: a canary failing 6% of its
 * requests (the primary 0.2%) is rolled back at its first or second step, with "continue" looks
 * before. For the render tests and the README's sequential screenshot.
 */
export function sampleSequentialSummary(options: SampleOptions = {}): ReportSummary {
  const rand = random(options.seed ?? 11);
  const rps = options.rps ?? 150;
  const start = Date.parse(options.startedAt ?? '2026-03-12T14:03:00.000Z');
  const iso = (seconds: number) => new Date(start + seconds * 1000).toISOString();
  const plan = [5, 10, 25, 50];
  const lookEvery = 5;
  const looksPerStep = 3;
  const metrics: SequentialMetric[] = [
    { name: 'request-success-rate', kind: 'errors', thresholdRange: { min: 99 } },
    { name: 'request-duration', kind: { slowerThanMs: 500 }, thresholdRange: { max: 500 }, quantile: 0.99 },
  ];
  let state: SequentialState | null = null;
  const steps: StepSummary[] = [];
  let lastLookAt = 0;
  let outcome: ReportSummary['outcome'] = 'promoted';
  let reason = 'all steps passed';
  const totals = { total: 0, canary: 0, canaryErrors: 0 };
  outer: for (let step = 0; step < plan.length; step++) {
    const w = plan[step] ?? 0;
    for (let i = 0; i < looksPerStep; i++) {
      const at = 1 + step * looksPerStep * lookEvery + (i + 1) * lookEvery;
      const total = poisson(rand, rps * lookEvery);
      const canaryRequests = binomial(rand, total, w / 100);
      const arm = (requests: number, errorRate: number, slowRate: number): ArmDelta => ({
        requests,
        errors: binomial(rand, requests, errorRate),
        slow: { '500': binomial(rand, requests, slowRate) },
      });
      const counts: LookCounts = {
        canary: arm(canaryRequests, 0.06, 0.004),
        primary: arm(total - canaryRequests, 0.002, 0.004),
        resets: 0,
        gaps: [],
      };
      totals.total += total;
      totals.canary += canaryRequests;
      totals.canaryErrors += counts.canary.errors;
      const result = judgeLook(state, counts, {
        stepIndex: step,
        lookInStep: i,
        secondsInStep: (i + 1) * lookEvery,
        atTopWeight: step === plan.length - 1,
        metrics,
      });
      state = result.state;
      const judged = result.verdict.evidence;
      steps.push({
        stepIndex: step,
        at: iso(at),
        weights: { primary: 100 - w, canary: w },
        verdict: lookWord(result.verdict),
        summary: result.verdict.summary,
        evidence: result.verdict.checks,
        ...(judged
          ? { judged: { ...judged, counts: { from: iso(at - lookEvery), to: iso(at), canary: counts.canary, primary: counts.primary } } }
          : {}),
      });
      lastLookAt = at;
      if (result.decision === 'fail') {
        outcome = 'rolled-back';
        reason = `sequential judge: ${result.verdict.summary}`;
        break outer;
      }
    }
  }
  const durationMs = Math.round((lastLookAt + 0.6) * 1000);
  return {
    execution: 'podinfo-6-7-1-seq-1',
    target: 'podinfo',
    version: '6.7.1',
    outcome,
    reason,
    exitCode: outcome === 'rolled-back' ? 3 : 0,
    weights: outcome === 'rolled-back' ? { primary: 100, canary: 0 } : { primary: 0, canary: 100 },
    weightScale: 100,
    steps,
    requests: totals,
    durationMs,
    transitions: 8 + 3 * steps.length,
    startedAt: iso(0),
    plannedWeights: plan,
  };
}
