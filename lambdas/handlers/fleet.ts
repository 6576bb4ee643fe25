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
  revertExecutionName,
  revertStateSchema,
  requireFleet,
  summarizeFleet,
  waveState,
} from '../core/fleet.ts';
import type { FleetControl, FleetMember, FleetRelease, FleetState, FleetSummary, RevertState } from '../core/fleet.ts';
import { lockExpiresAt } from '../core/recovery.ts';
import { memberAddress } from '../core/fleet-member.ts';
import type { RolloutRecord } from '../core/records.ts';
import type { RolloutSpec } from '../core/spec.ts';
import type { ExecutionInput } from '../core/task.ts';
import type { AbortFlags, AnalysisStates, RolloutRecords, TargetLocks } from '../core/ports.ts';
import type { DepsSource, HandlerDeps, StoreDeps } from '../app/deps.ts';
import { rolloutHandler } from '../app/middleware.ts';
import { awsHandlerDeps } from '../wiring/aws.ts';

type FleetStore = TargetLocks & RolloutRecords & AnalysisStates & AbortFlags;

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

/** What ended a member, from the .sync task's error (its Cause is the member's DescribeExecution answer). */
function memberFailure(error: { Error: string; Cause?: string | undefined }): string {
  try {
    const described = JSON.parse(error.Cause ?? '') as { Status?: string; Error?: string; Cause?: string };
    if (described.Status)
      return `${described.Status.toLowerCase()}${described.Error ? ` ${described.Error}` : ''}${described.Cause ? `: ${described.Cause}` : ''}`;
  } catch {
    // Not a member's description: the task itself failed (a StartExecution error, a timeout).
  }
  return `${error.Error}${error.Cause ? `: ${error.Cause}` : ''}`;
}

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

/** Member records of this release, by execution name. */
export async function memberRecords(
  store: RolloutRecords,
  spec: RolloutSpec,
  version: string,
  attempt: number,
): Promise<Map<string, RolloutRecord | null>> {
  const records = new Map<string, RolloutRecord | null>();
  for (const cluster of requireFleet(spec).clusters) {
    const name = memberExecutionName(spec.metadata.name, cluster.name, version, attempt);
    records.set(name, await store.getRollout(name));
  }
  return records;
}

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

/*
 * Rolling promoted clusters back when the fleet halts (spec.fleet.onHalt.promotedWaves): before a
 * wave starts, each member's primary pod template is kept (KeepTemplates); after a halt, each
 * cluster this release promoted gets that template back, either through a judged rollout of the
 * version before (the template on the canary, then the rollout state machine as for any release:
 * RunRevert) or by a fast restore onto the primary without analysis. All Kubernetes work runs in
 * the step Lambda (the one fleet Lambda with cluster access).
 */

const podTemplateSchema = z.object({ annotations: z.record(z.string(), z.string()), spec: z.record(z.string(), z.unknown()) });
const keptTemplateSchema = z.object({ version: z.string().min(1), template: podTemplateSchema });
type KeptTemplate = z.infer<typeof keptTemplateSchema>;

/** A member's primary template before this release promoted it (and the version it ran). */
export function keptTemplateKey(fleetExecution: string, cluster: string): string {
  return `fleet-before:${fleetExecution}:${cluster}`;
}

/** How a promoted cluster's revert went (RevertState). */
export function revertStateKey(fleetExecution: string, cluster: string): string {
  return `fleet-revert:${fleetExecution}:${cluster}`;
}

async function readKept(store: AnalysisStates, fleetExecution: string, cluster: string): Promise<KeptTemplate | null> {
  const parsed = keptTemplateSchema.safeParse(await store.getAnalysisState(keptTemplateKey(fleetExecution, cluster)));
  return parsed.success ? parsed.data : null;
}

/** The version a cluster ran before: its latest promoted rollout other than this release's. */
async function versionBefore(store: RolloutRecords, address: string, thisRelease: string, version: string): Promise<string> {
  const earlier = (await store.listRollouts(address, 20)).find((r) => r.outcome === 'promoted' && r.execution !== thisRelease);
  return earlier?.version ?? `before-${version}`;
}

/**
 * One revert's progress through the fleet file's readiness loop (RevertReady? → WaitRevertReady →
 * CheckRevert): the Deployment written is awaited by states, never inside a Lambda.
 */
export const revertChildSchema = z.object({
  ready: z.boolean(),
  /** After the loop: a judged rollback runs as a nested execution (RunRevert). */
  run: z.boolean(),
  side: z.enum(['primary', 'canary']),
  readyBy: z.iso.datetime(),
  name: z.string().min(1),
  to: z.string().min(1),
  input: z.object({ spec: z.unknown(), version: z.string(), requestedBy: z.string() }).optional(),
});
export type RevertChild = z.infer<typeof revertChildSchema>;

