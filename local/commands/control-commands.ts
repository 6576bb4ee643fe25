/**
 * `sluice start | status | history | abort <target>`: the same commands for the local engine and a
 * deployed stack (see local/control.ts).
 */
import { AB_NOTE_PREFIX, abNoteOf, describeStrategy } from '../../lambdas/core/match.ts';
import { AFFINITY_NOTE_PREFIX, affinityNoteOf } from '../../lambdas/core/affinity.ts';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { randomUUID } from 'node:crypto';
import { requestStart } from '../../lambdas/adapters/control/start-path.ts';
import type { TargetRegistry } from '../../lambdas/adapters/control/start-path.ts';
import { formatWeights } from '../../lambdas/core/rollout.ts';
import { activeOverride } from '../../lambdas/core/window-override.ts';
import type { ControlPlane } from '../control.ts';
import { EXIT } from '../exit-codes.ts';
import { abortRollout } from './abort.ts';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/**
 * Locally, start, retry and abort reconcile the target first: an orphan left by a killed
 * engine is put on its safe side and closed, its lock freed, before the command looks at the lock.
 */
async function reconcileFirst(control: ControlPlane, target: string, io: Io): Promise<Array<{ action: string }>> {
  if (control.kind !== 'local') return [];
  const { reconcileTargetFirst } = await import('./recover.ts');
  const { localHandlerDeps, stateDir } = await import('../runtime.ts');
  return reconcileTargetFirst(localHandlerDeps(control.store), stateDir(), target, io, (t) => control.loadTarget(t).catch(() => null));
}

/** `status` and `history` change nothing: they only name an orphan and the command that fixes it. */
async function orphanLine(control: ControlPlane, target: string): Promise<string | undefined> {
  const { orphanNote, LocalLiveness, extraEngines } = await import('../recovery.ts');
  const { SfnLiveness } = await import('../../lambdas/adapters/control/reconcile-aws.ts');
  const { stateDir } = await import('../runtime.ts');
  const liveness =
    control.kind === 'local'
      ? new LocalLiveness(stateDir(), await extraEngines(stateDir()))
      : new SfnLiveness(control.sfn, control.stateMachineArn);
  return orphanNote(control.store, liveness, target, control.kind === 'local' ? '--local' : '--stack <name>').catch(() => undefined);
}

/**
 * `sluice start`: through the one start path every trigger takes (lambdas/adapters/control/start-path.ts):
 * change windows (queued through the scheduler, or refused; an active `sluice override` starts it),
 * the idempotency ledger (each invocation is its own trigger), and the target's lock, taken
 * atomically for the execution before it starts.
 */
export async function startCommand(
  control: ControlPlane,
  target: string,
  options: { version: string; spec?: string; requestedBy?: string; idempotencyKey?: string; now?: () => Date },
  io: Io,
): Promise<number> {
  await reconcileFirst(control, target, io);
  const spec = await control.loadTarget(target, options.spec);
  const requestedBy = options.requestedBy ?? `${process.env.USER ?? 'someone'}@cli`;
  // The spec in hand is the one to run (the registry's, or --spec): the start path resolves nothing else.
  const registry: TargetRegistry = {
    get: async (name) => (name === spec.metadata.name ? spec : null),
    targetsForRepository: async () => [],
  };
  const answer = await requestStart(
    {
      store: control.store,
      sfn: control.sfn,
      stateMachineArn: control.stateMachineArn,
      registry,
      now: options.now ?? (() => new Date()),
      ...(control.scheduler ? { scheduler: control.scheduler } : {}),
    },
    {
      target: spec.metadata.name,
      version: options.version,
      requestedBy,
      trigger: { source: 'cli', key: options.idempotencyKey ?? randomUUID(), identity: requestedBy },
    },
  );
  switch (answer.outcome) {
    case 'started':
      io.stdout(
        `started ${answer.execution}\n  ${answer.executionArn}\n  follow it with: sluice status ${target}${control.kind === 'local' ? ' --local' : ''}\n`,
      );
      return EXIT.ok;
    case 'queued':
    case 'duplicate':
      io.stdout(`${answer.message}\n`);
      return EXIT.ok;
    case 'refused':
      io.stderr(`${answer.message}\n`);
      return EXIT.invalid;
    default: {
      const never: never = answer;
      throw new Error(`unknown start answer ${JSON.stringify(never)}`);
    }
  }
}

