/**
 * `sluice event <file.json>`: delivers an EventBridge event (a `Rollout Requested`, an ECR push,
 * or a schedule's input) through the same start handler logic the start Lambda runs, against the
 * local engine (or a deployed stack's state machine and store). The ledger makes a second delivery
 * of the same file a no-op, exactly as in AWS.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TargetRegistry } from '../../lambdas/adapters/control/start-path.ts';
import type { RolloutScheduler } from '../../lambdas/core/schedule.ts';
import { handleStartEvent } from '../../lambdas/handlers/start.ts';
import type { StartEventResult } from '../../lambdas/handlers/start.ts';
import type { ControlPlane } from '../control.ts';
import { ControlError, loadSpecFile } from '../control.ts';
import { EXIT } from '../exit-codes.ts';
import { targetProblem } from '../../lambdas/core/version.ts';
import type { Io } from './control-commands.ts';

const SPEC_FILE = /\.(ya?ml|json)$/;

/** The registry of a `rollouts/` folder: `<target>.yaml` by name; every file's triggers for ECR matching. */
export function folderRegistry(control: Pick<ControlPlane, 'loadTarget'>, dir: string): TargetRegistry {
  return {
    async get(target) {
      // A target is a name, never a path: `../../x` must not be read as a file.
      if (targetProblem(target)) return null;
      try {
        return await control.loadTarget(target);
      } catch (error) {
        // An unknown target is an answer ("refused: unknown target"), an invalid spec stays an error.
        if (error instanceof ControlError && error.message.startsWith(`no spec for target ${target}`)) return null;
        throw error;
      }
    },
    async targetsForRepository(repository) {
      let names: string[];
      try {
        names = (await readdir(dir)).filter((name) => SPEC_FILE.test(name)).sort();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
      const specs = await Promise.all(names.map((name) => loadSpecFile(join(dir, name))));
      return specs.filter((spec) => spec.spec.triggers?.ecr?.repository === repository).map((spec) => spec.metadata.name);
    },
  };
}

export function exitCodeOf(result: StartEventResult): number {
  if (result.answers.some((a) => a.outcome === 'refused')) return EXIT.invalid;
  return EXIT.ok;
}

export async function eventCommand(
  control: ControlPlane,
  file: string,
  options: { rollouts: string; json?: boolean; scheduler?: RolloutScheduler; now?: () => Date },
  io: Io,
): Promise<number> {
  let event: unknown;
  try {
    event = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    io.stderr(`${file}: ${(error as Error).message}\n`);
    return EXIT.invalid;
  }
  let result: StartEventResult;
  try {
    result = await handleStartEvent(event, {
      store: control.store,
      sfn: control.sfn,
      stateMachineArn: control.stateMachineArn,
      registry: folderRegistry(control, options.rollouts),
      now: options.now ?? (() => new Date()),
      ...(options.scheduler ? { scheduler: options.scheduler } : {}),
    });
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('not a start event')) {
      io.stderr(`${file}: ${error.message}\n`);
      return EXIT.invalid;
    }
    throw error;
  }
  if (options.json) {
    io.stdout(`${JSON.stringify(result)}\n`);
  } else {
    for (const answer of result.answers) (answer.outcome === 'refused' ? io.stderr : io.stdout)(`${answer.message}\n`);
    for (const reason of result.ignored) io.stdout(`ignored: ${reason}\n`);
  }
  return exitCodeOf(result);
}
