/**
 * The ack path of the Slack bot: a verified request -> checks -> one effect on the store or Step
 * Functions -> an ephemeral reply, well inside Slack's 3 seconds. Slack Web API calls here are
 * only the (cached) identity checks; everything else Slack-bound (thread updates, the clicker's
 * follow-up through response_url) is returned as follow-ups and runs after the ack.
 *
 * The same logic as the CLI: start through the start path (requestStart), abort through abortRollout, promote
 * and approve through rollout-control. Every command and click is audited (a store step and a
 * `Command Audited` event, which also puts it in the rollout's thread).
 */
import { abNoteOf, describeStrategy } from '../../core/match.ts';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { authorize, groupsToResolve, twoPersonCheck } from '../../core/chatops/access.ts';
import type { AccessDecision } from '../../core/chatops/access.ts';
import { ACTION_PREFIX, ROLLOUT_GATE, decodeButtonValue, ephemeral, percent, slackDate, who } from '../../core/chatops/blocks.ts';
import { lookWord } from '../../core/look-word.ts';
import type { Acted, ButtonAction, SlackMessage } from '../../core/chatops/blocks.ts';
import { USAGE, actionOf, parseCommand } from '../../core/chatops/command.ts';
import type { Command } from '../../core/chatops/command.ts';
import { FLEET_GATE, fleetAccessAction, fleetStatusText, isFleetAction } from '../../core/chatops/fleet-blocks.ts';
import type { FleetAction } from '../../core/chatops/fleet-blocks.ts';
import { memberAddress } from '../../core/fleet-member.ts';
import { abortFleetRelease, controlFleetRelease, findFleetRelease, readFleetControlOf, releaseOfMember } from '../control/fleet-control.ts';
import type { FleetCommand } from '../control/fleet-control.ts';
import { buildFleetView } from './fleet-view.ts';
import type {
  AbortFlags,
  AnalysisStates,
  EventPublisher,
  RolloutLog,
  RolloutRecords,
  TargetLocks,
  TaskTokens,
  TriggerLedger,
  WindowOverrides,
} from '../../core/ports.ts';
import type { RolloutRecord } from '../../core/records.ts';
import type { RolloutScheduler, ScheduledRollout } from '../../core/schedule.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import { LocalTimeError, isTimeZone, parseStartTime } from '../../core/zoned-time.ts';
import { abortRollout } from '../control/interrupt.ts';
import { approveRollout, promoteRollout } from '../control/rollout-control.ts';
import { requestStart } from '../control/start-path.ts';
import type { TargetRegistry } from '../control/start-path.ts';
import { overrideWindows } from '../control/window-override.ts';
import { activeOverride } from '../../core/window-override.ts';
import { DELIVERY_TTL_MS, chatKeys } from './chat-state.ts';
import type { ChatState } from './chat-state.ts';
import type { SlackDirectory } from './directory.ts';
import type { BlockAction, SlackRequest, SlashCommand } from './verify.ts';

export interface SlackConfig {
  teamId: string;
  apiAppId: string;
}

export interface AckDeps {
  /** Every command's ports: start (ledger, lock, overrides), abort (flags), promote/approve (tokens), status (records, history). */
  store: TriggerLedger & TargetLocks & WindowOverrides & TaskTokens & AbortFlags & RolloutRecords & RolloutLog & AnalysisStates;
  events: EventPublisher;
  sfn: Pick<SFNClient, 'send'>;
  stateMachineArn: string;
  /** Where a fleet target (spec.fleet) starts; absent when no fleet is deployed. */
  fleetStateMachineArn?: string;
  chat: ChatState;
  directory: SlackDirectory;
  /** The target's spec from the registry; null when the target is unknown. */
  loadTarget(target: string): Promise<RolloutSpec | null>;
  config: SlackConfig;
  now: () => Date;
  /** One-off scheduled rollouts (`/sluice schedule …`): EventBridge Scheduler in AWS, the local schedule book locally. */
  scheduler?: RolloutScheduler;
  /** The zone schedules are created in when the command names none (default UTC). */
  timeZone?: string;
}

const NO_SCHEDULER =
  'Scheduling is not set up for this Slack bot (it was deployed without the schedule group): use `sluice start <target> --version V --at TIME`.';

