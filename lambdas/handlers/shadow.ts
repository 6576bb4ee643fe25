/**
 * Shadow: start the shadow stage (the ASL's Shadow state, before any live weight). The route
 * mirrors `strategy.shadow.percentage` of the requests to the canary; users still get every answer
 * from the primary, and the looks that follow (Bake → Analyze) judge the canary's own metrics until
 * the stage's looks are done. SetWeight removes the mirror when the first live step starts.
 */
import { stepInputSchema } from '../core/task.ts';
import type { RunState, StepInput } from '../core/task.ts';
import type { DepsSource, HandlerDeps } from '../app/deps.ts';
import { assertNotAborted, assertPrimaryUntouched, requireRollout } from '../app/guards.ts';
import { rolloutHandler } from '../app/middleware.ts';
import { awsHandlerDeps } from '../wiring/aws.ts';

export async function startShadow(deps: HandlerDeps, input: StepInput): Promise<RunState> {
  const { spec, execution, run } = input;
  const shadow = spec.spec.strategy.shadow;
  if (!shadow) throw new Error('the Shadow state ran for a spec without strategy.shadow: the run was not prepared from this spec');
  await assertNotAborted(deps.store, execution);
  const record = await requireRollout(deps.store, execution);
  await assertPrimaryUntouched(await deps.workloadFor(spec), record);
  const router = await deps.routerFor(spec, execution);
  await router.setShadow({ percentage: shadow.percentage });
  // Rollback reads this note as "traffic moved" (the canary got mirrored requests).
  await deps.store.appendStep({
    execution,
    at: deps.now().toISOString(),
    kind: 'note',
    detail: `shadowing ${shadow.percentage}% of requests to the canary for ${shadow.duration}`,
  });
  return { ...run, lookInStep: 0, next: 'bake' };
}

export function createShadowHandler(deps: DepsSource<HandlerDeps>) {
  return rolloutHandler(stepInputSchema, async (event) => startShadow(await deps(), event));
}

/** The Lambda entry point. */
export const handler = createShadowHandler(awsHandlerDeps);
