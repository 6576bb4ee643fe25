/**
 * The judge seam from the flow's side: the factory picks the judge the spec names, each judge
 * answers start / rebase / look through its ports only, and an unknown judge is an error.
 */
import { describe, expect, it } from 'vitest';
import type { CounterSnapshot } from './counts.ts';
import { judgeFor } from './judge.ts';
import type { JudgePorts } from './judge-seam.ts';
import type { MetricReading } from './verdict.ts';
import { initialRun } from './rollout.ts';
import { judgeTestSpec } from './judge.fixtures.ts';
import type { RolloutSpec } from './spec.ts';

const T0 = new Date('2026-12-06T12:00:00Z');
const NS = 'gloo-system';

function specWith(judge: 'threshold' | 'sequential'): RolloutSpec {
  return judgeTestSpec({ judge, strategy: { stepWeights: [10, 50], interval: '1m', lookInterval: '30s', deadline: '1h', threshold: 2 } });
}

/** Ports that record what a judge asked for; `readings` answers readMetrics. */
function recordingPorts(readings: MetricReading[], counters?: CounterSnapshot) {
  const calls: string[] = [];
  const memory = new Map<string, unknown>();
  const ports: JudgePorts = {
    now: () => T0,
    readMetrics: async () => {
      calls.push('readMetrics');
      return readings;
    },
    store: {
      getAnalysisState: async (execution) => {
        calls.push('getAnalysisState');
        return memory.get(execution) ?? null;
      },
      putAnalysisState: async (execution, state) => {
        calls.push('putAnalysisState');
        memory.set(execution, state);
      },
    },
  };
  if (counters)
    ports.snapshotCounters = async () => {
      calls.push('snapshotCounters');
      return structuredClone(counters);
    };
  return { ports, calls, memory };
}

const lookContext = { noData: 'fail' as const, now: T0 };

describe('judgeFor: the threshold judge', () => {
  it('starts and rebases without touching anything, and judges a look from the metrics it reads', async () => {
    // Prepare
    const spec = specWith('threshold');
    const { ports, calls } = recordingPorts([{ name: 'request-success-rate', value: 97.5, thresholdRange: { min: 99 } }]);
    const judge = judgeFor(spec, ports);
    const run = initialRun(spec, T0);

    // Act
    const started = await judge.start('e1', run);
    await judge.rebase('e1');
    const first = await judge.look('e1', run, lookContext);
    const second = await judge.look('e1', first.next, lookContext);

    // Assess: nothing remembered; two failed checks reach the threshold of 2.
    expect(started).toEqual({ run, notes: [] });
    expect(calls).toEqual(['readMetrics', 'readMetrics']);
    expect(first.verdict.summary).toBe('request-success-rate 97.50 < min 99');
    expect(first.next).toMatchObject({ next: 'bake', failedChecks: 1 });
    expect(second.next).toMatchObject({ next: 'rollback', reason: 'analysis failed 2/2 checks: request-success-rate 97.50 < min 99' });
  });
});

describe('judgeFor: the sequential judge', () => {
  const GW = { job: 'gloo', instance: '10.0.0.1:8081' };
  const counters = (canary: number, primary: number, at: number): CounterSnapshot => ({
    at: new Date(at).toISOString(),
    canary: {
      requests: [{ labels: { ...GW, envoy_cluster_name: `web-canary_${NS}`, envoy_response_code: '200' }, value: canary, timestamp: at }],
      errors: [],
      slow: {},
    },
    primary: {
      requests: [{ labels: { ...GW, envoy_cluster_name: `web-primary_${NS}`, envoy_response_code: '200' }, value: primary, timestamp: at }],
      errors: [],
      slow: {},
    },
  });

  it('keeps its memory in the store: start takes a baseline, rebase restarts the step, look reads counters', async () => {
    // Prepare
    const spec = specWith('sequential');
    const { ports, calls, memory } = recordingPorts([], counters(0, 10_000, T0.getTime()));
    const judge = judgeFor(spec, ports);

    // Act
    const started = await judge.start('e1', initialRun(spec, T0));
    await judge.rebase('e1');
    const look = await judge.look('e1', started.run, lookContext);

    // Assess
    expect(calls).toEqual([
      'snapshotCounters',
      'putAnalysisState',
      'getAnalysisState',
      'putAnalysisState',
      'getAnalysisState',
      'snapshotCounters',
      'putAnalysisState',
    ]);
    expect(memory.get('e1')).toMatchObject({ stepStartedAt: T0.toISOString() });
    expect(look.verdict.evidence?.judge).toBe('sequential');
    expect(look.next.next).toBe('bake');
  });

  it('refuses at start when the deployment has no counter source, naming what it needs', async () => {
    const spec = specWith('sequential');
    const { ports, calls } = recordingPorts([]);

    await expect(judgeFor(spec, ports).start('e1', initialRun(spec, T0))).rejects.toThrow(
      /the sequential judge needs raw counters .* this deployment has no counter source/,
    );
    expect(calls).toEqual([]);
  });
});

describe('judgeFor: an unknown judge', () => {
  it('is an error naming the field and the judges there are', () => {
    // A spec read from an old store or another version, past the schema.
    const spec = specWith('threshold');
    const stored = { ...spec, spec: { ...spec.spec, analysis: { ...spec.spec.analysis, judge: 'bayesian' } } } as unknown as RolloutSpec;

    expect(() => judgeFor(stored, recordingPorts([]).ports)).toThrow(
      'spec.analysis.judge: unknown judge "bayesian"; expected threshold or sequential',
    );
  });
});
