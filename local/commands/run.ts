/**
 * `sluice run <spec> --local`: one rollout of the real state machine in the local engine, against
 * the cluster and metrics the spec names, driven through @aws-sdk/client-sfn exactly as in AWS.
 * It starts through the one start path every trigger uses (lambdas/adapters/start-path.ts): the
 * change windows, the idempotency ledger and the atomic lock apply to it as to `sluice start`.
 */
import { randomUUID } from 'node:crypto';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import type { DescribeExecutionCommandOutput, SFNClient } from '@aws-sdk/client-sfn';
import { overrideWindows } from '../../lambdas/adapters/control/window-override.ts';
import { requestStart, staticRegistry } from '../../lambdas/adapters/control/start-path.ts';
import type { SluiceEvent } from '../../lambdas/core/records.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import type { StartAnswer } from '../../lambdas/core/start.ts';
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
  /** Start now even outside the change windows: records an audited window override first (as `sluice override`). */
  override?: string;
  /** Where a line for the person goes (the override's answer). */
  onNote?: (line: string) => void;
}

/** The start path did not start the rollout (a closed window, a lock, a duplicate): its answer says why. */
export class StartRefusedError extends Error {
  readonly answer: Exclude<StartAnswer, { outcome: 'started' }>;
  constructor(answer: Exclude<StartAnswer, { outcome: 'started' }>) {
    super(answer.message);
    this.name = 'StartRefusedError';
    this.answer = answer;
  }
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
  const requestedBy = options.requestedBy ?? `${process.env.USER ?? 'someone'}@local`;
  const { store } = runtime.deps;
  if (options.override !== undefined) {
    const overridden = await overrideWindows({
      store,
      events: runtime.deps.events,
      spec,
      by: requestedBy,
      reason: options.override,
      now: new Date(),
    });
    options.onNote?.(overridden.message);
  }
  // Every `sluice run` is a trigger of its own (a fresh ledger key); the start path names the attempt.
  const answer = await requestStart(
    { store, sfn: runtime.sfn, stateMachineArn: runtime.engine.stateMachineArn, registry: staticRegistry([spec]), now: () => new Date() },
    { target, version, requestedBy, trigger: { source: 'cli', key: `run:${randomUUID()}`, identity: requestedBy } },
  );
  if (answer.outcome !== 'started') throw new StartRefusedError(answer);
  const { executionArn, execution: name } = answer;
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
  if (spec.spec.fleet) {
    // A fleet spec is released wave by wave across its clusters (local/commands/fleet.ts).
    const { runFleetCommand } = await import('./fleet.ts');
    const version =
      options.version ??
      `local-${new Date()
        .toISOString()
        .replace(/[-:.TZ]/g, '')
        .slice(0, 14)}`;
    return runFleetCommand(
      spec,
      {
        version,
        ...(options.json === undefined ? {} : { json: options.json }),
        ...(options.requestedBy ? { requestedBy: options.requestedBy } : {}),
        ...(options.runtime ? { runtime: options.runtime } : {}),
      },
      io,
    );
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
    let rollout: StartedRollout;
    try {
      rollout = await startRollout(runtime, spec, { ...options, onNote: (line) => io.stderr(`${line}\n`) });
    } catch (error) {
      if (!(error instanceof StartRefusedError)) throw error;
      // Refused before anything moved (exit 2), in the same words every trigger gets.
      if (options.json) io.stdout(`${JSON.stringify({ outcome: 'refused', exitCode: EXIT.invalid, reason: error.answer.message })}\n`);
      io.stderr(`${error.answer.message}\n`);
      return EXIT.invalid;
    }
    const summary = await rollout.done;
    if (options.json) io.stdout(`${JSON.stringify(summary)}\n`);
    else io.stdout(formatSummary(summary));
    return summary.exitCode;
  } finally {
    for (const signal of signals) process.off(signal, stopOnSignal);
    await runtime.close();
  }
}
