/**
 * The seams. Each is a small interface with one file per implementation under
 * `lambdas/adapters/<seam>/`, chosen by a factory that switches over a discriminated union with an
 * exhaustive `never` check. Core code depends only on these types; the data they carry is in
 * records.ts and verdict.ts.
 */
import type {
  AbortRequest,
  LockHolder,
  PendingToken,
  RolloutRecord,
  SluiceEvent,
  StepRecord,
  TriggerRecord,
  Weights,
  WindowOverride,
  Side,
} from './records.ts';
import type { MetricValue } from './verdict.ts';
import type { MatchRule } from './match.ts';
import type { AffinityCookie } from './affinity.ts';

/** How far a setAffinity call goes: the route alone, and the weights the weighted object must hold for a header write. */
export interface AffinityWrite {
  scope?: 'all' | 'route';
  expected?: Weights;
}

/** Moves traffic between the primary and the canary (Gloo UpstreamGroup, VirtualService or RouteTable route). */
export interface TrafficRouter {
  /**
   * Checks that the objects exist and fit the spec (the group lists both upstreams, a route
   * references it, both Upstreams exist). Reads only (Prepare's read-only role): for route
   * promotion a not-yet-listed canary that can take the retired upstream's place passes, and the
   * first setWeights puts it there. Throws RefusedError naming the object when something is wrong.
   */
  reconcile(): Promise<void>;
  /** Reads the current weights (route promotion: a not-yet-adopted canary reads as weight 0). */
  getWeights(): Promise<Weights>;
  /**
   * Writes `next`. `expected` is what Sluice last wrote (or the start state): if the object holds
   * anything else, someone else is steering and the call throws ConflictError without writing.
   * A 409 is retried (bounded, with jitter) only while the object still holds `expected`.
   * Never writes an all-zero total.
   */
  setWeights(next: Weights, expected: Weights): Promise<void>;
  /** Sets (percentage) or removes (null) mirroring of the route's traffic to the canary. */
  setShadow(shadow: { percentage: number } | null): Promise<void>;
  /**
   * A/B testing: puts (rules) or removes (null) the marker route that sends requests matching any
   * rule to the canary, just ahead of the weighted route. Removes only the route carrying its
   * marker name; idempotent.
   */
  setMatch(rules: readonly MatchRule[] | null): Promise<void>;
  /**
   * Session affinity: puts (cookie) or removes (null) each side's Set-Cookie on the weighted
   * destinations and the cookie route (a marker route to the canary) ahead of the weighted route.
   * Removes only Sluice's own headers and the route with its marker name; idempotent. `scope: 'route'`
   * removes the route alone. The headers are on the weighted object: with `expected`, they are written
   * only while it holds those weights (else ConflictError, as setWeights: someone else is steering).
   */
  setAffinity(cookie: AffinityCookie | null, options?: AffinityWrite): Promise<void>;
  /** Gloo's rejection reason on the object now, if any (read after a settle time; recovery checks a sticky Rejected). */
  rejection?(): Promise<string | undefined>;
}

/** The Deployments behind the two upstreams (template promotion, Flagger's model). */
export interface Workload {
  /** Ready = observedGeneration caught up and all replicas updated and available. */
  isReady(side: Side): Promise<boolean>;
  /** A fingerprint of the primary's pod template, to notice someone else changing it mid-rollout. */
  templateFingerprint(side: Side): Promise<string>;
  /** Copies the canary's pod template into the primary. */
  promoteTemplate(): Promise<void>;
  /** Scales a Deployment (canary to zero after promotion or rollback), unless an HPA owns it. */
  scale(side: Side, replicas: number): Promise<void>;
  /** The replicas a side is meant to serve with: when an HPA targets it, its current count (at least minReplicas), else spec.replicas. */
  servingReplicas(side: Side): Promise<number>;
  /** Whether the primary runs the canary's pod spec (the template copy landed). */
  primaryRunsCanaryTemplate(): Promise<boolean>;
  /** A side's pod template as it is now (kept by a fleet before it promotes, to roll the cluster back). */
  podTemplate(side: Side): Promise<PodTemplateCopy>;
  /** Puts a kept pod template on a side (the side keeps its own template labels, as promoteTemplate does). */
  setPodTemplate(side: Side, template: PodTemplateCopy): Promise<void>;
}

/** A Deployment's pod template without its labels (each Deployment's selector owns those): plain JSON. */
export interface PodTemplateCopy {
  annotations: Record<string, string>;
  spec: Record<string, unknown>;
}

/** A metrics backend (Prometheus, CloudWatch, …): Flagger's two-method provider. */
export interface MetricProvider {
  /** Throws with a clear reason when the backend cannot be reached. */
  isOnline(): Promise<void>;
  /** Runs one query and returns a single number, or null when the result is empty. */
  runQuery(query: string): Promise<MetricValue>;
}

/**
 * The store, seen through the narrow ports its consumers use: each consumer (a handler, a guard,
 * the start path, the reconciler, a CLI command) takes only the ports it calls, so a reader sees
 * at the signature what it may touch. Each back-end (sqlite locally, DynamoDB in AWS) is one class
 * implementing RolloutStore, the whole set.
 */

/** The idempotency ledger: what started what. */
export interface TriggerLedger {
  /**
   * Records `key` once (conditional put, the first writer wins). A later call with the same key
   * changes nothing and returns the first record.
   */
  recordTrigger(key: string, record: TriggerRecord): Promise<{ first: true } | { first: false; existing: TriggerRecord }>;
}

/** One rollout per target at a time. */
export interface TargetLocks {
  /** Takes the target's lock for `owner` until `expiresAt`; an expired lock may be taken over. */
  acquireLock(target: string, owner: string, expiresAt: Date): Promise<{ acquired: true } | { acquired: false; holder: LockHolder }>;
  /** Releases the lock if `owner` holds it (idempotent). */
  releaseLock(target: string, owner: string): Promise<void>;
  getLock(target: string): Promise<LockHolder | null>;
}

