/**
 * The reliability soak: N rollouts at once on distinct targets in
 * one Kubernetes API stand-in and one local engine (the real ASL and handlers), each with a few
 * faults from the menu injected at moments seen on the API server. After every fault has healed
 * and one reconcile period has passed, the invariants are checked against the API server (and,
 * for the bookkeeping ones, the store and the execution history) — never against what Sluice says.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { WRITER_ANNOTATION } from '../../lambdas/adapters/router/gloo-weights.ts';
import type { RolloutRecord, SluiceEvent, StepRecord } from '../../lambdas/core/records.ts';
import { requestStart, staticRegistry } from '../../lambdas/adapters/control/start-path.ts';
import { approveRollout, promoteRollout } from '../../lambdas/adapters/control/rollout-control.ts';
import type { StartAnswer } from '../../lambdas/core/start.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import { abortRollout } from '../../local/commands/abort.ts';
import { startKubeStandIn } from '../../local/kube/stand-in.ts';
import type { KubeStandIn } from '../../local/kube/stand-in.ts';
import { startLocalRuntime, storePath } from '../../local/runtime.ts';
import type { LocalRuntime } from '../../local/runtime.ts';
import { exitCodeFor, summarize } from '../../local/summary.ts';
import { affinityLeftovers } from './affinity.ts';
import { compressedRetryOverrides, retryBudget, sustainedOutageMs } from './budget.ts';
import type { CompressedPauses, RetryBudget } from './budget.ts';
import { earliestMoment, FAULT_KINDS, OWN_ENGINE, planFaults } from './faults.ts';
import type { FaultKind, Moment, PlannedFault } from './faults.ts';
import { SoakMetrics } from './metrics.ts';
import { runReconciler } from './reconciler.ts';
import { runFleetSoak } from './fleet.ts';
import type { FleetSoakReport } from './fleet.ts';
import {
  FOREIGN_USER,
  FULL_ACCESS,
  GLOO_NS,
  APP_NS,
  NO_GROUP_WRITES,
  SCALE,
  STEPS,
  groupWeights,
  primaryVersion,
  seedTarget,
  specFor,
  target,
} from './targets.ts';
import type { GroupState, Target } from './targets.ts';
import { GREEN_SWITCH_DETAIL } from '../../lambdas/core/match.ts';
import { MARKER_INVARIANT, markerRouteViolations, soakStrategy, strategyMoments, withStrategy } from './strategies.ts';
import type { SoakStrategy } from './strategies.ts';

export const DEFAULT_N = 12;
export const DEFAULT_SEED = 20261206;
/**
 * The compressed pauses between ASL retries (the real ASL waits 1-60 s with backoff). Rollback's
 * 370 attempts make its budget 370 × its pause, and a sustained outage lasts three times that, so
 * Rollback's pause sets most of the soak's length: 20 ms gives a 7.4 s budget and a 22.2 s outage.
 * The other states keep 150 ms: a retry 20 ms after a dropped connection reuses the pool's dead
 * socket and fails again, which the real ASL's ≥ 1 s pause never does.
 */
export const RETRY_PAUSES: CompressedPauses = { defaultMs: 150, byState: { Rollback: 20 } };
export const RETRY_PAUSE_MS = RETRY_PAUSES.defaultMs;
/** The compressed reconcile period (the issue's: one minute in AWS). */
export const RECONCILE_PERIOD_MS = 3000;
/** How long new pods take to become ready. */
/** The states whose Lambdas write an UpstreamGroup's weights or shadow. */
const WRITING_STATES = new Set(['SetWeight', 'Shadow', 'PromotionStep', 'Switch', 'Rollback']);
const READY_DELAY_MS = 300;
/** Gloo's status lag (Gloo: about 1 s) and Sluice's settle time above it, compressed like everything else. */
export const GLOO_LAG_MS = 100;
export const STATUS_SETTLE_MS = 300;
/** Sluice's per-request timeout in the soak (default 10 s), so a hung API costs seconds, not minutes. */
export const REQUEST_TIMEOUT_MS = 3000;
/** How long the soak waits for every execution to end before it heals the sticky faults anyway. */
const SETTLE_CAP_MS = 120_000;
/** How many times a fault whose moment never came is dealt again to a fresh rollout. */
const MAX_REDEAL_ROUNDS = 2;
/** No fault is dealt again this close to the cap (a fresh rollout with a sustained outage needs about this long). */
const REDEAL_MARGIN_MS = 45_000;
/** How long `store-busy` holds the engine's SQLite write lock: past every state's compressed retry budget but Rollback's. */
const STORE_BUSY_MS = 3000;
/** The busy timeout of the store in a `store-busy` rollout's engine (default 10 s): writes fail SQLITE_BUSY after it. */
const STORE_BUSY_TIMEOUT_MS = 100;

export type Invariant = 'a' | 'b' | 'c' | 'd' | 'e' | 'f' | 'g';

export const INVARIANTS: Record<Invariant, string> = {
  a: 'no target half-shifted',
  b: 'reported outcome and exit code match the end state',
  c: 'no lock held and no record open without a running execution',
  d: 'store steps and events agree with the execution history; sequence numbers complete',
  e: 'each UpstreamGroup written only by its own execution',
  f: 'every trigger answered `started` has an execution that passed Prepare, or that was refused with nothing moved after every Prepare attempt failed transiently (never because another trigger took the target)',
  g: MARKER_INVARIANT,
};

export interface Violation {
  invariant: Invariant;
  target: string;
  kinds: FaultKind[];
  message: string;
}

/** Where a target ended, read from the API server. */
export type EndState = 'promoted' | 'primary' | 'canary-held' | 'half-shifted' | 'taken-over' | 'unreadable';

export interface RolloutResult {
  target: string;
  /** 0: dealt by the plan; 1+: a fresh rollout carrying a fault another rollout ended before injecting. */
  round: number;
  redealtFrom?: string;
  /** Weighted canary, A/B testing or blue/green (bench/reliability/strategies.ts). */
  strategy: SoakStrategy;
  faults: Array<PlannedFault & { injectedAtMs?: number; healedAtMs?: number }>;
  reported: { outcome: string; exitCode: number | null; reason: string };
  endState: EndState;
  weights: GroupState | null;
  primaryVersion: string | null;
  /** From the last fault healing to the last move onto a safe side; null when it never got there. */
  timeToSafeSideMs: number | null;
}

export interface KindSummary {
  /** Rollouts the plan dealt this kind to. */
  planned: number;
  /** Fresh rollouts that carried it again because its moment never came in an earlier one. */
  redealt: number;
  /** Times it was injected, over every rollout. */
  injected: number;
  endStates: Partial<Record<EndState, number>>;
  outcomes: Record<string, number>;
  violations: number;
  /**
   * `neverSafe` counts rollouts left off a safe side by Sluice; `takenOver` those whose group
   * someone else wrote last (70/30 in the soak): theirs, not a safe side Sluice should reach — (e)
   * forbids overwriting it. A rollout carries five kinds, so a taken-over end shows under every kind
   * of a rollout that also had `foreign-weights`.
   */
  timeToSafeSideMs: { median: number | null; max: number | null; neverSafe: number; takenOver: number };
}