/** How long a written Deployment may take to become ready before the revert counts as failed. */
const REVERT_READY_SECONDS = 600;

const revertBaseSchema = fleetInputSchema.extend({ execution: z.string().min(1) });

export const fleetRevertInputSchema = z.discriminatedUnion('action', [
  /** Before a wave: keep each member's primary template (only when promoted waves may be rolled back). */
  revertBaseSchema.extend({ action: z.literal('keep-templates'), members: z.array(fleetMemberSchema) }),
  /** After a halt: which promoted clusters to roll back, and how. */
  revertBaseSchema.extend({ action: z.literal('revert-plan') }),
  /** One promoted cluster: restore it now, or prepare its judged rollout of the version before. */
  revertBaseSchema.extend({ action: z.literal('revert-member'), how: z.enum(['rollout', 'restore']), member: fleetMemberSchema }),
  /** The readiness loop: the Deployment written is ready, or not yet (or never: past readyBy). */
  revertBaseSchema.extend({
    action: z.literal('revert-ready'),
    how: z.enum(['rollout', 'restore']),
    member: fleetMemberSchema,
    child: revertChildSchema,
  }),
  /** A revert that did not finish: recorded so the summary says so. */
  revertBaseSchema.extend({
    action: z.literal('revert-failed'),
    how: z.enum(['rollout', 'restore']),
    member: fleetMemberSchema,
    error: z.object({ Error: z.string(), Cause: z.string().optional() }),
  }),
]);
type FleetRevertInput = z.infer<typeof fleetRevertInputSchema>;

export interface RevertPlan {
  run: boolean;
  how: 'rollout' | 'restore' | 'keep';
  members: FleetMember[];
  maxParallel: number;
}

async function keepTemplates(deps: HandlerDeps<FleetStore>, input: Extract<FleetRevertInput, { action: 'keep-templates' }>) {
  const { spec, version, attempt, execution } = input;
  if (requireFleet(spec).onHalt.promotedWaves === 'keep') return { kept: 0 };
  let kept = 0;
  for (const { cluster } of input.members) {
    // Once: a retried KeepTemplates never replaces the template kept before the member ran.
    if (await readKept(deps.store, execution, cluster)) continue;
    const member = memberSpec(spec, cluster);
    const workload = await deps.workloadFor(member);
    if (!workload) continue;
    const memberName = memberExecutionName(spec.metadata.name, cluster, version, attempt);
    const before: KeptTemplate = {
      version: await versionBefore(deps.store, member.metadata.name, memberName, version),
      template: await workload.podTemplate('primary'),
    };
    await deps.store.putAnalysisState(keptTemplateKey(execution, cluster), before);
    kept++;
  }
  return { kept };
}

async function revertPlan(deps: HandlerDeps<FleetStore>, input: Extract<FleetRevertInput, { action: 'revert-plan' }>): Promise<RevertPlan> {
  const { spec, version, attempt, execution } = input;
  const how = requireFleet(spec).onHalt.promotedWaves;
  if (how === 'keep') return { run: false, how, members: [], maxParallel: 1 };
  const records = await memberRecords(deps.store, spec, version, attempt);
  const members: FleetMember[] = [];
  for (const [w, wave] of requireFleet(spec).waves.entries())
    for (const cluster of wave.clusters) {
      const record = records.get(memberExecutionName(spec.metadata.name, cluster, version, attempt));
      if (record?.outcome === 'promoted' && (await readKept(deps.store, execution, cluster))) members.push({ cluster, wave: w });
    }
  // Every promoted cluster at once: a halted release is rolled back as fast as it can be.
  return { run: members.length > 0, how, members, maxParallel: Math.max(1, members.length) };
}

async function revertMember(
  deps: HandlerDeps<FleetStore>,
  input: Extract<FleetRevertInput, { action: 'revert-member' }>,
): Promise<RevertChild> {
  const { spec, version, attempt, execution, member, how } = input;
  const kept = await readKept(deps.store, execution, member.cluster);
  if (!kept) throw new Error(`cluster ${member.cluster}: no pod template was kept before it was promoted`);
  const resolved = memberSpec(spec, member.cluster);
  const workload = await deps.workloadFor(resolved);
  if (!workload) throw new Error(`cluster ${member.cluster}: rolling back needs spec.workload`);
  const name = revertExecutionName(spec.metadata.name, member.cluster, version, attempt);
  const readyBy = new Date(deps.now().getTime() + REVERT_READY_SECONDS * 1000).toISOString();
  if (how === 'restore') {
    // The cluster's own lock while its primary is rewritten (released when ready, or by RevertFailed).
    const address = resolved.metadata.name;
    const lock = await deps.store.acquireLock(address, name, lockExpiresAt(deps.now()));
    if (!lock.acquired && lock.holder.owner !== name)
      throw new RefusedError(`cluster ${member.cluster} is locked by ${lock.holder.owner}: its primary was left on ${version}`);
    // All traffic is on the primary after a promotion: putting its kept template back is the whole restore.
    await workload.setPodTemplate('primary', kept.template);
    return { ready: false, run: false, side: 'primary', readyBy, name, to: kept.version };
  }
  // Judged: the version before goes on the canary, and the rollout state machine judges it like any release.
  await workload.setPodTemplate('canary', kept.template);
  await workload.scale('canary', await workload.servingReplicas('primary'));
  return { ready: false, run: false, side: 'canary', readyBy, name, to: kept.version };
}

