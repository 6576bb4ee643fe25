/** A fleet in the spec: clusters, waves, per-cluster overrides, and the rules that name the field. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { clusterOf, targetOf } from './fleet-member.ts';
import { memberExecutionName, memberSpec, summarizeFleet } from './fleet.ts';
import { executionName } from './names.ts';
import { parseCommand } from './chatops/command.ts';
import { queryVariables } from './queries.ts';
import { plannedWeights, validateSpec } from './spec.ts';
import type { RolloutSpec, SpecProblem } from './spec.ts';
import type { RolloutRecord } from './records.ts';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const example = () => parse(readFileSync(new URL('../../examples/podinfo.yaml', import.meta.url), 'utf8')) as Doc;

function fleetDoc(): Doc {
  const document = example();
  document.spec.fleet = {
    clusters: [
      { name: 'eu-1', region: 'eu-west-1' },
      {
        name: 'us-1',
        region: 'us-east-1',
        eksCluster: 'prod-us',
        overrides: { router: { name: 'podinfo-us' }, prometheus: { address: 'http://prom-us:9090' } },
      },
      { name: 'ap-1', kubeconfigContext: 'ap' },
    ],
    waves: [
      { clusters: ['eu-1'], pause: '10m' },
      { clusters: ['us-1', 'ap-1'], maxParallel: 1, strategy: { stepWeights: [50], interval: '30s', lookInterval: '10s' } },
    ],
  };
  return document;
}

function problemsOf(document: unknown): SpecProblem[] {
  const result = validateSpec(document);
  return result.ok ? [] : result.problems;
}

function valid(document: unknown): RolloutSpec {
  const result = validateSpec(document);
  if (!result.ok) throw new Error(result.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return result.spec;
}

describe('fleet spec', () => {
  it('resolves each cluster: its own cluster, its overrides, its wave strategy, addressed target@cluster', () => {
    // Prepare
    const spec = valid(fleetDoc());
    // Act
    const eu = memberSpec(spec, 'eu-1');
    const us = memberSpec(spec, 'us-1');
    const ap = memberSpec(spec, 'ap-1');
    // Assess
    expect(eu.metadata.name).toBe('podinfo@eu-1');
    expect(eu.spec.cluster).toEqual({ name: 'eu-1', region: 'eu-west-1' });
    expect(eu.spec.fleet).toBeUndefined();
    expect(plannedWeights(eu.spec.strategy)).toEqual(plannedWeights(spec.spec.strategy));
    expect(us.spec.cluster).toEqual({ name: 'prod-us', region: 'us-east-1' });
    expect(us.spec.router.name).toBe('podinfo-us');
    expect(us.spec.router.primary).toEqual(spec.spec.router.primary);
    expect(us.spec.analysis.prometheus?.address).toBe('http://prom-us:9090');
    expect(plannedWeights(us.spec.strategy)).toEqual([50]);
    expect(us.spec.strategy.interval).toBe('30s');
    expect(ap.spec.cluster).toEqual({ kubeconfigContext: 'ap' });
    // Queries and webhooks still see the service, not the address.
    expect(queryVariables(us, us.spec.analysis.metrics[0]!).target).toBe('podinfo');
    expect([targetOf('podinfo@us-1'), clusterOf('podinfo@us-1'), clusterOf('podinfo')]).toEqual(['podinfo', 'us-1', undefined]);
  });

  it('names members target-cluster-version within 80 characters, apart from the single-cluster name', () => {
    expect(memberExecutionName('podinfo', 'eu-1', 'v2', 1)).toBe('podinfo-eu-1-v2');
    expect(memberExecutionName('podinfo', 'eu-1', 'v2', 3)).toBe('podinfo-eu-1-v2-a3');
    expect(executionName('podinfo', 'v2')).toBe('podinfo-v2');
    const long = memberExecutionName('a'.repeat(63), 'b'.repeat(63), 'v'.repeat(100), 2);
    expect(long.length).toBeLessThanOrEqual(80);
    expect(long).not.toBe(memberExecutionName('a'.repeat(63), 'c'.repeat(63), 'v'.repeat(100), 2));
  });

  it('refuses a cluster in two waves, an empty wave, an unknown cluster and a cluster in no wave, naming each field', () => {
    // Prepare
    const document = fleetDoc();
    document.spec.fleet.clusters.push({ name: 'idle', region: 'eu-west-1' });
    document.spec.fleet.waves = [{ clusters: ['eu-1', 'us-1'] }, { clusters: [] }, { clusters: ['us-1', 'mars', 'ap-1'] }];
    // Act
    const problems = problemsOf(document);
    // Assess
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: 'spec.fleet.waves[1].clusters', message: 'is empty: a wave names at least one cluster' },
        { path: 'spec.fleet.waves[2].clusters[0]', message: expect.stringContaining('"us-1" is already in wave 1 (spec.fleet.waves[0])') },
        { path: 'spec.fleet.waves[2].clusters[1]', message: expect.stringContaining('unknown cluster "mars"') },
        { path: 'spec.fleet.clusters[3].name', message: expect.stringContaining('"idle" is in no wave') },
      ]),
    );
  });

  it('refuses an override or wave strategy that makes one cluster invalid, naming the cluster', () => {
    const document = fleetDoc();
    document.spec.fleet.waves[1].strategy = { stepWeights: [60, 40] };
    const problems = problemsOf(document);
    expect(problems).toContainEqual({
      path: 'spec.fleet.clusters[1]',
      message: expect.stringContaining('cluster us-1 resolves to an invalid spec: spec.strategy.stepWeights[1]'),
    });
  });

  it('refuses an EKS cluster with no region to inherit, and a duplicate cluster name', () => {
    const document = fleetDoc();
    document.spec.cluster = { kubeconfigContext: 'x' };
    document.spec.fleet.clusters[0] = { name: 'eu-1' };
    document.spec.fleet.clusters[2].name = 'us-1';
    const problems = problemsOf(document);
    expect(problems.map((p) => p.path)).toEqual(expect.arrayContaining(['spec.fleet.clusters[0].region', 'spec.fleet.clusters[2].name']));
  });

  it('keeps single-cluster specs as they were', () => {
    const spec = valid(example());
    expect(spec.spec.fleet).toBeUndefined();
    expect(spec.metadata.name).toBe('podinfo');
  });

  it('summarizes the end truthfully: promoted, rolled back, aborted mid-wave, not started; the reason names wave and cluster', () => {
    // Prepare
    const document = fleetDoc();
    document.spec.fleet.waves = [{ clusters: ['eu-1'] }, { clusters: ['us-1', 'ap-1'] }];
    document.spec.fleet.clusters.push({ name: 'last', region: 'eu-west-1' });
    document.spec.fleet.waves.push({ clusters: ['last'] });
    const spec = valid(document);
    const record = (cluster: string, patch: Partial<RolloutRecord>): [string, RolloutRecord] => {
      const execution = memberExecutionName('podinfo', cluster, 'v2', 1);
      return [
        execution,
        {
          execution,
          target: `podinfo@${cluster}`,
          version: 'v2',
          requestedBy: 'x',
          startedAt: '',
          safeSide: 'primary',
          lastWeights: { primary: 100, canary: 0 },
          status: 'finished',
          ...patch,
        },
      ];
    };
    const records = new Map([
      record('eu-1', { outcome: 'promoted' }),
      record('us-1', { outcome: 'rolled-back', reason: 'request-success-rate 80 < 99' }),
      record('ap-1', { status: 'running' }),
    ]);
    // Act
    const summary = summarizeFleet(spec, 'v2', 1, records);
    // Assess
    expect(summary.outcome).toBe('halted');
    expect(summary.reason).toBe('halted at wave 2 cluster us-1: rolled-back (request-success-rate 80 < 99)');
    expect(summary.clusters.map((c) => [c.cluster, c.wave, c.outcome])).toEqual([
      ['eu-1', 1, 'promoted'],
      ['us-1', 2, 'rolled-back'],
      ['ap-1', 2, 'aborted'],
      ['last', 3, 'not-started'],
    ]);
  });
});

describe('chat-ops addresses one cluster of a fleet as target@cluster', () => {
  it('parses `status podinfo@eu-1` and `abort podinfo@eu-1 reason`, and refuses a malformed address', () => {
    expect(parseCommand('status podinfo@eu-1')).toMatchObject({ ok: true, command: { kind: 'status', target: 'podinfo@eu-1' } });
    expect(parseCommand('abort podinfo@eu-1 bad canary')).toMatchObject({ ok: true, command: { kind: 'abort', target: 'podinfo@eu-1' } });
    expect(parseCommand('status podinfo@EU_1')).toMatchObject({ ok: false, usage: expect.stringContaining('is not a target name') });
  });
});