function scheduleLine(schedule: ScheduledRollout): string {
  const failed = schedule.state === 'failed' ? ` — *failed*${schedule.lastError ? `: ${schedule.lastError.slice(0, 200)}` : ''}` : '';
  return `• \`${schedule.name}\` ${schedule.target} ${schedule.version} ${slackDate(schedule.at)} (${schedule.timeZone}) by ${who(schedule.requestedBy)}${failed}`;
}

async function scheduleListText(scheduler: RolloutScheduler, target?: string): Promise<string> {
  const pending = await scheduler.list(target);
  const whose = target ? ` of ${target}` : '';
  if (!pending.length) return `No scheduled rollouts${whose}.`;
  return [
    `*Scheduled rollouts${whose}* (soonest first)`,
    ...pending.slice(0, 40).map(scheduleLine),
    ...(pending.length > 40 ? [`…and ${pending.length - 40} more`] : []),
  ].join('\n');
}

/** `/sluice schedule …` with a target known (create, list of one target, cancel of that target's schedule). */
async function scheduleText(
  deps: AckDeps,
  command: Extract<Command, { kind: 'schedule' }>,
  target: string,
  request: SlashCommand,
): Promise<string> {
  const scheduler = deps.scheduler;
  if (!scheduler) return NO_SCHEDULER;
  switch (command.action) {
    case 'list':
      return scheduleListText(scheduler, target);
    case 'cancel': {
      const name = command.args[0] ?? '';
      return (await scheduler.cancel(name))
        ? `Cancelled \`${name}\` (${target}): it will not start.`
        : `No pending schedule \`${name}\`: it fired or was cancelled already.`;
    }
    case 'create': {
      const version = command.version ?? '';
      const timeZone = command.timeZone ?? deps.timeZone;
      if (command.timeZone && !isTimeZone(command.timeZone))
        return `Not scheduled: \`${command.timeZone.slice(0, 64)}\` is not an IANA time zone (such as Europe/Berlin or UTC).`;
      let at: Date;
      try {
        at = parseStartTime(command.at ?? '', { ...(command.timeZone ? { timeZone: command.timeZone } : {}), now: deps.now() });
      } catch (error) {
        if (error instanceof LocalTimeError) return `Not scheduled: ${error.message.replace('--tz', 'tz')}.`;
        throw error;
      }
      const { schedule, created } = await scheduler.create({
        target,
        version,
        requestedBy: `slack:${request.userId}`,
        at,
        ...(timeZone ? { timeZone } : {}),
      });
      const again = created ? '' : ' (it was scheduled already)';
      return `Scheduled \`${schedule.name}\`${again}: ${target} ${version} starts ${slackDate(schedule.at)}. When it fires, the change windows, the lock and the access policy are checked again. Cancel it with \`/sluice schedule cancel ${schedule.name}\`.`;
    }
    default: {
      const never: never = command.action;
      throw new Error(`unknown schedule action ${String(never)}`);
    }
  }
}

/** Slack work after the ack: a message to a response_url (never logged, never in an event). */
export interface FollowUp {
  responseUrl: string;
  message: SlackMessage;
}

export interface AckResult {
  status: number;
  /** JSON reply (slash commands show it to the caller only); empty for interactions. */
  body: SlackMessage | null;
  followUps: FollowUp[];
}

const reply = (text: string): AckResult => ({ status: 200, body: ephemeral(text), followUps: [] });

interface Audit {
  user: string;
  channel: string;
  what: string;
  target?: string | undefined;
  execution?: string | undefined;
  version?: string | undefined;
}

async function audit(deps: AckDeps, entry: Audit, outcome: string): Promise<void> {
  const target = entry.target ?? '-';
  // Commands outside a rollout still get an append-only record, under the target's chat-ops log.
  const execution = entry.execution ?? `chatops-${target}`;
  const detail = `slack <@${entry.user}> in <#${entry.channel}>: ${entry.what} -> ${outcome}`.slice(0, 1000);
  await deps.store.appendStep({ execution, at: deps.now().toISOString(), kind: 'note', detail });
  await deps.events.publish({ detailType: 'Command Audited', target, version: entry.version ?? '-', execution, reason: detail });
}

