/**
 * Judge benchmark: the sequential judge against the threshold judge (Flagger
 * semantics) on the same simulated request streams.
 *
 *   npm run bench:judge [-- --healthy-seeds 10000] [-- --bad-seeds 1000] [-- --workers 2] [-- --quick]
 *
 * The simulator works in ticks of one scrape interval (5 s). Per tick: requests ~ Poisson(rps·5 s),
 * each routed to the canary at random with the step's weight (a binomial draw), errors and
 * requests over 500 ms drawn per arm (binomial). Operations are modelled: a look reads the scrape
 * of the previous tick (scrape delay), looks happen every 10 s (sequential) or once per interval
 * (threshold), a rollback or weight change takes effect one tick after the decision, error bursts
 * hit both arms at once, counter resets lose part of a tick's counts (a pod restart between two
 * scrapes), and failed scrapes leave the look with the last good one. Both judges see the same
 * random streams (common random numbers: the same seed drives bursts, resets, gaps and draws).
 *
 * The schedule is Flagger's tutorial one: stepWeight 10 up to 50 (5 steps), threshold 5. Metrics:
 * request-success-rate (min 99) and request-duration (p99 max 500 ms → requests over 500 ms).
 *
 * "Ideal" is Wald's SPRT that knows the true ratio, watching every error as it happens at the
 * first step's share: expected canary errors to cross 1/alpha (Wald's approximation, no overshoot).
 *
 * Prints a table and writes bench/results/judge.json. Exits 0 (it reports; targets are in the JSON).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { LookCounts } from '../lambdas/core/counts.ts';
import type { MetricReading } from '../lambdas/core/ports.ts';
import { thresholdJudge } from '../lambdas/core/judge-threshold.ts';
import { decideAfterLook } from '../lambdas/core/rollout.ts';
import type { RunState } from '../lambdas/core/task.ts';
import { qOf } from '../lambdas/core/sequential/eprocess.ts';
import type { SequentialMetric, SequentialState } from '../lambdas/core/sequential/judge.ts';
import { judgeLook, SEQUENTIAL_DEFAULTS } from '../lambdas/core/sequential/judge.ts';
import { seededRandom } from '../lambdas/core/sequential/random.ts';
import type { Random } from '../lambdas/core/sequential/random.ts';
import { normalCdf, wilsonInterval } from '../lambdas/core/sequential/stats.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TICK = 5; // seconds: one scrape interval
const LOOK = 10; // seconds: the sequential judge's lookInterval
const WEIGHTS = [0.1, 0.2, 0.3, 0.4, 0.5];
const THRESHOLD = 5;
const ALPHA = SEQUENTIAL_DEFAULTS.alpha;
const SLOW_MS = 500;
const METRICS: SequentialMetric[] = [
  { name: 'request-success-rate', kind: 'errors', thresholdRange: { min: 99 } },
  { name: 'request-duration', kind: { slowerThanMs: SLOW_MS }, thresholdRange: { max: SLOW_MS } },
];
// Latency: log-normal, primary median 100 ms, sigma 0.6 → 0.37% of requests over 500 ms.
const LATENCY_SIGMA = 0.6;
const slowFraction = (medianMs: number) => 1 - normalCdf(Math.log(SLOW_MS / medianMs) / LATENCY_SIGMA);
// Operations.
const BURST_START_PER_TICK = 1 / 120; // about one shared burst per 10 minutes
const BURST_TICKS = [2, 6] as const; // 10–30 s
const BURST_ERROR_RATE = 0.02; // added to both arms
const RESET_PER_TICK_PER_ARM = 1 / 600;
const SCRAPE_GAP_PER_TICK = 0.01;

export interface Scenario {
  kind: 'healthy' | 'errors' | 'latency';
  baseline: number;
  /** Errors: the canary's error rate over the baseline's (over a 0% baseline: ratio × 0.5%). Latency: median multiplier. */
  ratio: number;
  rps: number;
  intervalSeconds: number;
  seeds: number;
  firstSeed: number;
}

interface RunResult {
  promoted: boolean;
  seconds: number;
  canaryErrors: number;
  canaryEvents: number;
}

interface Rates {
  primaryError: number;
  canaryError: number;
  primarySlow: number;
  canarySlow: number;
}

