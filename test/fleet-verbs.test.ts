/**
 * The fleet's verbs from the command line while the fleet runs: `sluice abort | pause | resume |
 * promote <target> --local` go through `main` with their own store connection and the advertised
 * engine endpoint (as from another terminal) while statemachine/fleet.asl.json runs its members
 * against three Kubernetes API stand-ins.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../lambdas/adapters/kube/cluster.fixtures.ts';
import { main } from '../local/cli.ts';
import { startFleet, startLocalFleetRuntime } from '../local/fleet.ts';
import type { LocalFleetRuntime } from '../local/fleet.ts';
import { CLUSTERS, fleetRuntimeOptions, fleetSpec, patchesOn, startFleetClusters, versionOf, weightsOf } from './support/fleet-clusters.ts';
import type { FleetClusters } from './support/fleet-clusters.ts';
import { successRate } from './support/recording-router.ts';

let clusters: FleetClusters;
let runtime: LocalFleetRuntime | undefined;
const savedStateDir = process.env.SLUICE_STATE_DIR;

beforeEach(async () => {
  clusters = await startFleetClusters();
  process.env.SLUICE_STATE_DIR = join(clusters.dir, 'state');
});

afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
  if (savedStateDir === undefined) delete process.env.SLUICE_STATE_DIR;
  else process.env.SLUICE_STATE_DIR = savedStateDir;
  await clusters.close();
});

/** `sluice …` as typed in another terminal: its exit code and what it printed. */
async function sluice(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...args, '--local', '--rollouts', join(clusters.dir, 'none')], {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
  });
  return { code, out: out.join(''), err: err.join('') };
}

async function advertisedRuntime(): Promise<LocalFleetRuntime> {
  runtime = await startLocalFleetRuntime(fleetRuntimeOptions(clusters, () => [successRate(99.9)], { advertise: true }));
  return runtime;
}

describe('fleet verbs from the command line', () => {
  it('`sluice abort` of the fleet target stops the release mid-wave: no later cluster starts, both rolling clusters roll back', async () => {
    // Prepare: wave 2 (b, c) stepping slowly.
    const fleet = await advertisedRuntime();
    const spec = fleetSpec([{ clusters: ['a'] }, { clusters: ['b', 'c'], strategy: { stepWeights: [10, 20, 30, 40, 50] } }]);
    const started = startFleet(fleet, spec, { version: 'v2' });
    await until(() => weightsOf(clusters, 'b').canary === 20 && weightsOf(clusters, 'c').canary === 20, 'b and c at 20%', 20_000);
    // Act
    const abort = await sluice('abort', 'podinfo', '--reason', 'bad release');
    const summary = await started.done;
    // Assess
    expect(abort.code).toBe(0);
    expect(abort.out).toMatch(/^aborted fleet podinfo-v2-fleet: no further cluster starts; rolling back b \(.*\), c \(.*\)/);
    expect(summary.outcome).toBe('halted');
    expect(summary.reason).toMatch(/^halted: aborted by .*@cli: bad release$/);
    expect(summary.clusters.map((c) => [c.cluster, c.outcome])).toEqual([
      ['a', 'promoted'],
      ['b', 'aborted'],
      ['c', 'aborted'],
    ]);
    for (const cluster of CLUSTERS) expect(weightsOf(clusters, cluster)).toEqual({ primary: 100, canary: 0 });
    expect([versionOf(clusters, 'a'), versionOf(clusters, 'b'), versionOf(clusters, 'c')]).toEqual(['v2', 'v1', 'v1']);
    // Nothing is left running: a second abort finds no release.
    expect((await sluice('abort', 'podinfo')).code).toBe(2);
  });

  it('`sluice pause` holds the next wave, `resume` lets it run (the spec’s own bake still applies), `promote` runs the rest at once', async () => {
    // Prepare: no bake after a; a 1h bake after b.
    const fleet = await advertisedRuntime();
    const spec = fleetSpec([{ clusters: ['a'] }, { clusters: ['b'], pause: '1h' }, { clusters: ['c'] }]);
    const started = startFleet(fleet, spec, { version: 'v2' });
    await until(() => patchesOn(clusters, 'a') > 0, 'a rolling', 10_000);
    // Act 1: pause from another terminal while a rolls.
    const pause = await sluice('pause', 'podinfo');
    await until(() => versionOf(clusters, 'a') === 'v2', 'a promoted', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // past several looks: held by the pause alone
    // Assess 1
    expect(pause).toMatchObject({ code: 0, out: expect.stringMatching(/^paused fleet podinfo-v2-fleet/) });
    expect(patchesOn(clusters, 'b')).toBe(0);
    // Act 2: resume; b runs, then b's 1h bake holds c.
    const resume = await sluice('resume', 'podinfo');
    await until(() => versionOf(clusters, 'b') === 'v2', 'b promoted', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 600)); // several watches of b's bake: c held
    expect(resume.code).toBe(0);
    expect(patchesOn(clusters, 'c')).toBe(0);
    // Act 3: promote the rest.
    const promote = await sluice('promote', 'podinfo');
    const summary = await started.done;
    // Assess
    expect(promote).toMatchObject({ code: 0, out: expect.stringMatching(/every remaining wave runs at once/) });
    expect(summary.outcome).toBe('promoted');
    for (const cluster of CLUSTERS) {
      expect(versionOf(clusters, cluster)).toBe('v2');
      expect(weightsOf(clusters, cluster)).toEqual({ primary: 100, canary: 0 });
    }
  });

  it('`sluice pause` with no fleet running says what it acts on and changes nothing (exit 2)', async () => {
    await advertisedRuntime();
    const pause = await sluice('pause', 'podinfo');
    expect(pause.code).toBe(2);
    expect(pause.err).toContain('no fleet release of podinfo is running: pause acts on a fleet between its waves');
  });
});
