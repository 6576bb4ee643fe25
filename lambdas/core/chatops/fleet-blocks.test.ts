import { describe, expect, it } from 'vitest';
import { messageProblems } from './blocks.ts';
import { fleetAccessAction, fleetHeadBlocks, fleetHeadText, isFleetAction } from './fleet-blocks.ts';
import type { FleetView } from './fleet-blocks.ts';

function view(waves: number, overrides: Partial<FleetView> = {}): FleetView {
  return {
    target: 'web',
    version: 'v2',
    execution: 'web-v2-fleet',
    state: 'running',
    waves: Array.from({ length: waves }, (_, w) => ({
      pause: '10m',
      clusters: [
        {
          cluster: `c${w}`,
          execution: `web-c${w}-v2`,
          state: w === 0 ? 'promoted' : w === 1 ? 'running' : 'not-started',
          weights: { primary: 75, canary: 25 },
          scale: 100,
          lastLook:
            w === 1 ? { at: '2026-12-07T05:00:00Z', verdict: { result: 'pass', summary: 'x'.repeat(2000), checks: [] } } : undefined,
        },
      ],
    })),
    promoteRest: false,
    ...overrides,
  };
}

describe('the fleet thread head', () => {
  it('stays within Slack limits for a fleet of many waves with long verdicts (the waves past 40 share a section)', () => {
    // Prepare
    const big = view(60);
    // Act
    const blocks = fleetHeadBlocks(big);
    // Assess
    expect(messageProblems({ text: fleetHeadText(big), blocks })).toEqual([]);
    expect(blocks.length).toBeLessThanOrEqual(50);
    expect(JSON.stringify(blocks)).toContain('*Waves 41–60*');
    expect(fleetHeadText(big)).toBe('web v2 (fleet): running; 1/60 clusters promoted, 1 rolling');
  });

  it('shows no buttons once the fleet is aborted, halting or ended; Abort stays after promote-the-rest', () => {
    const at = '2026-12-07T05:00:00Z';
    const actions = (v: FleetView) =>
      (fleetHeadBlocks(v).find((b) => b.type === 'actions') as { elements: Array<{ action_id: string }> } | undefined)?.elements.map(
        (e) => e.action_id,
      );
    expect(actions(view(2, { aborted: { action: 'fleet-abort', user: 'U1', at } }))).toBeUndefined();
    expect(actions(view(2, { state: 'halting' }))).toBeUndefined();
    expect(actions(view(2, { state: 'promoted' }))).toBeUndefined();
    expect(actions(view(2, { promoteRest: true, promotedRest: { action: 'fleet-promote-rest', user: 'U1', at } }))).toEqual([
      'sluice:fleet-pause',
      'sluice:fleet-abort',
    ]);
  });

  it('maps each fleet verb to the access policy: pause with abort, resume and promote-the-rest with promote', () => {
    expect(isFleetAction('fleet-pause')).toBe(true);
    expect(isFleetAction('abort')).toBe(false);
    expect(['fleet-abort', 'fleet-pause', 'fleet-resume', 'fleet-promote-rest'].map((a) => fleetAccessAction(a as never))).toEqual([
      'abort',
      'abort',
      'promote',
      'promote',
    ]);
  });
});