async function access(
  deps: AckDeps,
  spec: RolloutSpec,
  action: ReturnType<typeof actionOf>,
  user: string,
  channel: string,
): Promise<AccessDecision> {
  const policy = spec.spec.access;
  const memberOf = await deps.directory.memberOf(user, groupsToResolve(policy, action));
  return authorize(policy, action, { user, channel, memberOf }, spec.metadata.name);
}

async function statusText(deps: AckDeps, target: string): Promise<string> {
  const lock = await deps.store.getLock(target);
  const [latest] = await deps.store.listRollouts(target, 1);
  const record = lock ? await deps.store.getRollout(lock.owner) : latest;
  if (!record) return `No rollouts of ${target} yet.`;
  const steps = await deps.store.listSteps(record.execution);
  const look = steps.filter((s) => s.kind === 'analysis').at(-1);
  const override = activeOverride(await deps.store.getOverride(target), deps.now());
  const scale = record.lastWeights.primary + record.lastWeights.canary || 100;
  const state = record.status === 'running' ? 'running' : (record.outcome ?? 'finished');
  return [
    `*${target}*: ${state} — ${record.version} (\`${record.execution}\`)`,
    `started ${slackDate(record.startedAt)} by ${who(record.requestedBy)}`,
    `traffic: primary ${percent(record.lastWeights.primary, scale)} / canary ${percent(record.lastWeights.canary, scale)} (safe side: ${record.safeSide})`,
    ...(describeStrategy(record.spec)
      ? [`strategy: ${describeStrategy(record.spec) ?? ''}`]
      : record.status === 'running' && abNoteOf(steps)
        ? [abNoteOf(steps) ?? '']
        : []),
    ...(look?.verdict ? [`last look ${slackDate(look.at)}: ${lookWord(look.verdict)} — ${look.verdict.summary}`] : []),
    ...(record.reason ? [`why: ${record.reason}`] : []),
    ...(override ? [`change windows overridden by ${who(override.by)} until ${slackDate(override.until)}: ${override.reason}`] : []),
  ].join('\n');
}

async function historyText(deps: AckDeps, target: string): Promise<string> {
  const rollouts = await deps.store.listRollouts(target, 10);
  if (!rollouts.length) return `No rollouts of ${target} yet.`;
  const lines = rollouts.map(
    (r) =>
      `${slackDate(r.startedAt)} *${r.status === 'running' ? 'running' : (r.outcome ?? 'finished')}* ${r.version} \`${r.execution}\`${r.reason ? ` — ${r.reason}` : ''}`,
  );
  const notes = (await deps.store.listSteps(`chatops-${target}`)).slice(-5).map((s) => `• ${s.detail ?? ''}`);
  return [`*${target}* — last ${rollouts.length} rollouts`, ...lines, ...(notes.length ? ['*Recent commands*', ...notes] : [])].join('\n');
}

/** `/sluice start|retry`: the one start path (windows, ledger keyed by Slack's trigger_id, the lock taken atomically). */
async function start(
  deps: AckDeps,
  spec: RolloutSpec,
  version: string,
  request: SlashCommand,
): Promise<{ text: string; execution?: string }> {
  const target = spec.metadata.name;
  const requestedBy = `slack:${request.userId}`;
  const registry: TargetRegistry = { get: async (name) => (name === target ? spec : null), targetsForRepository: async () => [] };
  const answer = await requestStart(
    {
      store: deps.store,
      sfn: deps.sfn,
      stateMachineArn: deps.stateMachineArn,
      ...(deps.fleetStateMachineArn ? { fleetStateMachineArn: deps.fleetStateMachineArn } : {}),
      registry,
      now: deps.now,
      ...(deps.scheduler ? { scheduler: deps.scheduler } : {}),
      ...(deps.timeZone ? { timeZone: deps.timeZone } : {}),
    },
    { target, version, requestedBy, trigger: { source: 'slack', key: request.triggerId, identity: request.userId } },
  );
  switch (answer.outcome) {
    case 'started':
      // The thread opens where the command was typed, unless the target names its own channel.
      await deps.chat.set(chatKeys.channel(answer.execution), request.channelId);
      return { text: `Started \`${answer.execution}\` (${target} ${version}). Progress follows in a thread.`, execution: answer.execution };
    case 'queued':
      return { text: `Queued ${target} ${version}: ${answer.message.replace(/^queued: /, '')}.` };
    case 'duplicate':
      return { text: `Already handled: ${answer.message}` };
    case 'refused':
      return { text: `Refused: ${answer.reason}.` };
    default: {
      const never: never = answer;
      throw new Error(`unknown start answer ${JSON.stringify(never)}`);
    }
  }
}