export async function statusCommand(control: ControlPlane, target: string, options: { json?: boolean }, io: Io): Promise<number> {
  const lock = await control.store.getLock(target);
  const [latest] = await control.store.listRollouts(target, 1);
  const record = lock ? await control.store.getRollout(lock.owner) : latest;
  if (!record) {
    // A fleet target's rollouts are its clusters' (target@cluster): its waves view.
    const fleetSpec = await control.loadTarget(target).catch(() => undefined);
    if (fleetSpec?.spec.fleet) {
      const { fleetStatusCommand } = await import('./fleet.ts');
      return fleetStatusCommand(control.store, fleetSpec, options, io);
    }
    io.stderr(`no rollouts of ${target} yet\n`);
    return EXIT.invalid;
  }
  const steps = await control.store.listSteps(record.execution);
  const lastLook = steps.filter((s) => s.kind === 'analysis').at(-1);
  // A progressive promotion's latest split (stepWeightPromotion): where traffic is on its way back to the primary.
  const promotionStep = steps.filter((s) => s.kind === 'promotion' && s.weights).at(-1);
  let executionStatus: string | undefined;
  try {
    const arn = control.stateMachineArn.replace(':stateMachine:', ':execution:') + `:${record.execution}`;
    executionStatus = (await control.sfn.send(new DescribeExecutionCommand({ executionArn: arn }))).status;
  } catch {
    // The store still knows the rollout even when the execution is gone (90-day retention).
  }
  const status = {
    target,
    execution: record.execution,
    version: record.version,
    requestedBy: record.requestedBy,
    startedAt: record.startedAt,
    state: record.status === 'running' ? 'running' : (record.outcome ?? 'finished'),
    executionStatus,
    weights: record.lastWeights,
    safeSide: record.safeSide,
    reason: record.reason,
    strategy: describeStrategy(record.spec),
    lastVerdict: lastLook?.verdict ? { at: lastLook.at, result: lastLook.verdict.result, summary: lastLook.verdict.summary } : undefined,
    promotionStep: promotionStep?.weights ? { at: promotionStep.at, weights: promotionStep.weights } : undefined,
    affinity: record.status === 'running' && !promotionStep ? affinityNoteOf(steps)?.slice(AFFINITY_NOTE_PREFIX.length).trim() : undefined,
    windowOverride: activeOverride(await control.store.getOverride(target), new Date()) ?? undefined,
  };
  const orphan = await orphanLine(control, target);
  if (options.json) {
    io.stdout(`${JSON.stringify(orphan ? { ...status, orphan } : status)}\n`);
    return EXIT.ok;
  }
  if (orphan) io.stderr(`${orphan}\n`);
  const scale = record.lastWeights.primary + record.lastWeights.canary || 100;
  io.stdout(
    [
      `${target}: ${status.state} — ${record.version} (${record.execution})`,
      `  started   ${record.startedAt} by ${record.requestedBy}${executionStatus ? `, execution ${executionStatus}` : ''}`,
      `  traffic   ${formatWeights(record.lastWeights, scale)} (safe side: ${record.safeSide})`,
      // The strategy from the spec (A/B's rule, blue/green's phases); a record without a spec still has the A/B stage's note.
      ...(status.strategy
        ? [`  strategy  ${status.strategy}`]
        : record.status === 'running' && abNoteOf(steps)
          ? [`  A/B       ${abNoteOf(steps)?.slice(AB_NOTE_PREFIX.length).trim()}`]
          : []),
      ...(status.affinity ? [`  affinity  ${status.affinity}`] : []),
      ...(promotionStep?.weights && record.status === 'running'
        ? [`  promotion stepping back to the primary: ${formatWeights(promotionStep.weights, scale)} since ${promotionStep.at}`]
        : []),
      ...(status.lastVerdict ? [`  last look ${status.lastVerdict.at}: ${status.lastVerdict.result} — ${status.lastVerdict.summary}`] : []),
      ...(record.reason ? [`  why       ${record.reason}`] : []),
      ...(status.windowOverride
        ? [
            `  override  change windows overridden by ${status.windowOverride.by} until ${status.windowOverride.until}: ${status.windowOverride.reason}`,
          ]
        : []),
    ].join('\n') + '\n',
  );
  return EXIT.ok;
}

