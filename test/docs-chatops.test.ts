/** The chat-ops page's snippets are what the code does: the example thread is the builder's output, the policy parses. */
import { readFileSync } from 'node:fs';
import type { KnownBlock } from '@slack/types';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { headBlocks, messageProblems } from '../lambdas/core/chatops/blocks.ts';
import { rolloutSpecSchema } from '../lambdas/core/spec.ts';

const section = readFileSync(new URL('../docs/chatops.md', import.meta.url), 'utf8');
const fenced = (lang: string) => [...section.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] ?? '');

describe('docs/chatops.md: Chat-ops (Slack)', () => {
  it('shows the head message exactly as the builder sends it, within Slack limits', () => {
    const example = JSON.parse(fenced('json')[0] ?? '{}') as { blocks: KnownBlock[] };
    const built = headBlocks({
      target: 'podinfo',
      version: 'v6.7.1',
      execution: 'podinfo-v6-7-1',
      state: 'running',
      weights: { primary: 75, canary: 25 },
      scale: 100,
      startedAt: '2026-11-27T10:00:00Z',
      requestedBy: 'slack:U0ALICE',
      lastLook: {
        at: '2026-11-27T10:03:00Z',
        verdict: {
          result: 'pass',
          summary: 'all 2 metrics within range',
          checks: [
            { name: 'request-success-rate', value: 99.93, min: 99, result: 'pass', primary: 99.95 },
            { name: 'request-duration', value: 212, max: 500, result: 'pass', primary: 198 },
          ],
        },
      },
    });
    expect(example.blocks).toEqual(built);
    expect(messageProblems(example)).toEqual([]);
  });

  it('documents an access policy the spec schema accepts, and a manifest with the scopes the bot calls', () => {
    const [manifest, policy] = fenced('yaml').map((text) => parse(text) as Record<string, unknown>);
    expect(rolloutSpecSchema.shape.spec.shape.access.parse((policy as { access: unknown }).access)).toMatchObject({ twoPersonRule: true });
    expect((manifest as { oauth_config: { scopes: { bot: string[] } } }).oauth_config.scopes.bot).toEqual([
      'commands',
      'chat:write',
      'channels:join',
      'users:read',
      'usergroups:read',
    ]);
  });
});
