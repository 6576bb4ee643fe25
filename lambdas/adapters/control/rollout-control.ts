/**
 * "Promote now" and "approve": settle the target's pending task token with SendTaskSuccess, the
 * same way for the CLI and Slack. Abort lives in lambdas/adapters/control/interrupt.ts (abortRollout).
 * The output `{"command":"promote"}` is what Analyze honours after a bake (task.ts wakeSchema).
 */
import { InvalidToken, SendTaskSuccessCommand, TaskDoesNotExist, TaskTimedOut } from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { EventPublisher, RolloutLog, RolloutRecords, TargetLocks, TaskTokens } from '../../core/ports.ts';

/** What promote and approve read and write: the lock (whose rollout runs), its pending token, its record and history. */
export type ControlStore = TargetLocks & TaskTokens & RolloutRecords & RolloutLog;

export type ControlResult = { ok: true; execution: string; message: string } | { ok: false; message: string };

const GONE = (error: unknown) => error instanceof TaskDoesNotExist || error instanceof InvalidToken || error instanceof TaskTimedOut;

/** `execution`, when given, must be the running one (a stale button never acts on a newer attempt). */
export async function promoteRollout(args: {
  store: ControlStore;
  sfn: Pick<SFNClient, 'send'>;
  target: string;
  execution?: string;
}): Promise<ControlResult> {
  const { store, target } = args;
  const lock = await store.getLock(target);
  if (!lock) return { ok: false, message: `no rollout is running for ${target}` };
  if (args.execution && args.execution !== lock.owner)
    return { ok: false, message: `${args.execution} is no longer running (${target} now runs ${lock.owner})` };
  const pending = await store.getTaskToken(target);
  if (!pending || pending.execution !== lock.owner || pending.gate !== 'bake') {
    return { ok: false, message: `${lock.owner} is not baking right now (between looks or at a gate): try again in a few seconds` };
  }
  try {
    await args.sfn.send(new SendTaskSuccessCommand({ taskToken: pending.token, output: JSON.stringify({ command: 'promote' }) }));
  } catch (error) {
    if (GONE(error)) return { ok: false, message: `${lock.owner} moved on before the request landed: try again in a few seconds` };
    throw error;
  }
  return { ok: true, execution: lock.owner, message: `promotion requested for ${lock.owner}: the remaining analysis steps are skipped` };
}

/** Approval gates put a token whose gate is not `bake`; until they exist there is nothing to approve. */
export async function approveRollout(args: {
  store: ControlStore;
  sfn: Pick<SFNClient, 'send'>;
  target: string;
  by: string;
  execution?: string;
  gate?: string;
  /** Announces "Approval Given" (the store keeps the approver either way). */
  events?: EventPublisher;
  now?: Date;
}): Promise<ControlResult> {
  const { store, target } = args;
  const lock = await store.getLock(target);
  const pending = await store.getTaskToken(target);
  if (!lock || !pending || pending.gate === 'bake' || pending.execution !== lock.owner) {
    return { ok: false, message: `nothing to approve for ${target}: no approval gate is pending` };
  }
  if (args.execution && args.execution !== lock.owner)
    return { ok: false, message: `${args.execution} is no longer running (${target} now runs ${lock.owner})` };
  if (args.gate && args.gate !== pending.gate) return { ok: false, message: `the ${args.gate} gate of ${lock.owner} is no longer pending` };
  try {
    await args.sfn.send(
      new SendTaskSuccessCommand({
        taskToken: pending.token,
        output: JSON.stringify({ command: 'resume', approvedBy: args.by, gate: pending.gate }),
      }),
    );
  } catch (error) {
    if (GONE(error)) return { ok: false, message: `the ${pending.gate} gate of ${lock.owner} was settled already` };
    throw error;
  }
  const at = (args.now ?? new Date()).toISOString();
  await store.appendStep({ execution: lock.owner, at, kind: 'note', detail: `approved the ${pending.gate} gate: ${args.by}` });
  const record = await store.getRollout(lock.owner);
  if (args.events && record) {
    await args.events.publish({
      detailType: 'Approval Given',
      target,
      version: record.version,
      execution: lock.owner,
      reason: `${pending.gate} approved by ${args.by}`,
    });
  }
  return { ok: true, execution: lock.owner, message: `approved the ${pending.gate} gate of ${lock.owner}` };
}
