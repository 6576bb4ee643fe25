/**
 * Judge benchmark on the production path: the sequential judge as the handlers call it through
 * the judge seam — start (Prepare), rebase (SetWeight), look (Analyze, with the flow's
 * decideSequentialLook) — against a synthetic Prometheus that behaves like a real one.
 *
 *   npm run bench:judge [-- --healthy 2000] [-- --bad 1000] [-- --cells a,b] [-- --seed N] [-- --workers 3] [-- --out FILE]
 *
 * `--workers N` runs the cells in N processes (each cell's seeds depend only on the base seed and
 * its place in the list, so the figures are the same as in one process).
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
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ArmCounters, ArmDelta, CounterHistory, CounterSnapshot, SeriesSample } from '../lambdas/core/counts.ts';
import { deltaCounts, nextBaseline } from '../lambdas/core/counts.ts';
import { qOf } from '../lambdas/core/sequential/eprocess.ts';
import { SEQUENTIAL_DEFAULTS } from '../lambdas/core/sequential/judge.ts';
import { seededRandom } from '../lambdas/core/sequential/random.ts';
import type { Random } from '../lambdas/core/sequential/random.ts';
import { initialRun } from '../lambdas/core/rollout.ts';
import { parseSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import type { RunState } from '../lambdas/core/task.ts';
import { judgeFor } from '../lambdas/core/judge.ts';
import type { JudgePorts } from '../lambdas/core/judge-seam.ts';
import { compareWithRecorded, readRecorded } from './judge-seeds.ts';
import { cellTables } from './judge/tables.ts';
import { clopperPearsonUpper, meanWithSpread, targetsFor, targetTable } from './judge/targets.ts';
import type { TargetRow } from './judge/targets.ts';

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
  /** The latency metric too (`request-duration` max 500 ms): the primary's share of requests over 500 ms, the canary's ratio to it. */
  slow?: { baseline: number; ratio: number };
  /**
   * Two Prometheus replicas scrape every source every `scrapeSeconds` at their own phases, behind
   * one query endpoint (a load-balanced pair or a managed back-end) that answers each query from
   * one of them at random; the merged series has a sample about every S/2, which is what Prepare
   * reads as the scrape interval. A scrape is stamped when it starts and its values are read up to
   * 4 s later (a slow answer). A look can so see an older scrape than the previous look (time steps
   * back) or a newer timestamp with smaller counts (a backward step).
   */
  haPair?: boolean;
}

/** The allowed error rate: three times the baseline, so a 2× canary is inside its threshold. */
const limitOf = (cell: Cell) => 3 * cell.baseline;
/** `request-duration` max 500: at most 1% of requests slower than 500 ms. */
const SLOW_LIMIT = 0.01;
/** The metric a bad cell makes worse: the errors compared across judges are its events. */
const measureOf = (cell: Cell): 'errors' | 'slow' => (cell.slow && cell.slow.ratio > 1 ? 'slow' : 'errors');

/** The latency metric and an HA Prometheus pair (backward steps): cells added to the issue's list. */
const EXTRA_HEALTHY: Cell[] = [
  {
    id: 'latency-p99-500ms',
    kind: 'healthy',
    baseline: 0.005,
    ratio: 1,
    rps: 200,
    scrapeSeconds: 15,
    gateways: 2,
    slow: { baseline: 0.003, ratio: 1 },
  },
  { id: 'ha-pair-scrape-30s', kind: 'healthy', baseline: 0.005, ratio: 1, rps: 200, scrapeSeconds: 30, gateways: 2, haPair: true },
  {
    id: 'ha-pair-scrape-60s',
    kind: 'healthy',
    baseline: 0.005,
    ratio: 1,
    rps: 200,
    scrapeSeconds: 60,
    gateways: 2,
    haPair: true,
  },
];
const EXTRA_BAD: Cell[] = [
  {
    id: 'bad-latency-2x-in-threshold',
    kind: 'bad',
    baseline: 0.005,
    ratio: 1,
    rps: 200,
    scrapeSeconds: 15,
    gateways: 2,
    slow: { baseline: 0.004, ratio: 2 },
  },
  {
    id: 'bad-latency-5x',
    kind: 'bad',
    baseline: 0.005,
    ratio: 1,
    rps: 200,
    scrapeSeconds: 15,
    gateways: 2,
    slow: { baseline: 0.003, ratio: 5 },
  },
  { id: 'bad-5x-1%-ha-pair-30s', kind: 'bad', baseline: 0.01, ratio: 5, rps: 200, scrapeSeconds: 30, gateways: 2, haPair: true },
];

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
  ...EXTRA_HEALTHY,
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
  ...EXTRA_BAD,
];

