/**
 * `/sluice …` text -> a command. Pure. Malformed text never throws: it becomes a usage reply
 * that says what was expected, because the person typing it sees nothing else.
 */

export type Command =
  | { kind: 'help' }
  | { kind: 'start'; target: string; version: string }
  | { kind: 'status'; target: string }
  | { kind: 'history'; target: string }
  | { kind: 'abort'; target: string; reason: string }
  | { kind: 'promote'; target: string }
  | { kind: 'approve'; target: string }
  | { kind: 'retry'; target: string }
  /** A fleet release: hold it after the wave now rolling / let it go on. */
  | { kind: 'pause'; target: string }
  | { kind: 'resume'; target: string }
  | { kind: 'override'; target: string; reason: string }
  | {
      kind: 'schedule';
      action: 'list' | 'cancel' | 'create';
      target?: string;
      args: string[];
      /** create: the version, the time as typed, and its zone (`tz <zone>`). */
      version?: string;
      at?: string;
      timeZone?: string;
    };

export type CommandKind = Command['kind'];

export type ParsedCommand = { ok: true; command: Command } | { ok: false; usage: string };

/**
 * The command's action for the access policy: retry and scheduling start rollouts (listing schedules
 * is reading, like status); a window override is allowed to the approvers. Pausing a fleet stops it
 * from going on (whoever may abort may pause); resuming moves it forward, as promote does.
 */
export type Action = 'start' | 'approve' | 'promote' | 'abort' | 'status' | 'history' | 'help';

export function actionOf(command: Command): Action {
  switch (command.kind) {
    case 'help':
      return 'help';
    case 'status':
    case 'history':
      return command.kind;
    case 'schedule':
      return command.action === 'list' ? 'status' : 'start';
    case 'start':
    case 'retry':
      return 'start';
    case 'override':
      return 'approve';
    case 'abort':
    case 'pause':
      return 'abort';
    case 'promote':
    case 'resume':
      return 'promote';
    case 'approve':
      return 'approve';
    default: {
      const never: never = command;
      throw new Error(`unknown command ${JSON.stringify(never)}`);
    }
  }
}

export const USAGE = [
  '*Sluice* — canary rollouts from chat',
  '`/sluice start <target> <version>` start a rollout',
  '`/sluice status <target>` where the rollout is and its last verdict',
  '`/sluice history <target>` recent rollouts',
  '`/sluice abort <target> [reason]` roll back now (any time)',
  '`/sluice promote <target>` promote now (skips the remaining analysis steps); for a fleet: every remaining wave at once',
  '`/sluice pause <target>` · `/sluice resume <target>` hold a fleet release after the wave now rolling / let it go on',
  '`/sluice approve <target>` approve a pending gate',
  '`/sluice retry <target>` a new attempt of the last version',
  '`/sluice override <target> <reason…>` let it move outside its change windows (audited)',
  '`/sluice schedule <target> <version> at <time> [tz <zone>]` start it later (ISO time with offset, or a local time with tz)',
  '`/sluice schedule list [target]` · `/sluice schedule cancel <name>` scheduled rollouts',
  '`/sluice help` this text',
].join('\n');

/** A target name as the spec allows it (metadata.name is a DNS label). */
const TARGET = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A version: the execution input allows 1–128 characters; no whitespace or Slack markup. */
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._:@+/-]{0,127}$/;

const SYNTAX: Record<Exclude<CommandKind, 'help' | 'schedule'>, string> = {
  start: '/sluice start <target> <version>',
  status: '/sluice status <target>',
  history: '/sluice history <target>',
  abort: '/sluice abort <target> [reason]',
  promote: '/sluice promote <target>',
  approve: '/sluice approve <target>',
  retry: '/sluice retry <target>',
  pause: '/sluice pause <target>',
  resume: '/sluice resume <target>',
  override: '/sluice override <target> <reason…>',
};

const SCHEDULE_CREATE = '/sluice schedule <target> <version> at <time> [tz <zone>]';