function ratesOf(s: Scenario): Rates {
  const primarySlow = slowFraction(100);
  if (s.kind === 'healthy') return { primaryError: s.baseline, canaryError: s.baseline, primarySlow, canarySlow: primarySlow };
  if (s.kind === 'errors') {
    const canaryError = s.baseline > 0 ? s.ratio * s.baseline : s.ratio * 0.005;
    return { primaryError: s.baseline, canaryError, primarySlow, canarySlow: primarySlow };
  }
  return { primaryError: s.baseline, canaryError: s.baseline, primarySlow, canarySlow: slowFraction(100 * s.ratio) };
}

/** The environment a seed fixes for both judges: bursts, resets, scrape gaps. */
interface Environment {
  burst: (tick: number) => boolean;
  resetLoss: (tick: number, arm: 0 | 1) => number;
  scrapeOk: (tick: number) => boolean;
}

function environment(seed: number, ticks: number): Environment {
  const r = seededRandom(seed ^ 0x5bd1e995);
  const burst = new Uint8Array(ticks);
  const loss = new Float64Array(ticks * 2);
  const ok = new Uint8Array(ticks);
  for (let t = 0; t < ticks; t++) {
    if (r.next() < BURST_START_PER_TICK) {
      const len = BURST_TICKS[0] + Math.floor(r.next() * (BURST_TICKS[1] - BURST_TICKS[0] + 1));
      for (let k = t; k < Math.min(ticks, t + len); k++) burst[k] = 1;
    }
    for (const arm of [0, 1]) loss[t * 2 + arm] = r.next() < RESET_PER_TICK_PER_ARM ? r.next() : 0;
    ok[t] = r.next() < SCRAPE_GAP_PER_TICK ? 0 : 1;
  }
  return { burst: (t) => burst[t] === 1, resetLoss: (t, arm) => loss[t * 2 + arm] as number, scrapeOk: (t) => ok[t] === 1 };
}

/** Observed cumulative counters per tick (what Prometheus would hold after delta/reset handling). */
class Stream {
  // Per tick end: cumulative observed [canaryReq, canaryErr, canarySlow, primaryReq, primaryErr, primarySlow].
  readonly cum: Float64Array;
  ticks = 0;
  trueCanaryErrors = 0;
  trueCanaryEvents = 0;
  private readonly random: Random;
  private readonly scenario: Scenario;
  private readonly rates: Rates;
  private readonly env: Environment;
  constructor(seed: number, maxTicks: number, scenario: Scenario, rates: Rates, env: Environment) {
    this.cum = new Float64Array((maxTicks + 1) * 6);
    this.random = seededRandom(seed);
    this.scenario = scenario;
    this.rates = rates;
    this.env = env;
  }
  private weight = 0;
  private pending: number | null = null;
  /** Routes share w to the canary: from the tick after next (the router takes a tick to apply it), or at once. */
  setWeight(w: number, now = false): void {
    if (now) this.weight = w;
    else this.pending = w;
  }
  /** Serves one tick at the effective canary share and appends the cumulative counts. */
  serve(): void {
    const t = this.ticks;
    const w = this.weight;
    const r = this.random;
    const burst = this.env.burst(t) ? BURST_ERROR_RATE : 0;
    const n = r.poisson(this.scenario.rps * TICK);
    const nC = r.binomial(n, w);
    const nB = n - nC;
    // The canary's own errors, then the burst's (shared by both arms, not the canary's doing).
    const ownC = r.binomial(nC, this.rates.canaryError);
    const eC = ownC + (burst > 0 ? r.binomial(nC - ownC, burst) : 0);
    const eB = r.binomial(nB, Math.min(1, this.rates.primaryError + burst));
    const sC = r.binomial(nC, this.rates.canarySlow);
    const sB = r.binomial(nB, this.rates.primarySlow);
    this.trueCanaryErrors += ownC;
    this.trueCanaryEvents += this.scenario.kind === 'latency' ? sC : ownC;
    // A counter reset between scrapes loses the counts before the restart (thinned per request).
    const keep = (count: number, arm: 0 | 1) => {
      const loss = this.env.resetLoss(t, arm);
      return loss > 0 ? r.binomial(count, 1 - loss) : count;
    };
    const base = t * 6;
    const next = (t + 1) * 6;
    const inc = [keep(nC, 0), keep(eC, 0), keep(sC, 0), keep(nB, 1), keep(eB, 1), keep(sB, 1)];
    // Keep errors and slow counts within requests after thinning.
    inc[1] = Math.min(inc[1] as number, inc[0] as number);
    inc[2] = Math.min(inc[2] as number, inc[0] as number);
    inc[4] = Math.min(inc[4] as number, inc[3] as number);
    inc[5] = Math.min(inc[5] as number, inc[3] as number);
    for (let i = 0; i < 6; i++) this.cum[next + i] = (this.cum[base + i] as number) + (inc[i] as number);
    this.ticks++;
    if (this.pending !== null) {
      this.weight = this.pending;
      this.pending = null;
    }
  }
  /** The last successful scrape at or before tick end `t` (0 = the rollout's start snapshot). */
  lastScrape(t: number): number {
    let s = t;
    while (s > 0 && !this.env.scrapeOk(s - 1)) s--;
    return s;
  }
  delta(from: number, to: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < 6; i++) out.push((this.cum[to * 6 + i] as number) - (this.cum[from * 6 + i] as number));
    return out;
  }
}

