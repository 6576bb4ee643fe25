/** Prepare: validate, take the target's lock, preflight, record the start. Refusals change nothing. */
import { RefusedError, TransientError, describeError } from '../core/errors.ts';
import { preflightGloo } from '../adapters/router/gloo-preflight.ts';
import { allOn, initialRun } from '../core/rollout.ts';
import { lockExpiresAt } from '../core/recovery.ts';
import { unsupportedFeatures } from '../core/spec.ts';
import type { RolloutSpec } from '../core/spec.ts';
import { prepareInputSchema } from '../core/task.ts';
import type { PrepareInput, RunState } from '../core/task.ts';
import type { DepsSource, HandlerDeps } from '../app/deps.ts';
import { rolloutHandler } from '../app/middleware.ts';
import { judgeFor } from '../core/judge.ts';
import { awsHandlerDeps } from '../wiring/aws.ts';
import { kubeConfigFor } from '../adapters/kube/eks-auth.ts';
import { withDoctorMode } from '../app/doctor-mode.ts';
import { publishWithHooks } from '../adapters/webhooks/client.ts';
import { webhookPlanNote } from '../core/webhooks.ts';
import type { AnalysisStates, RolloutLog, RolloutRecords, TargetLocks } from '../core/ports.ts';

/** The store ports this step uses (core/ports.ts). */
type PrepareStore = TargetLocks & RolloutRecords & RolloutLog & AnalysisStates;

export async function prepare(deps: HandlerDeps<PrepareStore>, input: PrepareInput): Promise<RunState> {
  const { spec, execution } = input;
  const target = spec.metadata.name;
  const unsupported = unsupportedFeatures(spec);
  if (unsupported.length) throw new RefusedError(unsupported.map((p) => `${p.path}: ${p.message}`).join('; '));
  // A fleet runs on the fleet state machine, one nested rollout per cluster; here it would move its base cluster alone.
  if (spec.spec.fleet)
    throw new RefusedError(
      `${target} is a fleet (spec.fleet): start it on the fleet state machine (stack output FleetStateMachineArn, docs/fleet-aws.md), not as a single rollout`,
    );

  const now = deps.now();
  let run = initialRun(spec, now);
  // Locks follow liveness: released when the rollout closes, or by the reconciler once the execution
  // is known not to run. The start path took this lock for this execution already; the store grants it
  // again to its owner.
  const lock = await deps.store.acquireLock(target, execution, lockExpiresAt(now));
  if (!lock.acquired) {
    throw new RefusedError(
      `target ${target} is locked by rollout ${lock.holder.owner} (until ${lock.holder.expiresAt}); abort it or wait for it to finish`,
    );
  }
  const scale = spec.spec.router.weightScale;
  let preflightResult: Awaited<ReturnType<typeof preflight>>;
  try {
    // The webhook gates (confirm-rollout, then pre-rollout) are states of their own after this one.
    preflightResult = await preflight(deps, spec, execution);
    // The reconciler's schedule exists only while a rollout is open: on before the record opens.
    await deps.reconcileSchedule?.setEnabled(true).catch((error: unknown) => {
      throw new TransientError(`could not turn on the reconciler's schedule: ${describeError(error)}`, { cause: error });
    });
  } catch (error) {
    // Transient errors stay transient: the state machine retries Prepare, then refuses (nothing changed).
    // The lock stays with this execution meanwhile: released between retries, a concurrent trigger took
    // it and this execution — already answered `started` — was refused on its retry (the soak's (f)).
    // When the retries run out the execution ends in Refused, and the safety net (restore of a rollout
    // never recorded) or the reconciler (owner not running) gives the lock back.
    if (error instanceof TransientError) throw error;
    await deps.store.releaseLock(target, execution);
    if (error instanceof RefusedError) throw error;
    throw new RefusedError(`preflight failed: ${describeError(error)}`, { cause: error });
  }
  await deps.store.createRollout({
    execution,
    target,
    version: input.version,
    requestedBy: input.requestedBy,
    startedAt: now.toISOString(),
    safeSide: 'primary',
    lastWeights: allOn('primary', scale),
    status: 'running',
    // The reconciler restores from it when the execution (and its input) is gone.
    spec,
    ...(preflightResult.fingerprint ? { primaryFingerprint: preflightResult.fingerprint } : {}),
  });
  // Again once the record is open: a reconciler pass that found nothing open may have disabled the
  // schedule between the first call and the record (it re-reads after disabling; see reconcile.ts).
  await deps.reconcileSchedule?.setEnabled(true).catch(() => undefined);
  const notes = [...preflightResult.notes];
  const hookPlan = webhookPlanNote(spec);
  if (hookPlan) notes.unshift(hookPlan);
  // The judge starts once the record is open (it keeps its memory under the execution); a judge
  // that cannot judge this target refuses, and the rollout closes with nothing moved.
  try {
    const started = await judgeFor(spec, deps).start(execution, run);
    notes.push(...started.notes);
    run = started.run;
  } catch (error) {
    await deps.store.updateRollout(execution, {
      status: 'finished',
      outcome: 'refused',
      reason: describeError(error),
      finishedAt: deps.now().toISOString(),
    });
    await deps.store.releaseLock(target, execution);
    if (error instanceof RefusedError || error instanceof TransientError) throw error;
    throw new RefusedError(`preflight failed: ${describeError(error)}`, { cause: error });
  }
  for (const note of notes) await deps.store.appendStep({ execution, at: now.toISOString(), kind: 'note', detail: note });
  await publishWithHooks(deps, spec, {
    detailType: 'Rollout Started',
    target,
    version: input.version,
    execution,
    weights: allOn('primary', scale),
    ...(notes.length ? { reason: notes.join('\n') } : {}),
  });
  return run;
}

/** The preflight (for `execution`, whose name a route adoption write carries): metrics answer with data for the primary; the router's objects fit, the canary is ready, the weights are at the start. */
async function preflight(
  deps: HandlerDeps<PrepareStore>,
  spec: RolloutSpec,
  execution: string,
): Promise<{ fingerprint?: string; notes: string[] }> {
  for (const provider of deps.providersFor(spec)) await provider.isOnline();
  const readings = await deps.readMetrics(spec);
  const silent = readings.filter((r) => r.primaryValue === null);
  if (silent.length) {
    throw new RefusedError(
      `metrics return no data for the primary: ${silent.map((r) => r.name).join(', ')} (is the query right and is the primary serving traffic?)`,
    );
  }
  const router = await deps.routerFor(spec, execution);
  const workload = await deps.workloadFor(spec);
  const checks = await preflightGloo({ spec, router, workload });
  const notes = checks.filter((c) => c.status === 'note').map((c) => c.message);
  return workload ? { fingerprint: await workload.templateFingerprint('primary'), notes } : { notes };
}

export function createPrepareHandler(deps: DepsSource<HandlerDeps<PrepareStore>>) {
  return rolloutHandler(prepareInputSchema, async (event) => prepare(await deps(), event));
}

/** The Lambda entry point. */
/** The Lambda entry point; `{ doctor, spec }` events run `sluice doctor`'s checks in this role (doctor-mode.ts). */
export const handler = withDoctorMode(createPrepareHandler(awsHandlerDeps), awsHandlerDeps, (spec) => kubeConfigFor(spec.spec.cluster));
