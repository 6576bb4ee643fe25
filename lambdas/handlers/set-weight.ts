/** SetWeight: route the current step's canary weight, unless someone aborted or is steering. */
import { currentCanaryWeight, splitWeights } from '../core/rollout.ts';
import { stepInputSchema } from '../core/task.ts';
import type { RunState, StepInput } from '../core/task.ts';
import type { DepsSource, HandlerDeps } from './deps.ts';
import { assertNotAborted, assertPrimaryUntouched, requireRollout } from './guards.ts';
import { rolloutHandler } from './middleware.ts';
import { judgeFor } from '../core/judge.ts';
import { awsHandlerDeps } from '../adapters/aws-deps.ts';
import { kubeConfigFor } from '../adapters/eks-auth.ts';
import { withDoctorMode } from './doctor-mode.ts';
import { publishWithHooks } from '../adapters/webhooks.ts';

export async function setWeight(deps: HandlerDeps, input: StepInput): Promise<RunState> {
  const { spec, execution, run } = input;
  await assertNotAborted(deps.store, execution);
  const record = await requireRollout(deps.store, execution);
  await assertPrimaryUntouched(await deps.workloadFor(spec), record);
  // confirm-rollout webhooks hold the start: nothing moves until Analyze sees them answer 2xx.
  if (run.phase === 'confirm') return { ...run, lookInStep: 0, next: 'bake' };
  const router = await deps.routerFor(spec);
  const shadow = spec.spec.strategy.shadow;
  if (run.phase === 'shadow' && shadow) {
    // Mirroring only: users still get every answer from the primary; the canary's own metrics are judged.
    await router.setShadow({ percentage: shadow.percentage });
    await deps.store.appendStep({
      execution,
      at: deps.now().toISOString(),
      kind: 'note',
      detail: `shadowing ${shadow.percentage}% of requests to the canary for ${shadow.duration}`,
    });
    return { ...run, lookInStep: 0, next: 'bake' };
  }
  // Live traffic never runs with the mirror still on (idempotent when there was none).
  if (shadow) await router.setShadow(null);
  const next = splitWeights(currentCanaryWeight(run), run.weightScale);
  // Recorded first: a crash between the write and the record still leaves weights the reconciler knows as Sluice's own.
  await deps.store.updateRollout(execution, { pendingWeights: next });
  await router.setWeights(next, record.lastWeights);
  await deps.store.updateRollout(execution, { lastWeights: next });
  await judgeFor(spec, deps).rebase(execution);
  await deps.store.appendStep({ execution, at: deps.now().toISOString(), kind: 'weight', stepIndex: run.stepIndex, weights: next });
  await publishWithHooks(deps, spec, {
    detailType: 'Weight Changed',
    target: spec.metadata.name,
    version: input.version,
    execution,
    weights: next,
  });
  return { ...run, lookInStep: 0, next: 'bake' };
}

export function createSetWeightHandler(deps: DepsSource<HandlerDeps>) {
  return rolloutHandler(stepInputSchema, async (event) => setWeight(await deps(), event));
}

/** The Lambda entry point. */
/** The Lambda entry point; `{ doctor, spec }` events run `sluice doctor`'s checks in this role (doctor-mode.ts). */
export const handler = withDoctorMode(createSetWeightHandler(awsHandlerDeps), awsHandlerDeps, (spec) => kubeConfigFor(spec.spec.cluster));
