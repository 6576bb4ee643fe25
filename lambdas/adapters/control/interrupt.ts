/**
 * Stopping a running rollout from outside the state machine, at any moment and from any process
 * During a bake the pending task token is failed (rollback within a second or two);
 * otherwise a flag in the store stops it at its next task. Used by `sluice abort`, chat-ops and
 * the CloudWatch alarm path alike.
 */
import { InvalidToken, SendTaskFailureCommand, TaskDoesNotExist, TaskTimedOut } from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { ERROR_NAMES } from '../../core/errors.ts';
import type { AbortFlags, TargetLocks, TaskTokens } from '../../core/ports.ts';

export type InterruptResult =
  | { ok: true; execution: string; interruptedBake: boolean }
  | { ok: false; message: string }
  /** The promotion passed its point of no return before the abort arrived: nothing was flagged or stopped. */
  | { ok: false; tooLate: true; execution: string; committedAt: string; message: string };

export interface InterruptRequest {
  store: TargetLocks & TaskTokens & AbortFlags;
  sfn: Pick<SFNClient, 'send'>;
  target: string;
  by: string;
  reason: string;
  now?: Date;
}

async function interrupt(request: InterruptRequest, kind: 'abort' | 'alarm'): Promise<InterruptResult> {
  const { store, sfn, target } = request;
  const lock = await store.getLock(target);
  if (!lock) return { ok: false, message: `no rollout is running for ${target}` };
  const execution = lock.owner;
  const answer = await store.requestAbort({
    execution,
    by: request.by,
    reason: request.reason,
    at: (request.now ?? new Date()).toISOString(),
    kind,
  });
  if (!answer.flagged) {
    // The store refused the flag atomically against Switch's commit (guards.ts, passPointOfNoReturn).
    return {
      ok: false,
      tooLate: true,
      execution,
      committedAt: answer.committedAt,
      message: `too late to ${kind === 'alarm' ? 'stop' : 'abort'} ${execution}: its promotion passed the point of no return at ${answer.committedAt} (the switch of all traffic to the new version had begun); nothing was rolled back — it ends promoted, or held on the canary if the switch itself fails`,
    };
  }
  const pending = await store.getTaskToken(target);
  if (!pending || pending.execution !== execution) return { ok: true, execution, interruptedBake: false };
  const error = kind === 'alarm' ? ERROR_NAMES.alarm : ERROR_NAMES.aborted;
  const cause = kind === 'alarm' ? `${request.by}: ${request.reason}` : `aborted by ${request.by}: ${request.reason}`;
  try {
    await sfn.send(new SendTaskFailureCommand({ taskToken: pending.token, error, cause }));
    return { ok: true, execution, interruptedBake: true };
  } catch (failure) {
    // The bake ended in between: the flag stops the next task instead.
    if (failure instanceof TaskDoesNotExist || failure instanceof InvalidToken || failure instanceof TaskTimedOut)
      return { ok: true, execution, interruptedBake: false };
    throw failure;
  }
}

/** A person stops the rollout: outcome `aborted`, exit 4. */
export function abortRollout(request: InterruptRequest): Promise<InterruptResult> {
  return interrupt(request, 'abort');
}

/** A CloudWatch alarm the rollout names went to ALARM: a hard stop, outcome `rolled-back`, exit 3. */
export function alarmRollout(request: InterruptRequest): Promise<InterruptResult> {
  return interrupt(request, 'alarm');
}
