/**
 * The reconciler: level-triggered, like Flagger's and Argo Rollouts' loops. It
 * lists every rollout record still open, asks whether its execution runs, and for each one that
 * does not (a killed local engine, a lost status event, a dead-lettered safety net, a gate that
 * outlived everything) drives the target to its safe side with the same restore code as Rollback,
 * closes the record and frees the lock. A held lock whose owner is closed (or was never recorded)
 * and does not run is freed too, found by listing every held lock. It never touches a running execution, nor one it cannot tell about.
 *
 * Runs in AWS as a Lambda on an EventBridge schedule that exists only while a rollout is open
 * (Prepare enables it, the reconciler disables it when nothing is open); locally before start,
 * run, retry, abort and recover, and periodically in `sluice serve`.
 */
import * as z from 'zod';
import { describeError } from '../core/errors.ts';
import { parseDuration } from '../core/duration.ts';
import { LOCK_BACKSTOP_SECONDS, recoveryWindowPassed, recoveryWindowSeconds } from '../core/recovery.ts';
import type { Outcome, RolloutRecord, Weights } from '../core/records.ts';
import { parseSpec } from '../core/spec.ts';
import { clusterOf, targetOf } from '../core/fleet-member.ts';
import { memberSpec } from '../core/fleet.ts';
import type { RolloutSpec } from '../core/spec.ts';
import type { DepsSource, HandlerDeps } from './deps.ts';
import type { AbortFlags, ExecutionLiveness, HeldLocks, ReconcileSchedule } from '../core/ports.ts';
import { restoreSafeSide } from './restore.ts';
import type { Closure, RestoreStore } from './restore.ts';

/** What the reconciler reads besides a restore's ports: the open rollouts (RolloutRecords), abort flags and held locks. */
export type ReconcileStore = RestoreStore & AbortFlags & HeldLocks;

/** How long a fresh lock is left to its start path before a scheduled pass may call it orphaned. */
const LOCK_GRACE_MS = 2 * 60_000;

export interface ReconcileDeps extends HandlerDeps<ReconcileStore> {
  liveness: ExecutionLiveness;
  schedule?: ReconcileSchedule;
  /** The target's spec from the registry, when neither the record nor the execution has it. */
  loadTarget?: (target: string) => Promise<RolloutSpec | null>;
}

export const reconcileRequestSchema = z.object({
  /** Only this target (default: every open rollout); a fleet's target covers each of its clusters (`target@cluster`). */
  target: z.string().min(1).optional(),
  /** A person asked (`sluice recover`): acts even after the recovery window has passed. */
  manual: z.boolean().optional(),
});
export type ReconcileRequest = z.infer<typeof reconcileRequestSchema>;

/** What the reconciler found about one rollout (or one lock) and what it did. */
export interface Finding {
  target: string;
  execution: string;
  version?: string;
  /** What it found: `running`, `orphan` (open, execution not running), `stale-lock`, `unknown`. */
  found: 'running' | 'orphan' | 'stale-lock' | 'unknown';
  /** What it did. */
  action: 'none' | 'restored' | 'taken-over' | 'superseded' | 'closed' | 'lock-released' | 'failed' | 'window-passed';
  detail: string;
  outcome?: Outcome;
  weights?: Weights;
}

export interface ReconcileReport {
  findings: Finding[];
  /** Rollouts still open after this pass (the schedule stays on while any is). */
  open: number;
}

/** The spec's recovery window in seconds (strategy.recoveryWindow, default 2h, at most 6h). */
export function recoveryWindowOf(spec: RolloutSpec): number {
  const configured = spec.spec.strategy.recoveryWindow;
  return recoveryWindowSeconds(configured === undefined ? undefined : parseDuration(configured) / 1000);
}