const FLEET_PAST: Record<FleetAction, string> = {
  'fleet-abort': 'aborted',
  'fleet-pause': 'paused',
  'fleet-resume': 'resumed',
  'fleet-promote-rest': 'promoted the rest of',
};

type FleetOutcome = { ok: boolean; message: string; version?: string | undefined };

/**
 * One fleet verb on the release `execution` of a fleet target, from a button or a command: only
 * while that release holds the target's lock; promote-the-rest under the two-person rule; abort
 * and promote-the-rest once (first click wins), pause and resume as toggles.
 */
async function fleetAct(
  deps: AckDeps,
  spec: RolloutSpec,
  execution: string,
  action: FleetAction,
  user: string,
  reason: string,
): Promise<FleetOutcome> {
  const target = spec.metadata.name;
  const lock = await deps.store.getLock(target);
  const release = await findFleetRelease(deps.store, spec, execution);
  const version = release?.version;
  if (lock?.owner !== execution)
    return {
      ok: false,
      message: `\`${execution}\` is no longer running${lock ? ` (${target} now runs \`${lock.owner}\`)` : ''}. Nothing was done`,
      version,
    };
  const by = `slack:${user}`;
  const now = deps.now();
  if (action === 'fleet-promote-rest') {
    if (!release)
      return {
        ok: false,
        message: `no cluster of \`${execution}\` has started yet, so the two-person rule cannot tell who started it: try again in a moment`,
      };
    const twoPerson = twoPersonCheck(spec.spec.access, 'promote', user, release.requestedBy);
    if (!twoPerson.allowed) return { ok: false, message: twoPerson.reason.replace(/\.$/, ''), version };
  }
  const control = await readFleetControlOf(deps.store, execution);
  if (control.halted && action !== 'fleet-abort') return { ok: false, message: `\`${execution}\` is halting (${control.halted})`, version };
  if (action === 'fleet-abort' || action === 'fleet-promote-rest') {
    const key = chatKeys.click(execution, action);
    const acted = JSON.stringify({ action, user, at: now.toISOString() });
    const claim = await deps.chat.claim(key, acted);
    if (!claim.claimed) {
      const first = JSON.parse(claim.value) as { user: string; at: string };
      return { ok: false, message: `<@${first.user}> already ${FLEET_PAST[action]} \`${execution}\` ${slackDate(first.at)}`, version };
    }
    if (action === 'fleet-abort') {
      const { aborted } = await abortFleetRelease({ store: deps.store, sfn: deps.sfn, spec, fleetExecution: execution, by, reason, now });
      const rolling = aborted.length ? `; ${aborted.join(', ')} ${aborted.length === 1 ? 'rolls' : 'roll'} back to the primary` : '';
      return {
        ok: true,
        message: `aborted the fleet release \`${execution}\`: no further wave starts${rolling}; promoted clusters stay promoted`,
        version,
      };
    }
    await controlFleetRelease(deps.store, execution, 'promote-rest', by, now);
    return { ok: true, message: `every remaining wave of \`${execution}\` runs at once, without the bakes between them`, version };
  }
  const command: FleetCommand = action === 'fleet-pause' ? 'pause' : 'resume';
  if (command === 'pause' && control.paused)
    return { ok: false, message: `\`${execution}\` is paused already${control.by ? ` (by ${who(control.by)})` : ''}`, version };
  if (command === 'resume' && !control.paused) return { ok: false, message: `\`${execution}\` is not paused`, version };
  await controlFleetRelease(deps.store, execution, command, by, now);
  return {
    ok: true,
    message:
      command === 'pause'
        ? `\`${execution}\` holds after the wave now rolling (nothing rolls back); \`/sluice resume ${target}\` lets it go on`
        : `\`${execution}\` goes on with its next wave`,
    version,
  };
}

