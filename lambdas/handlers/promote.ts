/**
 * Promote. Template mode (Flagger's): copy the canary's pod template into the primary, wait until
 * the primary is ready, route everything to it, scale the canary down. From the moment the
 * template is copied the canary is the safe side; a primary that never becomes ready leaves all
 * traffic on the canary (`promotion-failed`). Route mode: the canary upstream takes all traffic.
 */
import { PromotionFailedError, describeError } from '../core/errors.ts';
import { parseDuration } from '../core/duration.ts';
import { allOn } from '../core/rollout.ts';
import { promotionMode } from '../core/spec.ts';
import { stepInputSchema } from '../core/task.ts';
import type { RunState, StepInput } from '../core/task.ts';
import type { DepsSource, HandlerDeps } from './deps.ts';
import { assertNotAborted, assertPrimaryUntouched, requireRollout } from './guards.ts';
import { rolloutHandler } from './middleware.ts';
import { awsHandlerDeps } from '../adapters/aws-deps.ts';

const READY_POLL_MS = 1000;

export async function promote(deps: HandlerDeps, input: StepInput): Promise<RunState> {
  const { spec, execution, run } = input;
  await assertNotAborted(deps.store, execution);
  const record = await requireRollout(deps.store, execution);
  const router = await deps.routerFor(spec);
  const scale = run.weightScale;
  const note = (detail: string) => deps.store.appendStep({ execution, at: deps.now().toISOString(), kind: 'promotion', detail });

  if (promotionMode(spec) === 'route') {
    const onCanary = allOn('canary', scale);
    await router.setWeights(onCanary, record.lastWeights);
    await deps.store.updateRollout(execution, { lastWeights: onCanary, safeSide: 'canary' });
    await note('route promotion: all traffic on the canary upstream');
    return { ...run, next: 'promote' };
  }

  const workload = await deps.workloadFor(spec);
  if (!workload) throw new Error('template promotion needs spec.workload');
  await assertPrimaryUntouched(workload, record);
  // From here the primary runs the new template: the canary is the side known to be good.
  await deps.store.updateRollout(execution, { safeSide: 'canary' });
  await workload.promoteTemplate();
  // Sluice's own change to the primary is the new baseline for "someone else changed it".
  await deps.store.updateRollout(execution, { primaryFingerprint: await workload.templateFingerprint('primary') });
  await note('copied the canary pod template into the primary');
  const timeoutMs = parseDuration(spec.spec.workload?.readyTimeout ?? '5m');
  const ready = await waitUntil(() => workload.isReady('primary'), timeoutMs);
  if (!ready) {
    const onCanary = allOn('canary', scale);
    try {
      await router.setWeights(onCanary, record.lastWeights);
      await deps.store.updateRollout(execution, { lastWeights: onCanary });
    } catch (error) {
      throw new PromotionFailedError(`primary not ready after ${spec.spec.workload?.readyTimeout}, and holding traffic on the canary failed: ${describeError(error)}`, { cause: error });
    }
    throw new PromotionFailedError(`primary Deployment ${spec.spec.workload?.namespace}/${spec.spec.workload?.primary} was not ready within ${spec.spec.workload?.readyTimeout}: traffic held on the canary`);
  }
  const onPrimary = allOn('primary', scale);
  await router.setWeights(onPrimary, record.lastWeights);
  await deps.store.updateRollout(execution, { lastWeights: onPrimary, safeSide: 'primary' });
  await note('primary ready with the new template: all traffic on the primary');
  if (spec.spec.workload?.scaleCanaryToZero) await workload.scale('canary', 0);
  return { ...run, next: 'promote' };
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(READY_POLL_MS, Math.max(0, deadline - Date.now()))));
  }
}

export function createPromoteHandler(deps: DepsSource<HandlerDeps>) {
  return rolloutHandler(stepInputSchema, async (event) => promote(await deps(), event));
}

/** The Lambda entry point. */
export const handler = createPromoteHandler(awsHandlerDeps);
