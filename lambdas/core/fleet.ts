/**
 * A fleet release: one version across the clusters of a fleet, wave by wave
 * (statemachine/fleet.asl.json is the only orchestrator of the waves). This module is the pure
 * part: the fleet state the execution carries between waves (cluster names, never resolved
 * specs), each member's resolved spec and execution name, and the release's outcome read from the
 * members' records. Pure: no I/O here.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { durationSeconds } from './duration.ts';
import { fleetMemberDocument, memberAddress, targetOf } from './fleet-member.ts';
import { EXECUTION_NAME_MAX, executionName } from './names.ts';
import type { RolloutRecord } from './records.ts';
import { parseSpec, rolloutSpecSchema } from './spec.ts';
import type { FleetSpec, RolloutSpec } from './spec.ts';

export const fleetMemberSchema = z.object({ cluster: z.string().min(1), wave: z.number().int().min(0) });
export type FleetMember = z.infer<typeof fleetMemberSchema>;

/** What the fleet execution carries between its states (`$.fleet`): small, whatever the fleet's size. */
export const fleetStateSchema = z.object({
  /** The wave that runs next (`next: wave`), or that just ran (`next: pause`). */
  wave: z.number().int().min(0),
  /** The clusters of that wave (the Map's items). */
  members: z.array(fleetMemberSchema),
  /** The Map's MaxConcurrencyPath. */
  maxParallel: z.number().int().min(1),
  /** What the fleet's Route Choice does next. */
  next: z.enum(['wave', 'pause', 'done', 'halt']),
  /** While pausing: until when, and how long between two watches of the promoted clusters (the Wait's SecondsPath). */
  pauseUntil: z.iso.datetime().optional(),
  watchSeconds: z.number().int().min(1),
  reason: z.string().optional(),
  /** While pausing: failed watches per promoted cluster so far (halts at the cluster's strategy.threshold, as a rollout's failed checks do). */
  failedWatches: z.record(z.string(), z.number().int().min(1)).optional(),
});
export type FleetState = z.infer<typeof fleetStateSchema>;

/** The fleet execution's input: the fleet spec once, the version, who asked, and the attempt (it names the members' executions). */
export const fleetInputSchema = z.object({
  spec: rolloutSpecSchema,
  version: z.string().min(1).max(128),
  requestedBy: z.string().min(1).max(256),
  attempt: z.number().int().min(1).default(1),
});

/** Operator controls of a running fleet (kept with the fleet execution): pause between waves, or run the rest now. */
export const fleetControlSchema = z.object({
  paused: z.boolean().default(false),
  promoteRest: z.boolean().default(false),
  /** Why the fleet halts (a member failed, an operator aborted): members not yet started are skipped, pauses end. */
  halted: z.string().optional(),
  by: z.string().optional(),
  at: z.string().optional(),
});
export type FleetControl = z.infer<typeof fleetControlSchema>;

/** A running release as other processes find it (`sluice abort|pause|resume|promote <target>`): its lock names the execution. */
export const fleetReleaseSchema = z.object({
  execution: z.string().min(1),
  target: z.string().min(1),
  version: z.string().min(1),
  attempt: z.number().int().min(1),
  clusters: z.array(z.string().min(1)),
  requestedBy: z.string(),
});
export type FleetRelease = z.infer<typeof fleetReleaseSchema>;

export function requireFleet(spec: RolloutSpec): FleetSpec {
  const fleet = spec.spec.fleet;
  if (!fleet) throw new Error(`${spec.metadata.name} has no spec.fleet: run it as a single rollout (sluice run)`);
  return fleet;
}

/** The clusters still to go from wave `from` on; with `promoteRest` every remaining wave runs as one, without pauses. */
export function waveState(spec: RolloutSpec, from: number, control: FleetControl = { paused: false, promoteRest: false }): FleetState {
  const fleet = requireFleet(spec);
  const watchSeconds = durationSeconds(spec.spec.strategy.lookInterval);
  const wave = fleet.waves[from];
  if (!wave)
    return { wave: from, members: [], maxParallel: 1, next: 'done', watchSeconds, reason: `all ${fleet.waves.length} waves promoted` };
  const waves = control.promoteRest ? fleet.waves.slice(from) : [wave];
  const members = waves.flatMap((w, i) => w.clusters.map((cluster) => ({ cluster, wave: from + i })));
  // The rest at once: each wave keeps its own bound, side by side.
  const maxParallel = waves.reduce((sum, w) => sum + (w.maxParallel ?? w.clusters.length), 0);
  return { wave: from, members, maxParallel: Math.max(1, maxParallel), next: 'wave', watchSeconds };
}