/** `/sluice status <fleet target>`: the running release, else the latest one, wave by wave. */
async function fleetStatus(deps: AckDeps, spec: RolloutSpec): Promise<string> {
  const target = spec.metadata.name;
  const lock = await deps.store.getLock(target);
  let release = lock ? await findFleetRelease(deps.store, spec, lock.owner) : undefined;
  if (!release) {
    let latest: RolloutRecord | undefined;
    for (const cluster of spec.spec.fleet?.clusters ?? []) {
      const [record] = await deps.store.listRollouts(memberAddress(target, cluster.name), 1);
      if (record && (!latest || record.startedAt > latest.startedAt)) latest = record;
    }
    const cluster = latest ? (latest.target.split('@')[1] ?? '') : '';
    const found = latest ? releaseOfMember(target, cluster, latest.version, latest.execution) : undefined;
    if (found) release = { ...found, requestedBy: latest?.requestedBy ?? '', startedAt: latest?.startedAt ?? '' };
  }
  if (!release)
    return lock ? `*${target}* (fleet): \`${lock.owner}\` is starting; no cluster has started yet.` : `No releases of ${target} yet.`;
  const view = await buildFleetView(deps.store, deps.chat, spec, release);
  if (lock?.owner !== release.execution && !['promoted', 'halted', 'stopped', 'refused'].includes(view.state)) {
    const clusters = view.waves.flatMap((wave) => wave.clusters);
    view.state = clusters.every((c) => c.state === 'promoted') ? 'promoted' : 'halted';
  }
  return fleetStatusText(view);
}

/** The fleet verbs of `/sluice` on a fleet target; undefined for the commands that work as for any target. */
async function fleetCommand(
  deps: AckDeps,
  command: Exclude<Command, { kind: 'help' }>,
  spec: RolloutSpec,
  request: SlashCommand,
): Promise<{ text: string; execution?: string; version?: string } | undefined> {
  const target = spec.metadata.name;
  const verb: Partial<Record<Command['kind'], FleetAction>> = {
    abort: 'fleet-abort',
    promote: 'fleet-promote-rest',
    pause: 'fleet-pause',
    resume: 'fleet-resume',
  };
  if (command.kind === 'status') return { text: await fleetStatus(deps, spec) };
  if (command.kind === 'approve') {
    const first = spec.spec.fleet?.clusters[0]?.name ?? 'cluster';
    return {
      text: `${target} is a fleet: approve one cluster's gate, e.g. \`/sluice approve ${memberAddress(target, first)}\` (or its button in the release's thread).`,
    };
  }
  const action = verb[command.kind];
  if (!action) return undefined;
  const lock = await deps.store.getLock(target);
  if (!lock) return { text: `Nothing to ${command.kind}: no release of ${target} is running.` };
  const reason = command.kind === 'abort' ? command.reason : `${command.kind} from Slack`;
  const result = await fleetAct(deps, spec, lock.owner, action, request.userId, reason);
  return {
    text: result.ok ? `Done: ${result.message}.` : `Not done: ${result.message}.`,
    execution: lock.owner,
    ...(result.version ? { version: result.version } : {}),
  };
}

/** A fleet button: the target is in its gate (`fleet:<target>`), the release is its execution. */
async function fleetButtonClick(
  deps: AckDeps,
  request: BlockAction,
  action: FleetAction,
  value: { execution: string; gate: string },
  followUp: (text: string) => AckResult,
): Promise<AckResult> {
  const base = { user: request.userId, channel: request.channelId, what: `button ${action} on ${value.execution}` };
  const target = value.gate.startsWith(`${FLEET_GATE}:`) ? value.gate.slice(FLEET_GATE.length + 1) : '';
  const spec = target ? await deps.loadTarget(target).catch(() => null) : null;
  if (!spec?.spec.fleet) {
    await audit(deps, { ...base, target: target || undefined, execution: value.execution }, 'unknown fleet target');
    return followUp(`${target || 'This'} is not a fleet in Sluice's registry. Nothing was done.`);
  }
  const where = { ...base, target, execution: value.execution };
  const decision = await access(deps, spec, fleetAccessAction(action), request.userId, request.channelId);
  if (!decision.allowed) {
    await audit(deps, where, 'refused by the access policy');
    return followUp(decision.reason);
  }
  const result = await fleetAct(deps, spec, value.execution, action, request.userId, `aborted from Slack by <@${request.userId}>`);
  await audit(deps, { ...where, version: result.version }, result.ok ? result.message : `not done: ${result.message}`);
  return followUp(result.ok ? `Done: ${result.message}.` : `Not done: ${result.message}.`);
}

