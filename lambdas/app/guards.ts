/** Checks every task makes before it touches anything. */
import { AbortedError, AlarmError, ConflictError, PromotionFailedError } from '../core/errors.ts';
import type { AbortRequest, RolloutRecord } from '../core/records.ts';
import type { AbortFlags, RolloutRecords, TaskTokens, Workload } from '../core/ports.ts';

/** The error a flagged abort raises: an alarm is a hard stop (rolled back), a person's abort is `aborted`. */
function abortError(abort: AbortRequest): AbortedError | AlarmError {
  return abort.kind === 'alarm'
    ? new AlarmError(`${abort.by}: ${abort.reason}`)
    : new AbortedError(`aborted by ${abort.by}: ${abort.reason}`);
}

/** Abort between tasks: a flag in the store that the next task honours. */
export async function assertNotAborted(store: AbortFlags, execution: string): Promise<void> {
  const abort = await store.getAbort(execution);
  if (abort) throw abortError(abort);
}

/** The wait before this task stored a task token: it is spent now (a token another execution holds is left alone). */
export async function spendTaskToken(store: TaskTokens, target: string, execution: string): Promise<void> {
  const pending = await store.getTaskToken(target);
  if (pending?.execution === execution) await store.clearTaskToken(target, pending.token);
}

export async function requireRollout(store: RolloutRecords, execution: string): Promise<RolloutRecord> {
  const record = await store.getRollout(execution);
  if (!record) throw new Error(`rollout ${execution} has no record in the store: Prepare did not run for it`);
  return record;
}

/** Someone else (a person, a GitOps tool) changed the primary's template mid-rollout: stop instead of fighting. */
export async function assertPrimaryUntouched(workload: Workload | null, record: RolloutRecord): Promise<void> {
  if (!workload || !record.primaryFingerprint) return;
  const now = await workload.templateFingerprint('primary');
  if (now !== record.primaryFingerprint) {
    throw new ConflictError(
      "the primary Deployment's pod template changed during the rollout (someone else is steering, e.g. a GitOps sync): stopping instead of fighting it",
    );
  }
}

/**
 * Abort during a promotion. Before the template copy the old primary is still the safe side, so an
 * abort rolls back to it (`aborted`); after the copy the primary runs the new template and the
 * canary is the safe side, so the rollout is held on the canary (`promotion-failed`, exit 5).
 */
export async function assertNotAbortedInPromotion(store: AbortFlags, execution: string, copied: boolean): Promise<void> {
  const abort = await store.getAbort(execution);
  if (abort) throw abortInPromotion(abort, copied);
}

function abortInPromotion(abort: AbortRequest, copied: boolean): Error {
  const error = abortError(abort);
  if (!copied) return error;
  return new PromotionFailedError(`${error.message}; the primary already runs the canary's template: traffic held on the canary`, {
    cause: error,
  });
}

/**
 * The promotion's point of no return, defined here and nowhere else: Switch passes it just before it
 * writes the promoted split. It is one conditional write against the abort flag
 * (AbortFlags.commitPromotion), so exactly one wins: an abort flagged first stops the switch (held on
 * the canary after the copy, as at any promotion step), and an abort that comes later is answered
 * "too late" by the store (abortRollout) instead of being flagged for a step that never comes.
 */
export async function passPointOfNoReturn(store: AbortFlags, execution: string, copied: boolean, at: string): Promise<void> {
  const commit = await store.commitPromotion(execution, at);
  if (!commit.committed) throw abortInPromotion(commit.abort, copied);
}