function lookCounts(d: number[]): LookCounts {
  return {
    canary: { requests: d[0] as number, errors: d[1] as number, slow: { [String(SLOW_MS)]: d[2] as number } },
    primary: { requests: d[3] as number, errors: d[4] as number, slow: { [String(SLOW_MS)]: d[5] as number } },
    resets: 0,
    gaps: [],
  };
}

function maxTicksOf(s: Scenario): number {
  return (WEIGHTS.length * s.intervalSeconds) / TICK + 4;
}

function runSequential(s: Scenario, seed: number): RunResult {
  const maxTicks = maxTicksOf(s);
  const env = environment(seed, maxTicks);
  const stream = new Stream(seed, maxTicks, s, ratesOf(s), env);
  const ticksPerLook = LOOK / TICK;
  const looksPerStep = s.intervalSeconds / LOOK;
  let state: SequentialState | null = null;
  let step = 0;
  let lookInStep = 0;
  let stepStartTick = 0;
  let dataStartTick = 0;
  let lastScrape = 0;
  let emptyLooks = 0;
  stream.setWeight(WEIGHTS[0] as number, true);
  for (;;) {
    for (let k = 0; k < ticksPerLook; k++) stream.serve();
    // The look reads the previous tick's scrape (scrape delay), or an older one after a gap.
    const scrape = stream.lastScrape(Math.max(dataStartTick, stream.ticks - 1));
    const from = Math.max(lastScrape, dataStartTick);
    // A gap right at the step's start leaves nothing newer than the step's baseline: an empty look.
    const r = judgeLook(state, lookCounts(stream.delta(from, Math.max(from, scrape))), {
      stepIndex: step,
      lookInStep,
      secondsInStep: (stream.ticks - stepStartTick) * TICK,
      atTopWeight: step === WEIGHTS.length - 1,
      metrics: METRICS,
    });
    state = r.state;
    lastScrape = Math.max(lastScrape, scrape);
    lookInStep++;
    emptyLooks = r.decision === 'no-evidence' ? emptyLooks + 1 : 0;
    const noDataFail = emptyLooks >= looksPerStep; // noData: fail — a whole interval without evidence
    if (r.decision === 'fail' || noDataFail) {
      // Rollback takes effect one tick later: the canary serves one more tick.
      stream.setWeight(0);
      stream.serve();
      return { promoted: false, seconds: stream.ticks * TICK, canaryErrors: stream.trueCanaryErrors, canaryEvents: stream.trueCanaryEvents };
    }
    if (r.decision === 'advance-early' || lookInStep >= looksPerStep) {
      if (step === WEIGHTS.length - 1) {
        return { promoted: true, seconds: stream.ticks * TICK, canaryErrors: stream.trueCanaryErrors, canaryEvents: stream.trueCanaryEvents };
      }
      // The step's clock starts now (SetWeight, then the bake); the router applies the weight a
      // tick later, and the step's counts start from the first scrape at the new weight.
      step++;
      stream.setWeight(WEIGHTS[step] as number);
      lookInStep = 0;
      stepStartTick = stream.ticks;
      dataStartTick = stream.ticks + 1;
      lastScrape = dataStartTick;
    }
  }
}

