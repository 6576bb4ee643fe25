/**
 * `sluice serve`: the local engine as a long-running process, so start/status/abort/approve --local
 * can drive it, with the local scheduler firing one-off rollouts through the same start path.
 */
import { requestStart } from '../../lambdas/adapters/control/start-path.ts';
import { scheduledToStart } from '../../lambdas/core/deploy-events.ts';
import { localTargetLoader } from '../control.ts';
import { EXIT } from '../exit-codes.ts';
import { formatEvent } from '../progress.ts';
import { kubeconfigSource, startLocalRuntime, stateDir } from '../runtime.ts';
import { LocalScheduler, schedulesPath } from '../scheduler.ts';
import { folderRegistry } from './event.ts';
import { RECONCILE_PERIOD_SECONDS } from '../../lambdas/core/recovery.ts';
import { formatFinding } from '../../lambdas/app/reconcile.ts';
import { reconcileLocal } from '../recovery.ts';

export async function serveCommand(
  flags: { kubeconfig?: string; rollouts?: string; reconcileSeconds?: number },
  io: { stdout: (t: string) => void },
): Promise<number> {
  const runtime = await startLocalRuntime({
    kubeConfigOf: kubeconfigSource(flags.kubeconfig),
    onEvent: (event) => {
      const line = formatEvent(event, 100);
      if (line) io.stdout(`${line}\n`);
    },
  });
  const registryDir = flags.rollouts ?? 'rollouts';
  const scheduler = new LocalScheduler({
    path: schedulesPath(stateDir()),
    log: (line) => io.stdout(`${line}\n`),
    start: (target, version, requestedBy, idempotencyKey) =>
      requestStart(
        {
          store: runtime.deps.store,
          sfn: runtime.sfn,
          stateMachineArn: runtime.engine.stateMachineArn,
          registry: folderRegistry({ loadTarget: localTargetLoader(registryDir) }, registryDir),
          now: () => new Date(),
        },
        scheduledToStart({ target, version, requestedBy, idempotencyKey }),
      ),
  });
  // Level-triggered, like the AWS reconciler's schedule: orphans of any target are restored within one period.
  const loadTarget = localTargetLoader(registryDir);
  let reconciling = false;
  const reconcilePass = async () => {
    if (reconciling) return;
    reconciling = true;
    try {
      const report = await reconcileLocal(runtime.deps, runtime.dir, {}, (target) => loadTarget(target).catch(() => null));
      for (const finding of report.findings.filter((f) => f.found !== 'running')) io.stdout(`reconciler: ${formatFinding(finding)}\n`);
    } catch (error) {
      io.stdout(`reconciler: pass failed: ${error instanceof Error ? error.message : String(error)}\n`);
    } finally {
      reconciling = false;
    }
  };
  await reconcilePass();
  const reconciler = setInterval(() => void reconcilePass(), (flags.reconcileSeconds ?? RECONCILE_PERIOD_SECONDS) * 1000);
  io.stdout(
    `local engine at ${runtime.endpoint} (state in ${stateDir()}, targets in ${registryDir}/); Ctrl-C stops it and rolls back anything running\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(reconciler);
  await scheduler.stop();
  await runtime.close();
  return EXIT.ok;
}
