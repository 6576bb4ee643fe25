/**
 * SetWeight: route the current step's canary weight, unless someone aborted or is steering. Under
 * A/B testing (strategy.match) the one stage has weight 0 and its traffic is the match route, put
 * here ahead of the weighted route.
 */
import { currentCanaryWeight, splitWeights } from '../core/rollout.ts';
import { stepInputSchema } from '../core/task.ts';
import { AB_NOTE_PREFIX, describeMatch } from '../core/match.ts';
import { AFFINITY_NOTE_PREFIX, affinityCookie, affinityNoteOf, describeAffinity } from '../core/affinity.ts';
import type { RunState, StepInput } from '../core/task.ts';
import type { DepsSource, HandlerDeps } from '../app/deps.ts';
import { assertNotAborted, assertPrimaryUntouched, requireRollout } from '../app/guards.ts';
import { rolloutHandler } from '../app/middleware.ts';
import { judgeFor } from '../core/judge.ts';
import { awsHandlerDeps } from '../wiring/aws.ts';
import { kubeConfigFor } from '../adapters/kube/eks-auth.ts';
import { withDoctorMode } from '../app/doctor-mode.ts';
import { publishWithHooks } from '../adapters/webhooks/client.ts';
import type { AbortFlags, AnalysisStates, RolloutLog, RolloutRecords } from '../core/ports.ts';

/** The store ports this step uses (core/ports.ts). */
type SetWeightStore = AbortFlags & RolloutRecords & RolloutLog & AnalysisStates;

export async function setWeight(deps: HandlerDeps<SetWeightStore>, input: StepInput): Promise<RunState> {
  const { spec, execution, run } = input;
  await assertNotAborted(deps.store, execution);
  const record = await requireRollout(deps.store, execution);
  await assertPrimaryUntouched(await deps.workloadFor(spec), record);
  const router = await deps.routerFor(spec, execution);
  // Live traffic never runs with the mirror of the shadow stage (the Shadow state) still on; idempotent when there was none.
  if (spec.spec.strategy.shadow) await router.setShadow(null);
  // A/B testing: the stage's traffic is the match route (the weights stay all on the primary); idempotent on a retry.
  const match = spec.spec.strategy.match;
  if (match) {
    // Noted first: a crash after the route write still leaves Rollback knowing that users reached the canary.
    await deps.store.appendStep({
      execution,
      at: deps.now().toISOString(),
      kind: 'note',
      detail: `${AB_NOTE_PREFIX} requests where ${describeMatch(match)} go to the canary, all others to the primary`,
    });
    await router.setMatch(match);
  }
  const next = splitWeights(currentCanaryWeight(run), run.weightScale);
  // Recorded first: a crash between the write and the record still leaves weights the reconciler knows as Sluice's own.
  await deps.store.updateRollout(execution, { pendingWeights: next });
  await router.setWeights(next, record.lastWeights);
  await deps.store.updateRollout(execution, { lastWeights: next });
  // Session affinity: after the weights, so route promotion's canary is listed (adopted) before it gets its Set-Cookie.
  const affinity = spec.spec.strategy.sessionAffinity;
  if (affinity) {
    const cookie = affinityCookie(affinity, execution);
    // Noted once, at the first weighted step (a retried SetWeight finds it there).
    if (run.stepIndex === 0 && !affinityNoteOf(await deps.store.listSteps(execution)))
      await deps.store.appendStep({
        execution,
        at: deps.now().toISOString(),
        kind: 'note',
        detail: `${AFFINITY_NOTE_PREFIX} ${describeAffinity(cookie)}`,
      });
    await router.setAffinity(cookie, { expected: next });
  }
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

export function createSetWeightHandler(deps: DepsSource<HandlerDeps<SetWeightStore>>) {
  return rolloutHandler(stepInputSchema, async (event) => setWeight(await deps(), event));
}

/** The Lambda entry point. */
/** The Lambda entry point; `{ doctor, spec }` events run `sluice doctor`'s checks in this role (doctor-mode.ts). */
export const handler = withDoctorMode(createSetWeightHandler(awsHandlerDeps), awsHandlerDeps, (spec) => kubeConfigFor(spec.spec.cluster));
