/**
 * Recovery: how long Sluice keeps trying to put a live split on a safe side, when it
 * tells people it is stuck, what the outcome of a stopped rollout is (read from the objects, never
 * assumed), and the arithmetic of the Rollback state's backoff. Pure: no I/O.
 *
 * The one guarantee: while traffic is not on a safe side, Rollback (Step Functions Retry), the
 * safety net (EventBridge retries, then the reconciler) and the reconciler (every minute while a
 * rollout is open) keep retrying transient failures until the recovery window has passed. Only a
 * person's write (someone else's weights) or the window's end stops them; either is announced as
 * `Rollout Stuck` and left to `sluice recover`.
 */
import type { Outcome, RolloutRecord, Weights } from './records.ts';
import { formatWeights, sameWeights } from './rollout.ts';

// The recovery window (default two hours of retrying a live split, at most six; the ASL's Rollback
// Retry is sized to outlast it) is one of the execution's bounds in limits.ts.
import { RECOVERY_WINDOW_DEFAULT_SECONDS, RECOVERY_WINDOW_MAX_SECONDS } from './limits.ts';
export { RECOVERY_WINDOW_DEFAULT_SECONDS, RECOVERY_WINDOW_MAX_SECONDS };
/** After this long without landing on a safe side, `Rollout Stuck` goes out (once per rollout). */
export const STUCK_AFTER_SECONDS = 180;
/** The reconciler Lambda's log message per finding: the stack's metric filter (and its alarm) counts these lines. */
export const RECONCILER_FINDING_MESSAGE = 'reconciler finding';
/** How often the reconciler runs while any rollout is open (the EventBridge schedule's rate). */
export const RECONCILE_PERIOD_SECONDS = 60;
/**
 * A lock outlives a healthy execution by construction: the state machine's own TimeoutSeconds
 * ends every execution well before this, and the reconciler frees a dead execution's lock as soon
 * as it knows the execution does not run. The clock is only the last backstop (a store nobody
 * reconciles), so it is long: a week.
 */
export const LOCK_BACKSTOP_SECONDS = 7 * 24 * 3600;

/** When a lock taken now lapses on its own (see LOCK_BACKSTOP_SECONDS: liveness frees it first). */
export function lockExpiresAt(now: Date): Date {
  return new Date(now.getTime() + LOCK_BACKSTOP_SECONDS * 1000);
}

/** The spec's recovery window in seconds (strategy.recoveryWindow when present, else the default), capped at the maximum. */
export function recoveryWindowSeconds(configured?: number): number {
  if (configured === undefined || !Number.isFinite(configured) || configured <= 0) return RECOVERY_WINDOW_DEFAULT_SECONDS;
  return Math.min(configured, RECOVERY_WINDOW_MAX_SECONDS);
}

/** One Retry rule of a Task state, as the ASL states it. */
export interface AslRetrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: 'FULL' | 'NONE';
}

/**
 * The pauses Step Functions makes between attempts of a retrier, without jitter (States Language:
 * IntervalSeconds × BackoffRate^(n-1), capped at MaxDelaySeconds; defaults 1 s, 3 attempts, 2.0).
 * https://states-language.net/spec.html#retrying-after-error and the Step Functions developer
 * guide's "Retrying after an error" (MaxDelaySeconds, JitterStrategy).
 */
export function retryDelays(retrier: AslRetrier): number[] {
  const interval = retrier.IntervalSeconds ?? 1;
  const rate = retrier.BackoffRate ?? 2;
  const attempts = retrier.MaxAttempts ?? 3;
  const cap = retrier.MaxDelaySeconds ?? Number.POSITIVE_INFINITY;
  const delays: number[] = [];
  let delay = interval;
  for (let n = 0; n < attempts; n++) {
    delays.push(Math.min(delay, cap));
    delay = Math.min(delay * rate, cap);
  }
  return delays;
}

/**
 * The longest outage a retrier rides out: the sum of its pauses plus each attempt's own time
 * (`attemptSeconds`, what a failing attempt takes: a refused connection is instant, a hung API
 * costs the client timeout). With FULL jitter each pause is uniform in [0, delay]: the guaranteed
 * figure is then the attempts' own time only, which is why the Rollback retrier has no jitter.
 */
