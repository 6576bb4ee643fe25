/**
 * `sluice override <target> --reason TEXT [--for 1h]`: lets a target move outside its change
 * windows (a held rollout advances at its next look; a start is not queued), audited like the
 * Slack command (lambdas/adapters/control/window-override.ts). Local engine and deployed stack alike.
 */
import { overrideWindows } from '../../lambdas/adapters/control/window-override.ts';
import { parseDuration } from '../../lambdas/core/duration.ts';
import type { ControlPlane } from '../control.ts';
import { EXIT } from '../exit-codes.ts';
import type { Io } from './control-commands.ts';

export async function overrideCommand(
  control: ControlPlane,
  target: string,
  options: { reason?: string; for?: string; by?: string; now?: Date },
  io: Io,
): Promise<number> {
  if (!options.reason?.trim()) {
    io.stderr(`an override needs a reason: sluice override ${target} --reason TEXT [--for 1h] (it is audited)\n`);
    return EXIT.invalid;
  }
  let forMs: number | undefined;
  if (options.for !== undefined) {
    try {
      forMs = parseDuration(options.for);
    } catch (error) {
      io.stderr(`--for: ${error instanceof Error ? error.message : String(error)}\n`);
      return EXIT.invalid;
    }
  }
  const spec = await control.loadTarget(target);
  const result = await overrideWindows({
    store: control.store,
    ...(control.events ? { events: control.events } : {}),
    spec,
    by: options.by ?? `${process.env.USER ?? 'someone'}@cli`,
    reason: options.reason,
    ...(forMs !== undefined ? { forMs } : {}),
    now: options.now ?? new Date(),
  });
  (result.ok ? io.stdout : io.stderr)(`${result.message}\n`);
  return result.ok ? EXIT.ok : EXIT.invalid;
}
