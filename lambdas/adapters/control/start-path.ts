/**
 * The one start path every trigger calls (deploy events, GitOps webhooks, schedules, Slack, the
 * CLI): resolve the target's spec from the registry, apply allow-listed overrides, refuse while
 * another rollout holds the target, run the plugged-in checks (access policy, …) and the change
 * windows, record the trigger in the idempotency ledger (first wins), then start the execution —
 * or queue it until the window opens.
 *
 * Order matters: the decision is made first and written into the ledger with the claim, so a
 * duplicate delivery gets the first delivery's answer ("started X"), not "refused: X is running".
 * The execution name is chosen before the claim and recorded with it: if StartExecution fails after
 * the claim (throttled, a crash), the retried delivery finds the claim, sees the execution does not
 * exist, and starts exactly that name — never a second attempt. Step Functions' own name rule
 * (a name runs once per 90 days) stays a second, weaker layer.
 *
 * The lock is taken here, atomically, before anything starts: the decision to start *is* the lock
 * acquisition, under the execution's own name, so of several distinct triggers for one target at
 * once exactly one is `started` and the others are `refused: locked by <execution>` — in their
 * answer and in the ledger. Prepare then takes the same lock for the same name, which the store
 * grants to its owner (it extends it). Two triggers racing for the same attempt name are told apart
 * by claiming the name itself in the ledger (`name:<execution>`, first wins), so they never share a
 * lock owner. A start that fails after the lock releases it; a retried delivery takes it again.
 */
import { DescribeExecutionCommand, ExecutionAlreadyExists, ExecutionDoesNotExist, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { getParameter } from '@aws-lambda-powertools/parameters/ssm';
import { executionName } from '../../core/names.ts';
import { fleetExecutionName } from '../../core/fleet.ts';
import type { TargetLocks, TriggerLedger, WindowOverrides } from '../../core/ports.ts';
import type { TriggerRecord } from '../../core/records.ts';
import type { RolloutScheduler } from '../../core/schedule.ts';
import { parseSpec } from '../../core/spec.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import { applyOverrides, duplicateMessage, ledgerKey, requestedByOf } from '../../core/start.ts';
import type { StartAnswer, StartCheck, StartRequest } from '../../core/start.ts';
import type { ExecutionInput } from '../../core/task.ts';
import { planStart } from '../../core/windows.ts';
import { activeOverride } from '../../core/window-override.ts';
/** Enough attempts for any sane number of retries of one version. */
const MAX_ATTEMPTS = 100;
import { targetProblem, versionProblem } from '../../core/version.ts';
import { lockExpiresAt } from '../../core/recovery.ts';

function lockedBy(target: string, owner: string): string {
  return `locked by ${owner}: ${target} runs one rollout at a time; abort it or wait for it to finish`;
}

/** Where target specs come from: SSM parameters in AWS, `rollouts/*.yaml` locally. */
export interface TargetRegistry {
  /** The target's resolved spec; null when there is no such target. */
  get(target: string): Promise<RolloutSpec | null>;
  /** Targets whose `spec.triggers.ecr.repository` is `repository`. */
  targetsForRepository(repository: string): Promise<string[]>;
}

export interface StartPathDeps {
  store: TriggerLedger & TargetLocks & WindowOverrides;
  sfn: Pick<SFNClient, 'send'>;
  stateMachineArn: string;
  /**
   * The fleet state machine (statemachine/fleet.asl.json): a target with spec.fleet starts there, as
   * one release across its clusters. Absent (no fleet target deployed): a fleet target is refused.
   */
  fleetStateMachineArn?: string;
  registry: TargetRegistry;
  now: () => Date;
  /** Extra checks, run in order after the lock check; the first refusal wins (chat-ops access policy, …). */
  checks?: StartCheck[];
  /** Where a start outside the change windows is queued; without one it is refused, naming the next opening. */
  scheduler?: RolloutScheduler;
  /** The zone queued schedules are shown in (ScheduleExpressionTimezone). Default UTC. */
  timeZone?: string;
}

type Decision =
  | { action: 'start'; execution: string }
  | { action: 'queue'; at: Date; reason: string }
  | { action: 'refuse'; reason: string };

function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/**
 * Where a target starts: the rollout state machine, or for a fleet (spec.fleet) the fleet state
 * machine, whose input also carries the attempt (it names the members' executions, target-cluster-version).
 */
interface Machine {
  arn: string;
  fleet: boolean;
}

function machineFor(deps: StartPathDeps, spec: RolloutSpec): Machine | { refused: string } {
  if (!spec.spec.fleet) return { arn: deps.stateMachineArn, fleet: false };
  if (!deps.fleetStateMachineArn)
    return {
      refused: `${spec.metadata.name} is a fleet (spec.fleet) but this deployment has no fleet state machine (it is created when the registry holds a fleet target at synth): deploy the stack again`,
    };
  return { arn: deps.fleetStateMachineArn, fleet: true };
}

/** What the execution is started with: the fleet's input carries its attempt (fleetInputSchema). */
type StartInput = ExecutionInput & { attempt?: number };

function inputFor(machine: Machine, input: ExecutionInput, name: string): StartInput {
  if (!machine.fleet) return input;
  return { ...input, attempt: attemptOf(input.spec.metadata.name, input.version, name) };
}

/** An attempt's name: target-version for a rollout, target-version-fleet for a fleet release (never the same). */
function nameOf(machine: Machine, target: string, version: string, attempt: number): string {
  return machine.fleet ? fleetExecutionName(target, version, attempt) : executionName(target, version, attempt);
}

/** The attempt a fleet release's name stands for (names are not invertible by parsing: long ones are hashed). */
function attemptOf(target: string, version: string, name: string): number {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) if (fleetExecutionName(target, version, attempt) === name) return attempt;
  throw new Error(`execution name ${name} is no attempt of the fleet release ${target} ${version}`);
}

