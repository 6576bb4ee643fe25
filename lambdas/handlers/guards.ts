/** Checks every task makes before it touches anything. */
import { AbortedError, AlarmError, ConflictError } from '../core/errors.ts';
import type { RolloutRecord, RolloutStore, Workload } from '../core/ports.ts';

/** Abort between tasks: a flag in the store that the next task honours. */
export async function assertNotAborted(store: RolloutStore, execution: string): Promise<void> {
  const abort = await store.getAbort(execution);
  if (abort?.kind === 'alarm') throw new AlarmError(`${abort.by}: ${abort.reason}`);
  if (abort) throw new AbortedError(`aborted by ${abort.by}: ${abort.reason}`);
}

export async function requireRollout(store: RolloutStore, execution: string): Promise<RolloutRecord> {
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
      'the primary Deployment\'s pod template changed during the rollout (someone else is steering, e.g. a GitOps sync): stopping instead of fighting it',
    );
  }
}