function runThreshold(s: Scenario, seed: number): RunResult {
  const maxTicks = maxTicksOf(s) * THRESHOLD;
  const env = environment(seed, maxTicks);
  const stream = new Stream(seed, maxTicks, s, ratesOf(s), env);
  const ticksPerInterval = s.intervalSeconds / TICK;
  const start = new Date(0).toISOString();
  let run: RunState = {
    phase: 'live',
    stepIndex: 0,
    weights: WEIGHTS.map((w) => w * 100),
    weightScale: 100,
    bakeSeconds: s.intervalSeconds,
    looksPerStep: 1,
    lookInStep: 0,
    failedChecks: 0,
    next: 'bake',
    startedAt: start,
    deadlineAt: new Date(10 * 24 * 3600 * 1000).toISOString(),
  };
  stream.setWeight(WEIGHTS[0] as number, true);
  for (;;) {
    for (let k = 0; k < ticksPerInterval; k++) stream.serve();
    // Flagger's query: the rate over the last interval, from the scrapes available one tick ago.
    const to = stream.lastScrape(stream.ticks - 1);
    const from = stream.lastScrape(Math.max(0, stream.ticks - 1 - ticksPerInterval));
    const d = stream.delta(from, to);
    const [cReq, cErr, cSlow, pReq, pErr] = d as [number, number, number, number, number];
    const readings: MetricReading[] = [
      {
        name: 'request-success-rate',
        value: cReq > 0 ? 100 * (1 - cErr / cReq) : null,
        thresholdRange: { min: 99 },
        primaryValue: pReq > 0 ? 100 * (1 - pErr / pReq) : null,
      },
      // p99 above 500 ms exactly when more than 1% of requests are over 500 ms.
      { name: 'request-duration', value: cReq > 0 ? (cSlow / cReq > 0.01 ? SLOW_MS + 1 : SLOW_MS - 1) : null, thresholdRange: { max: SLOW_MS } },
    ];
    const verdict = thresholdJudge.judge(readings);
    run = decideAfterLook(run, { verdict, noData: 'fail', threshold: THRESHOLD, now: new Date(0) });
    if (run.next === 'rollback') {
      stream.setWeight(0);
      stream.serve();
      return { promoted: false, seconds: stream.ticks * TICK, canaryErrors: stream.trueCanaryErrors, canaryEvents: stream.trueCanaryEvents };
    }
    if (run.next === 'promote') {
      return { promoted: true, seconds: stream.ticks * TICK, canaryErrors: stream.trueCanaryErrors, canaryEvents: stream.trueCanaryEvents };
    }
    if (run.next === 'advance') stream.setWeight(WEIGHTS[run.stepIndex] as number);
  }
}

/** Wald's SPRT at the true ratio, watching each event: expected canary events to reach 1/alpha. */
function idealCanaryEvents(s: Scenario): number | null {
  if (s.kind === 'healthy') return null;
  const rates = ratesOf(s);
  const w = WEIGHTS[0] as number;
  const [pc, pb] = s.kind === 'errors' ? [rates.canaryError, rates.primaryError] : [rates.canarySlow, rates.primarySlow];
  const psi = pb > 0 ? pc / pb : Number.POSITIVE_INFINITY;
  const q1 = Number.isFinite(psi) ? qOf(psi, w) : 1;
  const kl = q1 * Math.log(q1 / w) + (q1 < 1 ? (1 - q1) * Math.log((1 - q1) / (1 - w)) : 0);
  return (q1 * Math.log(1 / ALPHA)) / kl;
}

interface Summary {
  runs: number;
  promoted: number;
  rolledBack: number;
  meanSeconds: number;
  meanPromotedSeconds: number | null;
  meanCanaryEvents: number;
  meanCanaryErrors: number;
}

function summarize(results: RunResult[]): Summary {
  const promoted = results.filter((r) => r.promoted);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  return {
    runs: results.length,
    promoted: promoted.length,
    rolledBack: results.length - promoted.length,
    meanSeconds: mean(results.map((r) => r.seconds)),
    meanPromotedSeconds: promoted.length ? mean(promoted.map((r) => r.seconds)) : null,
    meanCanaryEvents: mean(results.map((r) => r.canaryEvents)),
    meanCanaryErrors: mean(results.map((r) => r.canaryErrors)),
  };
}