async function executionExists(deps: StartPathDeps, machine: Machine, name: string): Promise<boolean> {
  try {
    await deps.sfn.send(new DescribeExecutionCommand({ executionArn: executionArnOf(machine.arn, name) }));
    return true;
  } catch (error) {
    if (error instanceof ExecutionDoesNotExist || (error as { name?: string } | null)?.name === 'ExecutionDoesNotExist') return false;
    throw new Error(`DescribeExecution ${name} failed`, { cause: error });
  }
}

/** The next attempt name of target + version that Step Functions has not seen (a retry after a rollback is a new attempt). */
async function nextFreeName(deps: StartPathDeps, machine: Machine, request: StartRequest, now: Date): Promise<string | null> {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const name = nameOf(machine, request.target, request.version, attempt);
    if (await executionExists(deps, machine, name)) continue;
    // Another start chose this name a moment ago (a concurrent trigger): the ledger claim decides whose it is.
    const claim = await deps.store.recordTrigger(`name:${name}`, {
      source: request.trigger.source,
      execution: name,
      at: now.toISOString(),
      detail: { target: request.target, version: request.version, claimedBy: ledgerKey(request.trigger) },
    });
    // A redelivery of the same trigger may reuse the name it claimed before (its start failed in between).
    if (claim.first || claim.existing.detail?.['claimedBy'] === ledgerKey(request.trigger)) return name;
  }
  return null;
}

async function decide(deps: StartPathDeps, machine: Machine, request: StartRequest, spec: RolloutSpec, now: Date): Promise<Decision> {
  // A quick read first: a busy target needs no name and no checks (the acquisition below is what counts).
  const lock = await deps.store.getLock(request.target);
  if (lock) return { action: 'refuse', reason: lockedBy(request.target, lock.owner) };
  for (const check of deps.checks ?? []) {
    const refusal = await check({ request, spec, now, lock });
    if (refusal) return { action: 'refuse', reason: refusal.reason };
  }
  const plan = planStart(spec.spec.strategy.windows, now);
  // Outside the windows, an override in force (sluice override) starts it now instead of queueing.
  const overridden = plan.action !== 'start' && activeOverride(await deps.store.getOverride(request.target), now) !== null;
  if (plan.action === 'refuse' && !overridden) return { action: 'refuse', reason: plan.reason };
  if (plan.action === 'queue' && !overridden) {
    if (!deps.scheduler) return { action: 'refuse', reason: `${plan.reason} (no scheduler here to queue it)` };
    return { action: 'queue', at: plan.queueUntil, reason: plan.reason };
  }
  const execution = await nextFreeName(deps, machine, request, now);
  if (!execution)
    return { action: 'refuse', reason: `${request.target} ${request.version} has been started ${MAX_ATTEMPTS} times already` };
  const taken = await deps.store.acquireLock(request.target, execution, lockExpiresAt(now));
  if (!taken.acquired) return { action: 'refuse', reason: lockedBy(request.target, taken.holder.owner) };
  return { action: 'start', execution };
}

