/** Prepare: validate, take the target's lock, preflight, record the start. Refusals change nothing. */
import { RefusedError, describeError } from '../core/errors.ts';
import { allOn, formatWeights, initialRun, sameWeights } from '../core/rollout.ts';
import { unsupportedFeatures } from '../core/spec.ts';
import type { RolloutSpec } from '../core/spec.ts';
import { prepareInputSchema } from '../core/task.ts';
import type { PrepareInput, RunState } from '../core/task.ts';
import type { DepsSource, HandlerDeps } from './deps.ts';
import { rolloutHandler } from './middleware.ts';
import { awsHandlerDeps } from '../adapters/aws-deps.ts';

/** The lock outlives the deadline a little, so a crashed run frees its target on its own. */
const LOCK_GRACE_MS = 10 * 60_000;

export async function prepare(deps: HandlerDeps, input: PrepareInput): Promise<RunState> {
  const { spec, execution } = input;
  const target = spec.metadata.name;
  const unsupported = unsupportedFeatures(spec);
  if (unsupported.length) throw new RefusedError(unsupported.map((p) => `${p.path}: ${p.message}`).join('; '));

  const now = deps.now();
  const run = initialRun(spec, now);
  const lock = await deps.store.acquireLock(target, execution, new Date(Date.parse(run.deadlineAt) + LOCK_GRACE_MS));
  if (!lock.acquired) {
    throw new RefusedError(`target ${target} is locked by rollout ${lock.holder.owner} (until ${lock.holder.expiresAt}); abort it or wait for it to finish`);
  }
  const scale = spec.spec.router.weightScale;
  try {
    const fingerprint = await preflight(deps, spec);
    await deps.store.createRollout({
      execution,
      target,
      version: input.version,
      requestedBy: input.requestedBy,
      startedAt: now.toISOString(),
      safeSide: 'primary',
      lastWeights: allOn('primary', scale),
      status: 'running',
      primaryFingerprint: fingerprint,
    });
  } catch (error) {
    await deps.store.releaseLock(target, execution);
    if (error instanceof RefusedError) throw error;
    throw new RefusedError(`preflight failed: ${describeError(error)}`, { cause: error });
  }
  await deps.events.publish({ detailType: 'Rollout Started', target, version: input.version, execution, weights: allOn('primary', scale) });
  return run;
}

/** DESIGN §1 preflight: metrics answer, the route and objects fit, the canary is ready, weights are at the start. */
async function preflight(deps: HandlerDeps, spec: RolloutSpec): Promise<string | undefined> {
  for (const provider of deps.providersFor(spec)) await provider.isOnline();
  const readings = await deps.readMetrics(spec);
  const silent = readings.filter((r) => r.primaryValue === null);
  if (silent.length) {
    throw new RefusedError(`metrics return no data for the primary: ${silent.map((r) => r.name).join(', ')} (is the query right and is the primary serving traffic?)`);
  }
  const router = await deps.routerFor(spec);
  await router.reconcile();
  const start = allOn('primary', spec.spec.router.weightScale);
  const weights = await router.getWeights();
  if (!sameWeights(weights, start)) {
    throw new RefusedError(`current weights are ${formatWeights(weights, spec.spec.router.weightScale)}, expected the start state ${formatWeights(start, spec.spec.router.weightScale)}`);
  }
  const workload = await deps.workloadFor(spec);
  if (!workload) return undefined;
  if (!(await workload.isReady('canary'))) throw new RefusedError(`canary Deployment ${spec.spec.workload?.namespace}/${spec.spec.workload?.canary} is not ready`);
  return workload.templateFingerprint('primary');
}

export function createPrepareHandler(deps: DepsSource<HandlerDeps>) {
  return rolloutHandler(prepareInputSchema, async (event) => prepare(await deps(), event));
}

/** The Lambda entry point. */
export const handler = createPrepareHandler(awsHandlerDeps);