/** After wave `wave` promoted everywhere: pause (watching) before the next, or run it, or done. */
export function afterWave(spec: RolloutSpec, state: FleetState, now: Date, control: FleetControl): FleetState {
  const fleet = requireFleet(spec);
  const last = Math.max(...state.members.map((m) => m.wave), state.wave);
  const pause = fleet.waves[last]?.pause ?? '0s';
  const pauseSeconds = pause === '0s' ? 0 : durationSeconds(pause);
  if (last + 1 >= fleet.waves.length) return waveState(spec, last + 1);
  if (control.promoteRest) return waveState(spec, last + 1, control);
  // An operator's pause holds the next wave even where the spec has no bake (Watch ends it on resume).
  if (pauseSeconds === 0 && !control.paused) return waveState(spec, last + 1, control);
  return {
    ...state,
    wave: last,
    next: 'pause',
    pauseUntil: new Date(now.getTime() + pauseSeconds * 1000).toISOString(),
    watchSeconds: pauseSeconds === 0 ? state.watchSeconds : Math.min(state.watchSeconds, pauseSeconds),
  };
}

/** The clusters promoted before wave `wave` ended: every cluster of waves 0..wave. */
export function promotedClusters(spec: RolloutSpec, wave: number): FleetMember[] {
  return requireFleet(spec)
    .waves.slice(0, wave + 1)
    .flatMap((w, i) => w.clusters.map((cluster) => ({ cluster, wave: i })));
}

/** One member's resolved spec (validated like any spec). */
export function memberSpec(spec: RolloutSpec, cluster: string): RolloutSpec {
  return parseSpec(fleetMemberDocument(spec, cluster), `${spec.metadata.name} on cluster ${cluster}`);
}

/**
 * The fleet execution's own name: target-version-fleet (`-aN` for a later attempt). Distinct from
 * every single rollout's target-version, so neither the store (a rollout record of that name) nor
 * the rollout state machine (an old execution of that name) can pass for the fleet that holds the lock.
 */
export function fleetExecutionName(target: string, version: string, attempt: number): string {
  const name = executionName(target, version, 1);
  const suffix = `-fleet${attempt === 1 ? '' : `-a${attempt}`}`;
  if (name.length + suffix.length <= EXECUTION_NAME_MAX) return `${name}${suffix}`;
  // Too long: cut, and a hash of the whole keeps two long versions apart (as executionName does).
  const hash = `-${createHash('sha256').update(`${target}\u0000${version}`).digest('hex').slice(0, 8)}`;
  return `${name.slice(0, EXECUTION_NAME_MAX - suffix.length - hash.length)}${hash}${suffix}`;
}

/** The member's execution name: target-cluster-version (attempt of the fleet), within 80 characters (names.ts). */
export function memberExecutionName(target: string, cluster: string, version: string, attempt: number): string {
  return executionName(memberAddress(targetOf(target), cluster), version, attempt);
}

/** The execution that rolls a promoted member back to the version before (spec.fleet.onHalt.promotedWaves: rollout): target-cluster-version-revert. */
export function revertExecutionName(target: string, cluster: string, version: string, attempt: number): string {
  return memberExecutionName(target, cluster, `${version}-revert`, attempt);
}

/**
 * `promotion-failed`: the primary's template copy failed and all traffic is held on the canary (the
 * new version); `failed`: Sluice stopped without a safe side of its own (someone else took the traffic over).
 */
export type ClusterOutcome = 'promoted' | 'rolled-back' | 'aborted' | 'not-started' | 'reverted' | 'promotion-failed' | 'failed';