/** Every held lock, of every target: what the reconciler passes over to free a lock whose rollout was never recorded. */
export interface HeldLocks {
  /** The unexpired locks, whether or not their owner recorded a rollout. */
  listLocks(): Promise<LockHolder[]>;
}

/** The record of each rollout: its safe side, what Sluice last wrote, its outcome. */
export interface RolloutRecords {
  createRollout(record: RolloutRecord): Promise<void>;
  getRollout(execution: string): Promise<RolloutRecord | null>;
  /** Merges `patch` into the record. */
  updateRollout(execution: string, patch: Partial<Omit<RolloutRecord, 'execution' | 'target'>>): Promise<void>;
  /** Rollouts of a target, newest first. */
  listRollouts(target: string, limit?: number): Promise<RolloutRecord[]>;
  /** Every rollout still `running`, of every target (what the reconciler looks at). */
  listOpenRollouts(): Promise<RolloutRecord[]>;
}

/** A rollout's history (weight changes, verdicts, decisions, notes). */
export interface RolloutLog {
  /** Appends to the execution's history; the store assigns `seq` (1, 2, …). */
  appendStep(step: Omit<StepRecord, 'seq'>): Promise<StepRecord>;
  listSteps(execution: string): Promise<StepRecord[]>;
}

/** The pending task token of a target (a bake, an approval gate): how a wait is woken from outside. */
export interface TaskTokens {
  /** Records the pending task token of a target (one at a time per target). */
  putTaskToken(pending: PendingToken): Promise<void>;
  getTaskToken(target: string): Promise<PendingToken | null>;
  /** Clears it if it is still `token` (a newer one is left alone). */
  clearTaskToken(target: string, token: string): Promise<void>;
}

/**
 * Abort between tasks (a flag the next task honours), and the promotion's point of no return: Switch
 * commits it just before it writes the promoted split. The two are one conditional write on the
 * same row (item), so exactly one of them wins: an abort flagged first stops the switch; once the
 * switch is committed an abort is answered `too-late` and nothing is flagged.
 */
export interface AbortFlags {
  /** Flags the abort, unless the promotion passed its point of no return (then `too-late`, with when). */
  requestAbort(request: AbortRequest): Promise<AbortAnswer>;
  /** The abort flagged for an execution (never the commit marker), or null. */
  getAbort(execution: string): Promise<AbortRequest | null>;
  /** Passes the point of no return unless an abort was flagged first (then that abort). Idempotent: a retried Switch keeps the first commit. */
  commitPromotion(execution: string, at: string): Promise<PromotionCommit>;
  /** When the promotion passed its point of no return, or null (a restore tells a switched rollout from a copy that landed unrecorded). */
  getPromotionCommit(execution: string): Promise<string | null>;
}

export type AbortAnswer = { flagged: true } | { flagged: false; committedAt: string };
export type PromotionCommit = { committed: true; at: string } | { committed: false; abort: AbortRequest };

/** The window override in force for a target. */
export interface WindowOverrides {
  /** Records the target's window override, replacing an earlier one. */
  putOverride(override: WindowOverride): Promise<void>;
  /** The target's latest window override (expired or not; the caller compares `until`), or null. */
  getOverride(target: string): Promise<WindowOverride | null>;
}

/** The judge's memory between looks (the sequential judge's e-processes, counter baselines): plain JSON, replaced whole. */
export interface AnalysisStates {
  putAnalysisState(execution: string, state: unknown): Promise<void>;
  getAnalysisState(execution: string): Promise<unknown>;
}

/** Published events and their per-execution sequence (locally the store keeps them; in AWS EventBridge does). */
export interface EventLog {
  appendEvent(event: SluiceEvent): Promise<void>;
  listEvents(execution: string): Promise<SluiceEvent[]>;
  /** The next event sequence number of an execution (1, 2, …), atomically. */
  nextSequence(execution: string): Promise<number>;
}

/** Every port at once: what one back-end class implements (sqlite locally, DynamoDB in AWS), and what owns its connection. */
export interface RolloutStore
  extends TriggerLedger,
    TargetLocks,
    HeldLocks,
    RolloutRecords,
    RolloutLog,
    TaskTokens,
    AbortFlags,
    WindowOverrides,
    AnalysisStates,
    EventLog {
  close(): Promise<void>;
}

/** The reconciler's view of the engine (Step Functions in AWS, the local engine's state file locally). */
/** Whether an execution runs: `unknown` (its engine cannot be asked) is never acted on. */
export interface LivenessAnswer {
  state: 'running' | 'not-running' | 'unknown';
  /** Why: "ABORTED", "its engine (pid 4242) is gone", "DescribeExecution failed: …". */
  detail: string;
  /** The execution input, when the engine still has it (the spec to restore with). */
  input?: unknown;
  /** It ended ABORTED: someone ran StopExecution, an abort as the safety net reads it. */
  stopped?: boolean;
}

export interface ExecutionLiveness {
  of(execution: string): Promise<LivenessAnswer>;
}

/** Turns the schedule on and off (AWS: the EventBridge rule; locally nothing). */
export interface ReconcileSchedule {
  setEnabled(enabled: boolean): Promise<void>;
}

export interface EventPublisher {
  publish(event: Omit<SluiceEvent, 'sequence' | 'at'>): Promise<void>;
}

/**
 * Tells people about a rollout (the Slack thread, a generic webhook), fed by the events.
 * Never slows or fails a rollout: implementations log their own failures and resolve.
 */
export interface Notifier {
  notify(event: SluiceEvent): Promise<void>;
}
