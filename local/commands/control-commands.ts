/**
 * `sluice start | status | history | abort <target>`: the same commands for the local engine and a
 * deployed stack (see local/control.ts).
 */
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { startExecution } from '../../lambdas/adapters/start-execution.ts';
import { formatWeights } from '../../lambdas/core/rollout.ts';
import type { ControlPlane } from '../control.ts';
import { EXIT } from '../exit-codes.ts';
import { abortRollout } from './abort.ts';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export async function startCommand(control: ControlPlane, target: string, options: { version: string; spec?: string; requestedBy?: string }, io: Io): Promise<number> {
  const spec = await control.loadTarget(target, options.spec);
  const requestedBy = options.requestedBy ?? `${process.env.USER ?? 'someone'}@cli`;
  const started = await startExecution({ sfn: control.sfn, stateMachineArn: control.stateMachineArn, spec, version: options.version, requestedBy });
  if (!started.ok) {
    io.stderr(`${started.message}\n`);
    return EXIT.invalid;
  }
  io.stdout(`started ${started.name}\n  ${started.executionArn}\n  follow it with: sluice status ${target}${control.kind === 'local' ? ' --local' : ''}\n`);
  return EXIT.ok;
}

export async function statusCommand(control: ControlPlane, target: string, options: { json?: boolean }, io: Io): Promise<number> {
  const lock = await control.store.getLock(target);
  const [latest] = await control.store.listRollouts(target, 1);
  const record = lock ? await control.store.getRollout(lock.owner) : latest;
  if (!record) {
    io.stderr(`no rollouts of ${target} yet\n`);
    return EXIT.invalid;
  }
  const steps = await control.store.listSteps(record.execution);
  const lastLook = steps.filter((s) => s.kind === 'analysis').at(-1);
  let executionStatus: string | undefined;
  try {
    const arn = control.stateMachineArn.replace(':stateMachine:', ':execution:') + `:${record.execution}`;
    executionStatus = (await control.sfn.send(new DescribeExecutionCommand({ executionArn: arn }))).status;
  } catch {
    // The store still knows the rollout even when the execution is gone (90-day retention).
  }
  const status = {
    target,
    execution: record.execution,
    version: record.version,
    requestedBy: record.requestedBy,
    startedAt: record.startedAt,
    state: record.status === 'running' ? 'running' : (record.outcome ?? 'finished'),
    executionStatus,
    weights: record.lastWeights,
    safeSide: record.safeSide,
    reason: record.reason,
    lastVerdict: lastLook?.verdict ? { at: lastLook.at, result: lastLook.verdict.result, summary: lastLook.verdict.summary } : undefined,
  };
  if (options.json) {
    io.stdout(`${JSON.stringify(status)}\n`);
    return EXIT.ok;
  }
  const scale = record.lastWeights.primary + record.lastWeights.canary || 100;
  io.stdout(
    [
      `${target}: ${status.state} — ${record.version} (${record.execution})`,
      `  started   ${record.startedAt} by ${record.requestedBy}${executionStatus ? `, execution ${executionStatus}` : ''}`,
      `  traffic   ${formatWeights(record.lastWeights, scale)} (safe side: ${record.safeSide})`,
      ...(status.lastVerdict ? [`  last look ${status.lastVerdict.at}: ${status.lastVerdict.result} — ${status.lastVerdict.summary}`] : []),
      ...(record.reason ? [`  why       ${record.reason}`] : []),
    ].join('\n') + '\n',
  );
  return EXIT.ok;
}

export async function historyCommand(control: ControlPlane, target: string, options: { json?: boolean; limit?: number }, io: Io): Promise<number> {
  const rollouts = await control.store.listRollouts(target, options.limit ?? 20);
  if (options.json) {
    io.stdout(`${JSON.stringify(rollouts)}\n`);
    return EXIT.ok;
  }
  if (!rollouts.length) {
    io.stdout(`no rollouts of ${target} yet\n`);
    return EXIT.ok;
  }
  for (const r of rollouts) io.stdout(`${r.startedAt}  ${(r.status === 'running' ? 'running' : (r.outcome ?? 'finished')).padEnd(16)} ${r.version.padEnd(14)} ${r.execution}${r.reason ? `  — ${r.reason}` : ''}\n`);
  return EXIT.ok;
}

export async function abortCommand(control: ControlPlane, target: string, reason: string, io: Io): Promise<number> {
  const by = `${process.env.USER ?? 'someone'}@cli`;
  const result = await abortRollout({ store: control.store, sfn: control.sfn, target, by, reason });
  if (!result.ok) {
    io.stderr(`${result.message}\n`);
    return EXIT.invalid;
  }
  io.stdout(
    result.interruptedBake
      ? `aborted ${result.execution}: its bake was interrupted; traffic is moving to the safe side\n`
      : `abort requested for ${result.execution}: its next step rolls it back\n`,
  );
  return EXIT.ok;
}
