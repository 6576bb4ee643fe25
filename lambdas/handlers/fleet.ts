/**
 * The fleet state machine's Lambdas (statemachine/fleet.asl.json): plan the waves and take the
 * target's fleet lock, resolve one member (its spec and execution name) inside the wave's Map, step
 * between waves (the pause watches the promoted clusters), and read the release's end state.
 * The AWS wiring (IAM for nested executions, one function per step) is the deployment's part.
 */
import * as z from 'zod';
import { RefusedError, TransientError } from '../core/errors.ts';
import {
  afterWave,
  fleetControlSchema,
  fleetInputSchema,
  fleetMemberSchema,
  fleetReleaseSchema,
  fleetStateSchema,
  memberExecutionName,
  memberSpec,
  promotedClusters,
  requireFleet,
  summarizeFleet,
  waveState,
} from '../core/fleet.ts';
import type { FleetControl, FleetRelease, FleetState, FleetSummary } from '../core/fleet.ts';
import { lockExpiresAt } from '../core/recovery.ts';
import type { RolloutSpec } from '../core/spec.ts';
import type { ExecutionInput } from '../core/task.ts';
import type { AbortFlags, AnalysisStates } from '../core/ports.ts';
import type { DepsSource, HandlerDeps, StoreDeps } from '../app/deps.ts';
import { rolloutHandler } from '../app/middleware.ts';
import { awsHandlerDeps } from '../wiring/aws.ts';
import { fleetRevert, fleetRevertInputSchema, memberFailure, memberRecords, revertStates } from '../app/fleet-revert.ts';
import type { FleetStore } from '../app/fleet-revert.ts';

/** Where a fleet's operator controls are kept: beside the judges' memory, under the fleet execution. */
export function fleetControlKey(fleetExecution: string): string {
  return `fleet:${fleetExecution}`;
}

export async function readFleetControl(store: AnalysisStates, fleetExecution: string): Promise<FleetControl> {
  const parsed = fleetControlSchema.safeParse((await store.getAnalysisState(fleetControlKey(fleetExecution))) ?? {});
  return parsed.success ? parsed.data : { paused: false, promoteRest: false };
}

/** Where a running fleet release is described for the commands of other processes (the lock names its execution). */
export function fleetReleaseKey(fleetExecution: string): string {
  return `fleet-release:${fleetExecution}`;
}

export async function readFleetRelease(store: AnalysisStates, fleetExecution: string): Promise<FleetRelease | null> {
  const parsed = fleetReleaseSchema.safeParse(await store.getAnalysisState(fleetReleaseKey(fleetExecution)));
  return parsed.success ? parsed.data : null;
}

export const fleetPlanInputSchema = fleetInputSchema.extend({ execution: z.string().min(1).max(80) });

