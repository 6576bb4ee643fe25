/**
 * An approval gate timed out (StartApprovalExpired, PromotionApprovalExpired). The gate waited at
 * most until the rollout's deadline, so either the deadline passed — the rollout ends: `refused`
 * (exit 2) at the before-start gate, where no traffic ever moved, `rolled-back` (exit 3) at the
 * before-promotion gate, both with "deadline passed while waiting for approval" — or
 * `onTimeout: hold` waits again (never past the deadline), or `abort` ends it as before.
 *
 * The refusal is closed here (Rollback is for traffic that moved): the record says refused, the
 * gate's token and the lock are released, and the state machine ends in its Refused state.
 */
import { afterGateTimeout } from '../core/rollout.ts';
import { gateTimeoutInputSchema } from '../core/task.ts';
import type { GateTimeoutInput, RunState } from '../core/task.ts';
import type { DepsSource, StoreDeps } from '../app/deps.ts';
import { requireRollout, spendTaskToken } from '../app/guards.ts';
import { rolloutHandler } from '../app/middleware.ts';
import { awsStoreDeps } from '../wiring/aws-store.ts';
import { publishWithHooks } from '../adapters/webhooks/client.ts';
import type { RolloutRecords, TargetLocks, TaskTokens } from '../core/ports.ts';

/** The store ports this step uses (core/ports.ts). */
type ApprovalExpiredStore = RolloutRecords & TaskTokens & TargetLocks;

export async function approvalExpired(deps: StoreDeps<ApprovalExpiredStore>, input: GateTimeoutInput): Promise<RunState> {
  const { spec, execution, run, gate } = input;
  const next = afterGateTimeout(run, gate, deps.now());
  if (next.approval?.expired !== 'deadline' || gate !== 'before-start') return next;

  const target = spec.metadata.name;
  const record = await requireRollout(deps.store, execution);
  const reason = next.reason ?? 'deadline passed while waiting for approval';
  if (record.status !== 'finished') {
    await deps.store.updateRollout(execution, { status: 'finished', outcome: 'refused', reason, finishedAt: deps.now().toISOString() });
  }
  await spendTaskToken(deps.store, target, execution);
  await deps.store.releaseLock(target, execution);
  await publishWithHooks(deps, spec, {
    detailType: 'Rollout Aborted',
    target,
    version: input.version,
    execution,
    weights: record.lastWeights,
    outcome: 'refused',
    reason,
  });
  return next;
}

export function createApprovalExpiredHandler(deps: DepsSource<StoreDeps<ApprovalExpiredStore>>) {
  return rolloutHandler(gateTimeoutInputSchema, async (event) => approvalExpired(await deps(), event));
}

/** The Lambda entry point. */
export const handler = createApprovalExpiredHandler(awsStoreDeps);
