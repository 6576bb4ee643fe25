/**
 * One readiness check of a promotion loop (CheckCanary, CheckPrimary). The state machine waits
 * between checks in a Wait state (no Lambda runs while it waits) and loops on `run.promotion.ready`;
 * this check gives up at `readyBy` (`spec.workload.readyTimeout` after the loop started).
 *
 * Canary: before anything can send all traffic to the canary Deployment (Switch in route mode,
 * a hold on the canary after the template copy), it is scaled to what the primary serves with
 * (the primary's replicas, or its HPA's minReplicas) and must be ready at that size. A canary that
 * never gets there ends the promotion before the copy: traffic back on the old primary.
 * Primary: after the copy, until its rollout completes; one that never does is held on the canary.
 */
import { PromotionFailedError } from '../core/errors.ts';
import { readyByFrom } from '../core/rollout.ts';
import { readyCheckInputSchema } from '../core/task.ts';
import type { ReadyCheckInput, RunState } from '../core/task.ts';
import type { DepsSource, HandlerDeps } from '../app/deps.ts';
import { assertNotAbortedInPromotion } from '../app/guards.ts';
import { rolloutHandler } from '../app/middleware.ts';
import { awsHandlerDeps } from '../wiring/aws.ts';
import type { AbortFlags, RolloutLog } from '../core/ports.ts';

/** The store ports this step uses (core/ports.ts). */
type PromotionReadyStore = AbortFlags & RolloutLog;

export async function checkReady(deps: HandlerDeps<PromotionReadyStore>, input: ReadyCheckInput): Promise<RunState> {
  const { spec, execution, run, side } = input;
  const copied = run.promotion?.copied ?? false;
  await assertNotAbortedInPromotion(deps.store, execution, copied);
  const now = deps.now();
  const same = run.promotion?.side === side ? run.promotion : undefined;
  const readyBy = same?.readyBy ?? readyByFrom(spec, now);
  const checks = (same?.checks ?? 0) + 1;
  const workload = await deps.workloadFor(spec);
  if (!workload) return { ...run, promotion: { side, ready: true, readyBy, checks, copied } };

  const names = spec.spec.workload;
  const deployment = `${names?.namespace}/${names?.[side]}`;
  let ready: boolean;
  let replicas: number | undefined;
  if (side === 'canary') {
    replicas = await workload.servingReplicas('primary');
    // Only ever up: a canary already larger keeps its size (scaled to zero after the switch).
    if ((await workload.servingReplicas('canary')) < replicas) {
      await workload.scale('canary', replicas);
      await deps.store.appendStep({
        execution,
        at: now.toISOString(),
        kind: 'promotion',
        detail: `scaled the canary Deployment ${deployment} to ${replicas} replicas (the primary's) before promotion`,
      });
    }
    ready = await workload.isReady('canary');
  } else {
    ready = await workload.isReady('primary');
  }
  if (!ready && now.getTime() >= Date.parse(readyBy)) {
    const timeout = names?.readyTimeout ?? '5m';
    if (side === 'primary') {
      throw new PromotionFailedError(
        `primary Deployment ${deployment} was not ready within ${timeout} after the template copy: traffic held on the canary`,
      );
    }
    throw new Error(
      `canary Deployment ${deployment} was not ready at ${replicas} replicas within ${timeout}: not promoted, traffic back on the primary`,
    );
  }
  return { ...run, promotion: { side, ready, readyBy, checks, copied } };
}

export function createPromotionReadyHandler(deps: DepsSource<HandlerDeps<PromotionReadyStore>>) {
  return rolloutHandler(readyCheckInputSchema, async (event) => checkReady(await deps(), event));
}

/** The Lambda entry point. */
export const handler = createPromotionReadyHandler(awsHandlerDeps);
