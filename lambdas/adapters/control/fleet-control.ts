/**
 * Operator controls of a running fleet release from outside its execution (chat-ops on AWS, or
 * any process with the store): pause between waves, resume, promote the rest, abort. The fleet's
 * own states read them: its member step skips members once the fleet is halted, the watch between
 * waves keeps pausing while paused and runs every remaining wave at once after promote-the-rest
 * (statemachine/fleet.asl.json, lambdas/handlers/fleet.ts). They are kept under the fleet
 * execution beside the judges' memory, the same key the fleet's Lambdas read.
 *
 * Abort is the gentle stop, as `sluice abort` is for one rollout: the fleet halts (no member
 * starts any more, a pause ends at its next look) and every member of this release still rolling
 * is aborted through abortRollout (a bake interrupted at once, else the flag at its next task), so
 * each rolls back through its own Rollback state, never stopped in the middle of a weight write.
 * Promoted clusters stay promoted.
 */
import type { SFNClient } from '@aws-sdk/client-sfn';
import {
  fleetControlSchema,
  fleetExecutionName,
  fleetReleaseSchema,
  memberExecutionName,
  requireFleet,
  revertExecutionName,
} from '../../core/fleet.ts';
import type { FleetControl } from '../../core/fleet.ts';
import { memberAddress } from '../../core/fleet-member.ts';
import type { AbortFlags, AnalysisStates, RolloutRecords, TargetLocks, TaskTokens } from '../../core/ports.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import { abortRollout } from './interrupt.ts';

/** Attempts a release name may stand for (the start path's bound). */
const MAX_ATTEMPTS = 100;

/** The key of a fleet's controls: the one lambdas/handlers/fleet.ts (fleetControlKey) reads. */
export function fleetControlKeyOf(fleetExecution: string): string {
  return `fleet:${fleetExecution}`;
}

export async function readFleetControlOf(store: AnalysisStates, fleetExecution: string): Promise<FleetControl> {
  const parsed = fleetControlSchema.safeParse((await store.getAnalysisState(fleetControlKeyOf(fleetExecution))) ?? {});
  return parsed.success ? parsed.data : { paused: false, promoteRest: false };
}

/** The key of the release's description its Plan writes: the one lambdas/handlers/fleet.ts (fleetReleaseKey) writes. */
export function fleetReleaseKeyOf(fleetExecution: string): string {
  return `fleet-release:${fleetExecution}`;
}

/** A fleet release: the fleet execution's name, and the version and attempt that name its members. */
export interface FleetReleaseRef {
  target: string;
  execution: string;
  version: string;
  attempt: number;
}

/** The attempt whose fleet execution is `fleetExecution` (names of long versions are hashed: computed, never parsed). */
export function fleetAttempt(target: string, version: string, fleetExecution: string): number | undefined {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++)
    if (fleetExecutionName(target, version, attempt) === fleetExecution) return attempt;
  return undefined;
}

/** The release a member's execution belongs to (`web-eu-1-v2-a2` of `web@eu-1` -> `web-v2-a2`), if any. */
export function releaseOfMember(target: string, cluster: string, version: string, memberExecution: string): FleetReleaseRef | undefined {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++)
    if (memberExecutionName(target, cluster, version, attempt) === memberExecution)
      return { target, execution: fleetExecutionName(target, version, attempt), version, attempt };
  return undefined;
}

/**
 * The release `fleetExecution`: as its Plan described it, else from its members' records (the
 * latest rollout of each cluster); undefined when neither knows it.
 */
export async function findFleetRelease(
  store: RolloutRecords & AnalysisStates,
  spec: RolloutSpec,
  fleetExecution: string,
): Promise<(FleetReleaseRef & { requestedBy: string; startedAt?: string }) | undefined> {
  const target = spec.metadata.name;
  const described = fleetReleaseSchema.safeParse(await store.getAnalysisState(fleetReleaseKeyOf(fleetExecution)));
  if (described.success && described.data.execution === fleetExecution && described.data.target === target) {
    const { execution, version, attempt, requestedBy } = described.data;
    return { target, execution, version, attempt, requestedBy };
  }
  for (const cluster of requireFleet(spec).clusters) {
    const [latest] = await store.listRollouts(memberAddress(target, cluster.name), 1);
    if (!latest) continue;
    const release = releaseOfMember(target, cluster.name, latest.version, latest.execution);
    if (release?.execution === fleetExecution) return { ...release, requestedBy: latest.requestedBy, startedAt: latest.startedAt };
  }
  return undefined;
}

export type FleetCommand = 'pause' | 'resume' | 'promote-rest';

/** Pause between waves, resume, or run every remaining wave now: written where the fleet's states read it. */
export async function controlFleetRelease(
  store: AnalysisStates,
  fleetExecution: string,
  command: FleetCommand,
  by: string,
  now: Date,
): Promise<FleetControl> {
  const control = await readFleetControlOf(store, fleetExecution);
  const next: FleetControl =
    command === 'pause'
      ? { ...control, paused: true }
      : command === 'resume'
        ? { ...control, paused: false }
        : { ...control, paused: false, promoteRest: true };
  const written = { ...next, by, at: now.toISOString() };
  await store.putAnalysisState(fleetControlKeyOf(fleetExecution), written);
  return written;
}

export interface FleetAbortRequest {
  store: AnalysisStates & TargetLocks & TaskTokens & AbortFlags & RolloutRecords;
  sfn: Pick<SFNClient, 'send'>;
  spec: RolloutSpec;
  fleetExecution: string;
  by: string;
  reason: string;
  now: Date;
}

/** Halts the release and aborts each of its members still rolling; returns the clusters asked to roll back. */
export async function abortFleetRelease(request: FleetAbortRequest): Promise<{ aborted: string[] }> {
  const { store, spec, fleetExecution, by, reason, now } = request;
  const target = spec.metadata.name;
  const control = await readFleetControlOf(store, fleetExecution);
  await store.putAnalysisState(fleetControlKeyOf(fleetExecution), {
    ...control,
    halted: control.halted ?? `aborted by ${by}: ${reason}`,
    by,
    at: now.toISOString(),
  });
  const aborted: string[] = [];
  const release = await findFleetRelease(store, spec, fleetExecution);
  if (!release) return { aborted };
  for (const cluster of requireFleet(spec).clusters) {
    const address = memberAddress(target, cluster.name);
    const lock = await store.getLock(address);
    // Only this release's members (its rollouts and their reverts): another rollout of the address is not the fleet's to abort.
    const ours = [
      memberExecutionName(target, cluster.name, release.version, release.attempt),
      revertExecutionName(target, cluster.name, release.version, release.attempt),
    ];
    if (!lock || !ours.includes(lock.owner)) continue;
    const result = await abortRollout({ store, sfn: request.sfn, target: address, by, reason: `fleet aborted: ${reason}`, now });
    if (result.ok) aborted.push(cluster.name);
  }
  return { aborted };
}