export interface SoakReport {
  n: number;
  seed: number;
  durationMs: number;
  reconciler: { ran: boolean; why?: string };
  budget: {
    compressedPauseMs: number;
    /** The pause per state when it differs from compressedPauseMs (Rollback). */
    compressedPauses: CompressedPauses;
    longestState: string;
    longestRealSeconds: number;
    longestCompressedMs: number;
    safetyNetRealSeconds: number;
    sustainedOutageMs: number;
    /** The outage the real ASL backoff survives before giving up (computed, not waited out). */
    realOutageSurvivedSeconds: number;
  };
  invariants: Record<Invariant, string>;
  violations: Violation[];
  kinds: Record<string, KindSummary>;
  rollouts: RolloutResult[];
  /** Fleet releases over three clusters, a fault in one (bench/reliability/fleet.ts). */
  fleet?: FleetSoakReport;
}

export interface SoakOptions {
  n?: number;
  seed?: number;
  kinds?: readonly FaultKind[];
  log?: (line: string) => void;
  /** Fleet releases after the single rollouts (`npm run reliability` runs max(3, n/4); default here: none). */
  fleets?: number;
}

interface Track {
  t: Target;
  spec: RolloutSpec;
  strategy: SoakStrategy;
  /** 0: dealt by the plan; 1, 2: a fresh rollout carrying a fault an earlier rollout ended before injecting. */
  round: number;
  /** The rollout whose missed fault this one carries again. */
  redealtFrom?: string;
  /** The rollout ended (or the cap passed): moments it never reached will not come. */
  ended: boolean;
  endWaiters: Array<() => void>;
  /** Faults waiting for their moment; each resolves once injected or given up. */
  armed: Array<Promise<void>>;
  faults: Array<PlannedFault & { injectedAtMs?: number; healedAtMs?: number }>;
  /** Group weights as they changed, with when (ms since the soak started). */
  weights: Array<{ at: number; w: GroupState }>;
  moments: Set<Moment>;
  waiters: Map<Moment, Array<() => void>>;
  answers: StartAnswer[];
  main?: StartAnswer;
  child?: {
    process: ChildProcess;
    dir: string;
    killed: boolean;
    summary?: { outcome: string; exitCode: number; reason: string };
    /** The execution's history as the engine process printed it when the rollout ended (absent when killed). */
    history?: HistoryEvent[];
    exited: Promise<void>;
  };
  /** What `sluice abort` answered when it acknowledged the abort. */
  abortAcknowledged?: string;
  /** What it answered when the promotion had passed its point of no return ("too late … nothing was rolled back"). */
  abortTooLate?: string;
  /** Heals at the end: sticky faults, never-ready primaries, RBAC. */
  endHeals: Array<() => void>;
  timers: Array<ReturnType<typeof setTimeout>>;
}

const CHILD = fileURLToPath(new URL('./engine-child.ts', import.meta.url));

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function isSafe(w: GroupState): boolean {
  return (w.primary === SCALE && w.canary === 0) || (w.primary === 0 && w.canary === SCALE);
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? null;
}