async function runCommand(
  deps: AckDeps,
  command: Exclude<Command, { kind: 'help' }>,
  spec: RolloutSpec,
  request: SlashCommand,
): Promise<{ text: string; execution?: string; version?: string }> {
  const target = spec.metadata.name;
  const by = `slack:${request.userId}`;
  if (spec.spec.fleet) {
    const fleet = await fleetCommand(deps, command, spec, request);
    if (fleet) return fleet;
  }
  const running = async () => {
    const lock = await deps.store.getLock(target);
    return lock ? await deps.store.getRollout(lock.owner) : null;
  };
  switch (command.kind) {
    case 'status':
      return { text: await statusText(deps, target) };
    case 'history':
      return { text: await historyText(deps, target) };
    case 'start':
      return { ...(await start(deps, spec, command.version, request)), version: command.version };
    case 'retry': {
      const [latest] = await deps.store.listRollouts(target, 1);
      if (!latest) return { text: `Nothing to retry: ${target} has no rollouts yet.` };
      return { ...(await start(deps, spec, latest.version, request)), version: latest.version };
    }
    case 'abort': {
      const result = await abortRollout({
        store: deps.store,
        sfn: deps.sfn as SFNClient,
        target,
        by,
        reason: command.reason,
        now: deps.now(),
      });
      if (!result.ok) {
        // Past the promotion's point of no return the answer says so: nothing was rolled back.
        if ('tooLate' in result) return { text: `Too late: ${result.message}.`, execution: result.execution };
        return { text: `Nothing to abort: ${result.message}.` };
      }
      await deps.chat.claim(
        chatKeys.click(result.execution, ROLLOUT_GATE),
        JSON.stringify({ action: 'abort', user: request.userId, at: deps.now().toISOString() } satisfies Acted),
      );
      const copied = (await deps.store.getRollout(result.execution))?.safeSide === 'canary';
      const text = result.interruptedBake
        ? `Aborted \`${result.execution}\`: its bake was interrupted; traffic is moving to the primary.`
        : copied
          ? `Abort requested for \`${result.execution}\`: it is promoting and the primary already runs the new template, so all traffic is held on the canary (promotion-failed).`
          : `Abort requested for \`${result.execution}\`: its next step rolls it back.`;
      return { text, execution: result.execution };
    }
    case 'promote':
    case 'approve': {
      const record = await running();
      if (record) {
        const twoPerson = twoPersonCheck(spec.spec.access, command.kind, request.userId, record.requestedBy);
        if (!twoPerson.allowed) return { text: twoPerson.reason, execution: record.execution };
      }
      const result =
        command.kind === 'promote'
          ? await promoteRollout({ store: deps.store, sfn: deps.sfn, target })
          : await approveRollout({ store: deps.store, sfn: deps.sfn, target, by });
      if (!result.ok)
        return {
          text: `${command.kind === 'approve' ? 'Not done' : 'Not promoted'}: ${result.message}.`,
          ...(record ? { execution: record.execution } : {}),
        };
      await deps.chat.claim(
        chatKeys.click(result.execution, ROLLOUT_GATE),
        JSON.stringify({ action: command.kind, user: request.userId, at: deps.now().toISOString() } satisfies Acted),
      );
      return { text: `Done: ${result.message}.`, execution: result.execution };
    }
    case 'schedule':
      return { text: await scheduleText(deps, command, target, request), ...(command.version ? { version: command.version } : {}) };
    case 'pause':
    case 'resume':
      return {
        text: `Only a fleet release pauses between waves: ${target} is a single rollout (\`/sluice abort\` or \`/sluice promote\` it).`,
      };
    case 'override': {
      const result = await overrideWindows({ store: deps.store, events: deps.events, spec, by, reason: command.reason, now: deps.now() });
      if (!result.ok) return { text: `Not overridden: ${result.message}.` };
      return { text: `Done: ${result.message}.`, execution: result.execution };
    }
    default: {
      const never: never = command;
      throw new Error(`unhandled command ${JSON.stringify(never)}`);
    }
  }
}