/** `<version> at <time words…> [tz <zone>]` of `/sluice schedule <target> …`. */
function scheduleCreate(target: string, args: string[]): ParsedCommand {
  const [version, at, ...rest] = args;
  if (!version) return usage(`Which version of ${target}?`, SCHEDULE_CREATE);
  if (!VERSION.test(version))
    return usage(`\`${version.slice(0, 64)}\` is not a version (letters, digits and . _ : @ + / -, at most 128).`, SCHEDULE_CREATE);
  if (at?.toLowerCase() !== 'at') return usage('When? Write `at` and the time.', SCHEDULE_CREATE);
  const tz = rest.findIndex((word) => word.toLowerCase() === 'tz');
  const timeWords = tz === -1 ? rest : rest.slice(0, tz);
  const zone = tz === -1 ? [] : rest.slice(tz + 1);
  if (!timeWords.length)
    return usage('When? Give an ISO time with offset (2026-12-01T09:00+01:00) or a local time with `tz <zone>`.', SCHEDULE_CREATE);
  if (tz !== -1 && zone.length !== 1) return usage('`tz` takes one IANA zone, such as Europe/Berlin.', SCHEDULE_CREATE);
  return {
    ok: true,
    command: {
      kind: 'schedule',
      action: 'create',
      target,
      args,
      version,
      at: timeWords.join(' '),
      ...(zone[0] ? { timeZone: zone[0] } : {}),
    },
  };
}

function usage(problem: string, syntax?: string): ParsedCommand {
  return { ok: false, usage: `${problem}${syntax ? `\nUsage: \`${syntax}\`` : ''}\nType \`/sluice help\` for every command.` };
}

/** Slack escapes &, < and > in command text; a quoted word may carry them. */
function unescape(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** One cluster's rollout of a fleet target: `podinfo@eu-1` (lambdas/core/fleet-member.ts). */
const CLUSTER_ADDRESS = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)@([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/;

function targetOf(word: string | undefined, syntax: string): string | ParsedCommand {
  if (!word) return usage('Which target?', syntax);
  const address = CLUSTER_ADDRESS.exec(word);
  if (address && (address[1] ?? '').length <= 63 && (address[3] ?? '').length <= 63) return word;
  if (!TARGET.test(word) || word.length > 63)
    return usage(
      `\`${word.slice(0, 64)}\` is not a target name (lowercase letters, digits and -, or target@cluster for one cluster of a fleet).`,
      syntax,
    );
  return word;
}

export function parseCommand(rawText: string): ParsedCommand {
  const text = unescape(rawText).trim();
  if (text.length > 1000) return usage('That command is too long.');
  const [verb = '', ...rest] = text.split(/\s+/).filter(Boolean);
  const name = verb.toLowerCase();
  if (name === '' || name === 'help') return { ok: true, command: { kind: 'help' } };
  if (name === 'schedule') {
    const [action = '', ...args] = rest;
    if (action === 'list')
      return { ok: true, command: { kind: 'schedule', action: 'list', args, ...(args[0] ? { target: args[0] } : {}) } };
    if (action === 'cancel') {
      if (!args[0]) return usage('Which schedule?', '/sluice schedule cancel <name>');
      return { ok: true, command: { kind: 'schedule', action: 'cancel', args } };
    }
    if (action && TARGET.test(action)) return scheduleCreate(action, args);
    return usage(
      'Expected `list`, `cancel <name>` or `<target> <version> <time>`.',
      '/sluice schedule list|cancel <name>|<target> <version> <time>',
    );
  }
  if (!(name in SYNTAX)) return usage(`I don't know \`${name.slice(0, 32)}\`.`);
  const kind = name as keyof typeof SYNTAX;
  const syntax = SYNTAX[kind];
  const target = targetOf(rest[0], syntax);
  if (typeof target !== 'string') return target;
  const extra = rest.slice(1);
  switch (kind) {
    case 'start': {
      const [version, ...more] = extra;
      if (!version) return usage(`Which version of ${target}?`, syntax);
      if (!VERSION.test(version))
        return usage(`\`${version.slice(0, 64)}\` is not a version (letters, digits and . _ : @ + / -, at most 128).`, syntax);
      if (more.length) return usage(`Unexpected \`${more.join(' ').slice(0, 64)}\` after the version.`, syntax);
      return { ok: true, command: { kind, target, version } };
    }
    case 'abort':
      return { ok: true, command: { kind, target, reason: extra.join(' ').slice(0, 500) || 'aborted from Slack' } };
    case 'override': {
      const reason = extra.join(' ').slice(0, 500);
      if (!reason) return usage(`Why? An override of ${target}'s change windows needs a reason (it is audited).`, syntax);
      return { ok: true, command: { kind, target, reason } };
    }
    case 'status':
    case 'history':
    case 'promote':
    case 'approve':
    case 'retry':
    case 'pause':
    case 'resume':
      if (extra.length) return usage(`Unexpected \`${extra.join(' ').slice(0, 64)}\` after the target.`, syntax);
      return { ok: true, command: { kind, target } };
    default: {
      const never: never = kind;
      return usage(`I don't know \`${String(never)}\`.`);
    }
  }
}
