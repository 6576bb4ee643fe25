/**
 * The seams. Each is a small interface with one file per implementation under
 * `lambdas/adapters/`, chosen by a factory that switches over a discriminated union with an
 * exhaustive `never` check. Core code depends only on these types.
 */

/** Canary and primary weights in the router's weight scale (100 = percent, 1000 = per-mille). */
export interface Weights {
  primary: number;
  canary: number;
}

export type Side = 'primary' | 'canary';

/** Moves traffic between the primary and the canary (Gloo UpstreamGroup, VirtualService or RouteTable route). */
export interface TrafficRouter {
  /**
   * Checks that the objects exist and fit the spec (the group lists both upstreams, a route
   * references it, both Upstreams exist) and, for route promotion, puts the new canary into the
   * group at weight 0. Throws RefusedError naming the object when something is wrong.
   */
  reconcile(): Promise<void>;
  /** Reads the current weights. */
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
  /** The replicas a side is meant to serve with: its HPA's minReplicas when one targets it, else spec.replicas. */
  servingReplicas(side: Side): Promise<number>;
  /** Whether the primary runs the canary's pod spec (the template copy landed). */
  primaryRunsCanaryTemplate(): Promise<boolean>;
}

/** One value from a metrics backend; `null` means the query returned no data. */
export type MetricValue = number | null;

/** A metrics backend (Prometheus, CloudWatch, …): Flagger's two-method provider. */
export interface MetricProvider {
  /** Throws with a clear reason when the backend cannot be reached. */
  isOnline(): Promise<void>;
  /** Runs one query and returns a single number, or null when the result is empty. */
  runQuery(query: string): Promise<MetricValue>;
}

/** What one metric measured at one look, with the range it is judged against. */
export interface MetricReading {
  name: string;
  value: MetricValue;
  thresholdRange?: { min?: number | undefined; max?: number | undefined } | undefined;
  /** The query as sent (for evidence). */
  query?: string;
  /** The primary's value for the same metric, when measured (for the picture, not the verdict). */
  primaryValue?: MetricValue;
}

export type CheckResult = 'pass' | 'fail' | 'no-data';

export interface MetricCheck {
  name: string;
  value: MetricValue;
  min?: number | undefined;
  max?: number | undefined;
  result: CheckResult;
  /** The primary's value at the same look, when measured (evidence for people, not for the verdict). */
  primary?: MetricValue;
  /** The sequential judge's statistics for this metric (absent for the threshold judge). */
  evidence?: CheckEvidence;
}

/** Requests and events (errors, or requests over a latency threshold) of one arm. */
export interface ArmEvidence {
  requests: number;
  events: number;
}

/** What the sequential judge knows about one metric after a look (JSON-safe: no Infinity). */
export interface CheckEvidence {
  /** e-value of "the canary is worse than the primary" over the whole rollout, and its always-valid p-value. */
  eValue: number;
  pValue: number;
  /** How this look's factor was computed: binomial (rare events), exact (hypergeometric), none (no evidence). */
  method: 'binomial' | 'exact' | 'none';
  /** The one-sample e-value of "the canary's rate is above the allowed rate", when the metric has a thresholdRange. */
  threshold?: { allowedRate: number; eValue: number; pValue: number };
  /** e-value of "the canary is within the allowed margin/threshold" in the current step (early advance). */
  promotionEValue: number;
  /** Confidence sequence of the canary/primary rate ratio over the current step (null: unbounded). */
  ratioBounds?: { lower: number; upper: number | null; confidence: number };
  look: { canary: ArmEvidence; primary: ArmEvidence };
  step: { canary: ArmEvidence; primary: ArmEvidence };
  rollout: { canary: ArmEvidence; primary: ArmEvidence };
}

