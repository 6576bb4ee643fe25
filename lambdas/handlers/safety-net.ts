/**
 * The safety net: Step Functions runs no Catch when an execution is stopped, fails outside a
 * Catch or times out. EventBridge (or the local engine) calls this with the execution's input;
 * it restores the safe side and releases the lock, idempotently.
 */
import * as z from 'zod';
import { executionInputSchema } from '../core/task.ts';
import type { DepsSource, HandlerDeps } from '../app/deps.ts';
import { rolloutHandler } from '../app/middleware.ts';
import { restoreSafeSide } from '../app/restore.ts';
import type { Closure, Restored, RestoreStore } from '../app/restore.ts';
import { recoveryWindowOf } from '../app/reconcile.ts';
import { awsHandlerDeps } from '../wiring/aws.ts';
import type { AbortFlags } from '../core/ports.ts';

/** The store ports the safety net uses: the restore's, and the abort flag it sets for a stopped execution. */
type SafetyNetStore = RestoreStore & Pick<AbortFlags, 'requestAbort'>;

/** "Step Functions Execution Status Change": the fields the safety net reads. */
export const executionStatusChangeSchema = z.object({
  detail: z.object({
    name: z.string(),
    status: z.enum(['ABORTED', 'FAILED', 'TIMED_OUT', 'SUCCEEDED', 'RUNNING', 'PENDING_REDRIVE']),
    input: z.string().nullish(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});
export type ExecutionStatusChange = z.infer<typeof executionStatusChangeSchema>;

/**
 * Restores the safe side of an execution that ended without Rollback. Throws while the restore
 * fails (EventBridge retries the target, then the dead-letter queue; the reconciler keeps trying
 * every minute while the record is open). The reason says what was read back, never "restored"
 * unless the objects say so.
 */
export async function safetyNet(deps: HandlerDeps<SafetyNetStore>, event: ExecutionStatusChange): Promise<Restored | { skipped: string }> {
  const { name, status, input } = event.detail;
  if (status !== 'ABORTED' && status !== 'FAILED' && status !== 'TIMED_OUT') return { skipped: `status ${status}` };
  if (!input) return { skipped: 'no execution input in the event' };
  const parsed = executionInputSchema.safeParse(JSON.parse(input));
  if (!parsed.success) return { skipped: 'the execution input is not a Sluice rollout' };
  // A fleet execution moves no traffic itself: each member's own execution has its safety net.
  if (parsed.data.spec.spec.fleet) return { skipped: 'a fleet execution (its members have their own safety net)' };
  const closure: Closure =
    status === 'ABORTED'
      ? await stopped(deps, name)
      : {
          outcome: 'rolled-back',
          reason: `execution ${status.toLowerCase().replace('_', ' ')}${event.detail.error ? ` (${event.detail.error})` : ''}; the safety net moved traffic to the safe side`,
        };
  return restoreSafeSide(deps, parsed.data.spec, name, closure, { windowSeconds: recoveryWindowOf(parsed.data.spec) });
}

/**
 * A StopExecution is an abort, and it is flagged as one, through the same conditional write as
 * `sluice abort` (guards.ts, passPointOfNoReturn): a Switch still running after the stop (Step
 * Functions does not stop a running Lambda) then cannot pass the point of no return behind the
 * restore's back. A stop that came after it is named so: the switch may complete what it began.
 */
async function stopped(deps: HandlerDeps<SafetyNetStore>, execution: string): Promise<Closure> {
  const fence = await deps.store.requestAbort({
    execution,
    by: 'StopExecution',
    reason: 'execution stopped',
    at: deps.now().toISOString(),
    kind: 'abort',
  });
  return fence.flagged
    ? { outcome: 'aborted', reason: 'execution stopped (StopExecution); the safety net moved traffic to the safe side' }
    : {
        outcome: 'aborted',
        reason: `execution stopped (StopExecution) after the promotion passed its point of no return at ${fence.committedAt}; the safety net moved traffic to the safe side`,
      };
}

export function createSafetyNetHandler(deps: DepsSource<HandlerDeps<SafetyNetStore>>) {
  return rolloutHandler(executionStatusChangeSchema, async (event) => safetyNet(await deps(), event));
}

/** The Lambda entry point. */
export const handler = createSafetyNetHandler(awsHandlerDeps);