/** A webhook receiver whose answer each target's `webhook-fails` fault turns to 500 for a few calls. */
async function startWebhooks(): Promise<{ url: string; fail(target: string, calls: number): void; close(): Promise<void> }> {
  const failing = new Map<string, number>();
  const server = createServer((req, res) => {
    req.resume();
    const target = (req.url ?? '/').slice(1);
    const left = failing.get(target) ?? 0;
    if (left > 0) failing.set(target, left - 1);
    res.writeHead(left > 0 ? 500 : 200, { 'Content-Type': 'text/plain' });
    res.end(left > 0 ? 'load check failed: injected' : 'ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    fail: (target, calls) => failing.set(target, calls),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export async function runSoak(options: SoakOptions = {}): Promise<SoakReport> {
  const n = options.n ?? DEFAULT_N;
  const seed = options.seed ?? DEFAULT_SEED;
  const log = options.log ?? (() => {});
  const started = Date.now();
  const now = () => Date.now() - started;
  const budget: RetryBudget = retryBudget(RETRY_PAUSES);
  const outageMs = sustainedOutageMs(budget, 3000);
  const plans = planFaults(n, seed, options.kinds ?? FAULT_KINDS);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-soak-'));
  const kube: KubeStandIn = await startKubeStandIn({ deploymentReadyDelayMs: READY_DELAY_MS, glooStatusLagMs: GLOO_LAG_MS });
  const webhooks = await startWebhooks();
  const metrics = new SoakMetrics();
  const foreignToken = 'someone-else-token';
  kube.addToken(foreignToken, FULL_ACCESS, FOREIGN_USER);
  const retryIntervalOverrides = compressedRetryOverrides(RETRY_PAUSES);

  const makeTrack = (index: number, faults: readonly PlannedFault[], round: number, redealtFrom?: string): Track => {
    const t = target(index);
    const kinds = faults.map((f) => f.kind);
    const strategy = soakStrategy(index, faults, round);
    return {
      t,
      spec: withStrategy(specFor(t, kinds, webhooks.url), strategy),
      strategy,
      round,
      ...(redealtFrom ? { redealtFrom } : {}),
      ended: false,
      endWaiters: [],
      armed: [],
      faults: faults.map((f) => ({ ...f })),
      weights: [{ at: 0, w: { primary: SCALE, canary: 0 } }],
      moments: new Set<Moment>(),
      waiters: new Map(),
      answers: [],
      endHeals: [],
      timers: [],
    };
  };
  const tracks: Track[] = plans.map((plan) => makeTrack(plan.index, plan.faults, 0));
  const byName = new Map(tracks.map((track) => [track.t.name, track]));
  // Read, not timed: with a hundred rollouts on the event loop the stand-in's readiness timer fires
  // late, and a trigger sent into a canary still rolling out is refused by preflight, not by a fault.
  const deploymentsReady = async (t: Track['t']): Promise<void> => {
    const ready = (name: string) => {
      const d = kube.get('apps/v1', 'Deployment', APP_NS, name) as
        | {
            metadata?: { generation?: number };
            spec?: { replicas?: number };
            status?: { observedGeneration?: number; updatedReplicas?: number; availableReplicas?: number };
          }
        | undefined;
      // Preflight's test (kubectl rollout status): the controller saw this generation and every replica is updated and available.
      return (
        (d?.status?.observedGeneration ?? 0) >= (d?.metadata?.generation ?? 1) &&
        d?.status?.updatedReplicas === d?.spec?.replicas &&
        d?.status?.availableReplicas === d?.spec?.replicas
      );
    };
    const until = Date.now() + 10_000;
    await sleep(READY_DELAY_MS);
    while (!(ready(t.primaryDeployment) && ready(t.canaryDeployment)) && Date.now() < until) await sleep(50);
  };

  for (const track of tracks) seedTarget(kube, track.t);
  // Both Deployments of every target ready before anything starts.
  await Promise.all(tracks.map((track) => deploymentsReady(track.t)));

  const reach = (track: Track, moment: Moment) => {
    if (track.moments.has(moment)) return;
    track.moments.add(moment);
    for (const wake of track.waiters.get(moment) ?? []) wake();
    track.waiters.delete(moment);
  };
  const unsubscribe = kube.onChange(({ object }) => {
    if (object.kind === 'UpstreamGroup') {
      const track = byName.get(object.metadata.name);
      const w = track ? groupWeights(object, track.t) : undefined;
      if (!track || !w) return;
      const last = track.weights.at(-1)?.w;
      if (!last || last.primary !== w.primary || last.canary !== w.canary) track.weights.push({ at: now(), w });
      if (w.canary === STEPS[0]) reach(track, 'first-move');
      if (w.canary === STEPS[1]) reach(track, 'second-step');
      for (const moment of strategyMoments(track.strategy, object, w)) reach(track, moment);
    }
    if (object.kind === 'VirtualService') {
      const track = byName.get(object.metadata.name);
      for (const moment of track ? strategyMoments(track.strategy, object, undefined) : []) if (track) reach(track, moment);
    }
    if (object.kind === 'Deployment') {
      const track = tracks.find((tr) => tr.t.primaryDeployment === object.metadata.name);
      if (track && primaryVersion(object) === 'v2') reach(track, 'promote-copy');
    }
  });

  const kubeConfigOf = async (spec: RolloutSpec) => kube.kubeConfig(byName.get(spec.metadata.name)?.t.token ?? 'unknown-target');
  const runtime: LocalRuntime = await startLocalRuntime({
    dir: join(dir, 'engine'),
    advertise: false,
    env: {},
    log: () => {},
    kubeConfigOf,
    retryIntervalOverrides,
    routerTuning: { statusSettleMs: STATUS_SETTLE_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS },
    overrides: metrics.deps(),
  });
  const startDeps = (rt: LocalRuntime) => ({
    store: rt.deps.store,
    sfn: rt.sfn,
    stateMachineArn: rt.engine.stateMachineArn,
    registry: staticRegistry(tracks.map((tr) => tr.spec)),
    now: () => new Date(),
  });
  const trigger = (track: Track, key: string) =>
    requestStart(startDeps(runtime), {
      target: track.t.name,
      version: 'v2',
      requestedBy: 'soak@local',
      trigger: { source: 'cli', key, identity: 'soak' },
    });

  const whenReached = (track: Track, moment: Moment) =>
    new Promise<void>((resolve) => {
      if (track.moments.has(moment)) return resolve();
      track.waiters.set(moment, [...(track.waiters.get(moment) ?? []), resolve]);
    });

  /** Injects one fault; returns when it heals by itself (bursts: at once), or registers an end heal. */
  const inject = async (track: Track, fault: Track['faults'][number]): Promise<void> => {
    const { t } = track;
    const group = { resource: 'upstreamgroups', name: t.name };
    const heal = (remove: () => void, afterMs: number) => {
      track.timers.push(
        setTimeout(() => {
          remove();
          fault.healedAtMs = now();
        }, afterMs),
      );
    };
    fault.injectedAtMs = now();
    switch (fault.kind) {
      case 'api-503-burst':
        kube.faults.add({ ...group, status: 503, times: 3 });
        fault.healedAtMs = fault.injectedAtMs;
        return;
      case 'api-drop-burst':
        kube.faults.add({ ...group, drop: true, times: 2 });
        fault.healedAtMs = fault.injectedAtMs;
        return;
      case 'api-timeout-burst':
        // Answers held past Sluice's client timeout (REQUEST_TIMEOUT_MS here): the client aborts, the server still acts.
        kube.faults.add({ ...group, delayMs: REQUEST_TIMEOUT_MS + 500, times: 2 });
        fault.healedAtMs = fault.injectedAtMs;
        return;
      case 'api-429-burst':
        kube.faults.add({ ...group, status: 429, retryAfterSeconds: 1, times: 3 });
        fault.healedAtMs = fault.injectedAtMs;
        return;
      case 'api-503-sustained':
        heal(kube.faults.add({ ...group, status: 503 }), outageMs);
        return;
      case 'api-409-storm':
        heal(kube.faults.add({ ...group, verb: 'patch', status: 409 }), outageMs);
        return;
      case 'api-403-after-move':
        kube.addToken(t.token, NO_GROUP_WRITES, t.user);
        heal(() => kube.addToken(t.token, FULL_ACCESS, t.user), outageMs);
        return;
      // Gloo reports an error caused by a group's weights on the VirtualService whose route uses the
      // group (its translator turns the group into the route's weighted clusters), not on the group.
      case 'gloo-rejected-transient':
        kube.gloo.reject('VirtualService', GLOO_NS, t.name, 'route 0: injected: weighted destinations rejected (transient)');
        heal(() => kube.gloo.accept('VirtualService', GLOO_NS, t.name), 1500);
        return;
      case 'gloo-rejected-sticky':
        kube.gloo.reject('VirtualService', GLOO_NS, t.name, 'route 0: injected: weighted destinations rejected (sticky)');
        track.endHeals.push(() => {
          kube.gloo.accept('VirtualService', GLOO_NS, t.name);
          fault.healedAtMs = now();
        });
        return;
      case 'primary-never-ready':
        kube.deployments.neverReady(APP_NS, t.primaryDeployment);
        track.endHeals.push(() => {
          kube.deployments.neverReady(APP_NS, t.primaryDeployment, false);
          fault.healedAtMs = now();
        });
        return;
      case 'foreign-weights': {
        const object = kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, t.name);
        const spec = object?.spec as { destinations: Array<{ destination: { upstream: { name: string } }; weight: number }> } | undefined;
        if (!object || !spec) return;
        // Through the API with the other user's token, so the audit log names who wrote it.
        const destinations = spec.destinations.map((d) => ({ ...d, weight: d.destination.upstream.name === t.canaryUpstream ? 30 : 70 }));
        await foreignPatch(kube, foreignToken, `/apis/gloo.solo.io/v1/namespaces/${GLOO_NS}/upstreamgroups/${t.name}`, {
          spec: { destinations },
        });
        fault.healedAtMs = now();
        return;
      }
      case 'foreign-template': {
        const object = kube.get('apps/v1', 'Deployment', APP_NS, t.primaryDeployment);
        if (!object) return;
        const containers = [{ name: 'app', image: 'ghcr.io/stefanprodan/podinfo:6.0.1', env: [{ name: 'VERSION', value: 'v1-hotfix' }] }];
        await foreignPatch(kube, foreignToken, `/apis/apps/v1/namespaces/${APP_NS}/deployments/${t.primaryDeployment}`, {
          spec: { template: { spec: { containers } } },
        });
        fault.healedAtMs = now();
        return;
      }
      case 'promote-copy-fails': {
        const removes = (['patch', 'update'] as const).map((verb) =>
          kube.faults.add({ verb, resource: 'deployments', name: t.primaryDeployment, status: 503 }),
        );
        heal(() => removes.forEach((remove) => remove()), outageMs);
        return;
      }
      case 'promote-switch-fails':
        heal(kube.faults.add({ ...group, verb: 'patch', status: 503 }), outageMs);
        return;
      case 'duplicate-trigger':
        // Fired together with the main trigger (see the start below).
        return;
      case 'prometheus-5xx':
      case 'prometheus-slow':
      case 'prometheus-empty':
      case 'prometheus-nan':
        metrics.inject(t.name, fault.kind);
        fault.healedAtMs = now();
        return;
      case 'webhook-fails':
        webhooks.fail(t.name, 1);
        fault.healedAtMs = now();
        return;
      case 'store-busy': {
        // Another connection (a backup, `sqlite3` left open in a terminal) holds the rollout's engine's
        // SQLite write lock; the engine's writes wait STORE_BUSY_TIMEOUT_MS, then fail SQLITE_BUSY.
        if (!track.child) {
          delete fault.injectedAtMs;
          return;
        }
        const holder = new DatabaseSync(storePath(track.child.dir), { timeout: 5000 });
        holder.exec('BEGIN IMMEDIATE');
        heal(() => {
          holder.exec('COMMIT');
          holder.close();
        }, STORE_BUSY_MS);
        return;
      }
      case 'stop-execution': {
        const arn = track.main?.outcome === 'started' ? track.main.executionArn : undefined;
        if (arn)
          await runtime.sfn.send(new StopExecutionCommand({ executionArn: arn, cause: 'soak: operator pressed stop' })).catch(() => {});
        fault.healedAtMs = now();
        return;
      }
      case 'abort': {
        const answer = await abortRollout({
          store: runtime.deps.store,
          sfn: runtime.sfn,
          target: t.name,
          by: 'soak',
          reason: 'injected abort',
        }).catch(() => undefined);
        if (answer?.ok) track.abortAcknowledged = `${answer.execution}${answer.interruptedBake ? ', bake interrupted' : ''}`;
        else if (answer && 'tooLate' in answer) track.abortTooLate = answer.message;
        fault.healedAtMs = now();
        return;
      }
      case 'promote-now':
        await promoteRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: t.name }).catch(() => {});
        fault.healedAtMs = now();
        return;
      case 'approve': {
        await whenReached(track, 'start');
        // Waits as long as the rollout runs: at N = 50 on 2 cores the gate opened 60-90 s after the
        // start, and a fixed 40 s wait gave up first (seed 1 injected approve 0 times of 14).
        for (;;) {
          const pending = await runtime.deps.store.getTaskToken(t.name);
          if (pending?.gate === 'before-promotion') break;
          if (Date.now() > settleDeadline || !(await running(runtime, track))) {
            delete fault.injectedAtMs;
            return;
          }
          await sleep(100);
        }
        fault.injectedAtMs = now();
        await approveRollout({
          store: runtime.deps.store,
          sfn: runtime.sfn,
          target: t.name,
          by: 'soak-approver',
          events: runtime.deps.events,
        }).catch(() => {});
        fault.healedAtMs = now();
        return;
      }
      case 'sigkill-engine':
        if (track.child && !track.child.killed) {
          track.child.killed = true;
          track.child.process.kill('SIGKILL');
        }
        fault.healedAtMs = now();
        return;
      default: {
        const never: never = fault.kind;
        throw new Error(`unknown fault ${String(never)}`);
      }
    }
  };

  log(
    `soak: ${n} rollouts, seed ${seed}, sustained outage ${outageMs} ms (3 × ${budget.longest.state}'s compressed retry budget ${budget.longest.compressedMs} ms + safety net ${budget.safetyNet.compressedMs} ms)`,
  );

  const settleDeadline = Date.now() + SETTLE_CAP_MS;
  let nextIndex = n;

  /** Waits until the rollout no longer runs (or the cap passes), then tells its armed faults their moments will not come. */
  const waitEnded = async (track: Track): Promise<void> => {
    for (;;) {
      if (track.child) {
        await Promise.race([track.child.exited, sleep(Math.max(0, settleDeadline - Date.now()))]);
        break;
      }
      if (!(await running(runtime, track)) || Date.now() > settleDeadline) break;
      await sleep(200);
    }
    track.ended = true;
    for (const wake of track.endWaiters) wake();
    track.endWaiters = [];
  };
  const whenEnded = (track: Track) =>
    new Promise<void>((resolve) => {
      if (track.ended) resolve();
      else track.endWaiters.push(resolve);
    });

  /** Arms every fault of a rollout, starts it through the start path (or in its own engine process), and waits for its end. */
  const launch = async (track: Track): Promise<void> => {
    const ownEngine = track.faults.some((f) => OWN_ENGINE.has(f.kind));
    for (const fault of track.faults) {
      if (fault.moment === 'gate') {
        track.armed.push(inject(track, fault).catch((error: unknown) => log(`${track.t.name} ${fault.kind}: ${String(error)}`)));
        continue;
      }
      if (fault.moment === 'start') {
        if (fault.kind !== 'duplicate-trigger') await inject(track, fault);
        continue;
      }
      track.armed.push(
        (async () => {
          await Promise.race([whenReached(track, fault.moment), whenEnded(track)]);
          if (!track.moments.has(fault.moment)) return;
          if (fault.delayMs > 0) await sleep(fault.delayMs);
          await inject(track, fault);
        })().catch((error: unknown) => log(`${track.t.name} ${fault.kind}: ${String(error)}`)),
      );
    }
    if (ownEngine) {
      const child = startChild(track, join(dir, `child-${track.t.name}`), kube, RETRY_PAUSES);
      track.child = child;
      const answer = await child.started;
      track.main = answer;
      track.answers.push(answer);
    } else {
      // duplicate-trigger: distinct triggers (different keys) for the same target at the same moment.
      const duplicate = track.faults.find((f) => f.kind === 'duplicate-trigger');
      const keys = [`soak-${track.t.name}-main`, ...(duplicate ? [1, 2, 3].map((i) => `soak-${track.t.name}-dup-${i}`) : [])];
      if (duplicate) duplicate.injectedAtMs = now();
      // A start path that throws (its DescribeExecution or StartExecution failed) answered nothing; the
      // caller sees the error and would retry. It took no lock it kept: (c) checks that.
      const answers = await Promise.all(
        keys.map((key) =>
          trigger(track, key).catch(
            (error: unknown): StartAnswer => ({
              outcome: 'refused',
              target: track.t.name,
              version: 'v2',
              reason: `the start path failed: ${error instanceof Error ? error.message : String(error)}`,
              message: 'error',
            }),
          ),
        ),
      );
      if (duplicate) duplicate.healedAtMs = now();
      // The main rollout is the one that started (if several did, the first).
      const main = answers.find((a) => a.outcome === 'started') ?? answers[0];
      if (main) track.main = main;
      track.answers.push(...answers);
    }
    reach(track, 'start');
    await waitEnded(track);
    await Promise.all(track.armed);
  };

  /**
   * A fault whose moment never came (the rollout ended first: another fault rolled it back) is dealt
   * again to a fresh rollout of its own, at the earliest moment its kind allows — up to
   * MAX_REDEAL_ROUNDS times — so every kind is injected, not only planned.
   */
  const lifecycle = async (track: Track): Promise<void> => {
    await launch(track);
    if (track.round >= MAX_REDEAL_ROUNDS || Date.now() > settleDeadline - REDEAL_MARGIN_MS) return;
    const missed = track.faults.filter((f) => f.injectedAtMs === undefined);
    await Promise.all(
      missed.map(async (fault) => {
        const fresh = makeTrack(
          nextIndex++,
          [{ kind: fault.kind, moment: earliestMoment(fault.kind), delayMs: 0 }],
          track.round + 1,
          track.t.name,
        );
        tracks.push(fresh);
        byName.set(fresh.t.name, fresh);
        seedTarget(kube, fresh.t);
        await deploymentsReady(fresh.t);
        await lifecycle(fresh);
      }),
    );
  };

  // Start every rollout at once; each fault fires at its moment; missed faults are dealt again.
  await Promise.all(tracks.map((track) => lifecycle(track)));
  // An engine process still running at the cap is stopped, so the soak always ends (it counts as a kill).
  for (const track of tracks) {
    if (track.child && track.child.process.exitCode === null && track.child.process.signalCode === null) {
      log(`${track.t.name}: engine process still running at the cap; killing it`);
      track.child.killed = true;
      track.child.process.kill('SIGKILL');
    }
  }
  // Faults still waiting on timers (sustained outages) heal on schedule: wait for the last one.
  const pendingHeal = Math.max(
    0,
    ...tracks.flatMap((tr) =>
      tr.faults.map((f) =>
        f.injectedAtMs !== undefined && f.healedAtMs === undefined && !isEndHealed(f.kind)
          ? f.injectedAtMs + (f.kind === 'store-busy' ? STORE_BUSY_MS : outageMs) - now()
          : 0,
      ),
    ),
  );
  if (pendingHeal > 0) await sleep(pendingHeal + 50);
  for (const track of tracks) track.endHeals.forEach((heal) => heal());
  kube.faults.clear();
  for (const track of tracks) kube.addToken(track.t.token, FULL_ACCESS, track.t.user);
  // Executions that were still running at the cap get the rest of the heal time to end.
  for (const track of tracks) {
    if (track.child) continue;
    const deadline = Date.now() + 30_000;
    while ((await running(runtime, track)) && Date.now() < deadline) await sleep(200);
  }

  // Killed engines are restarted (a new process on the same state directory) before the reconcile pass.
  const restarted = new Map<string, LocalRuntime>();
  for (const track of tracks) {
    if (!track.child) continue;
    await track.child.exited;
    restarted.set(
      track.t.name,
      await startLocalRuntime({
        dir: track.child.dir,
        advertise: false,
        env: {},
        log: () => {},
        kubeConfigOf,
        retryIntervalOverrides,
        routerTuning: { statusSettleMs: STATUS_SETTLE_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS },
        overrides: metrics.deps(),
      }),
    );
  }
  const reconciler = await runReconciler(runtime);
  const passes = [reconciler, ...(await Promise.all([...restarted.values()].map((rt) => runReconciler(rt))))];
  log(reconciler.ran ? 'reconciler ran' : `reconciler: ${reconciler.why}`);
  // What each pass found and did, in `sluice recover`'s words: the first thing to read when (b) or (c) breaks.
  for (const pass of passes) if (pass.ran) for (const line of pass.lines) log(`reconciler: ${line}`);
  await sleep(RECONCILE_PERIOD_MS);

  const violations: Violation[] = [];
  const results: RolloutResult[] = [];
  for (const track of tracks) {
    const rt = restarted.get(track.t.name) ?? runtime;
    const { result, found } = await judge(track, rt, kube, now, budget.states.find((st) => st.state === 'Prepare')?.retries ?? 0);
    results.push(result);
    violations.push(...found);
  }

  unsubscribe();
  for (const track of tracks) track.timers.forEach(clearTimeout);
  await Promise.all([...restarted.values()].map((rt) => rt.close()));
  await runtime.close();
  await webhooks.close();
  await kube.close();
  rmSync(dir, { recursive: true, force: true });

  const kinds: Record<string, KindSummary> = {};
  for (const kind of options.kinds ?? FAULT_KINDS) {
    const mine = results.filter((r) => r.faults.some((f) => f.kind === kind));
    const times = mine.map((r) => r.timeToSafeSideMs).filter((v): v is number => v !== null);
    const summary: KindSummary = {
      planned: mine.filter((r) => r.round === 0).length,
      redealt: mine.filter((r) => r.round > 0).length,
      injected: mine.filter((r) => r.faults.some((f) => f.kind === kind && f.injectedAtMs !== undefined)).length,
      endStates: {},
      outcomes: {},
      violations: violations.filter((v) => v.kinds.includes(kind)).length,
      timeToSafeSideMs: {
        median: median(times),
        max: times.length ? Math.max(...times) : null,
        neverSafe: mine.filter((r) => r.timeToSafeSideMs === null && r.endState !== 'taken-over').length,
        takenOver: mine.filter((r) => r.endState === 'taken-over').length,
      },
    };
    for (const r of mine) {
      summary.endStates[r.endState] = (summary.endStates[r.endState] ?? 0) + 1;
      summary.outcomes[r.reported.outcome] = (summary.outcomes[r.reported.outcome] ?? 0) + 1;
    }
    kinds[kind] = summary;
  }
  const longest = budget.longest;
  const fleets = options.fleets ?? 0;
  const fleet = fleets > 0 ? await runFleetSoak({ releases: fleets, seed, retryPauses: RETRY_PAUSES, log }) : undefined;
  return {
    ...(fleet ? { fleet } : {}),
    n,
    seed,
    durationMs: Date.now() - started,
    reconciler: reconciler.ran ? { ran: true } : { ran: false, why: reconciler.why },
    budget: {
      compressedPauseMs: RETRY_PAUSE_MS,
      compressedPauses: RETRY_PAUSES,
      longestState: longest.state,
      longestRealSeconds: longest.realSeconds,
      longestCompressedMs: longest.compressedMs,
      safetyNetRealSeconds: budget.safetyNet.realSeconds,
      sustainedOutageMs: outageMs,
      realOutageSurvivedSeconds: longest.realSeconds,
    },
    invariants: INVARIANTS,
    violations,
    kinds,
    rollouts: results,
  };
}

