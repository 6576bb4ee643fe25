/**
 * Abort works at any moment and from another process (DESIGN §3): during a bake it fails the
 * pending task token (rollback within a second or two); otherwise it sets a flag in the store
 * that the next task honours.
 */
import { SendTaskFailureCommand, TaskDoesNotExist, InvalidToken, TaskTimedOut } from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { ERROR_NAMES } from '../../lambdas/core/errors.ts';
import type { RolloutStore } from '../../lambdas/core/ports.ts';

export type AbortResult = { ok: true; execution: string; interruptedBake: boolean } | { ok: false; message: string };

export async function abortRollout(args: { store: RolloutStore; sfn: SFNClient; target: string; by: string; reason: string; now?: Date }): Promise<AbortResult> {
  const { store, sfn, target } = args;
  const lock = await store.getLock(target);
  if (!lock) return { ok: false, message: `no rollout is running for ${target}` };
  const execution = lock.owner;
  await store.requestAbort({ execution, by: args.by, reason: args.reason, at: (args.now ?? new Date()).toISOString() });
  const pending = await store.getTaskToken(target);
  if (!pending || pending.execution !== execution) return { ok: true, execution, interruptedBake: false };
  try {
    await sfn.send(new SendTaskFailureCommand({ taskToken: pending.token, error: ERROR_NAMES.aborted, cause: `aborted by ${args.by}: ${args.reason}` }));
    return { ok: true, execution, interruptedBake: true };
  } catch (error) {
    // The bake ended in between: the flag stops the next task instead.
    if (error instanceof TaskDoesNotExist || error instanceof InvalidToken || error instanceof TaskTimedOut) return { ok: true, execution, interruptedBake: false };
    throw error;
  }
}
