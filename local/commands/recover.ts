/**
 * `sluice recover [TARGET]`: one reconcile pass on demand. Finds every open rollout (of TARGET)
 * whose execution does not run, puts its traffic on the safe side with Rollback's restore code,
 * closes the record and frees the lock, and prints what it found and did. `--local` works on the
 * local store (no engine needs to run: a killed `sluice run` is exactly the case); `--stack S`
 * invokes the deployed reconciler Lambda. Acts even after the recovery window has passed: a
 * person asked. Also the helpers other commands use to reconcile a target first.
 */
import { existsSync } from 'node:fs';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import { openSqliteStore } from '../../lambdas/adapters/store/sqlite.ts';
import { formatFinding } from '../../lambdas/app/reconcile.ts';
import type { Finding, ReconcileReport, ReconcileStore } from '../../lambdas/app/reconcile.ts';
import type { HandlerDeps } from '../../lambdas/app/deps.ts';
import { ControlError, localTargetLoader } from '../control.ts';
import { EXIT } from '../exit-codes.ts';
import { formatEvent } from '../progress.ts';
import { reconcileLocal } from '../recovery.ts';
import { kubeconfigSource, localHandlerDeps, stateDir, storePath } from '../runtime.ts';

export interface RecoverIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export interface RecoverFlags {
  local?: boolean;
  stack?: string;
  region?: string;
  kubeconfig?: string;
  rollouts?: string;
  /** A spec file to restore with when neither the record nor the registry has one. */
  spec?: string;
  json?: boolean;
}

/** Reads the registry folder (or one spec file) without failing the pass: a missing spec is a finding. */
function specLoader(flags: RecoverFlags): (target: string) => Promise<RolloutSpec | null> {
  const load = localTargetLoader(flags.rollouts ?? 'rollouts');
  return async (target) => load(target, flags.spec).catch(() => null);
}

export function printReport(report: ReconcileReport, target: string | undefined, json: boolean, io: RecoverIo): number {
  if (json) io.stdout(`${JSON.stringify(report)}\n`);
  else if (!report.findings.length)
    io.stdout(`nothing to recover${target ? ` for ${target}` : ''}: no open rollout without a running execution, no stale lock\n`);
  else for (const finding of report.findings) io.stdout(`${formatFinding(finding)}\n`);
  return report.findings.some((f) => f.action === 'failed' || f.found === 'unknown' || f.action === 'window-passed') ? EXIT.error : EXIT.ok;
}

export async function recoverCommand(target: string | undefined, flags: RecoverFlags, io: RecoverIo): Promise<number> {
  if (!flags.local && !flags.stack) {
    io.stderr('sluice recover: pass --local (the local store) or --stack NAME (a deployed Sluice)\n');
    return EXIT.invalid;
  }
  if (flags.stack) return recoverOnStack(target, flags, io);
  const dir = stateDir();
  if (!existsSync(storePath(dir))) {
    io.stderr(`no local store in ${dir}: nothing was ever run here (set SLUICE_STATE_DIR to the engine's folder)\n`);
    return EXIT.invalid;
  }
  const store = openSqliteStore(storePath(dir));
  try {
    const deps = localHandlerDeps(store, {
      kubeConfigOf: kubeconfigSource(flags.kubeconfig),
      onEvent: (event) => {
        const line = formatEvent(event, event.weights ? event.weights.primary + event.weights.canary : 100);
        if (line && !flags.json) io.stderr(`${line}\n`);
      },
    });
    const report = await reconcileLocal(deps, dir, { ...(target ? { target } : {}), manual: true }, specLoader(flags));
    return printReport(report, target, flags.json ?? false, io);
  } finally {
    await store.close();
  }
}

/** The stack's output naming the reconciler function (a contract with infra/sluice-stack.ts OUTPUTS.reconcilerFunctionArn). */
export const RECONCILER_OUTPUT = 'ReconcilerFunctionArn';

async function recoverOnStack(target: string | undefined, flags: RecoverFlags, io: RecoverIo): Promise<number> {
  const region = flags.region ? { region: flags.region } : {};
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const cloudformation = new CloudFormationClient(region);
  let functionArn: string | undefined;
  try {
    const described = await cloudformation.send(new DescribeStacksCommand({ StackName: flags.stack }));
    functionArn = described.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === RECONCILER_OUTPUT)?.OutputValue;
  } finally {
    cloudformation.destroy();
  }
  if (!functionArn)
    throw new ControlError(`stack ${flags.stack} has no ${RECONCILER_OUTPUT} output: redeploy it with this version of Sluice`);
  const { LambdaClient, InvokeCommand } = await import('@aws-sdk/client-lambda');
  const lambda = new LambdaClient(region);
  try {
    const answer = await lambda.send(
      new InvokeCommand({
        FunctionName: functionArn,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify({ ...(target ? { target } : {}), manual: true })),
      }),
    );
    const text = answer.Payload ? new TextDecoder().decode(answer.Payload) : '';
    if (answer.FunctionError) {
      io.stderr(`the reconciler failed (${answer.FunctionError}): ${text}\n`);
      return EXIT.error;
    }
    const report = JSON.parse(text) as ReconcileReport;
    return printReport(report, target, flags.json ?? false, io);
  } finally {
    lambda.destroy();
  }
}

/**
 * Reconciles one target before a command acts on it (start, run, retry, abort): an orphan left by
 * a killed engine is restored and closed, its lock freed. Prints what it did; never fails the
 * command (an unreachable cluster is reported and the command goes on to say what it can).
 */
export async function reconcileTargetFirst(
  deps: HandlerDeps<ReconcileStore>,
  dir: string,
  target: string,
  io: Pick<RecoverIo, 'stderr'>,
  loadTarget?: (target: string) => Promise<RolloutSpec | null>,
): Promise<Finding[]> {
  try {
    const report = await reconcileLocal(deps, dir, { target }, loadTarget);
    const acted = report.findings.filter((f) => f.found !== 'running');
    for (const finding of acted) io.stderr(`recovered first: ${formatFinding(finding)}\n`);
    return acted;
  } catch (error) {
    io.stderr(`could not reconcile ${target} first: ${error instanceof Error ? error.message : String(error)}\n`);
    return [];
  }
}
