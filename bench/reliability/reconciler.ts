/**
 * The soak's reconciler hook: one pass of the level-triggered reconciler over the soak's state
 * folder, exactly what `sluice recover --local` and `sluice serve`'s periodic pass run. It finds
 * every open record whose execution no live engine runs (a SIGKILLed engine, a stop the safety net
 * could not finish) and restores its target through the same code as Rollback.
 */
import type { LocalRuntime } from '../../local/runtime.ts';
import { reconcileLocal } from '../../local/recovery.ts';
import { formatFinding } from '../../lambdas/app/reconcile.ts';
import type { ReconcileReport } from '../../lambdas/app/reconcile.ts';

export type ReconcilerResult = { ran: false; why: string } | { ran: true; detail: ReconcileReport; lines: string[] };

/** Runs one reconcile pass over every target of `runtime`; `lines` say what it found and did, as `sluice recover` prints it. */
export async function runReconciler(runtime: LocalRuntime): Promise<ReconcilerResult> {
  const detail = await reconcileLocal(runtime.deps, runtime.dir);
  return { ran: true, detail, lines: detail.findings.map(formatFinding) };
}
