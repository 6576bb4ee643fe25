/**
 * Judge benchmark on the production path: the sequential judge as the handlers call it through
 * the judge seam — start (Prepare), rebase (SetWeight), look (Analyze, with the flow's
 * decideSequentialLook) — against a synthetic Prometheus that behaves like a real one.
 *
 *   npm run bench:judge [-- --healthy 2000] [-- --bad 1000] [-- --cells a,b] [-- --seed N]
 *   npm run bench:judge -- --seeds-from bench/results/judge.json --compare   # same seeds, same numbers?
 *
 * The world, per simulated second:
 * - G gateways (scrape sources, `job`/`instance`) each take Poisson(rps/G) requests; the canary's
 *   share is the data plane's weight, which follows a weight change 1 s late (xDS); errors per arm
 *   are binomial at the arm's rate plus any shared burst (both arms).
 * - Each gateway keeps Envoy-like counters: lifetime values from before the rollout (the primary's
 *   200 and an old 504), per-code series created at their first answer, `envoy_server_uptime`.
 *   A restart zeroes them (an old series is re-created only if its code answers again); a pod
 *   replacement is a restart under a new `instance`.
 * - Prometheus scrapes each source every S seconds at its own phase; a failed scrape or a removed
 *   target writes a staleness marker (the source's series vanish from instant queries until the
 *   next good scrape); samples older than 5 minutes are not returned. An instant query returns
 *   each series' last sample with its own scrape timestamp, as `timestamp(<selector>)` does.
 *
 * The flow mirrors statemachine/rollout.asl.json's loop: Prepare, SetWeight, then Bake
 * (run.bakeSeconds) → Analyze → bake | advance (SetWeight) | promote | rollback.
 *
 * Compared on the same world: Flagger's semantics (a check every minute on the last minute's
 * exact canary success rate, no data a failed check, rollback at 5 cumulative failures) and an
 * oracle sequential test that knows the true ratio, looks on the same grid through the same
 * scrapes and has the same 1 s rollback delay. Errors served by the canary are counted over a
 * fixed horizon (the fixed schedule plus 10 minutes), including exposure after a wrong promotion.
 *
 * Prints a table and writes bench/results/judge.json (seeds included; a fresh base seed per run
 * unless --seed is given). Exits 0: it reports; the targets are in the JSON and the docs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ArmCounters, CounterHistory, CounterSnapshot, SeriesSample } from '../lambdas/core/counts.ts';
import { deltaCounts, nextBaseline } from '../lambdas/core/counts.ts';
import { qOf } from '../lambdas/core/sequential/eprocess.ts';
import { seededRandom } from '../lambdas/core/sequential/random.ts';
import type { Random } from '../lambdas/core/sequential/random.ts';
import { initialRun } from '../lambdas/core/rollout.ts';
import { parseSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import type { RunState } from '../lambdas/core/task.ts';
import { judgeFor } from '../lambdas/core/judge.ts';
import type { JudgePorts } from '../lambdas/core/judge-seam.ts';
import { compareWithRecorded, readRecorded } from './judge-seeds.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WEIGHTS = [10, 20, 30, 40, 50];
const STEP_SECONDS = 300;
const LOOK_SECONDS = 15;
const FIXED_SECONDS = WEIGHTS.length * STEP_SECONDS;
const HORIZON_SECONDS = FIXED_SECONDS + 600;
const XDS_SECONDS = 1;
const ALPHA = 0.01;
const STALENESS_SECONDS = 300;
const WARMUP_SECONDS = 600;

export interface Cell {
  id: string;
  kind: 'healthy' | 'bad';
  /** The issue's figure before this change, for the table. */
  before?: string;
  baseline: number;
  /** Canary error rate over the primary's. */
  ratio: number;
  rps: number;
  scrapeSeconds: number;
  gateways: number;
  failedScrapes?: number;
  /** A gateway restarts once at a random time in the rollout; `recreate: false` leaves its old 504 series gone. */
  restart?: { recreate: boolean };
  podReplacement?: boolean;
  /** Shared bursts: `random` once at a random time; `weight-change` after every weight change. */
  burst?: { rate: number; seconds: number; when: 'random' | 'weight-change' };
}

/** The allowed error rate: three times the baseline, so a 2× canary is inside its threshold. */
const limitOf = (cell: Cell) => 3 * cell.baseline;

