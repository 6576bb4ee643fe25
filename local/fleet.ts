/**
 * Fleet releases in the local engine: statemachine/fleet.asl.json, unchanged, in a second local
 * engine whose `startExecution.sync:2` tasks run statemachine/rollout.asl.json in the rollout
 * engine of the local runtime, exactly as nested executions run in Step Functions. Members reach
 * their clusters through the runtime's kubeconfig source (each member's spec names its context).
 */
import { fleetExecutionName, memberExecutionName, requireFleet, revertExecutionName, summarizeFleet } from '../lambdas/core/fleet.ts';
import type { FleetControl, FleetRelease } from '../lambdas/core/fleet.ts';
import type { AbortFlags, AnalysisStates, TargetLocks, TaskTokens } from '../lambdas/core/ports.ts';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { memberAddress } from '../lambdas/core/fleet-member.ts';
import { abortRollout } from '../lambdas/adapters/control/interrupt.ts';
import type { FleetClusterSummary } from '../lambdas/core/fleet.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import { memberRecords, revertStates } from '../lambdas/app/fleet-revert.ts';
import { createFleetHandlers, fleetControlKey, readFleetControl, readFleetRelease } from '../lambdas/handlers/fleet.ts';
import { LocalEngine } from './engine/engine.ts';
import { startSfnEndpoint } from './engine/sfn-endpoint.ts';
import { registerEngine } from './recovery.ts';
import { EXIT } from './exit-codes.ts';
import { startLocalRuntime } from './runtime.ts';
import type { LocalRuntime, LocalRuntimeOptions } from './runtime.ts';

export interface LocalFleetRuntime extends LocalRuntime {
  fleetEngine: LocalEngine;
}

export interface FleetRuntimeOptions extends LocalRuntimeOptions {
  /** Shorter Wait states of the fleet file (its Pause), in ms per state (tests, the demo). */
  fleetWaitTimeOverrides?: Record<string, number>;
}

/** The local runtime plus the fleet engine that nests the runtime's rollout engine. */
export async function startLocalFleetRuntime(options: FleetRuntimeOptions = {}): Promise<LocalFleetRuntime> {
  const runtime = await startLocalRuntime(options);
  const deps = runtime.deps;
  const fleetEngine = await LocalEngine.create({
    definitionPath: 'statemachine/fleet.asl.json',
    stateMachineName: 'sluice-fleet',
    handlers: createFleetHandlers(async () => deps),
    nestedMachines: { RolloutStateMachineArn: runtime.engine },
    // A stopped fleet moves no traffic itself (its running members are stopped with it, each restored
    // by its own safety net); what is the fleet's own to give back is the target's lock.
    onExecutionStopped: async (stopped) => {
      const input = stopped.input as { spec?: { metadata?: { name?: string } } } | null;
      const target = input?.spec?.metadata?.name;
      if (target) await deps.store.releaseLock(target, stopped.name);
    },
    safetyNetStatuses: ['ABORTED', 'FAILED', 'TIMED_OUT'],
    ...(options.retryIntervalOverrides ? { retryIntervalOverrides: options.retryIntervalOverrides } : {}),
    ...(options.fleetWaitTimeOverrides ? { waitTimeOverrides: options.fleetWaitTimeOverrides } : {}),
  });
  // Registered like the rollout engine: the reconciler asks it whether the owner of the target's
  // fleet lock (the fleet execution, never a rollout record) still runs, and so leaves that lock alone.
  const endpoint = await startSfnEndpoint(fleetEngine);
  const unregister = registerEngine(runtime.dir, {
    pid: process.pid,
    url: endpoint.url,
    stateMachineArn: fleetEngine.stateMachineArn,
    startedAt: new Date().toISOString(),
  });
  return {
    ...runtime,
    fleetEngine,
    close: async () => {
      unregister();
      await endpoint.close();
      await fleetEngine.close();
      await runtime.close();
    },
  };
}

