/**
 * The chat-ops access policy per target (`spec.access`). Pure: group membership is
 * resolved by the adapter (only for the groups `groupsToResolve` names) and passed in.
 *
 * - No policy: only `status` and `help` work.
 * - `channels`: when listed, commands and clicks are accepted only there (empty = any channel).
 * - Abort is allowed more widely than promote: whoever may start, approve or promote may also
 *   abort (stopping is always safer than going on), plus the principals listed under `abort`.
 * - `twoPersonRule`: the one who approves or promotes must not be the one who started.
 */
import type { RolloutSpec } from '../spec.ts';
import type { Action } from './command.ts';

export type AccessPolicy = NonNullable<RolloutSpec['spec']['access']>;

export interface Caller {
  /** Slack user ID (U…/W…). */
  user: string;
  channel: string;
  /** The user groups (S…) among `groupsToResolve(...)` that the caller belongs to. */
  memberOf: ReadonlySet<string>;
}

export type AccessDecision = { allowed: true } | { allowed: false; reason: string };

/** Who may do `action` under `policy` (user IDs and group IDs). */
export function principalsFor(policy: AccessPolicy, action: Action): string[] {
  switch (action) {
    case 'help':
    case 'status':
    case 'history':
      return [];
    case 'start':
      return policy.start;
    case 'approve':
      return policy.approve;
    case 'promote':
      return policy.promote;
    case 'abort':
      return [...new Set([...policy.abort, ...policy.promote, ...policy.approve, ...policy.start])];
    default: {
      const never: never = action;
      throw new Error(`unknown action ${String(never)}`);
    }
  }
}

/** The user groups whose membership decides `action` (the adapter resolves these, cached). */
export function groupsToResolve(policy: AccessPolicy | undefined, action: Action): string[] {
  if (!policy) return [];
  return principalsFor(policy, action).filter((principal) => principal.startsWith('S'));
}

export function authorize(policy: AccessPolicy | undefined, action: Action, caller: Caller, target: string): AccessDecision {
  if (action === 'help') return { allowed: true };
  if (!policy) {
    if (action === 'status') return { allowed: true };
    return {
      allowed: false,
      reason: `${target} has no chat-ops access policy (spec.access): only \`status\` and \`help\` work from Slack.`,
    };
  }
  if (policy.channels.length && !policy.channels.includes(caller.channel)) {
    return { allowed: false, reason: `${target} is not controlled from this channel: use <#${policy.channels[0]}>.` };
  }
  // Reading is open to everyone in an allowed channel.
  if (action === 'status' || action === 'history') return { allowed: true };
  const principals = principalsFor(policy, action);
  const allowed = principals.some((principal) => principal === caller.user || caller.memberOf.has(principal));
  return allowed
    ? { allowed: true }
    : { allowed: false, reason: `You may not ${action} ${target}: ask someone listed under spec.access.${action}.` };
}

/** The Slack user behind a `requestedBy` written by chat-ops (`slack:U123`), if any. */
export function slackRequester(requestedBy: string): string | undefined {
  return /^slack:([UW][A-Z0-9]+)$/.exec(requestedBy)?.[1];
}

/** The two-person rule: approve and promote must come from someone other than the requester. */
export function twoPersonCheck(policy: AccessPolicy | undefined, action: Action, actor: string, requestedBy: string): AccessDecision {
  if (!policy?.twoPersonRule || (action !== 'approve' && action !== 'promote')) return { allowed: true };
  if (slackRequester(requestedBy) === actor)
    return { allowed: false, reason: `Two-person rule: <@${actor}> started this rollout, so someone else must ${action} it.` };
  return { allowed: true };
}