async function slashCommand(deps: AckDeps, request: SlashCommand): Promise<AckResult> {
  const parsed = parseCommand(request.text);
  const base = { user: request.userId, channel: request.channelId, what: `/sluice ${request.text.trim().slice(0, 200)}` };
  if (!parsed.ok) {
    await audit(deps, base, 'usage');
    return reply(parsed.usage);
  }
  const { command } = parsed;
  if (command.kind === 'help') {
    await audit(deps, base, 'help');
    return reply(USAGE);
  }
  let target = command.target;
  if (command.kind === 'schedule' && command.action !== 'create' && (!target || command.action === 'cancel')) {
    if (!deps.scheduler) {
      await audit(deps, base, 'no scheduler');
      return reply(NO_SCHEDULER);
    }
    if (command.action === 'list') {
      // Every target's schedules: reading, like status.
      const text = await scheduleListText(deps.scheduler);
      await audit(deps, base, 'listed');
      return reply(text);
    }
    // Cancelling needs the start permission of the schedule's target.
    const name = command.args[0] ?? '';
    const found = (await deps.scheduler.list()).find((schedule) => schedule.name === name);
    if (!found) {
      await audit(deps, base, 'unknown schedule');
      return reply(`No pending schedule \`${name.slice(0, 64)}\`: \`/sluice schedule list\` shows them.`);
    }
    target = found.target;
  }
  if (!target) {
    await audit(deps, base, 'no target');
    return reply(USAGE);
  }
  let spec: RolloutSpec | null;
  try {
    spec = await deps.loadTarget(target);
  } catch (error) {
    await audit(deps, { ...base, target }, 'target spec invalid');
    return reply(`The spec of ${target} cannot be used: ${error instanceof Error ? error.message.slice(0, 500) : String(error)}`);
  }
  if (!spec) {
    await audit(deps, { ...base, target }, 'unknown target');
    return reply(`I don't know the target \`${target}\`: it is not in Sluice's registry.`);
  }
  const decision = await access(deps, spec, actionOf(command), request.userId, request.channelId);
  if (!decision.allowed) {
    await audit(deps, { ...base, target }, 'refused by the access policy');
    return reply(decision.reason);
  }
  const done = await runCommand(deps, command, spec, request);
  await audit(deps, { ...base, target, execution: done.execution, version: done.version }, done.text);
  return reply(done.text);
}

const BUTTON_ACTIONS: readonly ButtonAction[] = ['approve', 'promote', 'abort'];
const PAST: Record<ButtonAction, string> = { abort: 'aborted', promote: 'requested promotion of', approve: 'approved' };

async function buttonClick(deps: AckDeps, request: BlockAction): Promise<AckResult> {
  const followUp = (text: string): AckResult => ({
    status: 200,
    body: null,
    followUps: request.responseUrl ? [{ responseUrl: request.responseUrl, message: { ...ephemeral(text), replace_original: false } }] : [],
  });
  const value = decodeButtonValue(request.value);
  const name = request.actionId.startsWith(ACTION_PREFIX) ? request.actionId.slice(ACTION_PREFIX.length) : '';
  if (value && isFleetAction(name)) return fleetButtonClick(deps, request, name, value, followUp);
  const action = name ? (name as ButtonAction) : undefined;
  if (!action || !BUTTON_ACTIONS.includes(action) || !value) return followUp("This button is not one of Sluice's.");
  const base = { user: request.userId, channel: request.channelId, what: `button ${action} on ${value.execution} (${value.gate})` };
  const record = await deps.store.getRollout(value.execution);
  if (!record) return followUp(`Sluice has no rollout \`${value.execution}\`.`);
  const where = { ...base, target: record.target, execution: record.execution, version: record.version };
  const spec = await deps.loadTarget(record.target).catch(() => null);
  if (!spec) {
    await audit(deps, where, 'unknown target');
    return followUp(`${record.target} is no longer in Sluice's registry.`);
  }
  const decision = await access(deps, spec, action, request.userId, request.channelId);
  if (!decision.allowed) {
    await audit(deps, where, 'refused by the access policy');
    return followUp(decision.reason);
  }
  const lock = await deps.store.getLock(record.target);
  if (!lock || lock.owner !== record.execution) {
    await audit(deps, where, 'refused: stale button');
    return followUp(
      `Refused: this button belongs to \`${record.execution}\`, which is no longer running${lock ? ` (${record.target} now runs \`${lock.owner}\`)` : ''}. Nothing was done.`,
    );
  }
  const twoPerson = twoPersonCheck(spec.spec.access, action, request.userId, record.requestedBy);
  if (!twoPerson.allowed) {
    await audit(deps, where, 'refused: two-person rule');
    return followUp(twoPerson.reason);
  }
  const clickKey = chatKeys.click(record.execution, value.gate);
  const acted: Acted = { action, user: request.userId, at: deps.now().toISOString() };
  const claim = await deps.chat.claim(clickKey, JSON.stringify(acted));
  if (!claim.claimed) {
    const first = JSON.parse(claim.value) as Acted;
    await audit(deps, where, `refused: <@${first.user}> acted first`);
    return followUp(
      `<@${first.user}> already ${PAST[first.action]} \`${record.execution}\` ${slackDate(first.at)}. Nothing more was done${action === 'abort' ? '; `/sluice abort` still works at any time' : ''}.`,
    );
  }
  const by = `slack:${request.userId}`;
  let outcome: { ok: boolean; message: string };
  if (action === 'abort') {
    const result = await abortRollout({
      store: deps.store,
      sfn: deps.sfn as SFNClient,
      target: record.target,
      by,
      reason: `aborted from Slack by <@${request.userId}>`,
      now: deps.now(),
    });
    outcome = result.ok ? { ok: true, message: `aborted \`${result.execution}\`` } : result;
  } else if (action === 'promote') {
    outcome = await promoteRollout({ store: deps.store, sfn: deps.sfn, target: record.target, execution: record.execution });
  } else {
    outcome = await approveRollout({
      store: deps.store,
      sfn: deps.sfn,
      target: record.target,
      by,
      execution: record.execution,
      gate: value.gate,
    });
  }
  // An action that could not be done does not use up the buttons.
  if (!outcome.ok) await deps.chat.release(clickKey, JSON.stringify(acted));
  await audit(deps, where, outcome.ok ? outcome.message : `not done: ${outcome.message}`);
  return followUp(outcome.ok ? `Done: ${outcome.message}.` : `Not done: ${outcome.message}.`);
}

