import type { KnownBlock } from '@slack/types';
import { describe, expect, it } from 'vitest';
import { decodeButtonValue, ephemeral, headBlocks, messageProblems, slackDate } from './blocks.ts';
import type { RolloutView } from './blocks.ts';

const view: RolloutView = {
  target: 'web',
  version: 'v2.0.1',
  execution: 'web-v2-0-1',
  state: 'running',
  weights: { primary: 90, canary: 10 },
  scale: 100,
  startedAt: '2026-11-27T10:00:00Z',
  requestedBy: 'slack:U0ALICE',
  lastLook: {
    at: '2026-11-27T10:01:00Z',
    verdict: {
      result: 'pass',
      summary: 'all metrics within range',
      checks: [{ name: 'request-success-rate', value: 99.93, min: 99, result: 'pass', primary: 99.95 }],
    },
  },
};

describe('Block Kit', () => {
  it('the head message carries the numbers and buttons naming the execution and gate', () => {
    const blocks: KnownBlock[] = headBlocks(view);
    const json = JSON.stringify(blocks);
    expect(json).toContain('▰▱▱▱▱▱▱▱▱▱  canary 10% · primary 90%');
    expect(json).toContain('request-success-rate 99.93 (primary 99.95) — min 99');
    const actions = blocks.find((b) => b.type === 'actions');
    const values =
      actions?.type === 'actions'
        ? actions.elements.map((e) => (e.type === 'button' ? [e.action_id, decodeButtonValue(e.value ?? ''), Boolean(e.confirm)] : []))
        : [];
    expect(values).toEqual([
      ['sluice:promote', { execution: 'web-v2-0-1', gate: 'rollout' }, true],
      ['sluice:abort', { execution: 'web-v2-0-1', gate: 'rollout' }, true],
    ]);
    expect(messageProblems({ blocks })).toEqual([]);
  });

  it('after a click the buttons give way to who acted', () => {
    const blocks = headBlocks({ ...view, acted: { action: 'abort', user: 'U0BOB', at: '2026-11-27T10:02:00Z' } });
    expect(blocks.some((b) => b.type === 'actions')).toBe(false);
    expect(JSON.stringify(blocks)).toContain('*Aborted* by <@U0BOB> <!date^1795773720^{date_short_pretty} {time}|2026-11-27 10:02:00 UTC>');
  });

  it('shows times as Slack date tokens with a UTC fallback', () => {
    expect(slackDate('2026-11-27T10:00:00.000Z')).toBe('<!date^1795773600^{date_short_pretty} {time}|2026-11-27 10:00:00 UTC>');
  });

  it('stays within Slack limits with a huge verdict, and the check catches a message that would not', () => {
    const checks = Array.from({ length: 200 }, (_, i) => ({
      name: `metric-${i}-${'x'.repeat(40)}`,
      value: i,
      max: 1,
      result: 'fail' as const,
    }));
    const blocks = headBlocks({
      ...view,
      version: 'v'.repeat(300),
      reason: 'r'.repeat(5000),
      lastLook: { at: view.startedAt, verdict: { result: 'fail', summary: 's'.repeat(4000), checks } },
    });
    expect(messageProblems({ blocks })).toEqual([]);
    expect(messageProblems(ephemeral('y'.repeat(10_000)))).toEqual([]);
    const tooMany: KnownBlock[] = Array.from({ length: 51 }, () => ({ type: 'section', text: { type: 'mrkdwn', text: 'z'.repeat(3001) } }));
    const problems = messageProblems({ blocks: tooMany });
    expect(problems[0]).toBe('51 blocks (at most 50)');
    expect(problems).toContain('blocks[0].text.text has 3001 characters (at most 3000)');
  });
});