const HEALTHY: Cell[] = [
  { id: 'scrape-5s', kind: 'healthy', before: '0.1% / 0.95', baseline: 0.005, ratio: 1, rps: 200, scrapeSeconds: 5, gateways: 2 },
  { id: 'scrape-15s', kind: 'healthy', baseline: 0.005, ratio: 1, rps: 200, scrapeSeconds: 15, gateways: 2 },
  { id: 'scrape-30s', kind: 'healthy', before: '0.05% / 1.36', baseline: 0.005, ratio: 1, rps: 200, scrapeSeconds: 30, gateways: 2 },
  { id: 'scrape-60s-2gw', kind: 'healthy', before: '16% / 2.0-3.0', baseline: 0.005, ratio: 1, rps: 200, scrapeSeconds: 60, gateways: 2 },
  { id: 'scrape-60s-1gw', kind: 'healthy', before: '37% / 2.0-3.0', baseline: 0.005, ratio: 1, rps: 200, scrapeSeconds: 60, gateways: 1 },
  {
    id: 'scrape-60s-failed-1%',
    kind: 'healthy',
    before: '28% / 2.05',
    baseline: 0.005,
    ratio: 1,
    rps: 200,
    scrapeSeconds: 60,
    gateways: 2,
    failedScrapes: 0.01,
  },
  {
    id: 'restart-504-not-recreated',
    kind: 'healthy',
    before: '98.8%',
    baseline: 0.005,
    ratio: 1,
    rps: 200,
    scrapeSeconds: 15,
    gateways: 2,
    restart: { recreate: false },
  },
  {
    id: 'pod-replaced',
    kind: 'healthy',
    before: '99.2%',
    baseline: 0.005,
    ratio: 1,
    rps: 200,
    scrapeSeconds: 15,
    gateways: 2,
    podReplacement: true,
  },
  {
    id: 'shared-incident-5%-30s',
    kind: 'healthy',
    before: '5.95%',
    baseline: 0.005,
    ratio: 1,
    rps: 200,
    scrapeSeconds: 15,
    gateways: 2,
    burst: { rate: 0.05, seconds: 30, when: 'random' },
  },
  {
    id: 'shared-2%-20s-each-change',
    kind: 'healthy',
    before: '71%',
    baseline: 0.005,
    ratio: 1,
    rps: 200,
    scrapeSeconds: 15,
    gateways: 2,
    burst: { rate: 0.02, seconds: 20, when: 'weight-change' },
  },
  {
    id: 'shared-10%-30s-each-change',
    kind: 'healthy',
    before: '10-22%',
    baseline: 0.005,
    ratio: 1,
    rps: 200,
    scrapeSeconds: 15,
    gateways: 2,
    burst: { rate: 0.1, seconds: 30, when: 'weight-change' },
  },
  { id: 'rps-1', kind: 'healthy', baseline: 0.005, ratio: 1, rps: 1, scrapeSeconds: 15, gateways: 1 },
  { id: 'rps-0.3', kind: 'healthy', before: '72% / 2.26', baseline: 0.005, ratio: 1, rps: 0.3, scrapeSeconds: 15, gateways: 1 },
  { id: 'baseline-0.1%', kind: 'healthy', baseline: 0.001, ratio: 1, rps: 200, scrapeSeconds: 15, gateways: 2 },
  { id: 'baseline-5%', kind: 'healthy', baseline: 0.05, ratio: 1, rps: 200, scrapeSeconds: 15, gateways: 2 },
  { id: 'rps-1000', kind: 'healthy', baseline: 0.01, ratio: 1, rps: 1000, scrapeSeconds: 15, gateways: 2 },
];

const BAD: Cell[] = [
  {
    id: 'bad-2x-in-threshold-1%',
    kind: 'bad',
    before: 'ends steps early 84-99%',
    baseline: 0.01,
    ratio: 2,
    rps: 200,
    scrapeSeconds: 15,
    gateways: 2,
  },
  {
    id: 'bad-2x-in-threshold-0.1%',
    kind: 'bad',
    before: 'promoted 78%',
    baseline: 0.001,
    ratio: 2,
    rps: 200,
    scrapeSeconds: 15,
    gateways: 2,
  },
  { id: 'bad-5x-1%', kind: 'bad', baseline: 0.01, ratio: 5, rps: 200, scrapeSeconds: 15, gateways: 2 },
  { id: 'bad-5x-1%-scrape-60s', kind: 'bad', baseline: 0.01, ratio: 5, rps: 200, scrapeSeconds: 60, gateways: 2 },
];