export async function historyCommand(
  control: ControlPlane,
  target: string,
  options: { json?: boolean; limit?: number },
  io: Io,
): Promise<number> {
  const rollouts = await control.store.listRollouts(target, options.limit ?? 20);
  if (options.json) {
    io.stdout(`${JSON.stringify(rollouts)}\n`);
    return EXIT.ok;
  }
  if (!rollouts.length) io.stdout(`no rollouts of ${target} yet\n`);
  for (const r of rollouts)
    io.stdout(
      `${r.startedAt}  ${(r.status === 'running' ? 'running' : (r.outcome ?? 'finished')).padEnd(16)} ${r.version.padEnd(14)} ${r.execution}${r.reason ? `  — ${r.reason}` : ''}\n`,
    );
  const orphan = await orphanLine(control, target);
  if (orphan) io.stderr(`${orphan}\n`);
  const override = await control.store.getOverride(target);
  if (override) io.stdout(`${override.at}  window override   by ${override.by} until ${override.until}: ${override.reason}\n`);
  return EXIT.ok;
}

export async function abortCommand(control: ControlPlane, target: string, reason: string, io: Io): Promise<number> {
  const by = `${process.env.USER ?? 'someone'}@cli`;
  // A fleet's target lock: the whole release stops (local/commands/fleet.ts).
  const fleet = await (await import('./fleet.ts')).fleetVerbCommand(control, target, 'abort', { by, reason }, io);
  if (fleet !== undefined) return fleet;
  // A rollout whose engine was killed cannot be aborted through it: the reconciler restores it instead.
  const recovered = await reconcileFirst(control, target, io);
  if (recovered.some((f) => f.action === 'restored' || f.action === 'closed' || f.action === 'taken-over')) {
    io.stdout(`${target}: its execution was not running; the orphan was put on its safe side and closed (see above)\n`);
    return EXIT.ok;
  }
  const result = await abortRollout({ store: control.store, sfn: control.sfn, target, by, reason });
  if (!result.ok) {
    io.stderr(`${result.message}\n`);
    return EXIT.invalid;
  }
  // After the template copy the canary is the safe side: the abort holds there instead of rolling back.
  const copied = (await control.store.getRollout(result.execution))?.safeSide === 'canary';
  io.stdout(
    result.interruptedBake
      ? `aborted ${result.execution}: its bake was interrupted; traffic is moving to the safe side\n`
      : copied
        ? `abort requested for ${result.execution}: it is promoting and the primary already runs the new template, so its next step holds all traffic on the canary (promotion-failed, exit 5)\n`
        : `abort requested for ${result.execution}: its next step rolls it back\n`,
  );
  return EXIT.ok;
}

export async function scheduleStartCommand(
  control: ControlPlane,
  target: string,
  options: { version: string; at: string; timeZone?: string; spec?: string; requestedBy?: string; now?: Date },
  io: Io,
): Promise<number> {
  const { LocalTimeError, parseStartTime } = await import('../../lambdas/core/zoned-time.ts');
  if (!control.scheduler) {
    io.stderr(
      `scheduling needs the stack's ScheduleGroupName, StartFunctionArn, SchedulerRoleArn and SchedulerDeadLetterArn outputs (redeploy the stack), or --local\n`,
    );
    return EXIT.invalid;
  }
  await control.loadTarget(target, options.spec); // refuse an unknown or invalid target now, not when the schedule fires
  let at: Date;
  try {
    at = parseStartTime(options.at, { ...(options.timeZone ? { timeZone: options.timeZone } : {}), now: options.now ?? new Date() });
  } catch (error) {
    if (error instanceof LocalTimeError) {
      io.stderr(`--at: ${error.message}\n`);
      return EXIT.invalid;
    }
    throw error;
  }
  const { schedule, created } = await control.scheduler.create({
    target,
    version: options.version,
    requestedBy: options.requestedBy ?? `${process.env.USER ?? 'someone'}@cli`,
    at,
    ...(options.timeZone ? { timeZone: options.timeZone } : {}),
  });
  io.stdout(
    `${created ? 'scheduled' : 'already scheduled'} ${schedule.name}: ${target} ${schedule.version} at ${schedule.at} (${schedule.timeZone})\n`,
  );
  return EXIT.ok;
}

