/**
 * Slack request verification (v0 signing): `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}`
 * with the app's signing secret, compared in constant time, within five minutes of now. Runs on
 * the raw body before anything parses it; a Lambda Function URL may hand the body base64-encoded.
 * Then the body is parsed into a slash command or a block_actions interaction.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack's own recommendation: refuse requests older (or newer) than five minutes (replays). */
export const MAX_SKEW_SECONDS = 5 * 60;

export type Verification = { ok: true; body: string } | { ok: false; status: 401; reason: string };

function header(headers: Record<string, string | undefined>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

export function signSlackRequest(args: { body: string; timestamp: number; signingSecret: string }): string {
  return `v0=${createHmac('sha256', args.signingSecret).update(`v0:${args.timestamp}:${args.body}`).digest('hex')}`;
}

export function verifySlackRequest(args: {
  rawBody: string;
  isBase64Encoded?: boolean | undefined;
  headers: Record<string, string | undefined>;
  signingSecret: string;
  now: Date;
}): Verification {
  const body = args.isBase64Encoded ? Buffer.from(args.rawBody, 'base64').toString('utf8') : args.rawBody;
  const timestampText = header(args.headers, 'x-slack-request-timestamp');
  const signature = header(args.headers, 'x-slack-signature');
  if (!timestampText || !signature) return { ok: false, status: 401, reason: 'missing Slack signature headers' };
  if (!/^\d{1,12}$/.test(timestampText)) return { ok: false, status: 401, reason: 'malformed Slack request timestamp' };
  const timestamp = Number(timestampText);
  if (Math.abs(args.now.getTime() / 1000 - timestamp) > MAX_SKEW_SECONDS)
    return { ok: false, status: 401, reason: 'stale Slack request (more than 5 minutes off)' };
  const expected = Buffer.from(signSlackRequest({ body, timestamp, signingSecret: args.signingSecret }), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  // timingSafeEqual needs equal lengths; a length mismatch is already a refusal and leaks nothing about the secret.
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, status: 401, reason: 'invalid Slack signature' };
  return { ok: true, body };
}

export interface SlashCommand {
  type: 'command';
  teamId: string;
  apiAppId: string;
  userId: string;
  channelId: string;
  command: string;
  text: string;
  triggerId: string;
  responseUrl: string;
}

export interface BlockAction {
  type: 'block_actions';
  teamId: string;
  apiAppId: string;
  userId: string;
  /** The user's own team: differs from teamId for another workspace's user in a shared channel. */
  userTeamId: string | undefined;
  channelId: string;
  actionId: string;
  value: string;
  actionTs: string;
  responseUrl: string;
  messageTs: string | undefined;
}

export type SlackRequest = SlashCommand | BlockAction;

type Parsed = { ok: true; request: SlackRequest } | { ok: false; reason: string };

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** Parses a verified body: a slash command form, or `payload=<json>` of a block_actions interaction. */
export function parseSlackBody(body: string): Parsed {
  const form = new URLSearchParams(body);
  const payload = form.get('payload');
  if (payload === null) {
    const command: SlashCommand = {
      type: 'command',
      teamId: form.get('team_id') ?? '',
      apiAppId: form.get('api_app_id') ?? '',
      userId: form.get('user_id') ?? '',
      channelId: form.get('channel_id') ?? '',
      command: form.get('command') ?? '',
      text: form.get('text') ?? '',
      triggerId: form.get('trigger_id') ?? '',
      responseUrl: form.get('response_url') ?? '',
    };
    if (!command.teamId || !command.userId || !command.triggerId)
      return { ok: false, reason: 'not a slash command (team_id, user_id or trigger_id missing)' };
    return { ok: true, request: command };
  }
  let parsedPayload: unknown;
  try {
    parsedPayload = JSON.parse(payload);
  } catch {
    return { ok: false, reason: 'interaction payload is not JSON' };
  }
  // `payload=null`, `[]`, `5`: valid JSON of any shape is still not an interaction (a 400, never a crash).
  if (typeof parsedPayload !== 'object' || parsedPayload === null || Array.isArray(parsedPayload))
    return { ok: false, reason: 'interaction payload is not a JSON object' };
  const json = parsedPayload as Record<string, unknown>;
  if (json.type !== 'block_actions') return { ok: false, reason: `interaction type ${str(json.type) || '(none)'} is not handled` };
  const user = (json.user ?? {}) as Record<string, unknown>;
  const team = (json.team ?? {}) as Record<string, unknown>;
  const channel = (json.channel ?? {}) as Record<string, unknown>;
  const container = (json.container ?? {}) as Record<string, unknown>;
  const [action] = Array.isArray(json.actions) ? (json.actions as Record<string, unknown>[]) : [];
  if (!action || !str(team.id) || !str(user.id)) return { ok: false, reason: 'block_actions payload without team, user or action' };
  return {
    ok: true,
    request: {
      type: 'block_actions',
      teamId: str(team.id),
      apiAppId: str(json.api_app_id),
      userId: str(user.id),
      userTeamId: str(user.team_id) || undefined,
      channelId: str(channel.id) || str(container.channel_id),
      actionId: str(action.action_id),
      value: str(action.value),
      actionTs: str(action.action_ts),
      responseUrl: str(json.response_url),
      messageTs: str(container.message_ts) || undefined,
    },
  };
}
