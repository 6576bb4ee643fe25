/**
 * `sluice serve`: the local engine as a long-running process, so start/status/abort/approve --local
 * can drive it, with the local scheduler firing one-off rollouts through the same start path.
 */
import { requestStart } from '../../lambdas/adapters/start-path.ts';
import { scheduledToStart } from '../../lambdas/core/deploy-events.ts';
import { localTargetLoader } from '../control.ts';
import { EXIT } from '../exit-codes.ts';
import { formatEvent } from '../progress.ts';
import { kubeconfigSource, startLocalRuntime, stateDir } from '../runtime.ts';
import { LocalScheduler, schedulesPath } from '../scheduler.ts';
import { folderRegistry } from './event.ts';

export async function serveCommand(flags: { kubeconfig?: string; rollouts?: string }, io: { stdout: (t: string) => void }): Promise<number> {
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
  io.stdout(`local engine at ${runtime.endpoint} (state in ${stateDir()}, targets in ${registryDir}/); Ctrl-C stops it and rolls back anything running\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await scheduler.stop();
  await runtime.close();
  return EXIT.ok;
}