/**
 * Handles a verified, parsed request. Refusals that a person should see are 200 with an
 * ephemeral text (Slack shows other statuses as a bare "failed" to the user).
 */
export async function handleSlackRequest(deps: AckDeps, request: SlackRequest): Promise<AckResult> {
  if (request.teamId !== deps.config.teamId || request.apiAppId !== deps.config.apiAppId) {
    return reply('Refused: this Sluice serves another Slack workspace or app.');
  }
  if (request.type === 'block_actions' && request.userTeamId && request.userTeamId !== deps.config.teamId) {
    return {
      status: 200,
      body: null,
      followUps: request.responseUrl
        ? [
            {
              responseUrl: request.responseUrl,
              message: {
                ...ephemeral('Refused: users of another workspace (shared channel) may not control these rollouts.'),
                replace_original: false,
              },
            },
          ]
        : [],
    };
  }
  // Slack retries a delivery it thinks timed out: the first one wins, a repeat has no effect.
  const delivery =
    request.type === 'command' ? `command:${request.triggerId}` : `action:${request.actionTs}:${request.userId}:${request.actionId}`;
  const claim = await deps.chat.claim(
    chatKeys.delivery(delivery),
    deps.now().toISOString(),
    new Date(deps.now().getTime() + DELIVERY_TTL_MS),
  );
  if (!claim.claimed)
    return request.type === 'command'
      ? reply('Already handled: Slack delivered this command twice.')
      : { status: 200, body: null, followUps: [] };
  let refusal: string | null;
  try {
    refusal = await deps.directory.refusal(request.userId);
  } catch {
    // Rate-limited or slow: refuse rather than act without knowing who asked.
    return reply('Could not check your Slack account just now: nothing was done, please try again.');
  }
  if (refusal) {
    await audit(
      deps,
      {
        user: request.userId,
        channel: request.channelId,
        what: request.type === 'command' ? `/sluice ${request.text.slice(0, 200)}` : `button ${request.actionId}`,
      },
      `refused: ${refusal}`,
    );
    const text = `Refused: ${refusal}.`;
    if (request.type === 'command') return reply(text);
    return {
      status: 200,
      body: null,
      followUps: request.responseUrl
        ? [{ responseUrl: request.responseUrl, message: { ...ephemeral(text), replace_original: false } }]
        : [],
    };
  }
  return request.type === 'command' ? slashCommand(deps, request) : buttonClick(deps, request);
}
