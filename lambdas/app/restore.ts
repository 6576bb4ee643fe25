/**
 * Puts traffic on the safe side and closes the rollout: shared by Rollback (the state machine's
 * catch-all), the safety net (executions stopped, failed or timed out, where no Catch runs) and the
 * reconciler (records left open by a dead execution). Idempotent: a closed rollout stays as it is.
 *
 * The rules:
 * - Owner-checked: a target whose lock another execution holds is never touched (a late
 *   safety-net delivery for a dead execution must not overwrite a newer rollout's weights).
 * - Never overwrite someone else: only weights Sluice wrote last (or was writing when it
 *   stopped) are replaced. Anything else is a takeover: stop, record outcome `failed`, release the
 *   lock, announce `Rollout Stuck` ("taken over by someone else").
 * - Failures to restore are not the end: a transient one is rethrown as Sluice.Transient (the
 *   ASL's Rollback Retry, EventBridge's retries and the reconciler keep trying until the recovery
 *   window has passed); anything else (403, Gloo's Rejected) leaves the record open for the
 *   reconciler and `sluice recover`. The first failure starts the recovery clock; after
 *   STUCK_AFTER_SECONDS (at once for a failure only a person can fix) `Rollout Stuck` goes out,
 *   and `Rollout Recovered` when the safe side lands.
 * - The outcome is read from the objects after the write, never assumed (core/recovery.ts).
 */
import { spendTaskToken } from './guards.ts';
import { ConflictError, TransientError, describeError } from '../core/errors.ts';
import { allOn, formatWeights, sameWeights } from '../core/rollout.ts';
import { isSluicesWrite, isStuck, outcomeFromObjects, recoveryWindowPassed } from '../core/recovery.ts';
import type { IntendedEnd, ObservedEnd } from '../core/recovery.ts';
import type { EventType, Outcome, RolloutRecord, Side, Weights } from '../core/records.ts';
import type { AbortFlags, RolloutLog, RolloutRecords, TargetLocks, TaskTokens, TrafficRouter, Workload } from '../core/ports.ts';
import { promotionMode } from '../core/spec.ts';
import { AB_NOTE_PREFIX } from '../core/match.ts';
import type { RolloutSpec } from '../core/spec.ts';
import type { HandlerDeps } from './deps.ts';
import { GlooRejectedError } from '../adapters/router/gloo-weights.ts';
import { fireHooks, publishWithHooks } from '../adapters/webhooks/client.ts';

/** The note a restore leaves before it moves traffic off a split: the proof that traffic had moved. */
const RESTORED_NOTE_PREFIX = 'restoring the safe side from';

/** Notes that mean users reached the canary though no weight step says so: a shadow stage, an A/B stage, a restore off a split. */
const TRAFFIC_NOTE_PREFIXES = ['shadowing ', AB_NOTE_PREFIX, RESTORED_NOTE_PREFIX];

/** The store ports a restore uses: it reads and closes the record, writes history, frees the lock and the pending token. */
export type RestoreStore = RolloutRecords & RolloutLog & TargetLocks & TaskTokens & Pick<AbortFlags, 'getPromotionCommit'>;

export interface Closure {
  outcome: IntendedEnd;
  reason: string;
}

/** What a restore ended with: the outcome read from the objects, and what happened. */
export interface Restored {
  outcome: Outcome;
  reason: string;
  weights?: Weights;
  /**
   * restored: the safe side is in place and the record closed; taken-over: someone else's weights
   * were left alone; superseded: another execution holds the target; closed: it already was.
   */
  result: 'restored' | 'taken-over' | 'superseded' | 'closed' | 'not-recorded';
}

const EVENT_FOR: Partial<Record<Outcome, EventType>> = {
  'rolled-back': 'Rollout Rolled Back',
  aborted: 'Rollout Aborted',
  'promotion-failed': 'Rollout Held',
  promoted: 'Rollout Promoted',
  // Nothing moved: the closest announcement is the rollback's (the reason says no traffic moved).
  refused: 'Rollout Rolled Back',
};