const poisson = (random: Random, mean: number) => (mean > 0 ? random.poisson(mean) : 0);
const binomial = (random: Random, n: number, p: number) => (n > 0 && p > 0 ? (p >= 1 ? n : random.binomial(n, p)) : 0);

// ---------------------------------------------------------------- the world

type ArmName = 'canary' | 'primary';
interface Gateway {
  instance: string;
  startedAt: number;
  /** `${arm}|${code}` → cumulative count (a series exists once its key does). */
  counters: Map<string, number>;
  phase: number;
  /** Epoch seconds of this source's last good scrape and its values, or null after a staleness marker. */
  scraped: { ts: number; values: Map<string, number>; uptime: number } | null;
}

const CLUSTER: Record<ArmName, string> = { canary: 'web-canary_gloo-system', primary: 'web-primary_gloo-system' };

class World {
  t: number;
  readonly gateways: Gateway[];
  private controlWeight = 0;
  private planeWeight = 0;
  private planeAt = 0;
  private bursts: Array<{ from: number; to: number; rate: number }> = [];
  /** Seconds at which the canary's cumulative errors were recorded (for the comparisons). */
  canaryErrors = 0;
  canaryRequests = 0;
  readonly history: Array<{ t: number; canaryRequests: number; canaryErrors: number }> = [];
  private instances = 0;

  readonly cell: Cell;
  readonly random: Random;

  constructor(cell: Cell, random: Random, start: number) {
    this.cell = cell;
    this.random = random;
    this.t = start - WARMUP_SECONDS;
    this.gateways = Array.from({ length: cell.gateways }, () => this.newGateway(this.t - 86_400, true));
  }

  private newGateway(startedAt: number, lifetime: boolean): Gateway {
    this.instances += 1;
    const counters = new Map<string, number>();
    if (lifetime) {
      // A day of history: large lifetime counters and an old 504 that may never come back.
      counters.set('primary|200', 1_000_000 + Math.floor(this.random.next() * 1_000_000));
      counters.set('primary|503', 5_000 + Math.floor(this.random.next() * 1000));
      counters.set('primary|504', 3);
    }
    return {
      instance: `10.0.0.${this.instances}:8081`,
      startedAt,
      counters,
      phase: this.random.next() * this.cell.scrapeSeconds,
      scraped: null,
    };
  }

  setWeight(percent: number): void {
    this.controlWeight = percent / 100;
    this.planeAt = this.t + XDS_SECONDS;
    if (this.cell.burst?.when === 'weight-change')
      this.bursts.push({ from: this.t, to: this.t + this.cell.burst.seconds, rate: this.cell.burst.rate });
  }

  scheduleRandomBurst(from: number, to: number): void {
    const burst = this.cell.burst;
    if (burst?.when !== 'random') return;
    const at = from + this.random.next() * (to - from);
    this.bursts.push({ from: at, to: at + burst.seconds, rate: burst.rate });
  }

  restartGateway(index: number, newInstance: boolean): void {
    const old = this.gateways[index];
    if (!old) return;
    const fresh = this.newGateway(this.t, false);
    if (!newInstance) fresh.instance = old.instance;
    fresh.phase = newInstance ? this.random.next() * this.cell.scrapeSeconds : old.phase;
    // A removed target gets a staleness marker; a restarted one keeps its last sample until its next scrape.
    fresh.scraped = newInstance ? null : old.scraped;
    this.gateways[index] = fresh;
  }

  private errorRate(arm: ArmName, at: number): number {
    const base = arm === 'canary' ? this.cell.baseline * this.cell.ratio : this.cell.baseline;
    const shared = this.bursts.reduce((sum, b) => (at >= b.from && at < b.to ? sum + b.rate : sum), 0);
    return Math.min(1, base + shared);
  }