export async function reconcile(deps: ReconcileDeps, request: ReconcileRequest = {}): Promise<ReconcileReport> {
  const findings: Finding[] = [];
  const open = (await deps.store.listOpenRollouts()).filter((record) => !request.target || targetMatches(record.target, request.target));
  for (const record of open) findings.push(await reconcileRecord(deps, record, request.manual ?? false));

  // A lock whose owner is closed, unrecorded or dead frees the target (Prepare died before recording
  // it, a crash between close and release). A full pass lists every held lock: one whose rollout was
  // never recorded has no open record to lead here.
  const held = request.target
    ? fleetRequest(request.target)
      ? (await deps.store.listLocks()).map((lock) => lock.target).filter((target) => targetMatches(target, request.target!))
      : []
    : (await deps.store.listLocks()).map((lock) => lock.target);
  const targets = new Set([...open.map((r) => r.target), ...held, ...(request.target ? [request.target] : [])]);
  let kept = 0;
  for (const target of targets) {
    const lock = await deps.store.getLock(target);
    if (!lock) continue;
    const owner = await deps.store.getRollout(lock.owner);
    if (owner?.status === 'running') continue;
    // A lock taken moments ago may belong to a start path between acquireLock and StartExecution
    // (its execution does not exist yet): only a person's `recover` skips this grace.
    const takenAt = new Date(lock.expiresAt).getTime() - LOCK_BACKSTOP_SECONDS * 1000;
    if (!request.manual && deps.now().getTime() - takenAt < LOCK_GRACE_MS) {
      kept++;
      continue;
    }
    const live = await deps.liveness.of(lock.owner);
    // Running (a start path or Prepare still at work) or unknown (its engine cannot be asked): left alone.
    if (live.state !== 'not-running') {
      kept++;
      findings.push({
        target,
        execution: lock.owner,
        found: live.state,
        action: 'none',
        detail: `holds the lock with no open rollout; ${live.state === 'running' ? 'it runs' : 'cannot tell whether it runs'} (${live.detail}): left alone`,
      });
      continue;
    }
    await deps.store.releaseLock(target, lock.owner);
    const detail = `the lock's owner ${owner ? `is ${owner.outcome ?? 'finished'}` : 'was never recorded'} and ${live.detail}`;
    await deps.store.appendStep({
      execution: lock.owner,
      at: deps.now().toISOString(),
      kind: 'note',
      detail: `the reconciler released the lock of ${target}: ${detail}`,
    });
    findings.push({ target, execution: lock.owner, found: 'stale-lock', action: 'lock-released', detail });
  }

  let remaining = (await deps.store.listOpenRollouts()).length;
  // The schedule exists only while something is open (or a lock it left alone may yet be
  // orphaned): this pass turns it off when nothing is. A Prepare enables it, records the rollout,
  // and enables it again; reading once more after disabling closes the race with a rollout that
  // opened in between.
  if (deps.schedule && !request.target && remaining === 0 && kept === 0) {
    await deps.schedule.setEnabled(false);
    remaining = (await deps.store.listOpenRollouts()).length;
    if (remaining > 0) await deps.schedule.setEnabled(true);
  }
  return { findings, open: remaining };
}