const poisson = (random: Random, mean: number) => (mean > 0 ? random.poisson(mean) : 0);
const binomial = (random: Random, n: number, p: number) => (n > 0 && p > 0 ? (p >= 1 ? n : random.binomial(n, p)) : 0);

// ---------------------------------------------------------------- the world

type ArmName = 'canary' | 'primary';
interface Gateway {
  instance: string;
  startedAt: number;
  /** `${arm}|${code}` → cumulative count (a series exists once its key does); `${arm}|slow`: requests over 500 ms. */
  counters: Map<string, number>;
  /** Each Prometheus replica's scrape phase (one, or two for an HA pair). */
  phases: number[];
  /** Per replica: epoch seconds of this source's last good scrape and its values, or null after a staleness marker. */
  scraped: Array<{ ts: number; values: Map<string, number>; uptime: number } | null>;
  /** HA pair: scrapes whose answer is still on its way (values read at `readAt`, stamped `ts`). */
  pending: Array<{ replica: number; ts: number; readAt: number }>;
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
      if (this.cell.slow) counters.set('primary|slow', 3_000 + Math.floor(this.random.next() * 1000));
    }
    const phases = this.newPhases();
    return { instance: `10.0.0.${this.instances}:8081`, startedAt, counters, phases, scraped: phases.map(() => null), pending: [] };
  }

  /** An HA pair's second replica scrapes at its own phase. */
  private newPhases(): number[] {
    const s = this.cell.scrapeSeconds;
    const first = this.random.next() * s;
    return this.cell.haPair ? [first, this.random.next() * s] : [first];
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
    if (!newInstance) fresh.phases = old.phases;
    // A removed target gets a staleness marker; a restarted one keeps its last sample until its next scrape.
    fresh.scraped = newInstance ? fresh.phases.map(() => null) : old.scraped;
    this.gateways[index] = fresh;
  }

  private slowRate(arm: ArmName): number {
    const slow = this.cell.slow;
    if (!slow) return 0;
    return Math.min(1, arm === 'canary' ? slow.baseline * slow.ratio : slow.baseline);
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
        // The histogram's series exist from the first observation: "over 500 ms" is there at 0.
        const slow = this.cell.slow ? binomial(this.random, requests, this.slowRate(arm)) : 0;
        if (this.cell.slow) gateway.counters.set(`${arm}|slow`, (gateway.counters.get(`${arm}|slow`) ?? 0) + slow);
        if (arm === 'canary') {
          this.canaryRequests += requests;
          // The bad events of the cell's measure: errors, or requests over 500 ms for a latency cell.
          this.canaryErrors += measureOf(this.cell) === 'slow' ? slow : errors;
        }
      }
    }
    this.t += 1;
    for (const gateway of this.gateways) {
      const s = this.cell.scrapeSeconds;
      const sample = (ts: number) => ({ ts, values: new Map(gateway.counters), uptime: Math.floor(ts - gateway.startedAt) });
      for (const answer of gateway.pending.filter((p) => p.readAt <= this.t)) gateway.scraped[answer.replica] = sample(answer.ts);
      gateway.pending = gateway.pending.filter((p) => p.readAt > this.t);
      for (const [replica, phase] of gateway.phases.entries()) {
        // Scrapes fall at phase + k·S; one is due in (at, at + 1].
        const k = Math.floor((this.t - phase) / s);
        const due = phase + k * s;
        if (due > at && due <= this.t) {
          if (this.cell.failedScrapes && this.random.next() < this.cell.failedScrapes) gateway.scraped[replica] = null;
          else if (this.cell.haPair) gateway.pending.push({ replica, ts: due, readAt: this.t + Math.floor(4 * this.random.next()) });
          else gateway.scraped[replica] = sample(due);
        }
      }
    }
    this.history.push({ t: this.t, canaryRequests: this.canaryRequests, canaryErrors: this.canaryErrors });
  }

  advanceTo(t: number): void {
    while (this.t < t) this.second();
  }

  /**
   * An instant query's answer at now: each source's last sample, unless stale. An HA pair answers
   * from one replica at random (a load-balanced pair or a managed back-end), so a look can see an
   * older scrape than the previous one: a small backward step.
   */
  snapshot(): CounterSnapshot {
    const arm = (): ArmCounters => ({ requests: [], errors: [], slow: this.cell.slow ? { '500': [] } : {} });
    const out: CounterSnapshot = { at: new Date(this.t * 1000).toISOString(), canary: arm(), primary: arm(), uptime: [] };
    const replica = this.cell.haPair && this.random.next() < 0.5 ? 1 : 0;
    for (const gateway of this.gateways) {
      const sample = gateway.scraped[replica];
      if (!sample || this.t - sample.ts > STALENESS_SECONDS) continue;
      const source = { job: 'gloo', instance: gateway.instance };
      for (const [key, value] of sample.values) {
        const [armName, code] = key.split('|') as [ArmName, string];
        if (code === 'slow') {
          out[armName].slow['500']?.push({
            labels: { ...source, envoy_cluster_name: CLUSTER[armName] },
            value,
            timestamp: sample.ts * 1000,
          });
          continue;
        }
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
      scrapeIntervalSeconds: this.cell.haPair ? this.cell.scrapeSeconds / 2 : this.cell.scrapeSeconds,
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
        metrics: [
          { name: 'request-success-rate', thresholdRange: { min: 100 * (1 - limitOf(cell)) } },
          ...(cell.slow ? [{ name: 'request-duration', thresholdRange: { max: 500 } }] : []),
        ],
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
  const measure = measureOf(cell);
  const psi = measure === 'slow' ? (cell.slow?.ratio ?? 1) : cell.ratio;
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
    const eventsOf = (arm: typeof look.canary) => (measure === 'slow' ? (arm.slow['500'] ?? 0) : arm.errors);
    const x = eventsOf(look.canary);
    const m = x + eventsOf(look.primary);
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
  const canaryRate = measure === 'slow' ? (cell.slow?.baseline ?? 0) * (cell.slow?.ratio ?? 1) : cell.baseline * cell.ratio;
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
    // Flagger: a check each minute on the last minute's canary success rate (or p99 over 500 ms:
    // more than 1% of requests slower); no data fails it.
    const limit = measure === 'slow' ? SLOW_LIMIT : limitOf(cell);
    let failures = 0;
    let flaggerAt: number | null = null;
    for (let t = began + 60; t <= end; t += 60) {
      const requests = world.canaryRequestsAt(t) - world.canaryRequestsAt(t - 60);
      const errors = world.canaryErrorsAt(t) - world.canaryErrorsAt(t - 60);
      if (requests === 0 || errors / requests > limit) failures += 1;
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

// ---------------------------------------------------------------- the promotion oracle

/** Healthy runs per cell the promotion oracle replays (its mean needs far fewer than the rate bounds). */
const ORACLE_RUNS = 300;

/**
 * The promotion oracles of a healthy cell: the best a test with the judge's alphaPromote could do on
 * the same world, so a time-to-promote target an oracle cannot meet is out of reach, not missed.
 * Each knows the true rates and, per step, runs Wald's SPRT of "worse than allowed" against the
 * truth, at the judge's look times (the look interval raised to the scrape interval), with the
 * judge's per-step minimums and the top step run in full; neither waits out a settle time.
 * - `one-arm` knows the primary's rate exactly, so it reads only the canary's counts: its null is
 *   the canary's rate at the union null's boundary (the smaller of the judge's allowed ratio
 *   `max(margin, (p + marginAbsolute) / p)` over the primary's true rate, and the limit). No test
 *   of any kind does better.
 * - `two-arm` compares the arms' counts, as any test robust to shared incidents must (the primary's
 *   rate is not known in production): the ratio half is the conditional binomial SPRT of the
 *   canary's share of events (the bad cells' oracle, at the allowed ratio instead of 1), the
 *   threshold half the canary's rate against the limit; both must reject, as in the judge.
 */
export type PromotionOracle = 'one-arm' | 'two-arm';

function oraclePromoteVsFixed(cell: Cell, seed: number, oracle: PromotionOracle): number {
  const config = SEQUENTIAL_DEFAULTS;
  const world = new World(cell, seededRandom(seed), 1_800_000_000);
  world.advanceTo(1_800_000_000);
  const began = world.t;
  world.scheduleRandomBurst(began, began + FIXED_SECONDS);
  const allowedRatio = (p: number) => Math.max(config.margin, (p + config.marginAbsolute) / p);
  const metric = (primary: number, ratio: number, limit: number, events: (arm: ArmDelta) => number) => ({
    primary,
    ratio,
    limit,
    events,
  });
  const metrics = [
    metric(cell.baseline, cell.ratio, limitOf(cell), (arm) => arm.errors),
    ...(cell.slow ? [metric(cell.slow.baseline, cell.slow.ratio, SLOW_LIMIT, (arm) => arm.slow['500'] ?? 0)] : []),
  ];
  // One binomial log-likelihood ratio of the truth against a null, for x events out of n.
  const binomialLLR = (x: number, n: number, truth: number, nul: number) => {
    const t = Math.min(Math.max(truth, 1e-9), 1 - 1e-9);
    return x * Math.log(t / nul) + (n - x) * Math.log((1 - t) / (1 - nul));
  };
  const lookSeconds = Math.max(LOOK_SECONDS, cell.scrapeSeconds);
  const promoteAt = Math.log(1 / config.alphaPromote);
  let elapsed = 0;
  for (const [index, weight] of WEIGHTS.entries()) {
    world.setWeight(weight);
    const stepStart = world.t;
    const top = index === WEIGHTS.length - 1;
    let baseline = world.snapshot();
    // Per metric: [the ratio half or the one-arm test, the threshold half (two-arm only)].
    const llr = metrics.map(() => [0, 0]);
    let looks = 0;
    let requests = 0;
    while (world.t - stepStart < STEP_SECONDS) {
      world.advanceTo(Math.min(stepStart + STEP_SECONDS, world.t + lookSeconds));
      const now = world.snapshot();
      const look = deltaCounts(baseline, now);
      baseline = nextBaseline(baseline, now);
      const nC = look.canary.requests;
      const nP = look.primary.requests;
      if (nC <= 0) continue;
      looks += 1;
      requests += nC;
      metrics.forEach((m, k) => {
        const x = Math.min(nC, m.events(look.canary));
        const sums = llr[k] as number[];
        if (oracle === 'one-arm') {
          const nul = Math.min(allowedRatio(m.primary) * m.primary, m.limit);
          sums[0] = (sums[0] ?? 0) + binomialLLR(x, nC, m.primary * m.ratio, nul);
          sums[1] = promoteAt;
          return;
        }
        const y = Math.min(nP, m.events(look.primary));
        const rho = nC / (nC + nP);
        if (nP > 0 && x + y > 0) sums[0] = (sums[0] ?? 0) + binomialLLR(x, x + y, qOf(m.ratio, rho), qOf(allowedRatio(m.primary), rho));
        sums[1] = (sums[1] ?? 0) + binomialLLR(x, nC, m.primary * m.ratio, m.limit);
      });
      const minimums =
        looks >= config.minLooksPerStep && world.t - stepStart >= config.minSecondsPerStep && requests >= config.minCanaryRequestsPerStep;
      if (!top && minimums && llr.every((sums) => sums.every((v) => v >= promoteAt))) break;
    }
    elapsed += world.t - stepStart;
  }
  return elapsed / FIXED_SECONDS;
}

// ---------------------------------------------------------------- statistics and the table

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
  steps: number;
  earlySteps: number;
  /** Half-width of a normal 95% interval around meanPromoteVsFixed. */
  promoteVsFixedHalfWidth95: number | null;
  /** Healthy cells: each promotion oracle's mean time to promote over the first ORACLE_RUNS seeds. */
  oraclePromoteVsFixed?: Record<PromotionOracle, number>;
  medianErrors?: { sequential: number; flagger: number; oracle: number };
  meanErrors?: { sequential: number; flagger: number; oracle: number };
  targets: TargetRow[];
  reasons: Record<string, number>;
}

async function runCell(cell: Cell, runs: number, firstSeed: number): Promise<CellResult> {
  const outcomes: Outcome[] = [];
  for (let i = 0; i < runs; i++) outcomes.push(await rollout(cell, firstSeed + i));
  const rolledBack = outcomes.filter((o) => o.outcome !== 'promoted').length;
  const promoted = outcomes.filter((o) => o.outcome === 'promoted');
  const steps = outcomes.reduce((s, o) => s + o.steps, 0);
  const earlySteps = outcomes.reduce((s, o) => s + o.earlySteps, 0);
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
    promoteVsFixedHalfWidth95: meanWithSpread(promoted.map((o) => o.seconds / FIXED_SECONDS))?.halfWidth95 ?? null,
    earlyStepRate: steps ? earlySteps / steps : 0,
    steps,
    earlySteps,
    targets: [],
    reasons,
  };
  // The oracles know the rates without bursts: in a cell with shared bursts they would test the wrong truth.
  if (cell.kind === 'healthy' && !cell.burst) {
    const replays = Math.min(runs, ORACLE_RUNS);
    const replay = (oracle: PromotionOracle) =>
      mean(Array.from({ length: replays }, (_, i) => oraclePromoteVsFixed(cell, firstSeed + i, oracle)));
    result.oraclePromoteVsFixed = { 'one-arm': replay('one-arm'), 'two-arm': replay('two-arm') };
  }
  if (cell.kind === 'bad') {
    result.medianErrors = {
      sequential: median(outcomes.map((o) => o.errors.sequential)),
      flagger: median(outcomes.map((o) => o.errors.flagger)),
      oracle: median(outcomes.map((o) => o.errors.oracle)),
    };
    result.meanErrors = {
      sequential: mean(outcomes.map((o) => o.errors.sequential)),
      flagger: mean(outcomes.map((o) => o.errors.flagger)),
      oracle: mean(outcomes.map((o) => o.errors.oracle)),
    };
  }
  result.targets = targetsFor(
    {
      id: cell.id,
      kind: cell.kind,
      rps: cell.rps,
      scrapeSeconds: cell.scrapeSeconds,
      stepSeconds: STEP_SECONDS,
      // A shared burst pushes the canary over its limit for a while: no promotion-time target there.
      canaryWithinHalfLimit:
        !cell.burst &&
        cell.baseline * cell.ratio <= limitOf(cell) / 2 &&
        (!cell.slow || cell.slow.baseline * cell.slow.ratio <= SLOW_LIMIT / 2),
      twiceInsideThreshold:
        measureOf(cell) === 'slow'
          ? cell.slow?.ratio === 2 && cell.slow.baseline * 2 <= SLOW_LIMIT
          : cell.ratio === 2 && cell.baseline * 2 <= limitOf(cell),
    },
    {
      runs,
      rolledBack,
      promoteVsFixed: promoted.map((o) => o.seconds / FIXED_SECONDS),
      steps,
      earlySteps,
      meanErrors: result.meanErrors,
      oraclePromoteVsFixed: result.oraclePromoteVsFixed,
    },
  );
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
      out: { type: 'string', default: 'bench/results/judge.json' },
      workers: { type: 'string', default: '1' },
      shard: { type: 'string' },
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
  const baseSeed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 1e9);
  const all = [...HEALTHY, ...BAD];
  const wanted = values.cells ? new Set(values.cells.split(',')) : null;
  const unknown = [...(wanted ?? [])].filter((id) => !all.some((c) => c.id === id));
  if (unknown.length) throw new Error(`--cells: no cell named ${unknown.join(', ')}; the cells are ${all.map((c) => c.id).join(', ')}`);
  const workers = Number(values.workers);
  if (!(Number.isInteger(workers) && workers >= 1)) throw new Error(`--workers: expected a whole number ≥ 1, got ${values.workers}`);
  const shard = parseShard(values.shard);
  // A cell's seeds follow from its place in the whole list, so a subset or a shard repeats them.
  const cells = all
    .map((cell, index) => ({ cell, index }))
    .filter(({ cell }) => !wanted || wanted.has(cell.id))
    .filter((_, n) => !shard || n % shard.of === shard.index - 1)
    .filter(({ cell }) => !recorded || recorded.raw.has(cell.id));
  // A replay takes each recorded cell's own first seed and run count, and writes beside, never over, the results.
  const replay = recorded ? new Map(recorded.cells.map((c) => [c.id, c])) : undefined;
  const startedAt = Date.now();
  const outPath = recorded ? join(tmpdir(), `sluice-judge-replay-${process.pid}.json`) : resolve(ROOT, values.out);
  process.stdout.write(
    `base seed ${baseSeed} (cell i starts at base + i × 1000003); ${healthyRuns} healthy / ${badRuns} bad runs per cell\n`,
  );
  if (recorded && workers > 1) throw new Error('--seeds-from: replays run in one process (drop --workers)');
  const results: CellResult[] =
    workers > 1 && !shard
      ? await runShards({ workers, baseSeed, healthyRuns, badRuns, cells: values.cells, outPath })
      : await runCells(cells, { baseSeed, healthyRuns, badRuns, startedAt, outPath, ...(replay ? { replay } : {}) });
  const out = writeResults(outPath, { baseSeed, startedAt, complete: true, cells: results });
  if (recorded && values.compare) {
    const same = compareWithRecorded(recorded, results, out.seconds, resolve(ROOT, 'bench/results/judge-compare.json'));
    process.exitCode = same ? 0 : 1;
    return;
  }
  if (shard) return;
  const rows = results.flatMap((r) => r.targets);
  process.stdout.write(`\n${cellTables(results)}\n\n${targetTable(rows)}\n\n`);
  process.stdout.write(
    `${rows.filter((r) => r.pass).length}/${rows.length} targets met; base seed ${baseSeed}; ${out.seconds.toFixed(0)} s; wrote ${values.out}\n`,
  );
}

function parseShard(text: string | undefined): { index: number; of: number } | null {
  if (text === undefined) return null;
  const match = /^(\d+)\/(\d+)$/.exec(text);
  const index = Number(match?.[1]);
  const of = Number(match?.[2]);
  if (!match || index < 1 || index > of) throw new Error(`--shard: expected k/n with 1 <= k <= n, got "${text}"`);
  return { index, of };
}

/** Runs the bench in `workers` processes (one shard of the cells each) and gathers their cells in the usual order. */
async function runShards(run: {
  workers: number;
  baseSeed: number;
  healthyRuns: number;
  badRuns: number;
  cells: string | undefined;
  outPath: string;
}): Promise<CellResult[]> {
  const script = fileURLToPath(import.meta.url);
  const parts = await Promise.all(
    Array.from({ length: run.workers }, (_, k) => {
      const out = `${run.outPath}.shard-${k + 1}`;
      const args = [script, '--seed', String(run.baseSeed), '--healthy', String(run.healthyRuns), '--bad', String(run.badRuns)];
      args.push(...(run.cells ? ['--cells', run.cells] : []), '--shard', `${k + 1}/${run.workers}`, '--out', out);
      return new Promise<CellResult[]>((done, fail) => {
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
        child.on('error', fail);
        child.on('close', (code) => {
          if (code !== 0) return fail(new Error(`shard ${k + 1}/${run.workers} exited with ${code}`));
          const cells = (JSON.parse(readFileSync(out, 'utf8')) as { cells: CellResult[] }).cells;
          rmSync(out, { force: true });
          done(cells);
        });
      });
    }),
  );
  const order = [...HEALTHY, ...BAD].map((c) => c.id);
  return parts.flat().sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
}

async function runCells(
  cells: ReadonlyArray<{ cell: Cell; index: number }>,
  run: {
    baseSeed: number;
    healthyRuns: number;
    badRuns: number;
    startedAt: number;
    outPath: string;
    replay?: ReadonlyMap<string, { runs: number; firstSeed: number }>;
  },
): Promise<CellResult[]> {
  const results: CellResult[] = [];
  for (const [n, { cell, index }] of cells.entries()) {
    const recorded = run.replay?.get(cell.id);
    const runs = recorded?.runs ?? (cell.kind === 'healthy' ? run.healthyRuns : run.badRuns);
    const result = await runCell(cell, runs, recorded?.firstSeed ?? run.baseSeed + index * 1_000_003);
    results.push(result);
    // Written after every cell: a long run stopped early keeps what it measured.
    writeResults(run.outPath, { baseSeed: run.baseSeed, startedAt: run.startedAt, complete: n === cells.length - 1, cells: results });
    const promote = result.meanPromoteVsFixed === null ? '—' : result.meanPromoteVsFixed.toFixed(2);
    const errors = result.medianErrors
      ? ` │ errors seq ${result.medianErrors.sequential.toFixed(0)} / Flagger ${result.medianErrors.flagger.toFixed(0)} / oracle ${result.medianErrors.oracle.toFixed(0)}`
      : '';
    process.stdout.write(
      `${cell.id.padEnd(28)} │ n ${String(runs).padStart(5)} │ seeds ${result.firstSeed}… │ ${cell.kind === 'healthy' ? 'rolled back' : 'caught     '} ${pct(result.rolledBackRate).padStart(6)} (95% ≤ ${pct(result.rolledBackUpper95)}) │ promote/fixed ${promote.padStart(4)} │ early steps ${pct(result.earlyStepRate).padStart(6)}${errors}${result.before ? ` │ before: ${result.before}` : ''}\n`,
    );
  }
  return results;
}

function writeResults(path: string, run: { baseSeed: number; startedAt: number; complete: boolean; cells: CellResult[] }) {
  const out = {
    generatedAt: new Date().toISOString(),
    seconds: (Date.now() - run.startedAt) / 1000,
    complete: run.complete,
    baseSeed: run.baseSeed,
    model: {
      weights: WEIGHTS,
      stepSeconds: STEP_SECONDS,
      lookSeconds: LOOK_SECONDS,
      horizonSeconds: HORIZON_SECONDS,
      xdsSeconds: XDS_SECONDS,
      alpha: ALPHA,
      limit: '3 × baseline; request-duration max 500 ms (≤ 1% slower)',
    },
    targetsMet: run.cells.every((c) => c.targets.every((t) => t.pass)),
    cells: run.cells,
  };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(out, null, 2)}\n`);
  return out;
}

await main();