function isEndHealed(kind: FaultKind): boolean {
  return kind === 'gloo-rejected-sticky' || kind === 'primary-never-ready';
}

async function running(runtime: LocalRuntime, track: Track): Promise<boolean> {
  const main = track.main;
  if (!main || main.outcome !== 'started') return false;
  try {
    const described = await runtime.sfn.send(new DescribeExecutionCommand({ executionArn: main.executionArn }));
    return described.status === 'RUNNING';
  } catch {
    return false;
  }
}

async function foreignPatch(kube: KubeStandIn, token: string, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${kube.url}${path}`, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/merge-patch+json' },
    body: JSON.stringify(body),
  });
  await response.text();
}

/** Every engine process the soak spawned: killed when the soak's process ends, even on a harness error. */
const children = new Set<ChildProcess>();
const killChildren = () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
};
process.once('exit', killChildren);
// A signal ends the process without 'exit' handlers: kill the engines first, then end as the signal would.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    killChildren();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });

function startChild(
  track: Track,
  dir: string,
  kube: KubeStandIn,
  pauseMs: CompressedPauses,
): NonNullable<Track['child']> & { started: Promise<StartAnswer> } {
  const kubeconfigPath = `${dir}.kubeconfig`;
  kube.writeKubeconfigFile(kubeconfigPath, track.t.token);
  const args = JSON.stringify({
    dir,
    kubeconfigPath,
    spec: track.spec,
    version: 'v2',
    pauseMs,
    statusSettleMs: STATUS_SETTLE_MS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    storeBusyTimeoutMs: STORE_BUSY_TIMEOUT_MS,
  });
  const child = spawn(process.execPath, ['--no-warnings', CHILD, args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT' },
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let buffer = '';
  let resolveStarted: (answer: StartAnswer) => void = () => {};
  const startedPromise = new Promise<StartAnswer>((resolve) => (resolveStarted = resolve));
  const handle: NonNullable<Track['child']> & { started: Promise<StartAnswer> } = {
    process: child,
    dir,
    killed: false,
    started: startedPromise,
    exited: new Promise<void>((resolve) => child.on('exit', () => resolve())),
  };
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      try {
        const message = JSON.parse(line) as {
          started?: StartAnswer;
          history?: HistoryEvent[];
          summary?: { outcome: string; exitCode: number; reason: string };
        };
        if (message.started) resolveStarted(message.started);
        if (message.history) handle.history = message.history;
        if (message.summary) handle.summary = message.summary;
      } catch {
        // not one of ours
      }
    }
  });
  child.stderr.resume();
  void handle.exited.then(() =>
    resolveStarted({
      outcome: 'refused',
      target: track.t.name,
      version: 'v2',
      reason: 'the engine process ended before it answered',
      message: 'refused',
    }),
  );
  return handle;
}

/** Reads the end state from the API server and checks the invariants for one target. */
async function judge(
  track: Track,
  runtime: LocalRuntime,
  kube: KubeStandIn,
  now: () => number,
  prepareRetries: number,
): Promise<{ result: RolloutResult; found: Violation[] }> {
  const { t } = track;
  const kinds = track.faults.map((f) => f.kind);
  const found: Violation[] = [];
  const violate = (invariant: Invariant, message: string) => found.push({ invariant, target: t.name, kinds, message });
  const store = runtime.deps.store;
  const weights = groupWeights(kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, t.name), t) ?? null;
  const version = primaryVersion(kube.get('apps/v1', 'Deployment', APP_NS, t.primaryDeployment)) ?? null;
  const groupWrites = kube.audit().filter((a) => a.resource === 'upstreamgroups' && a.name === t.name && a.code < 300);
  const lastWriter = groupWrites.at(-1)?.user;
  const sluiceWrote = groupWrites.some((a) => a.user === t.user);
  const takenOver = lastWriter === FOREIGN_USER;

  let endState: EndState;
  if (!weights) endState = 'unreadable';
  else if (takenOver && !isSafe(weights)) endState = 'taken-over';
  else if (weights.primary === SCALE && weights.canary === 0) endState = version === 'v2' ? 'promoted' : 'primary';
  else if (weights.canary === SCALE && weights.primary === 0) endState = 'canary-held';
  else endState = 'half-shifted';

  // What Sluice reports: the execution's outcome as `sluice run` prints it, or the record's for a killed engine.
  const main = track.main;
  let reported: RolloutResult['reported'] = {
    outcome: 'not-started',
    exitCode: null,
    reason: main?.outcome === 'refused' ? main.reason : '',
  };
  let executionRunning = false;
  const own = main?.outcome === 'started' ? main.execution : undefined;
  if (main?.outcome === 'started') {
    if (track.child) {
      const record = await store.getRollout(main.execution);
      // `sluice run` said `failed` ("traffic was not restored … run `sluice recover`"), true when it
      // said it; the reconciler restored and closed the record afterwards: its outcome is the last word,
      // as it is for the in-process rollouts, whose summary is read after the reconcile pass.
      const recoveredLater =
        track.child.summary?.outcome === 'failed' &&
        record?.status === 'finished' &&
        record.outcome !== undefined &&
        record.outcome !== 'failed' &&
        (record.reason ?? '').includes('the reconciler');
      if (track.child.summary && !recoveredLater)
        reported = { outcome: track.child.summary.outcome, exitCode: track.child.summary.exitCode, reason: track.child.summary.reason };
      else if (record?.status === 'finished' && record.outcome)
        reported = { outcome: record.outcome, exitCode: exitCodeFor(record.outcome), reason: record.reason ?? '' };
      else reported = { outcome: 'running', exitCode: null, reason: 'the engine was killed; the record says running' };
    } else {
      const described = await runtime.sfn.send(new DescribeExecutionCommand({ executionArn: main.executionArn }));
      executionRunning = described.status === 'RUNNING';
      if (executionRunning) reported = { outcome: 'running', exitCode: null, reason: 'still running after every fault healed' };
      else {
        const summary = await summarize({ store, execution: described, target: t.name, version: 'v2', weightScale: SCALE, transitions: 0 });
        reported = { outcome: summary.outcome, exitCode: summary.exitCode, reason: summary.reason };
      }
    }
  }

  // (a) no target half-shifted (unless someone else took it over: then it is theirs, and Sluice must say so).
  if (endState === 'half-shifted')
    violate('a', `UpstreamGroup ${GLOO_NS}/${t.name} holds primary ${weights?.primary} / canary ${weights?.canary}`);
  if (endState === 'unreadable') violate('a', `UpstreamGroup ${GLOO_NS}/${t.name} no longer lists the primary and canary upstreams`);
  // Session affinity's cookie route and Set-Cookie headers never outlive the rollout (bench/reliability/affinity.ts).
  if (reported.outcome !== 'running') for (const leftover of affinityLeftovers(kube, t, endState === 'taken-over')) violate('a', leftover);

  // (b) the reported outcome matches the objects.
  if (reported.outcome !== 'running' && reported.outcome !== 'not-started') {
    const expected: string[] =
      endState === 'promoted'
        ? ['promoted']
        : endState === 'primary'
          ? sluiceWrote
            ? ['rolled-back', 'aborted']
            : ['refused', 'rolled-back', 'aborted']
          : endState === 'canary-held'
            ? ['promotion-failed']
            : ['failed'];
    if (takenOver) expected.push('failed');
    if (!expected.includes(reported.outcome)) {
      violate(
        'b',
        `reported ${reported.outcome} (exit ${reported.exitCode}), but the objects show ${describeEnd(endState, weights, version)}: expected ${expected.join(' or ')}`,
      );
    }
    if (reported.exitCode !== null && reported.exitCode !== exitCodeFor(reported.outcome as Parameters<typeof exitCodeFor>[0])) {
      violate('b', `outcome ${reported.outcome} reported with exit ${reported.exitCode}`);
    }
    // An abort Sluice acknowledged must be honoured in every state.
    if (track.abortAcknowledged !== undefined && reported.outcome === 'promoted') {
      violate('b', `the abort was acknowledged ("${track.abortAcknowledged}"), yet the rollout promoted`);
    }
    // And one answered "too late" must be true: past the point of no return nothing is rolled back.
    if (track.abortTooLate !== undefined && (reported.outcome === 'rolled-back' || reported.outcome === 'aborted')) {
      violate('b', `the abort was answered "${track.abortTooLate}", yet the rollout ended ${reported.outcome}`);
    }
  } else if (reported.outcome === 'running' && !executionRunning) {
    violate(
      'b',
      `nothing runs, yet the rollout reports no outcome (${reported.reason}) while the objects show ${describeEnd(endState, weights, version)}`,
    );
  }

  // (g) no marker route left behind (A/B's match route), whatever ended the rollout.
  for (const message of markerRouteViolations(kube, t)) violate('g', message);

  // (c) no lock or open record without a running execution.
  const lock = await store.getLock(t.name);
  if (lock && !(executionRunning && main?.outcome === 'started' && lock.owner === main.execution)) {
    violate('c', `lock held by ${lock.owner} (until ${lock.expiresAt}) with no running execution`);
  }
  const records = await store.listRollouts(t.name, 100);
  for (const record of records) {
    if (record.status === 'running' && !(executionRunning && main?.outcome === 'started' && record.execution === main.execution)) {
      violate('c', `record ${record.execution} is open (running) with no running execution`);
    }
  }

  // (d) store steps and events agree with what happened; sequence numbers complete.
  const seen = track.weights.map((entry) => entry.w.canary);
  for (const record of records) {
    const steps = await store.listSteps(record.execution);
    steps.forEach((step, i) => {
      if (step.seq !== i + 1) violate('d', `${record.execution}: step sequence ${steps.map((s) => s.seq).join(',')} has a gap or repeat`);
    });
    for (const step of steps) {
      if (step.kind === 'weight' && step.weights && !seen.includes(step.weights.canary)) {
        violate('d', `${record.execution}: the store records canary weight ${step.weights.canary}, which the UpstreamGroup never held`);
      }
    }
    const events = (await store.listEvents(record.execution)).sort((a, b) => a.sequence - b.sequence);
    const sequences = events.map((e) => e.sequence);
    if (sequences.some((s, i) => s !== i + 1))
      violate('d', `${record.execution}: event sequence numbers ${sequences.join(',')} are not 1..${sequences.length}`);
    const history = track.child
      ? record.execution === own
        ? track.child.history
        : undefined
      : await executionHistory(runtime, record.execution).catch(() => undefined);
    const committed = (await store.getPromotionCommit(record.execution)) !== null;
    for (const problem of historyMismatches(record, steps, events, history, seen, committed))
      violate('d', `${record.execution}: ${problem}`);
    if (
      record.status === 'finished' &&
      weights &&
      record.lastWeights &&
      (record.lastWeights.primary !== weights.primary || record.lastWeights.canary !== weights.canary) &&
      !takenOver
    ) {
      violate(
        'd',
        `${record.execution}: the store says primary ${record.lastWeights.primary} / canary ${record.lastWeights.canary}, the UpstreamGroup holds primary ${weights.primary} / canary ${weights.canary}`,
      );
    }
  }

  // (e) the group written only by its own rollout — its token, and its execution (every Sluice write
  // names the writing execution in WRITER_ANNOTATION; several executions of one target share a
  // token) — and never over someone else's weights.
  const strangers = groupWrites.filter((a) => a.user !== t.user && a.user !== FOREIGN_USER);
  if (strangers.length > 0) violate('e', `UpstreamGroup ${t.name} written by ${[...new Set(strangers.map((a) => a.user))].join(', ')}`);
  for (const write of groupWrites.filter((a) => a.user === t.user)) {
    const writer = write.annotations?.[WRITER_ANNOTATION];
    if (writer !== own)
      violate(
        'e',
        writer === undefined
          ? `a write to UpstreamGroup ${t.name} does not name the execution that made it`
          : `UpstreamGroup ${t.name} written by execution ${writer}, not by ${own ?? 'no execution (nothing was started)'}`,
      );
  }
  const foreignAt = groupWrites.findIndex((a) => a.user === FOREIGN_USER);
  if (foreignAt >= 0 && groupWrites.slice(foreignAt + 1).some((a) => a.user === t.user)) {
    violate('e', `Sluice overwrote weights someone else (${FOREIGN_USER}) wrote after its last write`);
  }

  // (f) every `started` answer has an execution that passed Prepare — or one that ended `refused`
  // because every one of Prepare's attempts failed transiently (the faults of this target outlasted
  // Prepare's retry budget, e.g. prometheus-5xx and api-drop-burst at the start: 3 + 2 failures for
  // 5 attempts) and that never wrote the group. A user told "started X" then sees X refused with
  // nothing changed, which is honest; the defect (f) pins is an execution refused because another
  // trigger took the target, which is never excused.
  const prepareAttempts = prepareRetries + 1;
  for (const answer of track.answers) {
    if (answer.outcome !== 'started') continue;
    let passed: boolean;
    let outlasted = false;
    let entered: string[] = [];
    // A killed engine process took the history with it: its record (written by Prepare) says it passed.
    const childHistory = track.child?.history;
    if (track.child && !childHistory) passed = (await store.getRollout(answer.execution)) !== null;
    else {
      const events = childHistory ?? (await executionHistory(runtime, answer.execution));
      passed = events.some((e) => e.type === 'ChoiceStateEntered' && e.stateEnteredEventDetails?.name === 'StartGate');
      const failures = events.filter((e) => e.type === 'LambdaFunctionFailed').map((e) => e.lambdaFunctionFailedEventDetails?.error ?? '');
      const refused = events.some((e) => e.type === 'ExecutionFailed' && e.executionFailedEventDetails?.error === 'Sluice.Refused');
      // Whether this execution could have written the group: the target's audit cannot tell executions
      // apart (a later trigger's execution writes it with the same user), its history can.
      const couldWrite = events.some((e) => WRITING_STATES.has(e.stateEnteredEventDetails?.name ?? ''));
      outlasted = refused && failures.length === prepareAttempts && failures.every((error) => error === 'Sluice.Transient') && !couldWrite;
      entered = events.flatMap((e) =>
        e.stateEnteredEventDetails?.name
          ? [e.stateEnteredEventDetails.name]
          : e.type === 'LambdaFunctionFailed'
            ? [
                `attempt failed: ${e.lambdaFunctionFailedEventDetails?.error ?? ''} ${(e.lambdaFunctionFailedEventDetails?.cause ?? '').slice(0, 100)}`,
              ]
            : e.type === 'ExecutionFailed'
              ? [`failed: ${e.executionFailedEventDetails?.error ?? ''} ${e.executionFailedEventDetails?.cause ?? ''}`.slice(0, 300)]
              : [],
      );
    }
    if (!passed && !outlasted) {
      violate(
        'f',
        `trigger answered "started ${answer.execution}", but that execution never passed Prepare (${entered.join(' → ') || 'no history'}; answers: ${track.answers.map((a) => a.message).join(' / ')})`,
      );
    }
  }

  if (found.length > 0 && process.env['SOAK_DEBUG']) {
    const t0 = Date.now() - now();
    const lines = [`--- ${t.name} debug`, `weights: ${track.weights.map((e) => `${e.at}:${e.w.primary}/${e.w.canary}`).join(' ')}`];
    lines.push(
      `group writes: ${kube
        .audit()
        .filter((a) => a.resource.startsWith('upstreamgroups') && a.name === t.name)
        .map((a) => `${a.at - t0}:${a.verb}:${a.code}:${a.user === t.user ? 'own' : a.user}`)
        .join(' ')}`,
    );
    for (const record of records) {
      lines.push(
        `record ${record.execution} ${record.status} ${record.outcome ?? ''} ${JSON.stringify(record.lastWeights)} ${JSON.stringify(record.pendingWeights ?? null)}`,
      );
      for (const step of await store.listSteps(record.execution))
        lines.push(
          `  step ${Date.parse(step.at) - t0}:${step.kind} ${JSON.stringify(step.weights ?? '')} ${step.detail ?? ''}`.slice(0, 400),
        );
    }
    process.stderr.write(`${lines.join('\n')}\n`);
  }

  // Time to the safe side: from the last fault healing to the last move onto a safe side.
  const healedAt = Math.max(0, ...track.faults.map((f) => f.healedAtMs ?? f.injectedAtMs ?? 0));
  const lastUnsafe = [...track.weights].reverse().find((entry) => !isSafe(entry.w));
  let timeToSafeSideMs: number | null = null;
  if (weights && isSafe(weights)) {
    const lastSafeMove = lastUnsafe ? track.weights.find((entry) => entry.at > lastUnsafe.at && isSafe(entry.w)) : undefined;
    timeToSafeSideMs = Math.max(0, (lastSafeMove?.at ?? 0) - healedAt);
  }
  void now;
  return {
    result: {
      target: t.name,
      round: track.round,
      strategy: track.strategy,
      ...(track.redealtFrom ? { redealtFrom: track.redealtFrom } : {}),
      faults: track.faults,
      reported,
      endState,
      weights,
      primaryVersion: version,
      timeToSafeSideMs,
    },
    found,
  };
}

/** Every event of an execution's history (the engine pages at 1,000 like Step Functions). */
async function executionHistory(runtime: LocalRuntime, execution: string): Promise<HistoryEvent[]> {
  const executionArn = `${runtime.engine.stateMachineArn.replace(':stateMachine:', ':execution:')}:${execution}`;
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await runtime.sfn.send(
      new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, ...(nextToken ? { nextToken } : {}) }),
    );
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

/** The canary weights of `wanted`, in order, as a subsequence of what the group held (`held`, consecutive repeats folded). */
function inOrder(wanted: readonly number[], held: readonly number[]): boolean {
  let at = 0;
  for (const w of wanted) {
    while (at < held.length && held[at] !== w) at++;
    if (at === held.length) return false;
  }
  return true;
}

/**
 * Invariant (d) beyond sequence numbers: the store's steps, the published events and the execution
 * history tell the same story — one `weight` step and one `Weight Changed` event (same weights, same
 * order) per SetWeight task that succeeded, one `analysis` step and one `Analysis Completed` event
 * (same verdict) per Analyze that succeeded, the recorded weights in the order the group held them,
 * `promoted` exactly when the execution succeeded, and the last outcome event saying the record's outcome.
 */
function historyMismatches(
  record: RolloutRecord,
  steps: readonly StepRecord[],
  events: readonly SluiceEvent[],
  history: readonly HistoryEvent[] | undefined,
  held: readonly number[],
  /** The promotion passed its point of no return (Switch's commit, before any abort or StopExecution was flagged). */
  committed: boolean,
): string[] {
  const problems: string[] = [];
  // Blue/green's switch to green is a weight step Promote records, not SetWeight.
  const weightSteps = steps.filter((s) => s.kind === 'weight' && s.detail !== GREEN_SWITCH_DETAIL);
  // A progressive promotion's splits (PromotionStep) are `promotion` steps with weights, and publish Weight Changed too.
  const promotionSplits = steps.filter((s) => s.kind === 'promotion' && s.weights);
  const weightEvents = events.filter((e) => e.detailType === 'Weight Changed');
  const canaries = (list: ReadonlyArray<{ weights?: { canary: number } | undefined }>) => list.map((x) => x.weights?.canary ?? -1);
  const routed = steps.filter((s) => s.kind === 'weight' || (s.kind === 'promotion' && s.weights));
  if (canaries(routed).join(',') !== canaries(weightEvents).join(','))
    problems.push(`weight steps ${canaries(routed).join(',')} ≠ Weight Changed events ${canaries(weightEvents).join(',')}`);
  const analysisSteps = steps.filter((s) => s.kind === 'analysis').map((s) => s.verdict?.result ?? '?');
  const analysisEvents = events.filter((e) => e.detailType === 'Analysis Completed').map((e) => e.verdict?.result ?? '?');
  if (analysisSteps.join(',') !== analysisEvents.join(','))
    problems.push(`analysis steps ${analysisSteps.join(',')} ≠ Analysis Completed events ${analysisEvents.join(',')}`);
  const recorded = steps
    .filter((s) => (s.kind === 'weight' || s.kind === 'promotion' || s.kind === 'rollback') && s.weights)
    .map((s) => s.weights?.canary ?? -1);
  if (!inOrder(recorded, held))
    problems.push(`the store records canary weights ${recorded.join(',')}; the group held ${held.join(',')} in that order`);
  const outcomes = events.filter((e) => e.outcome !== undefined);
  const last = outcomes.at(-1);
  if (record.status === 'finished' && last && last.outcome !== record.outcome)
    problems.push(
      `the record says ${record.outcome ?? 'no outcome'}, its last outcome event (${last.detailType}) says ${last.outcome ?? ''}`,
    );
  if (record.status === 'finished' && !last) problems.push(`finished ${record.outcome ?? ''} without an outcome event`);
  if (history) {
    // A Lambda that succeeded, counted under the Task state that scheduled it (a caught failure also exits the state).
    const succeededIn = new Map<string, number>();
    const failedIn = new Map<string, number>();
    let state = '';
    for (const e of history) {
      if (e.type === 'TaskStateEntered') state = e.stateEnteredEventDetails?.name ?? '';
      if (e.type === 'LambdaFunctionSucceeded') succeededIn.set(state, (succeededIn.get(state) ?? 0) + 1);
      if (e.type === 'LambdaFunctionFailed') failedIn.set(state, (failedIn.get(state) ?? 0) + 1);
    }
    const exited = (name: string) => succeededIn.get(name) ?? 0;
    // StopExecution does not stop a Lambda already running (Step Functions docs, StopExecution): its
    // writes still land after the history says the state was aborted, so it may add one step.
    const cutOff = (name: string) =>
      history.filter((e) => e.type === 'TaskStateAborted' && e.stateExitedEventDetails?.name === name).length;
    const within = (count: number, name: string) => count >= exited(name) && count <= exited(name) + cutOff(name);
    if (!within(weightSteps.length, 'SetWeight'))
      problems.push(
        `${exited('SetWeight')} SetWeight task(s) succeeded in the execution history, the store records ${weightSteps.length} weight step(s)`,
      );
    // The webhook gate states (one Lambda) record an analysis step when a gate stays closed or a rollback hook answers.
    const gateStates = ['ConfirmRollout', 'PreRollout', 'ConfirmPromotion'];
    const gateSteps = gateStates.reduce((sum, name) => sum + exited(name) + cutOff(name), 0);
    // A promotion look (PromotionLook) records its step too; the one that fails the promotion records it and then fails.
    const looked = exited('Analyze') + exited('PromotionLook');
    const analysisWithin =
      analysisSteps.length >= looked &&
      analysisSteps.length <= looked + cutOff('Analyze') + cutOff('PromotionLook') + (failedIn.get('PromotionLook') ?? 0) + gateSteps;
    if (!analysisWithin)
      problems.push(
        `${looked} Analyze/PromotionLook task(s) succeeded in the execution history, the store records ${analysisSteps.length} analysis step(s)`,
      );
    // A PromotionStep that routes records one split; the one that leaves the last step to Switch, or a retry of a landed write, records none.
    if (promotionSplits.length > exited('PromotionStep') + cutOff('PromotionStep') + (failedIn.get('PromotionStep') ?? 0))
      problems.push(
        `${exited('PromotionStep')} PromotionStep task(s) succeeded in the execution history, the store records ${promotionSplits.length} promotion split(s)`,
      );
    const succeeded = history.some((e) => e.type === 'ExecutionSucceeded');
    // A StopExecution that lands while Finish runs aborts the execution, but the Lambda finishes the
    // promotion it was recording: the record says promoted, and so do the objects.
    const finishedAfterStop = record.outcome === 'promoted' && cutOff('Finish') > 0;
    // The same for a stop after Switch passed the point of no return (its Lambda ran on and switched;
    // the safety net flags the stop as an abort, which the store refuses once the switch is committed).
    const stoppedPastNoReturn = record.outcome === 'promoted' && committed && history.some((e) => e.type === 'ExecutionAborted');
    if (record.status === 'finished' && succeeded !== (record.outcome === 'promoted') && !finishedAfterStop && !stoppedPastNoReturn)
      problems.push(`the execution ${succeeded ? 'succeeded' : 'did not succeed'}, the record says ${record.outcome ?? 'no outcome'}`);
  }
  return problems;
}

function describeEnd(endState: EndState, weights: GroupState | null, version: string | null): string {
  const split = weights ? `primary ${weights.primary} / canary ${weights.canary}` : 'no readable weights';
  return `${split}, primary running ${version ?? 'unknown'} (${endState})`;
}