/** What decided a sequential verdict. */
export interface VerdictEvidence {
  judge: 'sequential';
  decision: 'fail' | 'advance-early' | 'continue' | 'no-evidence' | 'no-new-scrape';
  /** Mean of the k failure e-processes, and the bar it is compared with (1/alpha). */
  eValue: number;
  failAt: number;
  /** Smallest promotion e-value over the metrics, and its bar (1/alphaPromote). */
  promotionEValue: number;
  promoteAt: number;
  /** Always-valid p-value of the mean (min over looks of 1/E). */
  pValue: number;
  stepIndex: number;
  looksInStep: number;
  secondsInStep: number;
  /** The canary's measured share of this look's requests (null when nothing was served). */
  canaryShare: number | null;
}

/** A judge's verdict for one look, with its evidence. */
export interface Verdict {
  /** pass: all metrics within range; fail: at least one out of range; no-data: nothing failed but something had no data. */
  result: CheckResult;
  checks: MetricCheck[];
  /** One line a person can read: "request-success-rate 97.2 < min 99". */
  summary: string;
  /** The sequential judge's decision and statistics (absent for the threshold judge). */
  evidence?: VerdictEvidence;
}

export type Outcome = 'promoted' | 'rolled-back' | 'aborted' | 'promotion-failed' | 'refused' | 'failed';

/** The record of one rollout (one execution) in the store. */
export interface RolloutRecord {
  execution: string;
  target: string;
  version: string;
  requestedBy: string;
  startedAt: string;
  /** Which side gets all traffic if the rollout has to stop now. */
  safeSide: Side;
  /** What Sluice last wrote to the router (the basis of conflict detection and of the safety net). */
  lastWeights: Weights;
  status: 'running' | 'finished';
  /** The primary's pod template fingerprint at the start (template promotion), to notice someone else changing it. */
  primaryFingerprint?: string;
  outcome?: Outcome;
  reason?: string;
  finishedAt?: string;
  /** The spec the rollout runs (the reconciler restores from it when the execution is gone). */
  spec?: unknown;
  /** Weights Sluice is about to write (set before the write): a crash between write and record is still Sluice's own. */
  pendingWeights?: Weights;
  /** When restoring the safe side first failed (the recovery window counts from here). */
  recoveringSince?: string;
  /** When `Rollout Stuck` went out (once per rollout; `Rollout Recovered` follows when it lands). */
  stuckAt?: string;
}

/** One entry of a rollout's history: a weight change, a verdict, a decision. */
export interface StepRecord {
  execution: string;
  seq: number;
  at: string;
  kind: 'weight' | 'analysis' | 'decision' | 'promotion' | 'rollback' | 'note';
  stepIndex?: number;
  weights?: Weights;
  verdict?: Verdict;
  detail?: string;
}

export interface LockHolder {
  target: string;
  owner: string;
  expiresAt: string;
}

export interface PendingToken {
  target: string;
  execution: string;
  token: string;
  /** Which wait the token belongs to: a bake, or later an approval gate. */
  gate: string;
  createdAt: string;
}

export interface AbortRequest {
  execution: string;
  by: string;
  reason: string;
  at: string;
  /** `abort`: a person stopped it (outcome aborted); `alarm`: a CloudWatch alarm fired (a hard stop: rolled back). */
  kind?: 'abort' | 'alarm';
}

/** Where a trigger came from (the idempotency ledger's sources). */
export type TriggerSource = 'event' | 'ecr' | 'gitops' | 'slack' | 'schedule' | 'cli';

/** One entry of the idempotency ledger: what a trigger started (or why it started nothing). Never expires. */
export interface TriggerRecord {
  source: TriggerSource;
  /** The execution the trigger started (absent when it was refused or queued). */
  execution?: string;
  at: string;
  /** What was asked and answered: target, version, identity, outcome, reason (plain JSON). */
  detail?: Record<string, unknown>;
}

/**
 * A person's override of a target's change windows: while `until` lies ahead, a
 * closed window counts as open for that target (Analyze advances, a start is not queued). Audited
 * separately (a step and a `Command Audited` event); this record is only the one in force.
 */