/** The restore could not finish; the record stays open. `transient` failures are retried by whoever called. */
export class RestoreFailedError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    // Named so the ASL's Catch sends it to RollbackFailed rather than retrying it.
    this.name = 'Sluice.RestoreFailed';
  }
}

export async function restoreSafeSide(
  deps: HandlerDeps<RestoreStore>,
  spec: RolloutSpec,
  execution: string,
  closure: Closure,
  options: { windowSeconds?: number } = {},
): Promise<Restored> {
  const target = spec.metadata.name;
  const record = await deps.store.getRollout(execution);
  if (!record) {
    // Prepare never recorded this rollout: it moved no traffic, and the target may belong to another run.
    await deps.store.releaseLock(target, execution);
    return { outcome: 'refused', reason: closure.reason, result: 'not-recorded' };
  }
  if (record.status === 'finished') {
    // A step that failed after it closed the record (Finish's lock release on a busy store) left its
    // lock and token behind: free them (owner-checked, idempotent). Nothing moves: the record is the end.
    await spendTaskToken(deps.store, target, execution);
    await deps.store.releaseLock(target, execution);
    return {
      outcome: record.outcome ?? closure.outcome,
      reason: record.reason ?? closure.reason,
      weights: record.lastWeights,
      result: 'closed',
    };
  }
  const lock = await deps.store.getLock(target);
  if (lock && lock.owner !== execution) {
    // A newer rollout owns the target: this (dead) execution's traffic is no longer its to move.
    const reason = `${closure.reason}; ${target} is held by ${lock.owner} now, so its traffic was left alone`;
    await close(deps, record, { outcome: 'failed', reason });
    return { outcome: 'failed', reason, result: 'superseded' };
  }

  const scale = spec.spec.router.weightScale;
  let safeSide: Side;
  let safe: Weights;
  let router: TrafficRouter;
  let workload: Workload | null;
  let rejected: string | undefined;
  let found: Weights | undefined;
  try {
    // One workload lookup serves the safe side, the template read-back and the canary scale-down.
    workload = await deps.workloadFor(spec);
    safeSide = await safeSideOf(deps, spec, workload, record);
    safe = allOn(safeSide, scale);
    router = await deps.routerFor(spec, execution);
    if (spec.spec.strategy.shadow) await router.setShadow(null);
    // A/B: the match route (only the route with its marker name) goes before the weights are read.
    if (spec.spec.strategy.match) await router.setMatch(null);
    // Session affinity: the cookie route goes first (marker name only); its Set-Cookie headers below.
    if (spec.spec.strategy.sessionAffinity) await router.setAffinity(null, { scope: 'route' });
    const current = await router.getWeights();
    found = current;
    if (!sameWeights(current, safe)) {
      if (!(await isOwnWrite(deps, record, current))) return await takenOver(deps, spec, record, current, closure);
      // `current` is Sluice's own: its last confirmed write, or the pending one it was making (e.g. a
      // SetWeight whose revert after a Gloo rejection failed). A pending write in place stays the
      // pending one: replaced by the safe side, a failed attempt forgot it and the next one took
      // Sluice's own 50/50 for someone else's (the soak's gloo-rejected-transient + api-409-storm).
      // The safe side needs no record: a restore never takes it for someone else's.
      if (sameWeights(current, record.lastWeights)) await deps.store.updateRollout(execution, { pendingWeights: safe });
      // Noted before the write: once the safe side is in place and recorded, a SetWeight that failed
      // before its weight step leaves nothing else showing traffic had moved, and a later restore
      // (the reconciler, after the engine died before closing) would call the rollout refused.
      if (!sameWeights(current, allOn('primary', scale)))
        await deps.store.appendStep({
          execution,
          at: deps.now().toISOString(),
          kind: 'note',
          detail: `${RESTORED_NOTE_PREFIX} ${formatWeights(current, scale)}`,
        });
      try {
        await router.setWeights(safe, current);
      } catch (error) {
        // A write Gloo rejected is in place (all on one side is never reverted): not served, so not restored.
        if (!(error instanceof GlooRejectedError)) throw error;
        rejected = error.reason;
      }
    } else if (router.rejection) {
      rejected = await router.rejection();
    }
    // Sluice's Set-Cookie headers are on the weighted object: removed once its weights are Sluice's safe
    // side, never on an object someone else took over (that path returned above and leaves it theirs).
    if (spec.spec.strategy.sessionAffinity) await router.setAffinity(null, { expected: safe });
  } catch (error) {
    if (error instanceof ConflictError) {
      const current = await deps
        .routerFor(spec)
        .then((r) => r.getWeights())
        .catch(() => undefined);
      // Sluice's own weights again: its in-flight task (a SetWeight still reverting after StopExecution,
      // as a Lambda runs on after the execution stops) wrote in between. Not a takeover: retried
      // (Rollback's retrier, the reconciler), which then reads weights it knows.
      if (current !== undefined && (await isOwnWrite(deps, record, current))) {
        throw await failed(
          deps,
          spec,
          record,
          new TransientError(
            `${target} moved to ${formatWeights(current, scale)}, Sluice's own weights, while the safe side was being written: trying again`,
            { cause: error },
          ),
          options.windowSeconds,
        );
      }
      return takenOver(deps, spec, record, current, closure, describeError(error));
    }
    throw await failed(deps, spec, record, error, options.windowSeconds);
  }
  await deps.store.updateRollout(execution, { lastWeights: safe, safeSide });
  if (rejected !== undefined) {
    const error = new Error(`Gloo rejects ${formatWeights(safe, scale)} on ${target}: ${rejected}`);
    throw await failed(deps, spec, record, error, options.windowSeconds);
  }

  // The read-back decides the outcome; one that times out (a loaded API server) is retried like the
  // write before it, never turned into outcome `failed` with the safe side already in place.
  let readBack: Weights | undefined;
  try {
    readBack = await router.getWeights();
  } catch (error) {
    if (error instanceof TransientError) {
      const retry = new TransientError(
        `${target}'s weights could not be read back after writing ${formatWeights(safe, scale)}: trying again`,
        {
          cause: error,
        },
      );
      throw await failed(deps, spec, record, retry, options.windowSeconds);
    }
  }
  const observed = await observe(deps, spec, workload, { ...record, safeSide }, execution, found, readBack);
  const read = outcomeFromObjects(closure.outcome, observed, scale);
  const reason = read.note ? `${closure.reason} (${read.note})` : closure.reason;
  const weights = observed.weights ?? safe;

  if (workload && safeSide === 'primary' && spec.spec.workload?.scaleCanaryToZero) await workload.scale('canary', 0);
  await deps.store.appendStep({
    execution,
    at: deps.now().toISOString(),
    kind: 'rollback',
    weights,
    detail: `${read.outcome}: ${reason} (${formatWeights(weights, scale)})`,
  });
  await close(deps, record, { outcome: read.outcome, reason });
  if (record.stuckAt) {
    await publishWithHooks(deps, spec, {
      detailType: 'Rollout Recovered',
      target,
      version: record.version,
      execution,
      weights,
      outcome: read.outcome,
      reason: `back on a safe side after ${since(record, deps.now())}: ${reason}`,
    });
  }
  const detailType = EVENT_FOR[read.outcome] ?? 'Rollout Stuck';
  await publishWithHooks(deps, spec, { detailType, target, version: record.version, execution, weights, outcome: read.outcome, reason });
  // post-rollout hooks only inform: their failures are logged, never change how the rollout closed.
  await fireHooks(spec, 'post-rollout', read.outcome === 'promoted' ? 'Succeeded' : 'Failed');
  return { outcome: read.outcome, reason, weights, result: 'restored' };
}