export interface FleetRunSummary {
  execution: string;
  target: string;
  version: string;
  /** `promoted`: every cluster promoted; `halted`: the fleet stopped (exit 3); `refused`: nothing started (exit 2). */
  outcome: 'promoted' | 'halted' | 'refused';
  reason: string;
  exitCode: number;
  clusters: FleetClusterSummary[];
}

export interface StartedFleet {
  executionArn: string;
  name: string;
  attempt: number;
  version: string;
  done: Promise<FleetRunSummary>;
}

/** Starts one fleet release; `done` resolves once it and every member (with its safety net) have ended. */
export function startFleet(
  runtime: LocalFleetRuntime,
  spec: RolloutSpec,
  options: { version: string; requestedBy?: string },
): StartedFleet {
  const fleet = requireFleet(spec);
  const { fleetEngine, engine } = runtime;
  const target = spec.metadata.name;
  const { version } = options;
  let attempt = 1;
  const exists = (name: string) => fleetEngine.listExecutions({ maxResults: 1000 }).executions.some((e) => e.name === name);
  while (exists(fleetExecutionName(target, version, attempt))) attempt += 1;
  const name = fleetExecutionName(target, version, attempt);
  const requestedBy = options.requestedBy ?? `${process.env.USER ?? 'someone'}@local`;
  const { executionArn } = fleetEngine.startExecution({ name, input: { spec, version, requestedBy, attempt } });
  const done = (async (): Promise<FleetRunSummary> => {
    const ended = await fleetEngine.waitForExecution(executionArn);
    // Members stopped with the fleet end (and their safety nets run) after it: wait for each.
    const memberNames = fleet.clusters.flatMap((c) => [
      memberExecutionName(target, c.name, version, attempt),
      revertExecutionName(target, c.name, version, attempt),
    ]);
    for (const member of memberNames) {
      const arn = engine.executionArn(member);
      if (engine.listExecutions({ maxResults: 1000 }).executions.some((e) => e.executionArn === arn)) await engine.waitForExecution(arn);
    }
    if (ended.error === 'Sluice.Refused')
      return {
        execution: name,
        target,
        version,
        outcome: 'refused',
        reason: ended.cause ?? 'refused',
        exitCode: EXIT.invalid,
        clusters: [],
      };
    const records = await memberRecords(runtime.deps.store, spec, version, attempt);
    // Read again once every member has ended (a member stopped with the fleet is restored after it): the same rule as Finish.
    const control = await readFleetControl(runtime.deps.store, name);
    const halt =
      control.halted ?? (ended.status === 'ABORTED' ? `the fleet execution was stopped (${ended.cause ?? 'StopExecution'})` : undefined);
    const summary = summarizeFleet(spec, version, attempt, records, halt, await revertStates(runtime.deps.store, spec, name));
    // Finish's reason is the fleet execution's cause: it alone knows a halt the fleet decided itself
    // (a promoted cluster regressed during a bake), which leaves no member record or control behind.
    const reason = ended.error === 'Sluice.FleetHalted' && ended.cause ? ended.cause : summary.reason;
    return { execution: name, target, version, ...summary, reason, exitCode: summary.outcome === 'promoted' ? EXIT.ok : EXIT.rolledBack };
  })();
  return { executionArn, name, attempt, version, done };
}

export type FleetVerb = 'pause' | 'resume' | 'promote-rest';

/** What the fleet's commands need: the store every process shares and the rollout engine (its members' task tokens). */
export interface FleetControlPlane {
  store: AnalysisStates & TargetLocks & TaskTokens & AbortFlags;
  sfn: Pick<SFNClient, 'send'>;
}

/** The release a target's lock belongs to, when that lock is a running fleet's (null: no fleet runs for it). */
export async function runningFleet(store: AnalysisStates & TargetLocks, target: string): Promise<FleetRelease | null> {
  const lock = await store.getLock(target);
  if (!lock) return null;
  const release = await readFleetRelease(store, lock.owner);
  return release?.execution === lock.owner ? release : null;
}

