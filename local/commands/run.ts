/**
 * `sluice run <spec> --local`: one rollout of the real state machine in the local engine, against
 * the cluster and metrics the spec names, driven through @aws-sdk/client-sfn exactly as in AWS.
 */
import { DescribeExecutionCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { DescribeExecutionCommandOutput, SFNClient } from '@aws-sdk/client-sfn';
import { executionName } from '../../lambdas/core/names.ts';
import type { RolloutRecords } from '../../lambdas/core/ports.ts';
import type { SluiceEvent } from '../../lambdas/core/records.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import type { ExecutionInput } from '../../lambdas/core/task.ts';
import { EXIT } from '../exit-codes.ts';
import { abortRollout } from './abort.ts';
import { formatEvent } from '../progress.ts';
import { reconcileTargetFirst } from './recover.ts';
import { startLocalRuntime } from '../runtime.ts';
import type { LocalRuntime, LocalRuntimeOptions } from '../runtime.ts';
import { SpecFileError, validateSpecFile } from '../spec-file.ts';
import { formatSummary, summarize } from '../summary.ts';
import type { RolloutSummary } from '../summary.ts';

export interface RunIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export interface RunOptions {
  version?: string;
  json?: boolean;
  requestedBy?: string;
}

/** The next attempt of a version: a retry after a rollback gets a new execution name. */
export async function nextAttempt(store: RolloutRecords, target: string, version: string): Promise<number> {
  const previous = await store.listRollouts(target, 1000);
  return previous.filter((rollout) => rollout.version === version).length + 1;
}

const POLL_MS = 200;

export async function waitForEnd(sfn: SFNClient, executionArn: string): Promise<DescribeExecutionCommandOutput> {
  for (;;) {
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (described.status !== 'RUNNING') return described;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export interface StartedRollout {
  executionArn: string;
  name: string;
  done: Promise<RolloutSummary>;
}

/** Starts one rollout on a running local runtime and resolves its summary when it ends. */
export async function startRollout(runtime: LocalRuntime, spec: RolloutSpec, options: RunOptions = {}): Promise<StartedRollout> {
  const target = spec.metadata.name;
  const version =
    options.version ??
    `local-${new Date()
      .toISOString()
      .replace(/[-:.TZ]/g, '')
      .slice(0, 14)}`;
  const attempt = await nextAttempt(runtime.deps.store, target, version);
  const name = executionName(target, version, attempt);
  const input: ExecutionInput = { spec, version, requestedBy: options.requestedBy ?? `${process.env.USER ?? 'someone'}@local` };
  const started = await runtime.sfn.send(
    new StartExecutionCommand({ stateMachineArn: runtime.engine.stateMachineArn, name, input: JSON.stringify(input) }),
  );
  const executionArn = started.executionArn ?? '';
  const done = (async () => {
    const ended = await waitForEnd(runtime.sfn, executionArn);
    await runtime.engine.waitForExecution(executionArn);
    return summarize({
      store: runtime.deps.store,
      execution: ended,
      target,
      version,
      weightScale: spec.spec.router.weightScale,
      transitions: runtime.engine.transitions(executionArn),
    });
  })();
  return { executionArn, name, done };
}

export async function runCommand(
  specPath: string,
  options: RunOptions & { runtime?: Omit<LocalRuntimeOptions, 'onEvent'> },
  io: RunIo,
): Promise<number> {
  let spec: RolloutSpec;
  try {
    const result = await validateSpecFile(specPath);
    if (!result.ok) {
      for (const problem of result.problems) io.stderr(`${problem.path}: ${problem.message}\n`);
      return EXIT.invalid;
    }
    spec = result.spec;
  } catch (error) {
    if (error instanceof SpecFileError) {
      io.stderr(`${error.message}\n`);
      return EXIT.invalid;
    }
    throw error;
  }
  const scale = spec.spec.router.weightScale;
  const progress = (event: SluiceEvent) => {
    const line = formatEvent(event, scale);
    if (line) (options.json ? io.stderr : io.stdout)(`${line}\n`);
  };
  const runtime = await startLocalRuntime({ ...options.runtime, onEvent: progress });
  // Ctrl-C never leaves traffic half-shifted: the first one aborts (rollback), the process ends with it.
  let interrupted = false;
  const stopOnSignal = () => {
    if (interrupted) return;
    interrupted = true;
    io.stderr('\ninterrupted: aborting the rollout and moving traffic to the safe side…\n');
    void abortRollout({
      store: runtime.deps.store,
      sfn: runtime.sfn,
      target: spec.metadata.name,
      by: 'Ctrl-C',
      reason: 'interrupted from the terminal',
    }).catch((error: unknown) => io.stderr(`abort failed: ${String(error)}\n`));
  };
  // SIGTERM (kill, systemd, CI cancelling a job) and SIGHUP (the terminal closed) are Ctrl-C too.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const signal of signals) process.on(signal, stopOnSignal);
  try {
    // An orphan of this target (a `sluice run` killed earlier) is put on its safe side first, its lock freed.
    await reconcileTargetFirst(runtime.deps, runtime.dir, spec.metadata.name, io);
    const rollout = await startRollout(runtime, spec, options);
    const summary = await rollout.done;
    if (options.json) io.stdout(`${JSON.stringify(summary)}\n`);
    else io.stdout(formatSummary(summary));
    return summary.exitCode;
  } finally {
    for (const signal of signals) process.off(signal, stopOnSignal);
    await runtime.close();
  }
}
