/**
 * A realistic rollout summary for the README's screenshot and the browser test: podinfo's canary
 * passes 1%, 5% and 10%, then a bug that shows only under load makes it fail twice at 25%, and it
 * is rolled back. Deterministic (seeded), with a per-second timeline like the demo records.
 */
import type { MetricCheck } from '../../lambdas/core/verdict.ts';
import type { Weights } from '../../lambdas/core/records.ts';
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
