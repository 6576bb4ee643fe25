/**
 * Switch: the promotion's one traffic move. Template mode: all traffic to the primary (which runs
 * the canary's template and is ready), then the canary scales down. Route mode: all traffic to the
 * canary upstream (scaled and ready, CheckCanary). Idempotent, so a retried Switch writes once.
 * An abort flagged before Switch passes the promotion's point of no return (guards.ts,
 * passPointOfNoReturn) still wins; one that comes after it is answered "too late" and changes nothing.
 * With `move: step` (the PromotionStep state) it routes one split of a progressive promotion instead
 * (app/promotion-steps.ts): the same Lambda, which holds the router's permissions.
 */
import { allOn, sameWeights } from '../core/rollout.ts';
import { promotionMode } from '../core/spec.ts';
import * as z from 'zod';
import { stepInputSchema } from '../core/task.ts';
import type { RunState, StepInput } from '../core/task.ts';
import { promotionStep } from '../app/promotion-steps.ts';
import type { DepsSource, HandlerDeps } from '../app/deps.ts';
import { passPointOfNoReturn, requireRollout } from '../app/guards.ts';
import { rolloutHandler } from '../app/middleware.ts';
import { awsHandlerDeps } from '../wiring/aws.ts';
import type { AbortFlags, RolloutLog, RolloutRecords } from '../core/ports.ts';

/** The store ports this step uses (core/ports.ts). */
type SwitchTrafficStore = AbortFlags & RolloutRecords & RolloutLog;

export async function switchTraffic(deps: HandlerDeps<SwitchTrafficStore>, input: StepInput): Promise<RunState> {
  const { spec, execution, run } = input;
  const copied = run.promotion?.copied ?? false;
  const record = await requireRollout(deps.store, execution);
  const router = await deps.routerFor(spec, execution);
  const scale = run.weightScale;
  const mode = promotionMode(spec);
  if (mode === 'template' && !copied)
    throw new Error('Switch reached before the template copy: refusing to route all traffic to the old primary as a promotion');
  const side = mode === 'route' ? 'canary' : 'primary';
  const target = allOn(side, scale);
  // An abort flagged before this line wins (held on the canary); one after it is answered "too late".
  await passPointOfNoReturn(deps.store, execution, copied, deps.now().toISOString());
  if (!sameWeights(record.lastWeights, target)) {
    // Recorded first: a crash between the write and the record still leaves weights recovery knows as Sluice's own.
    await deps.store.updateRollout(execution, { pendingWeights: target });
    await router.setWeights(target, record.lastWeights);
    await deps.store.updateRollout(execution, { lastWeights: target, safeSide: side });
    const detail =
      side === 'primary'
        ? 'primary ready with the new template: all traffic on the primary'
        : 'route promotion: all traffic on the canary upstream';
    await deps.store.appendStep({ execution, at: deps.now().toISOString(), kind: 'promotion', detail });
  }
  // A/B: the match route goes only now, so matched users stay on the new version throughout (marker name only).
  if (spec.spec.strategy.match) await router.setMatch(null);
  // Session affinity: its cookie route and Set-Cookie headers go once all traffic is on the promoted side.
  if (spec.spec.strategy.sessionAffinity) await router.setAffinity(null, { expected: target });
  if (mode === 'template' && spec.spec.workload?.scaleCanaryToZero) {
    const workload = await deps.workloadFor(spec);
    await workload?.scale('canary', 0);
  }
  return { ...run, next: 'promote' };
}

/** Switch's input: `all` (the Switch state) or `step` (PromotionStep). */
const switchInputSchema = stepInputSchema.extend({ move: z.enum(['all', 'step']).default('all') });

export function createSwitchTrafficHandler(deps: DepsSource<HandlerDeps<SwitchTrafficStore>>) {
  return rolloutHandler(switchInputSchema, async ({ move, ...event }) =>
    move === 'step' ? promotionStep(await deps(), event) : switchTraffic(await deps(), event),
  );
}

/** The Lambda entry point. */
export const handler = createSwitchTrafficHandler(awsHandlerDeps);