async function reconcileRecord(deps: ReconcileDeps, record: RolloutRecord, manual: boolean): Promise<Finding> {
  const base = { target: record.target, execution: record.execution, version: record.version };
  const live = await deps.liveness.of(record.execution);
  if (live.state === 'running')
    return { ...base, found: 'running', action: 'none', detail: `execution running (${live.detail}): left to it` };
  if (live.state === 'unknown')
    return { ...base, found: 'unknown', action: 'none', detail: `cannot tell whether it runs (${live.detail}): left alone` };
  let spec: RolloutSpec | null;
  try {
    spec = await specOf(deps, record, live.input);
  } catch (error) {
    return { ...base, found: 'orphan', action: 'failed', detail: `no usable spec to restore with: ${describeError(error)}` };
  }
  if (!spec)
    return {
      ...base,
      found: 'orphan',
      action: 'failed',
      detail: `the record, the execution and the registry have no spec for ${record.target}: run \`sluice recover ${record.target} --spec FILE\``,
    };
  const now = deps.now();
  if (!manual && recoveryWindowPassed(record, now, recoveryWindowOf(spec))) {
    return {
      ...base,
      found: 'orphan',
      action: 'window-passed',
      detail: `the recovery window passed (retrying since ${record.recoveringSince}): run \`sluice recover ${record.target}\` once the cause is fixed`,
    };
  }
  const abort = await deps.store.getAbort(record.execution);
  // A StopExecution is an abort, as the safety net reads it: when the safety net could not finish
  // (the API was down), the reconciler must not call the same stop `refused` or `rolled-back`.
  const closure: Closure =
    abort && abort.kind !== 'alarm'
      ? {
          outcome: 'aborted',
          reason: `aborted by ${abort.by}: ${abort.reason}; execution ${live.detail}, the reconciler moved traffic to the safe side`,
        }
      : live.stopped === true && record.safeSide !== 'canary'
        ? { outcome: 'aborted', reason: `execution stopped (StopExecution), ${live.detail}; the reconciler moved traffic to the safe side` }
        : {
            outcome: record.safeSide === 'canary' ? 'promotion-failed' : 'rolled-back',
            reason: `execution ${live.detail}; the reconciler moved traffic to the safe side`,
          };
  try {
    const restored = await restoreSafeSide(deps, spec, record.execution, closure, manual ? {} : { windowSeconds: recoveryWindowOf(spec) });
    const action =
      restored.result === 'restored'
        ? 'restored'
        : restored.result === 'taken-over'
          ? 'taken-over'
          : restored.result === 'superseded'
            ? 'superseded'
            : 'closed';
    return {
      ...base,
      found: 'orphan',
      action,
      detail: restored.reason,
      outcome: restored.outcome,
      ...(restored.weights ? { weights: restored.weights } : {}),
    };
  } catch (error) {
    return { ...base, found: 'orphan', action: 'failed', detail: describeError(error) };
  }
}

/** `podinfo` asks for podinfo and each cluster's rollout of a fleet (`podinfo@eu-1`); `podinfo@eu-1` for that one only. */
function targetMatches(target: string, requested: string): boolean {
  return target === requested || (clusterOf(requested) === undefined && targetOf(target) === requested);
}

/** A request for a whole target (not one cluster's address): its fleet members' locks are looked at too. */
function fleetRequest(requested: string): boolean {
  return clusterOf(requested) === undefined;
}

/** The spec the rollout ran: recorded by Prepare, else the execution's input, else the registry. */
async function specOf(deps: ReconcileDeps, record: RolloutRecord, input: unknown): Promise<RolloutSpec | null> {
  if (record.spec !== undefined) return parseSpec(record.spec, `rollout ${record.execution}'s recorded spec`);
  const fromInput = (input as { spec?: unknown } | undefined)?.spec;
  if (fromInput !== undefined) return parseSpec(fromInput, `execution ${record.execution}'s input`);
  if (!deps.loadTarget) return null;
  // A fleet member's spec is its fleet's, resolved for its cluster (the registry holds the fleet spec under the target).
  const cluster = clusterOf(record.target);
  const spec = await deps.loadTarget(targetOf(record.target));
  return spec && cluster !== undefined && spec.spec.fleet ? memberSpec(spec, cluster) : spec;
}

/** One line per finding, the way `sluice recover` prints them. */
export function formatFinding(finding: Finding): string {
  const outcome = finding.outcome ? ` → ${finding.outcome}` : '';
  return `${finding.target} ${finding.execution}: ${finding.found}, ${finding.action}${outcome} — ${finding.detail}`;
}

/** The Lambda's work: one pass; the event is EventBridge's scheduled event or `sluice recover`'s request. */
export function createReconcileHandler(deps: DepsSource<ReconcileDeps>) {
  return async (event: unknown): Promise<ReconcileReport> => {
    // EventBridge's scheduled event ("Scheduled Event", source aws.events) asks for a full pass.
    const scheduled = typeof event === 'object' && event !== null && (event as { source?: unknown }).source === 'aws.events';
    const parsed = reconcileRequestSchema.safeParse(scheduled || event === undefined || event === null ? {} : event);
    if (!parsed.success)
      throw new Error(`reconcile request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return reconcile(await deps(), parsed.data);
  };
}