/**
 * Pause between waves (the running wave finishes; the next waits, its promoted clusters watched),
 * resume (the spec's own bake still applies), or promote the rest now: the waves left run as one,
 * with no more pauses, each cluster still canaried and judged. Kept with the fleet execution.
 */
export async function setFleetControl(
  store: AnalysisStates,
  fleetExecution: string,
  command: FleetVerb,
  by: string,
): Promise<FleetControl> {
  const control = await readFleetControl(store, fleetExecution);
  const next: FleetControl =
    command === 'pause'
      ? { ...control, paused: true }
      : command === 'resume'
        ? { ...control, paused: false }
        : { ...control, paused: false, promoteRest: true };
  const written = { ...next, by, at: new Date().toISOString() };
  await store.putAnalysisState(fleetControlKey(fleetExecution), written);
  return written;
}

/** Pause between waves, resume, or run every remaining wave now (no more pauses): kept with the fleet execution. */
export async function controlFleet(runtime: LocalFleetRuntime, fleetExecution: string, command: FleetVerb, by: string): Promise<void> {
  await setFleetControl(runtime.deps.store, fleetExecution, command, by);
}

export interface FleetAbortResult {
  execution: string;
  /** Each cluster of this release that was rolling: its abort requested (interrupted: its bake was woken at once). */
  aborted: Array<{ cluster: string; execution: string; interruptedBake: boolean }>;
}

/**
 * Abort a running release from any process: the fleet halts (no member starts any more, a pause
 * ends at its next look), and every running member of it is aborted the way `sluice abort` does it
 * (a bake woken at once, else the flag at its next task): each rolls back through its own Rollback
 * state. Promoted clusters stay promoted unless spec.fleet.onHalt says otherwise.
 */
export async function abortFleetRelease(
  plane: FleetControlPlane,
  release: FleetRelease,
  by: string,
  reason: string,
): Promise<FleetAbortResult> {
  const { store, sfn } = plane;
  const control = await readFleetControl(store, release.execution);
  await store.putAnalysisState(fleetControlKey(release.execution), {
    ...control,
    halted: control.halted ?? `aborted by ${by}: ${reason}`,
    by,
    at: new Date().toISOString(),
  });
  const aborted: FleetAbortResult['aborted'] = [];
  for (const cluster of release.clusters) {
    const target = memberAddress(release.target, cluster);
    const lock = await store.getLock(target);
    // Only this release's members (its rollouts and its reverts): another rollout of the address is not the fleet's to abort.
    const ours = [
      memberExecutionName(release.target, cluster, release.version, release.attempt),
      revertExecutionName(release.target, cluster, release.version, release.attempt),
    ];
    if (!lock || !ours.includes(lock.owner)) continue;
    const result = await abortRollout({ store, sfn, target, by, reason: `fleet aborted: ${reason}` });
    if (result.ok) aborted.push({ cluster, execution: result.execution, interruptedBake: result.interruptedBake });
  }
  return { execution: release.execution, aborted };
}

/** Abort the whole fleet started in this process (Ctrl-C; see abortFleetRelease). */
export async function abortFleet(
  runtime: LocalFleetRuntime,
  fleet: StartedFleet,
  spec: RolloutSpec,
  by: string,
  reason: string,
): Promise<void> {
  const release: FleetRelease = {
    execution: fleet.name,
    target: spec.metadata.name,
    version: fleet.version,
    attempt: fleet.attempt,
    clusters: requireFleet(spec).clusters.map((c) => c.name),
    requestedBy: by,
  };
  await abortFleetRelease({ store: runtime.deps.store, sfn: runtime.sfn }, release, by, reason);
}

/** Stop the fleet execution hard (StopExecution): its running members are stopped with it, each restored by its own safety net. */
export function stopFleet(runtime: LocalFleetRuntime, fleetExecutionArn: string, cause: string): void {
  runtime.fleetEngine.stopExecution(fleetExecutionArn, undefined, cause);
}