/**
 * The side a restore puts all traffic on. The record's, except when the record still names the old
 * primary but the primary already runs the canary's template (Promote's copy landed and its record
 * did not: the engine killed right after the copy, the store busy) and the promotion never passed its
 * point of no return: then the old version is gone, the primary may be mid-rollout of the new one,
 * and the canary (scaled and ready since CheckCanary) is the safe side, as after any copy — a restore
 * must not finish a promotion by sending everything to a primary nobody checked was ready.
 */
async function safeSideOf(
  deps: HandlerDeps<RestoreStore>,
  spec: RolloutSpec,
  workload: Workload | null,
  record: RolloutRecord,
): Promise<Side> {
  if (record.safeSide !== 'primary' || workload === null || promotionMode(spec) !== 'template') return record.safeSide;
  if ((await deps.store.getPromotionCommit(record.execution)) !== null) return record.safeSide;
  const copied = await workload.primaryRunsCanaryTemplate().catch(() => false);
  return copied ? 'canary' : 'primary';
}

/** Reads the end state back: the weights, whether traffic ever moved, whether the primary got the new template. */
async function observe(
  deps: HandlerDeps<RestoreStore>,
  spec: RolloutSpec,
  workload: Workload | null,
  record: RolloutRecord,
  execution: string,
  found: Weights | undefined,
  weights: Weights | undefined,
): Promise<ObservedEnd> {
  const steps = await deps.store.listSteps(execution);
  const scale = spec.spec.router.weightScale;
  const route = promotionMode(spec) === 'route';
  const primaryOnly = allOn('primary', scale);
  // Moved if the object held a split when the restore began, or Sluice recorded (or was writing) one.
  const trafficMoved =
    record.safeSide === 'canary' ||
    (found !== undefined && !sameWeights(found, primaryOnly)) ||
    (record.pendingWeights !== undefined && !sameWeights(record.pendingWeights, primaryOnly)) ||
    !sameWeights(record.lastWeights, primaryOnly) ||
    steps.some(
      (s) =>
        s.kind === 'weight' ||
        s.kind === 'promotion' ||
        (s.kind === 'note' && TRAFFIC_NOTE_PREFIXES.some((prefix) => (s.detail ?? '').startsWith(prefix))),
    );
  // Template promotion: Promote notes the copy as a `promotion` step; the canary becomes the safe side only after it.
  // A copy that landed without its step (the engine killed right after it, the store busy) shows only
  // on the objects, so the primary's template is read when the records say nothing was copied.
  const recordedCopy = record.safeSide === 'canary' || steps.some((s) => s.kind === 'promotion' && /copied/.test(s.detail ?? ''));
  const copied = recordedCopy || (!route && workload !== null && (await workload.primaryRunsCanaryTemplate().catch(() => false)));
  return {
    ...(weights ? { weights } : {}),
    trafficMoved,
    ...(route ? { canaryIsPromoted: record.safeSide === 'canary' } : { primaryPromoted: copied }),
  };
}

