import { describe, expect, it } from 'vitest';
import { fleetMemberDocument } from '../../lambdas/core/fleet-member.ts';
import { metricQueries } from '../../lambdas/core/queries.ts';
import { plannedWeights } from '../../lambdas/core/spec.ts';
import { buildFleetSpec, startFleetSandbox } from './fleet-sandbox.ts';

const WAVES = [
  { clusters: ['a'], pause: '5s' },
  { clusters: ['b'], pause: '5s' },
  { clusters: ['c'], stepWeights: [25, 50] },
];

describe('the fleet sandbox spec', () => {
  it("reads each cluster's own series in the one shared Prometheus: every member queries its own Envoy cluster names", async () => {
    // Act
    const spec = await buildFleetSpec({}, ['a', 'b', 'c'], WAVES, 'http://127.0.0.1:9090');

    // Assess
    const queries = ['a', 'b', 'c'].map((cluster) => {
      const member = fleetMemberDocument(spec, cluster);
      return member.spec.analysis.metrics
        .map((metric) => metricQueries(member, metric))
        .map((q) => `${q.primary} ${q.canary}`)
        .join(' ');
    });
    expect(queries[0]).toContain('envoy_cluster_name="demo-canary-a_gloo-system"');
    expect(queries[0]).toContain('envoy_cluster_name="demo-primary-a_gloo-system"');
    expect(queries[0]).not.toMatch(/demo-(primary|canary)-[bc]_/);
    expect(queries[1]).toContain('envoy_cluster_name="demo-canary-b_gloo-system"');
    expect(queries[1]).not.toMatch(/demo-(primary|canary)-[ac]_/);
    expect(queries[2]).not.toMatch(/demo-(primary|canary)-[ab]_/);
  });

  it('runs the waves [a], [b], [c] with a bake after the first two and c on its shorter plan', async () => {
    // Act
    const spec = await buildFleetSpec({}, ['a', 'b', 'c'], WAVES, 'http://127.0.0.1:9090');

    // Assess
    expect(spec.spec.fleet?.waves.map((wave) => [wave.clusters, wave.pause])).toEqual([
      [['a'], '5s'],
      [['b'], '5s'],
      [['c'], '0s'],
    ]);
    expect(plannedWeights(fleetMemberDocument(spec, 'a').spec.strategy)).toEqual([5, 10, 25, 50]);
    expect(plannedWeights(fleetMemberDocument(spec, 'c').spec.strategy)).toEqual([25, 50]);
    expect(fleetMemberDocument(spec, 'b').spec.cluster).toEqual({ kubeconfigContext: 'b' });
  });

  it('refuses a faulty cluster outside the fleet, naming the option, before starting anything', async () => {
    // Act / Assess
    await expect(startFleetSandbox({ faultyCluster: 'z' })).rejects.toThrow('faultyCluster: expected one of a, b, c, got "z"');
  });
});
