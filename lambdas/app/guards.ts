/** Checks every task makes before it touches anything. */
import { AbortedError, AlarmError, ConflictError, PromotionFailedError } from '../core/errors.ts';
import type { RolloutRecord } from '../core/records.ts';
import type { AbortFlags, RolloutRecords, TaskTokens, Workload } from '../core/ports.ts';

/** Abort between tasks: a flag in the store that the next task honours. */
export async function assertNotAborted(store: AbortFlags, execution: string): Promise<void> {
  const abort = await store.getAbort(execution);
  if (abort?.kind === 'alarm') throw new AlarmError(`${abort.by}: ${abort.reason}`);
  if (abort) throw new AbortedError(`aborted by ${abort.by}: ${abort.reason}`);
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
  try {
    await assertNotAborted(store, execution);
  } catch (error) {
    if (!copied || !(error instanceof AbortedError || error instanceof AlarmError)) throw error;
    throw new PromotionFailedError(`${error.message}; the primary already runs the canary's template: traffic held on the canary`, {
      cause: error,
    });
  }
}