/**
 * Whether `current` is a write of Sluice's own: the record read when the restore began, or the record
 * now. A task still in flight after StopExecution (a Lambda runs on after its execution stops) may
 * record its pending weights and write them after the restore read the record; judged on the old
 * record alone, Sluice's own SetWeight looked like someone else's and the split was left in place.
 */
async function isOwnWrite(deps: HandlerDeps<RestoreStore>, record: RolloutRecord, current: Weights): Promise<boolean> {
  if (isSluicesWrite(current, record)) return true;
  const fresh = await deps.store.getRollout(record.execution);
  return fresh !== null && isSluicesWrite(current, fresh);
}

async function close(deps: HandlerDeps<RestoreStore>, record: RolloutRecord, end: { outcome: Outcome; reason: string }): Promise<void> {
  const at = deps.now().toISOString();
  await deps.store.updateRollout(record.execution, { status: 'finished', outcome: end.outcome, reason: end.reason, finishedAt: at });
  await spendTaskToken(deps.store, record.target, record.execution);
  await deps.store.releaseLock(record.target, record.execution);
}

async function takenOver(
  deps: HandlerDeps<RestoreStore>,
  spec: RolloutSpec,
  record: RolloutRecord,
  current: Weights | undefined,
  closure: Closure,
  detail?: string,
): Promise<Restored> {
  const scale = spec.spec.router.weightScale;
  const holds = current ? formatWeights(current, scale) : 'weights Sluice did not write';
  const reason = `taken over by someone else: ${record.target} holds ${holds}, but Sluice last wrote ${formatWeights(record.lastWeights, scale)}; Sluice stopped and left it (was: ${closure.reason})${detail ? ` — ${detail}` : ''}`;
  await deps.store.appendStep({
    execution: record.execution,
    at: deps.now().toISOString(),
    kind: 'rollback',
    ...(current ? { weights: current } : {}),
    detail: `failed: ${reason}`,
  });
  await close(deps, record, { outcome: 'failed', reason });
  await publishWithHooks(deps, spec, {
    detailType: 'Rollout Stuck',
    target: record.target,
    version: record.version,
    execution: record.execution,
    ...(current ? { weights: current } : {}),
    outcome: 'failed',
    reason,
  });
  return { outcome: 'failed', reason, ...(current ? { weights: current } : {}), result: 'taken-over' };
}

