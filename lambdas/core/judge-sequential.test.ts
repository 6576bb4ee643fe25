/**
 * The sequential judge behind the judge seam, with the counter source stubbed at its port:
 * Prepare fits the look interval to the scrapes and warns about thin traffic; a look without a new
 * scrape keeps the schedule; scrapes that stop for a whole interval roll back under noData: fail.
 */
import { describe, expect, it } from 'vitest';
import type { CounterHistory, CounterSnapshot, SeriesSample } from './counts.ts';
import type { JudgePorts } from './judge-seam.ts';
import { createSequentialJudge } from './judge-sequential.ts';
import { initialRun } from './rollout.ts';
import { judgeTestSpec } from './judge.fixtures.ts';
import type { RunState } from './task.ts';

const NS = 'gloo-system';
const GW = { job: 'gloo', instance: '10.0.0.1:8081' };
const T0 = Date.parse('2026-12-06T12:00:00Z');

const spec = judgeTestSpec({
  judge: 'sequential',
  strategy: { stepWeights: [10, 50], interval: '1m', lookInterval: '10s', deadline: '1h' },
});

/** A counter source whose scrapes the test controls: `scrapedAt` (s after T0) and totals per arm. */
function fakeWorld(history: Partial<CounterHistory> = {}) {
  const world = { now: T0, scrapedAt: 0, canary: 0, primary: 10_000 };
  const series = (arm: 'canary' | 'primary', value: number): SeriesSample[] =>
    value > 0
      ? [
          {
            labels: { ...GW, envoy_cluster_name: `web-${arm}_${NS}`, envoy_response_code: '200' },
            value,
            timestamp: T0 + world.scrapedAt * 1000,
          },
        ]
      : [];
  const memory = new Map<string, unknown>();
  const ports: JudgePorts = {
    now: () => new Date(world.now),
    readMetrics: async () => [],
    store: {
      getAnalysisState: async (execution: string) => memory.get(execution) ?? null,
      putAnalysisState: async (execution: string, state: unknown) => {
        memory.set(execution, structuredClone(state));
      },
    },
    snapshotCounters: async (_spec, _t, options): Promise<CounterSnapshot> => {
      const snapshot: CounterSnapshot = {
        at: new Date(world.now).toISOString(),
        canary: { requests: series('canary', world.canary), errors: [], slow: {} },
        primary: { requests: series('primary', world.primary), errors: [], slow: {} },
      };
      if (options?.historySeconds)
        snapshot.history = { seconds: 300, scrapeIntervalSeconds: 30, canaryRps: 0, primaryRps: 200, primaryErrorRate: 0.005, ...history };
      return snapshot;
    },
  };
  return { world, judge: createSequentialJudge(spec, ports) };
}

describe('the sequential judge in the flow', () => {
  it('Prepare raises a look interval shorter than the scrapes, keeps the step length, and says so', async () => {
    const { judge } = fakeWorld();

    const started = await judge.start('e1', initialRun(spec, new Date(T0)));

    expect(started.run.bakeSeconds).toBe(30);
    expect(started.run.looksPerStep).toBe(2);
    expect(started.notes[0]).toBe(
      'lookInterval raised from 10s to 30s: Prometheus scrapes these counters every 30s, and a look between scrapes sees nothing new (2 looks per 1m step)',
    );
    expect(started.notes.some((n) => n.startsWith('What to expect at 200 requests/s'))).toBe(true);
  });

  it('Prepare warns when fewer than about 5 canary requests per look are expected', async () => {
    const { judge } = fakeWorld({ primaryRps: 0.5, scrapeIntervalSeconds: 15 });

    const started = await judge.start('e1', initialRun(spec, new Date(T0)));

    expect(started.notes.at(-1)).toMatch(/^thin traffic: about 0\.8 canary requests per look at the first step \(under 5\)/);
  });

  it('a look without a new scrape keeps the schedule; scrapes stopped for a whole interval roll back', async () => {
    // Prepare: scrapes every 30 s, looks every 30 s; the last scrape was at 0 s.
    const { world, judge } = fakeWorld();
    let run: RunState = (await judge.start('e1', initialRun(spec, new Date(T0)))).run;
    await judge.rebase('e1');
    const look = async () => {
      world.now += 30_000;
      const out = await judge.look('e1', run, { noData: 'fail', now: new Date(world.now) });
      run = out.next;
      return { decision: out.decision, next: out.next.next, lookInStep: out.next.lookInStep };
    };

    // Act: one scrape with traffic, then the scrapes stop.
    world.scrapedAt = 25;
    world.canary = 600;
    world.primary = 15_000;
    const first = await look();
    const stale = await look();
    const stillStale = await look();

    // Assess
    expect(first).toEqual({ decision: 'continue', next: 'bake', lookInStep: 1 });
    expect(stale).toEqual({ decision: 'no-new-scrape', next: 'advance', lookInStep: 0 });
    expect(stillStale.decision).toBe('no-new-scrape');
    expect(stillStale.next).toBe('rollback');
    expect(run.reason).toMatch(/^no evidence for a whole interval/);
  });
});