export interface WindowOverride {
  target: string;
  by: string;
  reason: string;
  /** When it was given (ISO). */
  at: string;
  /** When it stops counting (ISO). */
  until: string;
}

/** Locks, task tokens, abort flags, the safe side and history (sqlite locally, DynamoDB in AWS). */
export interface RolloutStore {
  /**
   * The idempotency ledger: records `key` once (conditional put, the first writer wins). A later
   * call with the same key changes nothing and returns the first record. The audit of what started what.
   */
  recordTrigger(key: string, record: TriggerRecord): Promise<{ first: true } | { first: false; existing: TriggerRecord }>;

  /** Takes the target's lock for `owner` until `expiresAt`; an expired lock may be taken over. */
  acquireLock(target: string, owner: string, expiresAt: Date): Promise<{ acquired: true } | { acquired: false; holder: LockHolder }>;
  /** Releases the lock if `owner` holds it (idempotent). */
  releaseLock(target: string, owner: string): Promise<void>;
  getLock(target: string): Promise<LockHolder | null>;

  createRollout(record: RolloutRecord): Promise<void>;
  getRollout(execution: string): Promise<RolloutRecord | null>;
  /** Merges `patch` into the record. */
  updateRollout(execution: string, patch: Partial<Omit<RolloutRecord, 'execution' | 'target'>>): Promise<void>;
  /** Rollouts of a target, newest first. */
  listRollouts(target: string, limit?: number): Promise<RolloutRecord[]>;
  /** Every rollout still `running`, of every target (what the reconciler looks at). */
  listOpenRollouts(): Promise<RolloutRecord[]>;

  /** Records the pending task token of a target (one at a time per target). */
  putTaskToken(pending: PendingToken): Promise<void>;
  getTaskToken(target: string): Promise<PendingToken | null>;
  /** Clears it if it is still `token` (a newer one is left alone). */
  clearTaskToken(target: string, token: string): Promise<void>;

  requestAbort(request: AbortRequest): Promise<void>;
  getAbort(execution: string): Promise<AbortRequest | null>;

  /** Records the target's window override, replacing an earlier one. */
  putOverride(override: WindowOverride): Promise<void>;
  /** The target's latest window override (expired or not; the caller compares `until`), or null. */
  getOverride(target: string): Promise<WindowOverride | null>;

  /** The judge's memory between looks (the sequential judge's e-processes, counter baselines): plain JSON, replaced whole. */
  putAnalysisState(execution: string, state: unknown): Promise<void>;
  getAnalysisState(execution: string): Promise<unknown>;

  /** Appends to the execution's history; the store assigns `seq` (1, 2, …). */
  appendStep(step: Omit<StepRecord, 'seq'>): Promise<StepRecord>;
  listSteps(execution: string): Promise<StepRecord[]>;

  /** Appends a published event (locally the store keeps them; in AWS EventBridge does). */
  appendEvent(event: SluiceEvent): Promise<void>;
  listEvents(execution: string): Promise<SluiceEvent[]>;
  /** The next event sequence number of an execution (1, 2, …), atomically. */
  nextSequence(execution: string): Promise<number>;

  close(): Promise<void>;
}

export const EVENT_TYPES = [
  'Rollout Started',
  'Weight Changed',
  'Analysis Completed',
  'Approval Requested',
  'Approval Given',
  'Rollout Held',
  'Rollout Promoted',
  'Rollout Rolled Back',
  'Rollout Aborted',
  'Command Audited',
  'Rollout Stuck',
  'Rollout Recovered',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** An event Sluice publishes (EventBridge source `sluice`). Never carries task tokens or response URLs. */
export interface SluiceEvent {
  detailType: EventType;
  target: string;
  version: string;
  execution: string;
  /** Increases per execution: events may arrive out of order. */
  sequence: number;
  at: string;
  weights?: Weights;
  verdict?: Verdict;
  outcome?: Outcome;
  reason?: string;
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
