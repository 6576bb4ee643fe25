/** `sluice serve`: the local engine as a long-running process, so start/status/abort --local can drive it. */
import { formatEvent } from '../progress.ts';
import { kubeconfigSource, startLocalRuntime, stateDir } from '../runtime.ts';
import { EXIT } from '../exit-codes.ts';

export async function serveCommand(flags: { kubeconfig?: string }, io: { stdout: (t: string) => void }): Promise<number> {
  const runtime = await startLocalRuntime({
    kubeConfigOf: kubeconfigSource(flags.kubeconfig),
    onEvent: (event) => {
      const line = formatEvent(event, 100);
      if (line) io.stdout(`${line}\n`);
    },
  });
  io.stdout(`local engine at ${runtime.endpoint} (state in ${stateDir()}); Ctrl-C stops it and rolls back anything running\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await runtime.close();
  return EXIT.ok;
}