function runScenario(s: Scenario): { sequential: Summary; threshold: Summary } {
  const seq: RunResult[] = [];
  const thr: RunResult[] = [];
  for (let i = 0; i < s.seeds; i++) {
    const seed = s.firstSeed + i;
    seq.push(runSequential(s, seed));
    thr.push(runThreshold(s, seed));
  }
  return { sequential: summarize(seq), threshold: summarize(thr) };
}

function merge(a: Summary, b: Summary): Summary {
  const runs = a.runs + b.runs;
  const w = (x: number, y: number) => (a.runs * x + b.runs * y) / runs;
  const promoted = a.promoted + b.promoted;
  const mp =
    a.meanPromotedSeconds === null ? b.meanPromotedSeconds : b.meanPromotedSeconds === null ? a.meanPromotedSeconds : (a.promoted * a.meanPromotedSeconds + b.promoted * b.meanPromotedSeconds) / promoted;
  return {
    runs,
    promoted,
    rolledBack: a.rolledBack + b.rolledBack,
    meanSeconds: w(a.meanSeconds, b.meanSeconds),
    meanPromotedSeconds: mp,
    meanCanaryEvents: w(a.meanCanaryEvents, b.meanCanaryEvents),
    meanCanaryErrors: w(a.meanCanaryErrors, b.meanCanaryErrors),
  };
}

function scenarios(healthySeeds: number, badSeeds: number): Scenario[] {
  const out: Scenario[] = [];
  let firstSeed = 1;
  const add = (s: Omit<Scenario, 'firstSeed'>) => {
    out.push({ ...s, firstSeed });
    firstSeed += s.seeds;
  };
  for (const rps of [20, 200, 1000]) {
    for (const intervalSeconds of [60, 120, 300]) {
      for (const baseline of [0, 0.005]) {
        if (intervalSeconds !== 120) add({ kind: 'healthy', baseline, ratio: 1, rps, intervalSeconds, seeds: healthySeeds });
        for (const ratio of [2, 5, 10]) add({ kind: 'errors', baseline, ratio, rps, intervalSeconds, seeds: badSeeds });
      }
      if (intervalSeconds !== 120) for (const ratio of [1.5, 2]) add({ kind: 'latency', baseline: 0.005, ratio, rps, intervalSeconds, seeds: badSeeds });
    }
  }
  return out;
}

async function runAll(list: Scenario[], workers: number): Promise<{ sequential: Summary; threshold: Summary }[]> {
  // Split every scenario's seeds across the workers, then merge.
  const parts = Array.from({ length: workers }, (_, k) =>
    list.map((s) => {
      const per = Math.ceil(s.seeds / workers);
      const first = s.firstSeed + k * per;
      return { ...s, firstSeed: first, seeds: Math.max(0, Math.min(per, s.seeds - k * per)) };
    }),
  );
  const outputs = await Promise.all(
    parts.map(
      (part) =>
        new Promise<{ sequential: Summary; threshold: Summary }[]>((resolvePart, reject) => {
          const worker = new Worker(fileURLToPath(import.meta.url), { workerData: part });
          worker.once('message', resolvePart);
          worker.once('error', reject);
        }),
    ),
  );
  return list.map((_, i) => {
    const pieces = outputs.map((o) => o[i] as { sequential: Summary; threshold: Summary }).filter((p) => p.sequential.runs > 0);
    return pieces.reduce((a, b) => ({ sequential: merge(a.sequential, b.sequential), threshold: merge(a.threshold, b.threshold) }));
  });
}