  /** One second of traffic, then the scrapes due in it. */
  private second(): void {
    const at = this.t;
    if (at >= this.planeAt) this.planeWeight = this.controlWeight;
    for (const gateway of this.gateways) {
      const n = poisson(this.random, this.cell.rps / this.cell.gateways);
      const canary = binomial(this.random, n, this.planeWeight);
      for (const [arm, requests] of [
        ['canary', canary],
        ['primary', n - canary],
      ] as Array<[ArmName, number]>) {
        if (requests === 0) continue;
        const errors = binomial(this.random, requests, this.errorRate(arm, at));
        const add = (code: string, k: number) => {
          if (k > 0) gateway.counters.set(`${arm}|${code}`, (gateway.counters.get(`${arm}|${code}`) ?? 0) + k);
        };
        add('200', requests - errors);
        add('503', errors);
        if (arm === 'canary') {
          this.canaryRequests += requests;
          this.canaryErrors += errors;
        }
      }
    }
    this.t += 1;
    for (const gateway of this.gateways) {
      const s = this.cell.scrapeSeconds;
      // Scrapes fall at phase + k·S; one is due in (at, at + 1].
      const k = Math.floor((this.t - gateway.phase) / s);
      const due = gateway.phase + k * s;
      if (due > at && due <= this.t) {
        if (this.cell.failedScrapes && this.random.next() < this.cell.failedScrapes) gateway.scraped = null;
        else gateway.scraped = { ts: due, values: new Map(gateway.counters), uptime: Math.floor(due - gateway.startedAt) };
      }
    }
    this.history.push({ t: this.t, canaryRequests: this.canaryRequests, canaryErrors: this.canaryErrors });
  }

  advanceTo(t: number): void {
    while (this.t < t) this.second();
  }

  /** An instant query's answer at now: each source's last sample, unless stale. */
  snapshot(): CounterSnapshot {
    const arm = (): ArmCounters => ({ requests: [], errors: [], slow: {} });
    const out: CounterSnapshot = { at: new Date(this.t * 1000).toISOString(), canary: arm(), primary: arm(), uptime: [] };
    for (const gateway of this.gateways) {
      const sample = gateway.scraped;
      if (!sample || this.t - sample.ts > STALENESS_SECONDS) continue;
      const source = { job: 'gloo', instance: gateway.instance };
      for (const [key, value] of sample.values) {
        const [armName, code] = key.split('|') as [ArmName, string];
        const series: SeriesSample = {
          labels: { ...source, envoy_cluster_name: CLUSTER[armName], envoy_response_code: code },
          value,
          timestamp: sample.ts * 1000,
        };
        out[armName].requests.push(series);
        if (code.startsWith('5')) out[armName].errors.push(series);
      }
      out.uptime?.push({ labels: source, value: sample.uptime, timestamp: sample.ts * 1000 });
    }
    return out;
  }

  /** What Prepare's range query over raw samples finds: the scrape interval and the rates (before any canary traffic). */
  historyNow(): CounterHistory {
    return {
      seconds: 300,
      scrapeIntervalSeconds: this.cell.scrapeSeconds,
      canaryRps: 0,
      primaryRps: this.cell.rps,
      primaryErrorRate: this.cell.baseline,
    };
  }

  private at(t: number) {
    const first = this.history[0];
    if (!first) return { canaryRequests: 0, canaryErrors: 0 };
    const index = Math.min(this.history.length - 1, Math.max(0, Math.ceil(t) - first.t));
    return this.history[index] ?? { canaryRequests: this.canaryRequests, canaryErrors: this.canaryErrors };
  }

  /** Canary errors served by time t. */
  canaryErrorsAt(t: number): number {
    return this.at(t).canaryErrors;
  }

  canaryRequestsAt(t: number): number {
    return this.at(t).canaryRequests;
  }
}

// ---------------------------------------------------------------- one rollout

function specFor(cell: Cell): RolloutSpec {
  return parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'web' },
    spec: {
      cluster: { kubeconfigContext: 'bench' },
      router: {
        name: 'web',
        namespace: 'gloo-system',
        primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
        canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
      },
      strategy: { stepWeights: WEIGHTS, interval: `${STEP_SECONDS}s`, lookInterval: `${LOOK_SECONDS}s`, deadline: '2h' },
      analysis: {
        judge: 'sequential',
        noData: 'fail',
        prometheus: { address: 'http://synthetic.invalid' },
        metrics: [{ name: 'request-success-rate', thresholdRange: { min: 100 * (1 - limitOf(cell)) } }],
      },
    },
  });
}

interface Outcome {
  outcome: 'promoted' | 'rolled-back' | 'stuck';
  /** Seconds from the first weight change to the decision. */
  seconds: number;
  reason: string;
  steps: number;
  earlySteps: number;
  /** Canary errors over the horizon, each judge. */
  errors: { sequential: number; flagger: number; oracle: number };
}