async function startNamed(
  deps: StartPathDeps,
  machine: Machine,
  name: string,
  input: ExecutionInput,
): Promise<{ ok: true; executionArn: string } | { ok: false; reason: string }> {
  try {
    const started = await deps.sfn.send(
      new StartExecutionCommand({ stateMachineArn: machine.arn, name, input: JSON.stringify(inputFor(machine, input, name)) }),
    );
    return { ok: true, executionArn: started.executionArn ?? executionArnOf(machine.arn, name) };
  } catch (error) {
    // Step Functions answers an identical retry (same name, same input, still running) with success;
    // this is a different start that took the name between our check and our start.
    if (error instanceof ExecutionAlreadyExists || (error as { name?: string } | null)?.name === 'ExecutionAlreadyExists') {
      return { ok: false, reason: `another start of ${input.spec.metadata.name} ${input.version} took the execution name ${name} first` };
    }
    throw new Error(`StartExecution ${name} failed`, { cause: error });
  }
}

/** StartExecution under a lock this start holds; any failure gives the lock back (a retried delivery takes it again). */
async function startLocked(
  deps: StartPathDeps,
  machine: Machine,
  name: string,
  input: ExecutionInput,
): Promise<{ ok: true; executionArn: string } | { ok: false; reason: string }> {
  const target = input.spec.metadata.name;
  let started: Awaited<ReturnType<typeof startNamed>>;
  try {
    started = await startNamed(deps, machine, name, input);
  } catch (error) {
    await deps.store.releaseLock(target, name);
    throw error;
  }
  if (!started.ok) await deps.store.releaseLock(target, name);
  return started;
}

