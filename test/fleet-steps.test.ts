/** Between waves: the fleet file's WaveDone and Watch steps (lambdas/handlers/fleet.ts) with the store and metrics stubbed. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { waveState } from '../lambdas/core/fleet.ts';
import type { FleetState } from '../lambdas/core/fleet.ts';
import { validateSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import type { MetricReading } from '../lambdas/core/verdict.ts';
import { fleetStep } from '../lambdas/handlers/fleet.ts';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function fleetDoc(): Doc {
  const document = parse(readFileSync(new URL('../examples/podinfo.yaml', import.meta.url), 'utf8')) as Doc;
  document.spec.fleet = {
    clusters: [
      { name: 'eu-1', region: 'eu-west-1' },
      { name: 'us-1', region: 'us-east-1' },
      { name: 'ap-1', kubeconfigContext: 'ap' },
    ],
    waves: [{ clusters: ['eu-1'], pause: '10m' }, { clusters: ['us-1', 'ap-1'] }],
  };
  return document;
}

function valid(document: unknown): RolloutSpec {
  const result = validateSpec(document);
  if (!result.ok) throw new Error(result.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return result.spec;
}

describe('between waves (the fleet file WaveDone and Watch steps)', () => {
  const spec = () => {
    const document = fleetDoc();
    document.spec.fleet.waves = [{ clusters: ['eu-1'], pause: '10m' }, { clusters: ['us-1', 'ap-1'] }];
    return valid(document);
  };
  const deps = (readings: (member: RolloutSpec) => MetricReading[], control: unknown = null) =>
    ({
      store: { getAnalysisState: async () => control },
      now: () => new Date('2026-12-07T05:00:00Z'),
      readMetrics: async (member: RolloutSpec) => readings(member),
    }) as unknown as Parameters<typeof fleetStep>[0];
  const base = (fleet: FleetState) => ({ spec: spec(), version: 'v2', requestedBy: 'x', attempt: 1, execution: 'podinfo-v2', fleet });

  it('pauses after a promoted wave, then watches the promoted clusters: failed watches up to the threshold halt the fleet naming wave and cluster', async () => {
    // Prepare
    const first = waveState(spec(), 0);
    const threshold = spec().spec.strategy.threshold;
    const healthy = deps(() => [{ name: 'request-success-rate', value: 99.9, thresholdRange: { min: 99 } }]);
    const watched: string[] = [];
    const failing = deps((member) => {
      watched.push(`${member.metadata.name}: ${member.spec.router.canary.upstream.name}`);
      return [{ name: 'request-success-rate', value: 91, thresholdRange: { min: 99 } }];
    });
    // Act: one good watch, then failing ones until the fleet halts.
    const paused = await fleetStep(healthy, { ...base(first), action: 'advance', results: [{ cluster: 'eu-1', promoted: true }] });
    const watchedOk = await fleetStep(healthy, { ...base(paused), action: 'watch' });
    const steps: FleetState[] = [];
    let state = watchedOk;
    while (state.next === 'pause' && steps.length < threshold + 1) {
      state = await fleetStep(failing, { ...base(state), action: 'watch' });
      steps.push(state);
    }
    // Assess
    expect(paused).toMatchObject({ next: 'pause', wave: 0, pauseUntil: '2026-12-07T05:10:00.000Z' });
    expect(watchedOk).toMatchObject({ next: 'pause', reason: 'baking after wave 1' });
    // The promoted primary runs the new version: it is read where the canary was.
    expect(watched[0]).toBe(`podinfo@eu-1: ${spec().spec.router.primary.upstream.name}`);
    // One reading outside the range is a failed check, not a verdict: the fleet keeps pausing and says so.
    expect(steps[0]).toMatchObject({
      next: 'pause',
      failedWatches: { 'eu-1': 1 },
      reason: `baking after wave 1; wave 1 cluster eu-1 regressed while the fleet paused: request-success-rate 91 < min 99 (failed 1/${threshold} watches)`,
    });
    expect(steps).toHaveLength(threshold);
    expect(steps.at(-1)).toMatchObject({
      next: 'halt',
      reason: `wave 1 cluster eu-1 regressed while the fleet paused: request-success-rate 91 < min 99 (failed ${threshold}/${threshold} watches)`,
    });
  });

  it('halts after a wave in which a member did not promote; skipped members do not count as failures', async () => {
    const first = waveState(spec(), 1);
    const step = await fleetStep(
      deps(() => []),
      {
        ...base(first),
        action: 'advance',
        results: [
          { cluster: 'us-1', promoted: false },
          { cluster: 'ap-1', promoted: false, skipped: true },
        ],
      },
    );
    expect(step).toMatchObject({ next: 'halt', reason: 'wave 2: us-1 did not promote' });
  });
});