async function rollout(cell: Cell, seed: number): Promise<Outcome> {
  const random = seededRandom(seed);
  const start = 1_800_000_000;
  const world = new World(cell, random, start);
  world.advanceTo(start);
  const spec = specFor(cell);
  const memory = new Map<string, unknown>();
  // The judge's ports (store, clock, counters), as the handlers' deps provide them.
  const ports: JudgePorts = {
    now: () => new Date(world.t * 1000),
    store: {
      getAnalysisState: async (execution: string) => memory.get(execution) ?? null,
      putAnalysisState: async (execution: string, state: unknown) => {
        memory.set(execution, state);
      },
    },
    snapshotCounters: async (_spec, _thresholds, options) => {
      const snapshot = world.snapshot();
      if (options?.historySeconds) snapshot.history = world.historyNow();
      return snapshot;
    },
    readMetrics: async () => [],
  };
  const judge = judgeFor(spec, ports);
  const execution = `bench-${seed}`;

  let run: RunState = initialRun(spec, new Date(world.t * 1000));
  run = (await judge.start(execution, run)).run;
  const began = world.t;
  const weightTimes: number[] = [];
  const setWeight = async (percent: number) => {
    world.setWeight(percent);
    weightTimes.push(world.t);
    await judge.rebase(execution);
  };
  await setWeight(run.weights[0] ?? 0);
  world.scheduleRandomBurst(began, began + FIXED_SECONDS);
  const restartAt = cell.restart || cell.podReplacement ? began + 60 + random.next() * (FIXED_SECONDS - 120) : Number.POSITIVE_INFINITY;
  let restarted = false;

  // The oracle: knows psi, looks at the same times through the same snapshots.
  const psi = cell.ratio;
  let oracleBaseline = world.snapshot();
  let oracleLLR = 0;
  let oracleAt: number | null = null;
  const oracleLook = () => {
    const now = world.snapshot();
    const look = deltaCounts(oracleBaseline, now);
    oracleBaseline = nextBaseline(oracleBaseline, now);
    const nC = look.canary.requests;
    const nP = look.primary.requests;
    if (nC <= 0 || nP <= 0) return;
    const rho = nC / (nC + nP);
    const x = look.canary.errors;
    const m = x + look.primary.errors;
    const q1 = qOf(psi, rho);
    oracleLLR += x * Math.log(q1 / rho) + (m - x) * Math.log((1 - q1) / (1 - rho));
    if (oracleLLR >= Math.log(1 / ALPHA)) oracleAt = world.t;
  };

  let steps = 1;
  let earlySteps = 0;
  let decision: { outcome: Outcome['outcome']; at: number; reason: string } | null = null;
  while (!decision) {
    const lookAt = world.t + run.bakeSeconds;
    if (!restarted && lookAt > restartAt) {
      world.advanceTo(Math.ceil(restartAt));
      world.restartGateway(0, Boolean(cell.podReplacement));
      restarted = true;
    }
    world.advanceTo(lookAt);
    if (oracleAt === null && psi > 1) oracleLook();
    const result = await judge.look(execution, run, { noData: 'fail', now: new Date(world.t * 1000) });
    const next = result.next;
    if (next.next === 'rollback') decision = { outcome: 'rolled-back', at: world.t, reason: next.reason ?? '' };
    else if (next.next === 'promote') decision = { outcome: 'promoted', at: world.t, reason: next.reason ?? '' };
    else if (next.next === 'advance') {
      steps += 1;
      if ((next.reason ?? '').startsWith('ended the step early')) earlySteps += 1;
      await setWeight(next.weights[next.stepIndex] ?? 0);
    } else if (world.t - began > 2 * 3600) decision = { outcome: 'stuck', at: world.t, reason: 'over two hours' };
    if (next.next === 'promote' && (next.reason ?? '').startsWith('ended the last step early')) earlySteps += 1;
    run = next;
  }

  // Errors over the horizon. The sequential judge: what the canary served until its decision took
  // effect, plus full exposure after a promotion.
  const horizonEnd = began + HORIZON_SECONDS;
  const canaryRate = cell.baseline * cell.ratio;
  const exposure = (from: number) => Math.max(0, horizonEnd - from) * cell.rps * canaryRate;
  const sequential =
    world.canaryErrorsAt(decision.at + XDS_SECONDS) -
    world.canaryErrorsAt(began) +
    (decision.outcome === 'promoted' ? exposure(decision.at) : 0);

  let flagger = 0;
  let oracle = 0;
  if (cell.kind === 'bad') {
    // The other judges on the same world, which carries on with the fixed schedule past the
    // sequential decision (its rollback is not applied here).
    const end = began + FIXED_SECONDS;
    const fixedWeightAt = (t: number) => WEIGHTS[Math.min(WEIGHTS.length - 1, Math.floor((t - began) / STEP_SECONDS))] ?? 0;
    let weight = -1;
    while (world.t < end) {
      if (fixedWeightAt(world.t) !== weight) {
        weight = fixedWeightAt(world.t);
        world.setWeight(weight);
      }
      world.advanceTo(Math.min(end, world.t + run.bakeSeconds));
      if (oracleAt === null) oracleLook();
    }
    // Flagger: a check each minute on the last minute's canary success rate; no data fails it.
    let failures = 0;
    let flaggerAt: number | null = null;
    for (let t = began + 60; t <= end; t += 60) {
      const requests = world.canaryRequestsAt(t) - world.canaryRequestsAt(t - 60);
      const errors = world.canaryErrorsAt(t) - world.canaryErrorsAt(t - 60);
      if (requests === 0 || (requests - errors) / requests < 1 - limitOf(cell)) failures += 1;
      if (failures >= 5) {
        flaggerAt = t;
        break;
      }
    }
    const served = (at: number | null) =>
      at !== null
        ? world.canaryErrorsAt(at + XDS_SECONDS) - world.canaryErrorsAt(began)
        : world.canaryErrorsAt(end) - world.canaryErrorsAt(began) + exposure(end);
    flagger = served(flaggerAt);
    oracle = served(oracleAt);
  }
  return {
    outcome: decision.outcome,
    seconds: decision.at - began,
    reason: decision.reason,
    steps,
    earlySteps,
    errors: { sequential, flagger, oracle },
  };
}

