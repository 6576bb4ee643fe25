/**
 * A fake Slack Web API on loopback for tests, passed to @slack/web-api as `slackApiUrl`.
 * Records every call (method + decoded arguments); answers from a per-method script first
 * (a 429 with Retry-After, or a Slack error such as `not_in_channel`), then with defaults.
 * Also serves as a response_url sink (`/response/<id>`).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Scripted = { status: 429; retryAfter: number } | { error: string };

export interface FakeUser {
  id: string;
  team_id: string;
  is_restricted?: boolean;
  is_ultra_restricted?: boolean;
  is_bot?: boolean;
  deleted?: boolean;
}

export interface RecordedCall {
  method: string;
  args: Record<string, unknown>;
  at: number;
}

export interface FakeSlack {
  url: string;
  /** Where a test sends response_url posts. */
  responseUrl(id: string): string;
  calls: RecordedCall[];
  responses: { id: string; body: Record<string, unknown> }[];
  script(method: string, ...answers: Scripted[]): void;
  users: Map<string, FakeUser>;
  groups: Map<string, string[]>;
  /** Channels conversations.info knows (by ID); any other answers channel_not_found. */
  channels: Map<string, { is_archived?: boolean }>;
  close(): Promise<void>;
}

export interface FakeSlackOptions {
  /** Bot tokens the Web API accepts (Authorization: Bearer); any other answers invalid_auth. Default: every token. */
  tokens?: readonly string[];
  /** The workspace auth.test reports. Default T0FAKE. */
  teamId?: string;
}

function decode(body: string, contentType: string | undefined): Record<string, unknown> {
  if (contentType?.includes('application/json')) return JSON.parse(body || '{}') as Record<string, unknown>;
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    // The client JSON-encodes nested arguments (blocks) inside the form.
    args[key] = /^[[{]/.test(value) ? (JSON.parse(value) as unknown) : value;
  }
  return args;
}

export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const calls: RecordedCall[] = [];
  const responses: { id: string; body: Record<string, unknown> }[] = [];
  const scripts = new Map<string, Scripted[]>();
  const users = new Map<string, FakeUser>();
  const groups = new Map<string, string[]>();
  const channels = new Map<string, { is_archived?: boolean }>();
  let ts = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = request.url ?? '';
      const reply = (status: number, json: unknown, headers: Record<string, string> = {}) => {
        response.writeHead(status, { 'content-type': 'application/json', ...headers });
        response.end(JSON.stringify(json));
      };
      if (path.startsWith('/response/')) {
        responses.push({ id: path.slice('/response/'.length), body: JSON.parse(body) as Record<string, unknown> });
        return reply(200, { ok: true });
      }
      const method = path.replace(/^\/api\//, '').split('?')[0] ?? '';
      const args = decode(body, request.headers['content-type']);
      calls.push({ method, args, at: Date.now() });
      // Slack answers a bad token with HTTP 200 and invalid_auth (Web API error handling).
      const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? String(args.token ?? '');
      if (options.tokens && !options.tokens.includes(token)) return reply(200, { ok: false, error: 'invalid_auth' });
      const scripted = scripts.get(method)?.shift();
      if (scripted && 'status' in scripted)
        return reply(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(scripted.retryAfter) });
      if (scripted) return reply(200, { ok: false, error: scripted.error });
      switch (method) {
        case 'chat.postMessage':
          ts += 1;
          return reply(200, { ok: true, channel: args.channel, ts: `1700000000.${String(ts).padStart(6, '0')}` });
        case 'chat.update':
          return reply(200, { ok: true, channel: args.channel, ts: args.ts });
        case 'conversations.join':
          return reply(200, { ok: true, channel: { id: args.channel } });
        case 'users.info': {
          const user = users.get(String(args.user));
          return user ? reply(200, { ok: true, user }) : reply(200, { ok: false, error: 'user_not_found' });
        }
        case 'auth.test':
          return reply(200, {
            ok: true,
            url: 'https://fake.slack.com/',
            team: 'Fake',
            user: 'sluice',
            team_id: options.teamId ?? 'T0FAKE',
            user_id: 'U0BOT',
          });
        case 'conversations.info': {
          const channel = channels.get(String(args.channel));
          return channel
            ? reply(200, { ok: true, channel: { id: args.channel, is_archived: channel.is_archived ?? false } })
            : reply(200, { ok: false, error: 'channel_not_found' });
        }
        case 'usergroups.users.list':
          return reply(200, { ok: true, users: groups.get(String(args.usergroup)) ?? [] });
        default:
          return reply(200, { ok: false, error: 'unknown_method' });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/api/`,
    responseUrl: (id) => `${base}/response/${id}`,
    calls,
    responses,
    script: (method, ...answers) => scripts.set(method, [...(scripts.get(method) ?? []), ...answers]),
    users,
    groups,
    channels,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