/** How a halted fleet rolled a promoted cluster back (spec.fleet.onHalt.promotedWaves), and how that went. */
export const revertStateSchema = z.object({
  how: z.enum(['rollout', 'restore']),
  /** `running`: a judged rollout of the version before is under way; `failed`: the cluster still runs the new version. */
  outcome: z.enum(['reverted', 'failed', 'running']),
  /** The version the cluster went back to (judged rollouts roll it out as their version). */
  to: z.string().optional(),
  execution: z.string().optional(),
  reason: z.string().optional(),
});
export type RevertState = z.infer<typeof revertStateSchema>;

export interface FleetClusterSummary {
  cluster: string;
  /** 1-based, as people count waves. */
  wave: number;
  outcome: ClusterOutcome;
  execution: string;
  reason?: string;
  /** A promoted cluster the halted fleet rolled back (or tried to): `reverted` when it went back. */
  revert?: RevertState;
}

export interface FleetSummary {
  outcome: 'promoted' | 'halted';
  reason: string;
  clusters: FleetClusterSummary[];
}

/**
 * The fleet's truthful end state, from each member's record: promoted, rolled back (the judge
 * or a fault put it back), aborted (a person, or the fleet stopping it mid-wave), not started, or
 * reverted (promoted, then rolled back because the fleet halted; `revert` says how). A record still
 * running belongs to a member the fleet stopped: its safety net is moving it to its safe side, so it
 * counts as aborted. A revert that failed leaves the cluster `promoted`, its `revert` saying why.
 */
export function summarizeFleet(
  spec: RolloutSpec,
  version: string,
  attempt: number,
  records: ReadonlyMap<string, RolloutRecord | null>,
  halt?: string,
  reverts: ReadonlyMap<string, RevertState> = new Map(),
): FleetSummary {
  const fleet = requireFleet(spec);
  const clusters = fleet.waves.flatMap((wave, w) =>
    wave.clusters.map((cluster): FleetClusterSummary => {
      const execution = memberExecutionName(spec.metadata.name, cluster, version, attempt);
      const record = records.get(execution) ?? null;
      const outcome: ClusterOutcome = !record
        ? 'not-started'
        : record.status === 'running'
          ? 'aborted'
          : record.outcome === 'promoted'
            ? 'promoted'
            : record.outcome === 'aborted' || record.outcome === 'refused'
              ? 'aborted'
              : record.outcome === 'promotion-failed' || record.outcome === 'failed'
                ? record.outcome
                : 'rolled-back';
      const revert = outcome === 'promoted' ? reverts.get(cluster) : undefined;
      return {
        cluster,
        wave: w + 1,
        outcome: revert?.outcome === 'reverted' ? 'reverted' : outcome,
        execution,
        ...(record?.reason ? { reason: record.reason } : {}),
        ...(revert ? { revert } : {}),
      };
    }),
  );
  if (clusters.every((c) => c.outcome === 'promoted'))
    return { outcome: 'promoted', reason: `${spec.metadata.name} ${version} promoted on all ${clusters.length} clusters`, clusters };
  const reverted = clusters.filter((c) => c.revert);
  const revertNote = reverted.length
    ? `; promoted clusters rolled back: ${reverted.map((c) => `${c.cluster} ${c.revert?.outcome === 'reverted' ? `reverted (${c.revert.how})` : `${c.revert?.outcome} (${c.revert?.how})`}`).join(', ')}`
    : '';
  // The member that went bad names the halt; a regression while pausing (no member failed) names itself.
  const bad =
    clusters.find((c) => c.outcome === 'rolled-back' || c.outcome === 'promotion-failed' || c.outcome === 'failed') ??
    clusters.find((c) => c.outcome === 'aborted');
  // An operator's abort is the reason even though members ended aborted because of it.
  if (bad && !halt?.startsWith('aborted by '))
    return {
      outcome: 'halted',
      reason: `halted at wave ${bad.wave} cluster ${bad.cluster}: ${bad.outcome}${bad.reason ? ` (${bad.reason})` : ''}${revertNote}`,
      clusters,
    };
  return { outcome: 'halted', reason: `halted: ${halt ?? 'the fleet stopped'}${revertNote}`, clusters };
}
