/**
 * The soak's reconciler hook. Issue 10 item 2 adds a level-triggered reconciler and
 * `sluice recover --local`; it is being built on another branch. The soak calls whatever that
 * module exports (found by import, so this file keeps compiling before it exists) once every
 * fault has healed, and reports `absent` when there is none yet: the "before" run measures the
 * code as it is, with nothing that comes back to finish a stranded rollout.
 *
 * Contract the soak expects (the lead adapts this one function when the recovery branch merges):
 *   export async function reconcileLocal(args: { deps: HandlerDeps; sfn: SFNClient; target?: string }): Promise<unknown>
 * exported from local/commands/recover.ts.
 */
import type { LocalRuntime } from '../../local/runtime.ts';

export type ReconcilerResult = { ran: false; why: string } | { ran: true; detail: unknown };

type ReconcileFn = (args: { deps: LocalRuntime['deps']; sfn: LocalRuntime['sfn']; target?: string }) => Promise<unknown>;

async function findReconciler(): Promise<ReconcileFn | undefined> {
  const path = '../../local/commands/recover.ts';
  let module: Record<string, unknown>;
  try {
    module = (await import(/* @vite-ignore */ path)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const candidate = module.reconcileLocal ?? module.recoverLocal ?? module.reconcile;
  return typeof candidate === 'function' ? (candidate as ReconcileFn) : undefined;
}

/** Runs one reconcile pass over every target of `runtime` (what `sluice recover --local` does). */
export async function runReconciler(runtime: LocalRuntime): Promise<ReconcilerResult> {
  const reconcile = await findReconciler();
  if (!reconcile) return { ran: false, why: 'no reconciler yet (local/commands/recover.ts exports none of reconcileLocal, recoverLocal, reconcile)' };
  return { ran: true, detail: await reconcile({ deps: runtime.deps, sfn: runtime.sfn }) };
}