export function outageSurvivedSeconds(retrier: AslRetrier, attemptSeconds = 0): number {
  const delays = retryDelays(retrier);
  const pauses = retrier.JitterStrategy === 'FULL' ? 0 : delays.reduce((sum, d) => sum + d, 0);
  return pauses + (delays.length + 1) * attemptSeconds;
}

/** What the objects say after a restore (read back, never assumed). */
export interface ObservedEnd {
  /** The weights read back from the router; undefined when they could not be read. */
  weights?: Weights;
  /** Gloo's verdict on the object read back after Sluice's last write (Rejected is not restored). */
  rejected?: string;
  /** The primary runs the canary's template (the copy happened); undefined when unknown (route promotion). */
  primaryPromoted?: boolean;
  /** Route promotion: all traffic on the canary upstream after Promote is the promoted state. */
  canaryIsPromoted?: boolean;
  /** Any weight ever moved off 100% primary in this rollout. */
  trafficMoved: boolean;
}

/** What the rollout meant to end as (the closure Rollback or the safety net worked out). */
export type IntendedEnd = Extract<Outcome, 'rolled-back' | 'aborted' | 'promotion-failed'>;

export interface ReadOutcome {
  outcome: Outcome;
  /** Appended to the reason: the actual split, or why the outcome is not the intended one. */
  note?: string;
}

/**
 * The outcome, from the objects: 0 promoted (100% primary running the new
 * template); 2 refused (no weight was ever written); 3 rolled back / 4 aborted (100% on the old
 * primary); 5 held on the canary after the copy; 1 anything else, naming the split.
 */
export function outcomeFromObjects(intended: IntendedEnd, observed: ObservedEnd, scale: number): ReadOutcome {
  const { weights } = observed;
  if (!weights) return { outcome: 'failed', note: 'the weights could not be read back' };
  const split = formatWeights(weights, scale);
  if (observed.rejected !== undefined) return { outcome: 'failed', note: `Gloo rejected ${split}: ${observed.rejected}` };
  const onPrimary = sameWeights(weights, { primary: scale, canary: 0 });
  const onCanary = sameWeights(weights, { primary: 0, canary: scale });
  if (onPrimary) {
    if (observed.primaryPromoted === true)
      return { outcome: 'promoted', note: 'the primary already runs the new version with all traffic' };
    if (intended === 'aborted') return { outcome: 'aborted' };
    if (!observed.trafficMoved) return { outcome: 'refused', note: 'no traffic was moved' };
    return { outcome: 'rolled-back' };
  }
  if (onCanary) {
    if (observed.canaryIsPromoted === true) return { outcome: 'promoted', note: 'the canary upstream already takes all traffic' };
    if (observed.primaryPromoted === false) return { outcome: 'failed', note: `${split}, but the primary still runs the old version` };
    return { outcome: 'promotion-failed' };
  }
  return { outcome: 'failed', note: `traffic is split: ${split}` };
}

/** Weights Sluice itself wrote last (or was about to write when it stopped): never someone else's. */
export function isSluicesWrite(current: Weights, record: Pick<RolloutRecord, 'lastWeights' | 'pendingWeights'>): boolean {
  return sameWeights(current, record.lastWeights) || (record.pendingWeights !== undefined && sameWeights(current, record.pendingWeights));
}

/** Whether a record's restore has been failing long enough to tell people. */
export function isStuck(record: Pick<RolloutRecord, 'recoveringSince' | 'stuckAt'>, now: Date): boolean {
  if (record.stuckAt || !record.recoveringSince) return false;
  return now.getTime() - Date.parse(record.recoveringSince) >= STUCK_AFTER_SECONDS * 1000;
}

/** Whether the recovery window of a record has passed: automatic retries stop, `sluice recover` still works. */
export function recoveryWindowPassed(
  record: Pick<RolloutRecord, 'recoveringSince'>,
  now: Date,
  windowSeconds = RECOVERY_WINDOW_DEFAULT_SECONDS,
): boolean {
  if (!record.recoveringSince) return false;
  return now.getTime() - Date.parse(record.recoveringSince) > windowSeconds * 1000;
}
