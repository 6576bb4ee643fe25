import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../local/cli.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) }, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'sluice-validate-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('sluice validate', () => {
  it('prints valid and exits 0 for the example spec', async () => {
    const { io, out } = capture();
    expect(await main(['validate', 'examples/podinfo.yaml'], io)).toBe(0);
    expect(out.join('')).toBe('valid\n');
  });

  it('warns, and still says valid, when the sequential judge looks more often than Prometheus usually scrapes', async () => {
    const { parse, stringify } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const doc = parse(readFileSync('examples/podinfo.yaml', 'utf8')) as {
      spec: { strategy: Record<string, unknown>; analysis: { metrics: unknown[] } & Record<string, unknown> };
    };
    doc.spec.strategy.lookInterval = '5s';
    doc.spec.strategy.deadline = '30m';
    // The sequential judge reads the built-in metrics only.
    doc.spec.analysis = { ...doc.spec.analysis, judge: 'sequential', metrics: doc.spec.analysis.metrics.slice(0, 2) };
    const fast = file('fast.yaml', stringify(doc));
    doc.spec.strategy.lookInterval = '15s';
    const slow = file('slow.yaml', stringify(doc));

    const warned = capture();
    const quiet = capture();
    expect(await main(['validate', fast], warned.io)).toBe(0);
    expect(await main(['validate', slow], quiet.io)).toBe(0);

    expect(warned.out.join('')).toBe('valid\n');
    expect(warned.err.join('')).toMatch(/^warning: spec\.strategy\.lookInterval: 5s is shorter than 15s/);
    expect(quiet.err.join('')).toBe('');
  });

  it('accepts JSON as well as YAML', async () => {
    const { parse } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const json = file('spec.json', JSON.stringify(parse(readFileSync('examples/podinfo.yaml', 'utf8'))));
    expect(await main(['validate', json], capture().io)).toBe(0);
  });

  it('prints one path: message line per problem and exits 2', async () => {
    const path = file(
      'bad.yaml',
      'apiVersion: sluice.dev/v1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  cluster: {kubeconfigContext: kind}\n  router: {name: g, namespace: gloo-system, primary: {upstream: {name: a, namespace: n}}, canary: {upstream: {name: a, namespace: n}}}\n  strategy: {stepWeights: [10, 5]}\n',
    );
    const { io, out } = capture();
    expect(await main(['validate', path], io)).toBe(2);
    expect(out.join('').trim().split('\n')).toEqual([
      'spec.strategy.stepWeights[1]: must be greater than the step before it (10): step weights strictly increase',
      'spec.router.canary.upstream: must differ from the primary upstream',
      'spec.analysis.metrics[0].provider.address: is required unless spec.analysis.prometheus names a server',
    ]);
  });

  it('gives a one-line error, not a stack trace, for a file that is not YAML or JSON', async () => {
    const { io, out, err } = capture();
    expect(await main(['validate', file('garbage.yaml', 'a: [1, 2\nb: }')], io)).toBe(2);
    expect(out).toEqual([]);
    expect(err.join('')).toMatch(/^.*garbage\.yaml: not valid YAML or JSON.*\n$/);
    expect(err.join('')).not.toMatch(/\n\s+at /);
  });

  it('exits 2 for a missing file and for usage errors', async () => {
    const missing = capture();
    expect(await main(['validate', join(dir, 'nope.yaml')], missing.io)).toBe(2);
    expect(missing.err.join('')).toContain('no such file');
    expect(await main(['validate'], capture().io)).toBe(2);
  });
});

describe('fixed-set flags (commander choices)', () => {
  it.each([
    [['demo', '--judge', 'bayes'], "option '--judge <judge>' argument 'bayes' is invalid", 'threshold, sequential'],
    [
      ['demo', '--scenario', 'meltdown'],
      "option '--scenario <name>' argument 'meltdown' is invalid",
      'healthy, errors, latency, abort, shadow, ab, blue-green, affinity',
    ],
    [['import', 'argo', 'canary.yaml'], "command-argument value 'argo' is invalid for argument 'kind'", 'flagger'],
  ])('%j exits 2 naming the flag and the allowed values, before anything runs', async (argv, named, allowed) => {
    // Prepare
    const { io, out, err } = capture();
    // Act
    const code = await main(argv, io);
    // Assess: a usage error (exit 2), the message names the flag and lists the choices; nothing ran.
    expect(code).toBe(2);
    expect(err.join('')).toContain(named);
    expect(err.join('')).toContain(`Allowed choices are ${allowed}.`);
    expect(out.join('')).toBe('');
  });
});

describe('demo --step-weight-promotion', () => {
  it.each(['0', '2.5', '101'])('refuses %s naming the flag and the range, before the sandbox starts', async (value) => {
    // Prepare
    const { io, out, err } = capture();
    // Act
    const code = await main(['demo', '--step-weight-promotion', value], io);
    // Assess
    expect(code).toBe(2);
    expect(err.join('')).toContain(`--step-weight-promotion: expected a whole weight from 1 to 100, got "${value}"`);
    expect(out.join('')).toBe('');
  });
});
