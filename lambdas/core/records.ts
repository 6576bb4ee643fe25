/**
 * The records Sluice keeps and sends: a rollout and its history, the lock, task tokens, abort
 * flags, the trigger ledger, window overrides and the events. Plain JSON data, the same in sqlite
 * (locally) and DynamoDB (in AWS); the seams that read and write them are in ports.ts.
 */
import type { Verdict } from './verdict.ts';

/** Canary and primary weights in the router's weight scale (100 = percent, 1000 = per-mille). */
export interface Weights {
  primary: number;
  canary: number;
}

export type Side = 'primary' | 'canary';

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

/** The first note in a rollout's history that begins with `prefix` (a stage's own note: A/B, affinity), if any. */
export function noteStartingWith(steps: ReadonlyArray<{ kind: string; detail?: string | undefined }>, prefix: string): string | undefined {
  return steps.find((step) => step.kind === 'note' && step.detail?.startsWith(prefix))?.detail;
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