/**
 * A failed attempt: start the recovery clock, tell people once it has failed long enough (at once
 * when only a person can fix it), and say what to throw. Transient failures stay Sluice.Transient
 * (retried) until the recovery window has passed.
 */
async function failed(
  deps: HandlerDeps<RestoreStore>,
  spec: RolloutSpec,
  record: RolloutRecord,
  error: unknown,
  windowSeconds?: number,
): Promise<Error> {
  const now = deps.now();
  const transient = error instanceof TransientError;
  const fresh = await deps.store.getRollout(record.execution).catch(() => null);
  const current = fresh ?? record;
  const recoveringSince = current.recoveringSince ?? now.toISOString();
  try {
    if (!current.recoveringSince) await deps.store.updateRollout(record.execution, { recoveringSince });
    const clock = { ...current, recoveringSince };
    if (!current.stuckAt && (!transient || isStuck(clock, now))) {
      await deps.store.updateRollout(record.execution, { stuckAt: now.toISOString() });
      const scale = spec.spec.router.weightScale;
      const fix = transient
        ? 'Sluice keeps retrying'
        : `fix it, then run \`sluice recover ${record.target}\` (the reconciler also retries every minute)`;
      await publishWithHooks(deps, spec, {
        detailType: 'Rollout Stuck',
        target: record.target,
        version: record.version,
        execution: record.execution,
        weights: record.lastWeights,
        reason: `traffic is at ${formatWeights(record.lastWeights, scale)}, not on a safe side, since ${recoveringSince}: ${describeError(error)}; ${fix}`,
      });
    }
  } catch {
    // The store or the bus being down is part of the outage: the retry of the restore tells later.
  }
  const windowPassed = recoveryWindowPassed({ recoveringSince }, now, windowSeconds);
  if (transient && !windowPassed) return error;
  const why = windowPassed ? `the recovery window has passed (since ${recoveringSince}): ${describeError(error)}` : describeError(error);
  return new RestoreFailedError(
    `restoring the safe side of ${record.target} failed: ${why}; traffic may not be on a safe side — run \`sluice recover ${record.target}\` once it is fixed`,
    { cause: error },
  );
}

function since(record: Pick<RolloutRecord, 'recoveringSince'>, now: Date): string {
  if (!record.recoveringSince) return '0 s';
  return `${Math.round((now.getTime() - Date.parse(record.recoveringSince)) / 1000)} s`;
}

/** The readable message inside a Step Functions error Cause (Lambda errors arrive as JSON). */
export function causeMessage(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // not JSON: the cause is the message
  }
  return cause;
}
