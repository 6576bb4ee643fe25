import { describe, expect, it } from 'vitest';
import { parseSlackBody, signSlackRequest, verifySlackRequest } from './verify.ts';

const now = new Date('2026-11-27T10:00:00Z');
const timestamp = Math.floor(now.getTime() / 1000);
const body = 'team_id=T1&user_id=U1&text=status+web&trigger_id=t1';

describe('verifySlackRequest', () => {
  it("matches Slack's documented example signature", () => {
    // From Slack's "Verifying requests from Slack" guide.
    const example =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    expect(signSlackRequest({ body: example, timestamp: 1531420618, signingSecret: '8f742231b10e8888abcd99yyyzzz85a5' })).toBe(
      'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    );
  });

  it('accepts a valid signature with headers in any case, and decodes base64 bodies', () => {
    const signature = signSlackRequest({ body, timestamp, signingSecret: 's' });
    expect(
      verifySlackRequest({
        rawBody: body,
        headers: { 'X-Slack-Signature': signature, 'X-Slack-Request-Timestamp': String(timestamp) },
        signingSecret: 's',
        now,
      }),
    ).toEqual({ ok: true, body });
    const encoded = Buffer.from(body).toString('base64');
    expect(
      verifySlackRequest({
        rawBody: encoded,
        isBase64Encoded: true,
        headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': String(timestamp) },
        signingSecret: 's',
        now,
      }),
    ).toEqual({ ok: true, body });
  });

  it('refuses missing, malformed, short, forged and stale signatures', () => {
    const signature = signSlackRequest({ body, timestamp, signingSecret: 's' });
    const verify = (headers: Record<string, string>, at = now) =>
      verifySlackRequest({ rawBody: body, headers, signingSecret: 's', now: at });
    expect(verify({})).toMatchObject({ ok: false, reason: 'missing Slack signature headers' });
    expect(verify({ 'x-slack-signature': signature, 'x-slack-request-timestamp': '12e9' })).toMatchObject({
      ok: false,
      reason: 'malformed Slack request timestamp',
    });
    expect(verify({ 'x-slack-signature': 'v0=abc', 'x-slack-request-timestamp': String(timestamp) })).toMatchObject({
      ok: false,
      reason: 'invalid Slack signature',
    });
    expect(
      verify({
        'x-slack-signature': signSlackRequest({ body, timestamp, signingSecret: 'other' }),
        'x-slack-request-timestamp': String(timestamp),
      }),
    ).toMatchObject({ ok: false, reason: 'invalid Slack signature' });
    expect(
      verify({ 'x-slack-signature': signature, 'x-slack-request-timestamp': String(timestamp) }, new Date(now.getTime() + 301_000)),
    ).toMatchObject({ ok: false, reason: 'stale Slack request (more than 5 minutes off)' });
  });
});

describe('parseSlackBody', () => {
  it('reads slash commands and block_actions payloads', () => {
    expect(parseSlackBody(body)).toMatchObject({
      ok: true,
      request: { type: 'command', teamId: 'T1', userId: 'U1', text: 'status web', triggerId: 't1' },
    });
    const payload = {
      type: 'block_actions',
      team: { id: 'T1' },
      api_app_id: 'A1',
      user: { id: 'U1', team_id: 'T2' },
      channel: { id: 'C1' },
      actions: [{ action_id: 'sluice:abort', value: '{}', action_ts: '1.2' }],
      response_url: 'https://hooks.slack.com/actions/x',
    };
    expect(parseSlackBody(new URLSearchParams({ payload: JSON.stringify(payload) }).toString())).toMatchObject({
      ok: true,
      request: { type: 'block_actions', userTeamId: 'T2', actionId: 'sluice:abort', actionTs: '1.2', channelId: 'C1' },
    });
  });

  it('refuses what it does not handle, without throwing', () => {
    expect(parseSlackBody('payload=not-json')).toEqual({ ok: false, reason: 'interaction payload is not JSON' });
    expect(parseSlackBody(new URLSearchParams({ payload: JSON.stringify({ type: 'view_submission' }) }).toString())).toEqual({
      ok: false,
      reason: 'interaction type view_submission is not handled',
    });
    expect(parseSlackBody('hello')).toMatchObject({ ok: false });
  });
});