/** Plan: every member resolves (else nothing starts), the target's fleet lock, the first wave. */
export async function fleetPlan(deps: StoreDeps<FleetStore>, input: z.infer<typeof fleetPlanInputSchema>): Promise<FleetState> {
  const { spec, execution } = input;
  const fleet = requireFleet(spec);
  for (const cluster of fleet.clusters) {
    try {
      memberSpec(spec, cluster.name);
    } catch (error) {
      throw new RefusedError(`cluster ${cluster.name}: ${(error as Error).message}`, { cause: error });
    }
  }
  // One release of a target at a time; each member also takes its own lock (`target@cluster`).
  const lock = await deps.store.acquireLock(spec.metadata.name, execution, lockExpiresAt(deps.now()));
  if (!lock.acquired)
    throw new RefusedError(`target ${spec.metadata.name} is locked by ${lock.holder.owner}; abort it or wait for it to finish`);
  // Its own key (not the controls'): an operator's pause written meanwhile is never overwritten.
  const release: FleetRelease = {
    execution,
    target: spec.metadata.name,
    version: input.version,
    attempt: input.attempt,
    clusters: fleet.clusters.map((c) => c.name),
    requestedBy: input.requestedBy,
  };
  await deps.store.putAnalysisState(fleetReleaseKey(execution), release);
  // The reconciler's schedule runs only while something is open or locked (Prepare turns it on the
  // same way): a fleet execution that dies holding this lock is the reconciler's to give back. A
  // failure gives the lock back and is retried (Plan's Retry), so nothing stays held unwatched.
  try {
    await deps.reconcileSchedule?.setEnabled(true);
  } catch (error) {
    await deps.store.releaseLock(spec.metadata.name, execution);
    throw new TransientError(`could not turn on the reconciler's schedule: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  return waveState(spec, 0, await readFleetControl(deps.store, execution));
}

export const fleetMemberInputSchema = fleetInputSchema.extend({ execution: z.string().min(1), member: fleetMemberSchema });

/**
 * One member's nested execution: its name and input (the member resolves its own spec, here,
 * inside its Map iteration), or `skip` when the fleet halted before this member started.
 */
export async function fleetMember(
  deps: StoreDeps<FleetStore>,
  input: z.infer<typeof fleetMemberInputSchema>,
): Promise<{ skip: true; reason: string } | { skip: false; name: string; input: ExecutionInput }> {
  const { spec, version, requestedBy, attempt, member, execution } = input;
  const control = await readFleetControl(deps.store, execution);
  if (control.halted) return { skip: true, reason: control.halted };
  return {
    skip: false,
    name: memberExecutionName(spec.metadata.name, member.cluster, version, attempt),
    input: { spec: memberSpec(spec, member.cluster), version, requestedBy },
  };
}

export const fleetHaltInputSchema = fleetInputSchema.extend({
  execution: z.string().min(1),
  member: fleetMemberSchema,
  error: z.object({ Error: z.string(), Cause: z.string().optional() }),
});

/**
 * A member did not promote: the fleet halts. Its wave-mates still rolling are asked to abort
 * through the store's abort flag (each rolls back through its own Rollback state at its next
 * task, never stopped mid-write), and members not started yet are skipped.
 */
export async function fleetHalt(
  deps: StoreDeps<FleetStore & AbortFlags>,
  input: z.infer<typeof fleetHaltInputSchema>,
): Promise<{ halted: string }> {
  const { spec, version, attempt, member, execution } = input;
  const control = await readFleetControl(deps.store, execution);
  const halted = control.halted ?? `wave ${member.wave + 1} cluster ${member.cluster}: ${memberFailure(input.error)}`;
  await deps.store.putAnalysisState(fleetControlKey(execution), { ...control, halted });
  const fleet = requireFleet(spec);
  const mates = fleet.waves[member.wave]?.clusters.filter((cluster) => cluster !== member.cluster) ?? [];
  const at = deps.now().toISOString();
  for (const cluster of mates) {
    const mate = memberExecutionName(spec.metadata.name, cluster, version, attempt);
    const record = await deps.store.getRollout(mate);
    if (record?.status === 'finished') continue;
    await deps.store.requestAbort({ execution: mate, by: 'the fleet', reason: `halted: ${halted}`, at, kind: 'abort' });
  }
  return { halted };
}

export const fleetStepInputSchema = fleetInputSchema.extend({
  execution: z.string().min(1),
  fleet: fleetStateSchema,
  action: z.enum(['advance', 'watch']),
  /** The wave's Map results (advance): whether each member promoted. */
  results: z.array(z.object({ cluster: z.string(), promoted: z.boolean(), skipped: z.boolean().optional() })).optional(),
});

/** The promoted side of a member: after promotion the primary runs the new version, so its own metrics are read against the thresholds. */
function watchedSpec(member: RolloutSpec): RolloutSpec {
  const { router } = member.spec;
  return { ...member, spec: { ...member.spec, router: { ...router, canary: router.primary } } };
}

/** Regressions of the promoted clusters now: a metric outside its threshold range (no data is not a regression). */
async function regressions(deps: HandlerDeps<FleetStore>, spec: RolloutSpec, wave: number): Promise<{ cluster: string; why: string }[]> {
  const found: { cluster: string; why: string }[] = [];
  for (const member of promotedClusters(spec, wave)) {
    const readings = await deps.readMetrics(watchedSpec(memberSpec(spec, member.cluster)));
    for (const reading of readings) {
      const range = reading.thresholdRange;
      if (reading.value === null || !range) continue;
      const low = range.min !== undefined && reading.value < range.min;
      const high = range.max !== undefined && reading.value > range.max;
      if (low || high) {
        const why = `${reading.name} ${reading.value} ${low ? `< min ${range.min}` : `> max ${range.max}`}`;
        found.push({
          cluster: member.cluster,
          why: `wave ${member.wave + 1} cluster ${member.cluster} regressed while the fleet paused: ${why}`,
        });
        break;
      }
    }
  }
  return found;
}

/**
 * Counts this watch's regressions per cluster. One reading outside a range is what a rollout's
 * threshold judge calls a failed check, not a verdict: a single slow p99 read on a loaded gateway
 * must not halt a healthy fleet, so a cluster halts it at its strategy.threshold failed watches.
 */
function countWatches(
  spec: RolloutSpec,
  fleet: FleetState,
  found: { cluster: string; why: string }[],
): { failedWatches: Record<string, number>; halt?: string; note?: string } {
  const failedWatches = { ...fleet.failedWatches };
  let note: string | undefined;
  for (const { cluster, why } of found) {
    const count = (failedWatches[cluster] ?? 0) + 1;
    failedWatches[cluster] = count;
    const threshold = memberSpec(spec, cluster).spec.strategy.threshold;
    if (count >= threshold) return { failedWatches, halt: `${why} (failed ${count}/${threshold} watches)` };
    note = `${why} (failed ${count}/${threshold} watches)`;
  }
  return { failedWatches, ...(note ? { note } : {}) };
}

/** Between waves: `advance` after a wave promoted everywhere; `watch` once per look while pausing. */
export async function fleetStep(deps: HandlerDeps<FleetStore>, input: z.infer<typeof fleetStepInputSchema>): Promise<FleetState> {
  const { spec, fleet, execution } = input;
  const control = await readFleetControl(deps.store, execution);
  const now = deps.now();
  if (input.action === 'advance') {
    const failed = (input.results ?? []).filter((result) => !result.promoted && !result.skipped);
    if (failed.length > 0 || control.halted)
      return {
        ...fleet,
        next: 'halt',
        reason: control.halted ?? `wave ${fleet.wave + 1}: ${failed.map((f) => f.cluster).join(', ')} did not promote`,
      };
    return afterWave(spec, fleet, now, control);
  }
  if (control.halted) return { ...fleet, next: 'halt', reason: control.halted };
  const watched = countWatches(spec, fleet, await regressions(deps, spec, fleet.wave));
  if (watched.halt) return { ...fleet, failedWatches: watched.failedWatches, next: 'halt', reason: watched.halt };
  if (control.promoteRest) return waveState(spec, fleet.wave + 1, control);
  if (control.paused || (fleet.pauseUntil !== undefined && now < new Date(fleet.pauseUntil))) {
    const pausing = control.paused
      ? `paused by ${control.by ?? 'someone'} after wave ${fleet.wave + 1}`
      : `baking after wave ${fleet.wave + 1}`;
    const failedWatches = Object.keys(watched.failedWatches).length > 0 ? { failedWatches: watched.failedWatches } : {};
    return { ...fleet, ...failedWatches, next: 'pause', reason: watched.note ? `${pausing}; ${watched.note}` : pausing };
  }
  return waveState(spec, fleet.wave + 1, control);
}

/** Finish gets the whole state (as Rollback does): `halt` exists only when a wave or a step failed. */
export const fleetFinishInputSchema = z.object({
  execution: z.string().min(1),
  state: fleetInputSchema.extend({
    fleet: fleetStateSchema.optional(),
    halt: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
  }),
});

/** The end: each cluster's outcome from its record, the fleet lock released. */
export async function fleetFinish(deps: StoreDeps<FleetStore>, input: z.infer<typeof fleetFinishInputSchema>): Promise<FleetSummary> {
  const { execution, state } = input;
  const { spec, version, attempt } = state;
  const records = await memberRecords(deps.store, spec, version, attempt);
  const halt = state.fleet?.next === 'halt' ? state.fleet.reason : state.halt ? haltCause(state.halt) : undefined;
  const summary = summarizeFleet(spec, version, attempt, records, halt, await revertStates(deps.store, spec, execution));
  await deps.store.releaseLock(spec.metadata.name, execution);
  return summary;
}

/** The wave's Map failed: its Cause is the failing member's (`wave N cluster C: …`, set by the fleet file's MemberFailed). */
function haltCause(error: { Error: string; Cause?: string | undefined }): string {
  return error.Cause ?? error.Error;
}

const fleetStepHandlerSchema = z.union([fleetStepInputSchema, fleetRevertInputSchema]);
type FleetStepEvent = z.infer<typeof fleetStepHandlerSchema>;
function isStepEvent(event: FleetStepEvent): event is z.infer<typeof fleetStepInputSchema> {
  return event.action === 'advance' || event.action === 'watch';
}

export function createFleetHandlers(deps: DepsSource<HandlerDeps<FleetStore>>) {
  return {
    FleetPlanFunctionArn: rolloutHandler(fleetPlanInputSchema, async (event) => fleetPlan(await deps(), event)),
    FleetMemberFunctionArn: rolloutHandler(fleetMemberInputSchema, async (event) => fleetMember(await deps(), event)),
    FleetHaltFunctionArn: rolloutHandler(fleetHaltInputSchema, async (event) => fleetHalt(await deps(), event)),
    FleetStepFunctionArn: rolloutHandler(fleetStepHandlerSchema, async (event) =>
      isStepEvent(event) ? fleetStep(await deps(), event) : fleetRevert(await deps(), event),
    ),
    FleetFinishFunctionArn: rolloutHandler(fleetFinishInputSchema, async (event) => fleetFinish(await deps(), event)),
  };
}

const aws = createFleetHandlers(awsHandlerDeps);
/** The Lambda entry points, one per state of the fleet file (one bundle; infra/sluice-orchestrator.ts FLEET_HANDLERS). */
export const plan = aws.FleetPlanFunctionArn;
export const member = aws.FleetMemberFunctionArn;
export const halt = aws.FleetHaltFunctionArn;
export const step = aws.FleetStepFunctionArn;
export const finish = aws.FleetFinishFunctionArn;
