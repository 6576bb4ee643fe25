/** Rollback: the catch-all. Works out why the rollout stopped, then restores the safe side. */
import { ERROR_NAMES } from '../core/errors.ts';
import { rollbackInputSchema } from '../core/task.ts';
import type { RollbackInput, RollbackResult } from '../core/task.ts';
import type { DepsSource, HandlerDeps } from '../app/deps.ts';
import { rolloutHandler } from '../app/middleware.ts';
import type { Closure, RestoreStore } from '../app/restore.ts';
import { causeMessage, restoreSafeSide } from '../app/restore.ts';
import { awsHandlerDeps } from '../wiring/aws.ts';
import { recoveryWindowOf } from '../app/reconcile.ts';

export function closureFor(state: RollbackInput['state']): Closure {
  const error = state.error;
  if (!error) return { outcome: 'rolled-back', reason: state.run?.reason ?? 'rolled back' };
  const message = causeMessage(error.Cause);
  switch (error.Error) {
    case ERROR_NAMES.aborted:
      return { outcome: 'aborted', reason: message || 'aborted' };
    case ERROR_NAMES.promotionFailed:
      return { outcome: 'promotion-failed', reason: message || 'promotion failed' };
    case ERROR_NAMES.alarm:
      return { outcome: 'rolled-back', reason: message || 'a CloudWatch alarm fired' };
    default:
      return { outcome: 'rolled-back', reason: `error: ${error.Error}${message ? `: ${message}` : ''}` };
  }
}

/**
 * Restores the safe side. A transient failure is rethrown as Sluice.Transient: the Rollback
 * state's Retry (capped backoff, sized in the ASL to outlast the longest recovery window) calls
 * again until the API answers; restore.ts ends that with Sluice.RestoreFailed once the spec's
 * recovery window has passed, and the reconciler takes over.
 */
export async function rollback(deps: HandlerDeps<RestoreStore>, input: RollbackInput): Promise<RollbackResult> {
  const closure = closureFor(input.state);
  const { outcome, reason } = await restoreSafeSide(deps, input.state.spec, input.execution, closure, {
    windowSeconds: recoveryWindowOf(input.state.spec),
  });
  return { outcome, reason };
}

export function createRollbackHandler(deps: DepsSource<HandlerDeps<RestoreStore>>) {
  return rolloutHandler(rollbackInputSchema, async (event) => rollback(await deps(), event));
}

/** The Lambda entry point. */
export const handler = createRollbackHandler(awsHandlerDeps);
