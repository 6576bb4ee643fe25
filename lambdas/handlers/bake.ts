/**
 * Bake: store the task token so an abort, an alarm or "promote now" can end the wait early,
 * then return. Step Functions waits (at no cost) until the token is settled or the look interval
 * times out, which is the normal way on.
 */
import { bakeInputSchema } from '../core/task.ts';
import type { BakeInput } from '../core/task.ts';
import type { DepsSource, StoreDeps } from '../app/deps.ts';
import { assertNotAborted } from '../app/guards.ts';
import { rolloutHandler } from '../app/middleware.ts';
import { awsStoreDeps } from '../wiring/aws-store.ts';
import type { AbortFlags, TaskTokens } from '../core/ports.ts';

/** The store ports this step uses (core/ports.ts). */
type BakeStore = AbortFlags & TaskTokens;

export async function bake(deps: StoreDeps<BakeStore>, input: BakeInput): Promise<Record<string, never>> {
  await assertNotAborted(deps.store, input.execution);
  await deps.store.putTaskToken({
    target: input.target,
    execution: input.execution,
    token: input.taskToken,
    gate: input.gate,
    createdAt: deps.now().toISOString(),
  });
  if (input.gate !== 'bake') {
    await deps.events.publish({
      detailType: 'Approval Requested',
      target: input.target,
      version: input.version,
      execution: input.execution,
      reason: `waiting for approval: ${input.gate}`,
    });
  }
  // An abort that landed between the check and the put found no token to fail: look again.
  await assertNotAborted(deps.store, input.execution);
  return {};
}

export function createBakeHandler(deps: DepsSource<StoreDeps<BakeStore>>) {
  return rolloutHandler(bakeInputSchema, async (event) => bake(await deps(), event));
}

/** The Lambda entry point. */
export const handler = createBakeHandler(awsStoreDeps);
