/**
 * The one way a rollout execution is started (CLI `sluice start`, Slack `/sluice start|retry`):
 * the execution input is the full resolved spec plus version and who asked, and the name is the
 * next free attempt of target + version (a retry after a rollback is a new attempt).
 */
import { ExecutionAlreadyExists, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { executionName } from '../core/names.ts';
import type { RolloutSpec } from '../core/spec.ts';
import type { ExecutionInput } from '../core/task.ts';

/** Enough attempts for any sane number of retries of one version. */
export const MAX_ATTEMPTS = 100;

export type StartResult = { ok: true; name: string; executionArn: string } | { ok: false; message: string };

export async function startExecution(args: { sfn: Pick<SFNClient, 'send'>; stateMachineArn: string; spec: RolloutSpec; version: string; requestedBy: string }): Promise<StartResult> {
  const target = args.spec.metadata.name;
  const input: ExecutionInput = { spec: args.spec, version: args.version, requestedBy: args.requestedBy };
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const name = executionName(target, args.version, attempt);
    try {
      const started = await args.sfn.send(new StartExecutionCommand({ stateMachineArn: args.stateMachineArn, name, input: JSON.stringify(input) }));
      return { ok: true, name, executionArn: started.executionArn ?? '' };
    } catch (error) {
      if (error instanceof ExecutionAlreadyExists) continue;
      throw error;
    }
  }
  return { ok: false, message: `${target} ${args.version} has been started ${MAX_ATTEMPTS} times already` };
}