// ---------------------------------------------------------------- statistics and the table

/** Clopper-Pearson upper bound (95%, one-sided 97.5%) by bisection on the binomial tail. */
function clopperPearsonUpper(k: number, n: number): number {
  if (n === 0) return 1;
  if (k >= n) return 1;
  const tail = (p: number) => {
    // P(X <= k) for X ~ Binomial(n, p), in log space.
    let sum = 0;
    let logTerm = n * Math.log(1 - p);
    for (let i = 0; i <= k; i++) {
      sum += Math.exp(logTerm);
      logTerm += Math.log((n - i) / (i + 1)) + Math.log(p / (1 - p));
    }
    return sum;
  };
  let lo = k / n;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (tail(mid) > 0.025) lo = mid;
    else hi = mid;
  }
  return hi;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? (sorted[Math.floor(sorted.length / 2)] as number) : Number.NaN;
};
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

interface CellResult {
  id: string;
  kind: Cell['kind'];
  runs: number;
  firstSeed: number;
  before?: string;
  rolledBack: number;
  rolledBackRate: number;
  rolledBackUpper95: number;
  promoted: number;
  meanPromoteVsFixed: number | null;
  earlyStepRate: number;
  medianErrors?: { sequential: number; flagger: number; oracle: number };
  reasons: Record<string, number>;
}

async function runCell(cell: Cell, runs: number, firstSeed: number): Promise<CellResult> {
  const outcomes: Outcome[] = [];
  for (let i = 0; i < runs; i++) outcomes.push(await rollout(cell, firstSeed + i));
  const rolledBack = outcomes.filter((o) => o.outcome !== 'promoted').length;
  const promoted = outcomes.filter((o) => o.outcome === 'promoted');
  const steps = outcomes.reduce((s, o) => s + o.steps, 0);
  const reasons: Record<string, number> = {};
  for (const o of outcomes.filter((x) => x.outcome !== 'promoted')) {
    const key = o.reason.replace(/[0-9.]+/g, '#').slice(0, 60);
    reasons[key] = (reasons[key] ?? 0) + 1;
  }
  const result: CellResult = {
    id: cell.id,
    kind: cell.kind,
    runs,
    firstSeed,
    ...(cell.before ? { before: cell.before } : {}),
    rolledBack,
    rolledBackRate: rolledBack / runs,
    rolledBackUpper95: clopperPearsonUpper(rolledBack, runs),
    promoted: promoted.length,
    meanPromoteVsFixed: promoted.length ? mean(promoted.map((o) => o.seconds / FIXED_SECONDS)) : null,
    earlyStepRate: steps ? outcomes.reduce((s, o) => s + o.earlySteps, 0) / steps : 0,
    reasons,
  };
  if (cell.kind === 'bad') {
    result.medianErrors = {
      sequential: median(outcomes.map((o) => o.errors.sequential)),
      flagger: median(outcomes.map((o) => o.errors.flagger)),
      oracle: median(outcomes.map((o) => o.errors.oracle)),
    };
  }
  return result;
}

