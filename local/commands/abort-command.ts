/** `sluice abort <target>` against the local engine, from any shell. */
import { existsSync } from 'node:fs';
import { openSqliteStore } from '../../lambdas/adapters/store-sqlite.ts';
import { EXIT } from '../exit-codes.ts';
import { engineStatePath, stateDir, storePath } from '../runtime.ts';
import { localSfnClient, readEngineStateFile } from '../engine/sfn-endpoint.ts';
import { abortRollout } from './abort.ts';

export async function abortCommand(target: string, reason: string, io: { stdout: (t: string) => void; stderr: (t: string) => void }): Promise<number> {
  const dir = stateDir();
  if (!existsSync(storePath(dir))) {
    io.stderr(`no local rollouts in ${dir} (run \`sluice run\` or \`sluice demo\` there, or set SLUICE_STATE_DIR)\n`);
    return EXIT.invalid;
  }
  const url = process.env.SLUICE_ENDPOINT?.trim() || (await readEngineStateFile(engineStatePath(dir)))?.url;
  if (!url) {
    io.stderr(`no local engine is running (no ${engineStatePath(dir)} and no SLUICE_ENDPOINT)\n`);
    return EXIT.invalid;
  }
  const store = openSqliteStore(storePath(dir));
  const sfn = localSfnClient(url);
  try {
    const by = `${process.env.USER ?? 'someone'}@cli`;
    const result = await abortRollout({ store, sfn, target, by, reason });
    if (!result.ok) {
      io.stderr(`${result.message}\n`);
      return EXIT.invalid;
    }
    io.stdout(
      result.interruptedBake
        ? `aborted ${result.execution}: its bake was interrupted; traffic is moving to the safe side\n`
        : `abort requested for ${result.execution}: the next step rolls it back\n`,
    );
    return EXIT.ok;
  } finally {
    sfn.destroy();
    await store.close();
  }
}