/** Starts (or queues, or refuses) one rollout for one trigger; the same trigger twice starts it once. */
export async function requestStart(deps: StartPathDeps, request: StartRequest): Promise<StartAnswer> {
  const { target, version } = request;
  const refused = (reason: string): StartAnswer => ({ outcome: 'refused', target, version, reason, message: `refused: ${reason}` });
  // The same caps at every entry point (CLI, Slack, EventBridge, GitOps, schedules), before anything is recorded.
  const malformed = targetProblem(target) ?? versionProblem(version);
  if (malformed) return refused(malformed);

  const registered = await deps.registry.get(target);
  if (!registered) return refused(`unknown target ${target}: it is not in the registry`);
  const resolved = applyOverrides(registered, request.overrides);
  if (!resolved.ok) return refused(resolved.reason);
  const spec = resolved.spec;
  const machine = machineFor(deps, spec);
  if ('refused' in machine) return refused(machine.refused);
  const now = deps.now();
  const requestedBy = requestedByOf(request);
  const input: ExecutionInput = { spec, version, requestedBy };

  const decision = await decide(deps, machine, request, spec, now);
  const key = ledgerKey(request.trigger);
  const record: TriggerRecord = {
    source: request.trigger.source,
    ...(decision.action === 'start' ? { execution: decision.execution } : {}),
    at: now.toISOString(),
    detail: {
      target,
      version,
      requestedBy,
      identity: request.trigger.identity,
      outcome: decision.action === 'start' ? 'started' : decision.action === 'queue' ? 'queued' : 'refused',
      ...(decision.action === 'start' ? {} : { reason: decision.reason }),
      ...(request.overrides ? { overrides: request.overrides } : {}),
    },
  };
  let claim: Awaited<ReturnType<typeof deps.store.recordTrigger>>;
  try {
    claim = await deps.store.recordTrigger(key, record);
  } catch (error) {
    if (decision.action === 'start') await deps.store.releaseLock(target, decision.execution);
    throw error;
  }

  if (!claim.first) {
    // A duplicate delivery: the lock this delivery just took (if the first one's rollout had ended) is not its to keep.
    if (decision.action === 'start') await deps.store.releaseLock(target, decision.execution);
    const first = claim.existing;
    // The first delivery claimed a name but never started it (it failed in between): start exactly that one.
    if (first.execution && first.detail?.['outcome'] === 'started' && !(await executionExists(deps, machine, first.execution))) {
      const taken = await deps.store.acquireLock(target, first.execution, lockExpiresAt(now));
      if (!taken.acquired) return refused(lockedBy(target, taken.holder.owner));
      const started = await startLocked(deps, machine, first.execution, input);
      if (started.ok)
        return {
          outcome: 'started',
          target,
          version,
          execution: first.execution,
          executionArn: started.executionArn,
          message: `started ${first.execution} (${key}, resumed after an earlier failed start)`,
        };
      return refused(started.reason);
    }
    return {
      outcome: 'duplicate',
      target,
      version,
      ...(first.execution ? { execution: first.execution } : {}),
      first,
      message: duplicateMessage(request, first),
    };
  }

  switch (decision.action) {
    case 'start': {
      const started = await startLocked(deps, machine, decision.execution, input);
      if (!started.ok) return refused(started.reason);
      return {
        outcome: 'started',
        target,
        version,
        execution: decision.execution,
        executionArn: started.executionArn,
        message: `started ${decision.execution} (${key})`,
      };
    }
    case 'queue': {
      const scheduler = deps.scheduler;
      if (!scheduler) throw new Error('queue decision without a scheduler');
      const { schedule } = await scheduler.create({
        target,
        version,
        requestedBy,
        at: decision.at,
        ...(deps.timeZone ? { timeZone: deps.timeZone } : {}),
      });
      return {
        outcome: 'queued',
        target,
        version,
        at: schedule.at,
        schedule: schedule.name,
        message: `queued: ${decision.reason}; ${schedule.name} starts it at ${schedule.at}`,
      };
    }
    case 'refuse':
      return refused(decision.reason);
    default: {
      const never: never = decision;
      throw new Error(`unknown start decision ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The deployed registry: `<prefix>/<target>` SSM parameters holding the resolved spec (infra/registry.ts),
 * cached per warm Lambda by Powertools Parameters (`maxAgeSeconds`). Which targets watch which ECR repository is known at synth and
 * handed in (`ecrTargets`), so the start Lambda needs ssm:GetParameter only, never a listing.
 */
export function ssmRegistry(options: {
  prefix: string;
  ecrTargets: Record<string, string[]>;
  /** Seconds a spec stays cached (Powertools' maxAge); default 60. */
  maxAgeSeconds?: number;
}): TargetRegistry {
  const maxAge = options.maxAgeSeconds ?? 60;
  return {
    async get(target) {
      const name = `${options.prefix}/${target}`;
      let value: string | undefined;
      try {
        value = await getParameter(name, { maxAge });
      } catch (error) {
        // Powertools wraps the SDK's ParameterNotFound in a GetParameterError (its cause); failures are not cached.
        const cause = error instanceof Error ? (error.cause as { name?: string } | undefined) : undefined;
        if (cause?.name !== 'ParameterNotFound') throw new Error(`registry parameter ${name} could not be read`, { cause: error });
        return null;
      }
      try {
        return parseSpec(JSON.parse(value ?? 'null'), name);
      } catch (error) {
        throw new Error(`registry parameter ${name} could not be read`, { cause: error });
      }
    },
    async targetsForRepository(repository) {
      return options.ecrTargets[repository] ?? [];
    },
  };
}

/** A registry over specs already loaded (local files, tests). */
export function staticRegistry(specs: readonly RolloutSpec[]): TargetRegistry {
  const byName = new Map(specs.map((spec) => [spec.metadata.name, spec]));
  return {
    get: async (target) => byName.get(target) ?? null,
    targetsForRepository: async (repository) =>
      specs.filter((spec) => spec.spec.triggers?.ecr?.repository === repository).map((spec) => spec.metadata.name),
  };
}