async function revertReady(
  deps: HandlerDeps<FleetStore>,
  input: Extract<FleetRevertInput, { action: 'revert-ready' }>,
): Promise<RevertChild> {
  const { spec, execution, member, how, child, requestedBy } = input;
  const resolved = memberSpec(spec, member.cluster);
  const workload = await deps.workloadFor(resolved);
  if (!workload) throw new Error(`cluster ${member.cluster}: rolling back needs spec.workload`);
  if (!(await workload.isReady(child.side))) {
    if (deps.now() > new Date(child.readyBy))
      throw new Error(`the ${child.side} Deployment of ${resolved.metadata.name} was not ready by ${child.readyBy}`);
    return child;
  }
  const record = (state: RevertState) => deps.store.putAnalysisState(revertStateKey(execution, member.cluster), state);
  if (how === 'restore') {
    await record({ how, outcome: 'reverted', to: child.to, reason: `primary restored to ${child.to} without analysis` });
    await deps.store.releaseLock(resolved.metadata.name, child.name);
    return { ...child, ready: true, run: false };
  }
  await record({ how, outcome: 'running', to: child.to, execution: child.name });
  return {
    ...child,
    ready: true,
    run: true,
    input: { spec: resolved, version: child.to, requestedBy: `${requestedBy} (fleet rollback)` },
  };
}

async function revertFailed(deps: HandlerDeps<FleetStore>, input: Extract<FleetRevertInput, { action: 'revert-failed' }>) {
  const { spec, version, attempt, execution, member, how } = input;
  // A restore that took the cluster's lock gives it back (a judged rollback's own execution frees its lock).
  if (how === 'restore')
    await deps.store.releaseLock(
      memberAddress(spec.metadata.name, member.cluster),
      revertExecutionName(spec.metadata.name, member.cluster, version, attempt),
    );
  const state = revertStateSchema.safeParse(await deps.store.getAnalysisState(revertStateKey(execution, member.cluster)));
  const reason = `${how === 'rollout' ? 'the judged rollback did not promote' : 'the restore failed'}: ${memberFailure(input.error)}`;
  await deps.store.putAnalysisState(revertStateKey(execution, member.cluster), {
    ...(state.success ? state.data : {}),
    how,
    outcome: 'failed',
    reason,
  });
  return { recorded: true };
}

/** The reverts of a release, by cluster; a judged one reads its rollout's record (running, promoted = reverted, else failed). */
export async function revertStates(
  store: AnalysisStates & RolloutRecords,
  spec: RolloutSpec,
  fleetExecution: string,
): Promise<Map<string, RevertState>> {
  const states = new Map<string, RevertState>();
  for (const cluster of requireFleet(spec).clusters) {
    const parsed = revertStateSchema.safeParse(await store.getAnalysisState(revertStateKey(fleetExecution, cluster.name)));
    if (!parsed.success) continue;
    const state = parsed.data;
    if (state.how === 'rollout' && state.outcome === 'running' && state.execution) {
      const child = await store.getRollout(state.execution);
      if (child?.status === 'finished')
        states.set(
          cluster.name,
          child.outcome === 'promoted'
            ? { ...state, outcome: 'reverted', reason: `rolled back to ${state.to ?? child.version} by a judged rollout` }
            : {
                ...state,
                outcome: 'failed',
                reason: `the judged rollback ended ${child.outcome ?? 'unfinished'}${child.reason ? `: ${child.reason}` : ''}`,
              },
        );
      else states.set(cluster.name, state);
    } else states.set(cluster.name, state);
  }
  return states;
}

/** The step Lambda's other actions: the revert machinery (it is the fleet Lambda with cluster access). */
export async function fleetRevert(deps: HandlerDeps<FleetStore>, input: FleetRevertInput) {
  switch (input.action) {
    case 'keep-templates':
      return keepTemplates(deps, input);
    case 'revert-plan':
      return revertPlan(deps, input);
    case 'revert-member':
      return revertMember(deps, input);
    case 'revert-ready':
      return revertReady(deps, input);
    case 'revert-failed':
      return revertFailed(deps, input);
    default: {
      const never: never = input;
      throw new Error(`unknown fleet revert action ${JSON.stringify(never)}`);
    }
  }
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
