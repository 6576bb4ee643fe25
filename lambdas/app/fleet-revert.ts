/**
 * Rolling promoted clusters back when a fleet halts (spec.fleet.onHalt.promotedWaves), for the fleet
 * file's KeepTemplates, PlanRevert and RevertPromoted states (run by the fleet's step Lambda), and the
 * release's member records Finish and `sluice run` read.
 */
import * as z from 'zod';
import { RefusedError } from '../core/errors.ts';
import {
  fleetInputSchema,
  fleetMemberSchema,
  memberExecutionName,
  memberSpec,
  requireFleet,
  revertExecutionName,
  revertStateSchema,
} from '../core/fleet.ts';
import type { FleetMember, RevertState } from '../core/fleet.ts';
import { memberAddress } from '../core/fleet-member.ts';
import { lockExpiresAt } from '../core/recovery.ts';
import type { RolloutRecord } from '../core/records.ts';
import type { RolloutSpec } from '../core/spec.ts';
import type { AbortFlags, AnalysisStates, RolloutRecords, TargetLocks } from '../core/ports.ts';
import type { HandlerDeps } from './deps.ts';

/** The store ports the fleet's steps use. */
export type FleetStore = TargetLocks & RolloutRecords & AnalysisStates & AbortFlags;

/** What ended a member, from the .sync task's error (its Cause is the member's DescribeExecution answer). */
export function memberFailure(error: { Error: string; Cause?: string | undefined }): string {
  try {
    const described = JSON.parse(error.Cause ?? '') as { Status?: string; Error?: string; Cause?: string };
    if (described.Status)
      return `${described.Status.toLowerCase()}${described.Error ? ` ${described.Error}` : ''}${described.Cause ? `: ${described.Cause}` : ''}`;
  } catch {
    // Not a member's description: the task itself failed (a StartExecution error, a timeout).
  }
  return `${error.Error}${error.Cause ? `: ${error.Cause}` : ''}`;
}

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