export async function scheduleListCommand(
  control: ControlPlane,
  target: string | undefined,
  options: { json?: boolean },
  io: Io,
): Promise<number> {
  if (!control.scheduler) {
    io.stderr('no scheduler: the stack has no ScheduleGroupName output (redeploy), or use --local\n');
    return EXIT.invalid;
  }
  const schedules = await control.scheduler.list(target);
  if (options.json) io.stdout(`${JSON.stringify(schedules)}\n`);
  else if (!schedules.length) io.stdout(`no scheduled rollouts${target ? ` of ${target}` : ''}\n`);
  else
    for (const s of schedules)
      io.stdout(
        `${s.at}  ${s.target.padEnd(16)} ${s.version.padEnd(14)} ${s.name}${s.state === 'failed' ? `  FAILED: ${s.lastError ?? ''}` : ''}\n`,
      );
  return EXIT.ok;
}

export async function scheduleCancelCommand(control: ControlPlane, name: string, io: Io): Promise<number> {
  if (!control.scheduler) {
    io.stderr('no scheduler: the stack has no ScheduleGroupName output (redeploy), or use --local\n');
    return EXIT.invalid;
  }
  if (!(await control.scheduler.cancel(name))) {
    io.stderr(`no pending schedule named ${name}\n`);
    return EXIT.invalid;
  }
  io.stdout(`cancelled ${name}\n`);
  return EXIT.ok;
}

/** Promote now: skips the remaining analysis steps (not a promotion approval, nor a closed window). */
export async function promoteCommand(control: ControlPlane, target: string, io: Io): Promise<number> {
  // A fleet's target lock: promote the rest of the release now (local/commands/fleet.ts).
  const fleet = await (await import('./fleet.ts')).fleetVerbCommand(
    control,
    target,
    'promote-rest',
    { by: `${process.env.USER ?? 'someone'}@cli` },
    io,
  );
  if (fleet !== undefined) return fleet;
  const { promoteRollout } = await import('../../lambdas/adapters/control/rollout-control.ts');
  const result = await promoteRollout({ store: control.store, sfn: control.sfn, target });
  (result.ok ? io.stdout : io.stderr)(`${result.message}\n`);
  return result.ok ? EXIT.ok : EXIT.invalid;
}

/** Approves the pending gate; with the spec's two-person rule the approver must not be who started it. */
export async function approveCommand(control: ControlPlane, target: string, io: Io): Promise<number> {
  const { approveRollout } = await import('../../lambdas/adapters/control/rollout-control.ts');
  const by = `${process.env.USER ?? 'someone'}@cli`;
  const lock = await control.store.getLock(target);
  const record = lock ? await control.store.getRollout(lock.owner) : null;
  if (record) {
    const spec = await control.loadTarget(target).catch(() => undefined);
    if (spec?.spec.access?.twoPersonRule && record.requestedBy === by) {
      io.stderr(`two-person rule: ${by} started ${record.execution} and cannot approve it\n`);
      return EXIT.invalid;
    }
  }
  const result = await approveRollout({
    store: control.store,
    sfn: control.sfn,
    target,
    by,
    ...(control.events ? { events: control.events } : {}),
  });
  (result.ok ? io.stdout : io.stderr)(`${result.message}\n`);
  return result.ok ? EXIT.ok : EXIT.invalid;
}

/** A new attempt of the target's latest version (after a rollback or an abort). */
export async function retryCommand(control: ControlPlane, target: string, options: { spec?: string }, io: Io): Promise<number> {
  await reconcileFirst(control, target, io);
  const [latest] = await control.store.listRollouts(target, 1);
  if (!latest) {
    io.stderr(`no rollouts of ${target} to retry\n`);
    return EXIT.invalid;
  }
  if (latest.status === 'running') {
    io.stderr(`${latest.execution} is still running: abort it first\n`);
    return EXIT.invalid;
  }
  return startCommand(control, target, { version: latest.version, ...(options.spec ? { spec: options.spec } : {}) }, io);
}
