/**
 * The safety net: Step Functions runs no Catch when an execution is stopped, fails outside a
 * Catch or times out. EventBridge (or the local engine) calls this with the execution's input;
 * it restores the safe side and releases the lock, idempotently.
 */
import * as z from 'zod';
import { executionInputSchema } from '../core/task.ts';
import type { DepsSource, HandlerDeps } from './deps.ts';
import { rolloutHandler } from './middleware.ts';
import { restoreSafeSide } from './restore.ts';
import type { Closure } from './restore.ts';
import { awsHandlerDeps } from '../adapters/aws-deps.ts';

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

export async function safetyNet(deps: HandlerDeps, event: ExecutionStatusChange): Promise<Closure | { skipped: string }> {
  const { name, status, input } = event.detail;
  if (status !== 'ABORTED' && status !== 'FAILED' && status !== 'TIMED_OUT') return { skipped: `status ${status}` };
  if (!input) return { skipped: 'no execution input in the event' };
  const parsed = executionInputSchema.safeParse(JSON.parse(input));
  if (!parsed.success) return { skipped: 'the execution input is not a Sluice rollout' };
  const closure: Closure =
    status === 'ABORTED'
      ? { outcome: 'aborted', reason: 'execution stopped (StopExecution): the safety net restored the safe side' }
      : { outcome: 'rolled-back', reason: `execution ${status.toLowerCase().replace('_', ' ')}${event.detail.error ? ` (${event.detail.error})` : ''}: the safety net restored the safe side` };
  const { outcome, reason } = await restoreSafeSide(deps, parsed.data.spec, name, closure);
  return { outcome, reason };
}

export function createSafetyNetHandler(deps: DepsSource<HandlerDeps>) {
  return rolloutHandler(executionStatusChangeSchema, async (event) => safetyNet(await deps(), event));
}

/** The Lambda entry point. */
export const handler = createSafetyNetHandler(awsHandlerDeps);