function label(s: Scenario): string {
  if (s.kind === 'healthy') return `healthy @${(100 * s.baseline).toFixed(1)}%`;
  if (s.kind === 'errors') return `errors ${s.ratio}x @${(100 * s.baseline).toFixed(1)}%`;
  return `latency x${s.ratio}`;
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      'healthy-seeds': { type: 'string', default: '10000' },
      'bad-seeds': { type: 'string', default: '1000' },
      workers: { type: 'string', default: String(Math.min(2, availableParallelism())) },
      quick: { type: 'boolean', default: false },
    },
  });
  const healthySeeds = args.quick ? 500 : Number(args['healthy-seeds']);
  const badSeeds = args.quick ? 100 : Number(args['bad-seeds']);
  const started = performance.now();
  const list = scenarios(healthySeeds, badSeeds);
  const results = await runAll(list, Math.max(1, Number(args.workers)));
  const fixedOf = (s: Scenario) => WEIGHTS.length * s.intervalSeconds;

  const rows = list.map((s, i) => {
    const { sequential, threshold } = results[i] as { sequential: Summary; threshold: Summary };
    const ideal = idealCanaryEvents(s);
    const falseRollback = s.kind === 'healthy' ? { rate: sequential.rolledBack / sequential.runs, ...wilsonInterval(sequential.rolledBack, sequential.runs) } : null;
    const thresholdFalseRollback = s.kind === 'healthy' ? { rate: threshold.rolledBack / threshold.runs, ...wilsonInterval(threshold.rolledBack, threshold.runs) } : null;
    return {
      scenario: label(s),
      kind: s.kind,
      baseline: s.baseline,
      ratio: s.ratio,
      rps: s.rps,
      intervalSeconds: s.intervalSeconds,
      seeds: s.seeds,
      fixedSeconds: fixedOf(s),
      sequential,
      threshold,
      idealCanaryEvents: ideal,
      falseRollback,
      thresholdFalseRollback,
      promotedFraction: sequential.promoted / sequential.runs,
      promotedBound: wilsonInterval(sequential.promoted, sequential.runs),
      promotionTimeShare: sequential.meanPromotedSeconds === null ? null : sequential.meanPromotedSeconds / fixedOf(s),
    };
  });

  // The targets this bench checks.
  const bad = rows.filter((r) => r.kind !== 'healthy');
  const errorsTarget = bad.map((r) => {
    const limit = Math.max(r.threshold.meanCanaryEvents / 10, 3 * (r.idealCanaryEvents ?? 0));
    return { scenario: r.scenario, rps: r.rps, intervalSeconds: r.intervalSeconds, sequential: r.sequential.meanCanaryEvents, threshold: r.threshold.meanCanaryEvents, ideal: r.idealCanaryEvents, limit, met: r.sequential.meanCanaryEvents <= limit };
  });
  const healthy = rows.filter((r) => r.kind === 'healthy');
  const falseTarget = healthy.map((r) => ({ scenario: r.scenario, rps: r.rps, intervalSeconds: r.intervalSeconds, rate: r.falseRollback?.rate, upper: r.falseRollback?.upper, met: (r.falseRollback?.upper ?? 1) <= 0.01 }));
  const promoteTarget = healthy
    .filter((r) => (r.rps === 1000 && r.intervalSeconds === 60) || (r.rps === 200 && r.intervalSeconds === 300) || (r.rps === 200 && r.intervalSeconds === 60))
    .map((r) => {
      const limit = r.rps === 200 && r.intervalSeconds === 60 ? 0.75 : 0.6;
      return { scenario: r.scenario, rps: r.rps, intervalSeconds: r.intervalSeconds, share: r.promotionTimeShare, limit, met: (r.promotionTimeShare ?? 1) <= limit };
    });
  const twoXTarget = rows
    .filter((r) => r.kind === 'errors' && r.ratio === 2 && r.baseline > 0 && r.intervalSeconds >= 120)
    .map((r) => ({ scenario: r.scenario, rps: r.rps, intervalSeconds: r.intervalSeconds, promoted: r.promotedFraction, upper: r.promotedBound.upper, met: r.promotedFraction <= 0.05 }));

  const pad = (v: string, n: number) => v.padStart(n);
  const f = (v: number | null | undefined, d = 1) => (v === null || v === undefined ? '-' : v.toFixed(d));
  console.log(`judge bench: ${list.length} scenarios, ${healthySeeds} healthy / ${badSeeds} bad seeds each, both judges on the same streams`);
  console.log(
    ['scenario'.padEnd(18), pad('rps', 5), pad('step', 5), pad('seeds', 6), pad('seq rb%', 8), pad('thr rb%', 8), pad('seq t/fix', 9), pad('thr t/fix', 9), pad('seq ev', 8), pad('thr ev', 8), pad('ideal', 6)].join(' '),
  );
  for (const r of rows) {
    console.log(
      [
        r.scenario.padEnd(18),
        pad(String(r.rps), 5),
        pad(`${r.intervalSeconds / 60}m`, 5),
        pad(String(r.seeds), 6),
        pad(f((100 * r.sequential.rolledBack) / r.sequential.runs, 2), 8),
        pad(f((100 * r.threshold.rolledBack) / r.threshold.runs, 2), 8),
        pad(f(r.sequential.meanSeconds / r.fixedSeconds, 2), 9),
        pad(f(r.threshold.meanSeconds / r.fixedSeconds, 2), 9),
        pad(f(r.sequential.meanCanaryEvents), 8),
        pad(f(r.threshold.meanCanaryEvents), 8),
        pad(f(r.idealCanaryEvents), 6),
      ].join(' '),
    );
  }
  const count = (xs: { met: boolean }[]) => `${xs.filter((x) => x.met).length}/${xs.length} met`;
  console.log('\nrb% = rolled back; t/fix = mean time to the outcome over the fixed schedule; ev = canary errors (latency: requests over 500 ms) served');
  console.log(`target: bad-canary errors <= max(threshold/10, 3 x ideal): ${count(errorsTarget)}`);
  for (const t of errorsTarget.filter((x) => !x.met)) console.log(`  missed ${t.scenario} ${t.rps} rps ${t.intervalSeconds / 60}m: ${f(t.sequential)} > ${f(t.limit)} (x${f(t.sequential / t.limit, 2)})`);
  console.log(`target: false rollbacks <= 1% (95% upper bound): ${count(falseTarget)}`);
  for (const t of falseTarget) console.log(`  ${t.scenario} ${t.rps} rps ${t.intervalSeconds / 60}m: ${f(100 * (t.rate ?? 0), 3)}% (upper ${f(100 * (t.upper ?? 1), 3)}%)`);
  console.log(`target: healthy promoted within 60% (75% at 200 rps/1m) of the fixed schedule: ${count(promoteTarget)}`);
  for (const t of promoteTarget) console.log(`  ${t.scenario} ${t.rps} rps ${t.intervalSeconds / 60}m: ${f(100 * (t.share ?? 1))}% (limit ${100 * t.limit}%)`);
  console.log(`target: 2x canary promoted in <= 5% of runs (steps >= 2m): ${count(twoXTarget)}`);
  for (const t of twoXTarget) console.log(`  ${t.scenario} ${t.rps} rps ${t.intervalSeconds / 60}m: ${f(100 * t.promoted)}% (upper ${f(100 * t.upper)}%)`);
  const seconds = (performance.now() - started) / 1000;
  console.log(`\n${seconds.toFixed(0)} s`);

  const out = resolve(ROOT, 'bench/results/judge.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        generatedAt: new Date().toISOString(),
        seconds,
        model: {
          tickSeconds: TICK,
          lookSeconds: LOOK,
          weights: WEIGHTS,
          threshold: THRESHOLD,
          alpha: ALPHA,
          sequential: SEQUENTIAL_DEFAULTS,
          bursts: { startPerTick: BURST_START_PER_TICK, ticks: BURST_TICKS, addedErrorRate: BURST_ERROR_RATE },
          resetsPerTickPerArm: RESET_PER_TICK_PER_ARM,
          scrapeGapPerTick: SCRAPE_GAP_PER_TICK,
          latency: { medianMs: 100, sigma: LATENCY_SIGMA, primarySlowFraction: slowFraction(100) },
          zeroBaselineBadCanary: 'over a 0% baseline the canary error rate is ratio x 0.5%',
          ideal: "Wald SPRT at the true ratio, per event, at the first step's share, to 1/alpha (no overshoot)",
        },
        rows,
        targets: { errorsServed: errorsTarget, falseRollbacks: falseTarget, promotionTime: promoteTarget, twiceBaselinePromoted: twoXTarget },
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${out}`);
}

if (isMainThread) {
  await main();
} else {
  const part = workerData as Scenario[];
  parentPort?.postMessage(part.map((s) => (s.seeds > 0 ? runScenario(s) : { sequential: summarize([]), threshold: summarize([]) })));
}
