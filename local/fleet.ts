/**
 * Fleet releases in the local engine: statemachine/fleet.asl.json, unchanged, in a second local
 * engine whose `startExecution.sync:2` tasks run statemachine/rollout.asl.json in the rollout
 * engine of the local runtime, exactly as nested executions run in Step Functions. Members reach
 * their clusters through the runtime's kubeconfig source (each member's spec names its context).
 */
import { executionName } from '../lambdas/core/names.ts';
import { memberExecutionName, requireFleet, summarizeFleet } from '../lambdas/core/fleet.ts';
import { memberAddress } from '../lambdas/core/fleet-member.ts';
import { abortRollout } from '../lambdas/adapters/control/interrupt.ts';
import type { FleetClusterSummary } from '../lambdas/core/fleet.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import { createFleetHandlers, fleetControlKey, memberRecords, readFleetControl } from '../lambdas/handlers/fleet.ts';
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
  while (exists(executionName(target, version, attempt))) attempt += 1;
  const name = executionName(target, version, attempt);
  const requestedBy = options.requestedBy ?? `${process.env.USER ?? 'someone'}@local`;
  const { executionArn } = fleetEngine.startExecution({ name, input: { spec, version, requestedBy, attempt } });
  const done = (async (): Promise<FleetRunSummary> => {
    const ended = await fleetEngine.waitForExecution(executionArn);
    // Members stopped with the fleet end (and their safety nets run) after it: wait for each.
    const memberNames = fleet.clusters.map((c) => memberExecutionName(target, c.name, version, attempt));
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
    const summary = summarizeFleet(spec, version, attempt, records, halt);
    return { execution: name, target, version, ...summary, exitCode: summary.outcome === 'promoted' ? EXIT.ok : EXIT.rolledBack };
  })();
  return { executionArn, name, attempt, version, done };
}

/** Pause between waves, resume, or run every remaining wave now (no more pauses): kept with the fleet execution. */
export async function controlFleet(
  runtime: LocalFleetRuntime,
  fleetExecution: string,
  command: 'pause' | 'resume' | 'promote-rest',
  by: string,
): Promise<void> {
  const store = runtime.deps.store;
  const control = await readFleetControl(store, fleetExecution);
  const next =
    command === 'pause'
      ? { ...control, paused: true }
      : command === 'resume'
        ? { ...control, paused: false }
        : { ...control, paused: false, promoteRest: true };
  await store.putAnalysisState(fleetControlKey(fleetExecution), { ...next, by, at: new Date().toISOString() });
}

/**
 * Abort the whole fleet: the fleet halts (no member starts any more, a pause ends), and every
 * running member is aborted the way `sluice abort` does it (a bake woken at once, else the flag
 * at its next task): each rolls back through its own Rollback state. Promoted clusters stay promoted.
 */
export async function abortFleet(
  runtime: LocalFleetRuntime,
  fleet: StartedFleet,
  spec: RolloutSpec,
  by: string,
  reason: string,
): Promise<void> {
  const store = runtime.deps.store;
  const control = await readFleetControl(store, fleet.name);
  await store.putAnalysisState(fleetControlKey(fleet.name), {
    ...control,
    halted: `aborted by ${by}: ${reason}`,
    by,
    at: new Date().toISOString(),
  });
  for (const cluster of requireFleet(spec).clusters) {
    const target = memberAddress(spec.metadata.name, cluster.name);
    const lock = await store.getLock(target);
    // Only this release's members: another rollout of the address is not the fleet's to abort.
    if (lock?.owner !== memberExecutionName(spec.metadata.name, cluster.name, fleet.version, fleet.attempt)) continue;
    await abortRollout({ store, sfn: runtime.sfn, target, by, reason: `fleet aborted: ${reason}` });
  }
}

/** Stop the fleet execution hard (StopExecution): its running members are stopped with it, each restored by its own safety net. */
export function stopFleet(runtime: LocalFleetRuntime, fleetExecutionArn: string, cause: string): void {
  runtime.fleetEngine.stopExecution(fleetExecutionArn, undefined, cause);
}