function pct(v: number): string {
  return `${(100 * v).toFixed(v < 0.01 ? 2 : 1)}%`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      healthy: { type: 'string', default: '2000' },
      bad: { type: 'string', default: '1000' },
      cells: { type: 'string' },
      seed: { type: 'string' },
      'seeds-from': { type: 'string' },
      compare: { type: 'boolean', default: false },
    },
  });
  const recorded = values['seeds-from'] ? readRecorded(resolve(values['seeds-from'])) : null;
  if (values.compare && !recorded) throw new Error('--compare: needs --seeds-from FILE (the results to compare with)');
  const gone = recorded?.cells.filter((r) => ![...HEALTHY, ...BAD].some((c) => c.id === r.id)) ?? [];
  if (gone.length) throw new Error(`--seeds-from: no cell ${gone.map((c) => c.id).join(', ')} in this bench any more`);
  const healthyRuns = Number(values.healthy);
  const badRuns = Number(values.bad);
  if (!(Number.isInteger(healthyRuns) && healthyRuns > 0))
    throw new Error(`--healthy: expected a whole number of runs, got ${values.healthy}`);
  if (!(Number.isInteger(badRuns) && badRuns > 0)) throw new Error(`--bad: expected a whole number of runs, got ${values.bad}`);
  const baseSeed = recorded?.baseSeed ?? (values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 1e9));
  const wanted = values.cells ? new Set(values.cells.split(',')) : null;
  const cells = [...HEALTHY, ...BAD].filter((c) => !wanted || wanted.has(c.id)).filter((c) => !recorded || recorded.raw.has(c.id));
  const startedAt = Date.now();
  const results: CellResult[] = [];
  for (const [i, cell] of cells.entries()) {
    // A replay takes each cell's recorded seed and run count; a fresh run derives them.
    const replay = recorded?.cells.find((c) => c.id === cell.id);
    const runs = replay?.runs ?? (cell.kind === 'healthy' ? healthyRuns : badRuns);
    const result = await runCell(cell, runs, replay?.firstSeed ?? baseSeed + i * 1_000_003);
    results.push(result);
    const promote = result.meanPromoteVsFixed === null ? '—' : result.meanPromoteVsFixed.toFixed(2);
    const errors = result.medianErrors
      ? ` │ errors seq ${result.medianErrors.sequential.toFixed(0)} / Flagger ${result.medianErrors.flagger.toFixed(0)} / oracle ${result.medianErrors.oracle.toFixed(0)}`
      : '';
    process.stdout.write(
      `${cell.id.padEnd(28)} │ n ${String(runs).padStart(5)} │ ${cell.kind === 'healthy' ? 'rolled back' : 'caught     '} ${pct(result.rolledBackRate).padStart(6)} (95% ≤ ${pct(result.rolledBackUpper95)}) │ promote/fixed ${promote.padStart(4)} │ early steps ${pct(result.earlyStepRate).padStart(6)}${errors}${result.before ? ` │ before: ${result.before}` : ''}\n`,
    );
  }
  const out = {
    generatedAt: new Date().toISOString(),
    seconds: (Date.now() - startedAt) / 1000,
    baseSeed,
    model: {
      weights: WEIGHTS,
      stepSeconds: STEP_SECONDS,
      lookSeconds: LOOK_SECONDS,
      horizonSeconds: HORIZON_SECONDS,
      xdsSeconds: XDS_SECONDS,
      alpha: ALPHA,
      limit: '3 × baseline',
    },
    cells: results,
  };
  mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true });
  if (recorded && values.compare) {
    const same = compareWithRecorded(recorded, results, out.seconds, resolve(ROOT, 'bench/results/judge-compare.json'));
    process.exitCode = same ? 0 : 1;
    return;
  }
  writeFileSync(resolve(ROOT, 'bench/results/judge.json'), `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`base seed ${baseSeed}; ${out.seconds.toFixed(0)} s; wrote bench/results/judge.json\n`);
}

await main();
