/**
 * `sluice import flagger <file>` as a user runs it: the spec on stdout (or --out), the report on
 * stderr in three sections, exit 0; one line and exit 2 for anything that is not an importable Canary.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { validateSpec } from '../../lambdas/core/spec.ts';
import { importCommand } from '../commands/import.ts';
import type { ImportCommandOptions } from '../commands/import.ts';

const fixture = (name: string) => new URL(`../../test/fixtures/flagger/${name}`, import.meta.url).pathname;

async function run(file: string, options: ImportCommandOptions = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await importCommand('flagger', file, options, { stdout: (s) => out.push(s), stderr: (s) => err.push(s) });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

describe('sluice import flagger (command)', () => {
  it('prints a spec that validates on stdout and the three-part report on stderr', async () => {
    // Act
    const { code, stdout, stderr } = await run(fixture('podinfo.yaml'), { cluster: 'prod-eks', region: 'us-east-1' });
    // Assess
    expect(code).toBe(0);
    expect(stdout).toMatch(/^# Imported by `sluice import flagger .*podinfo.yaml` from Flagger Canary test\/podinfo\./);
    expect(stdout).toContain('#   kubectl -n test delete canary podinfo --cascade=orphan');
    const result = validateSpec(parse(stdout));
    expect(result.ok && result.spec.spec.cluster).toEqual({ name: 'prod-eks', region: 'us-east-1' });
    expect(stderr).toMatch(/^Maps as is \(\d+\):\n {2}spec.provider → spec.router\n/);
    expect(stderr).toMatch(/\nMaps with a changed meaning — read before running \(\d+\):\n/);
    expect(stderr).toMatch(/\nNo equivalent in Sluice — left out \(\d+\):\n {2}spec.service.\{targetPort\}\n/);
    expect(stdout).not.toContain('Maps as is');
  });

  it('writes --out and keeps deferred fields as a comment a user can restore', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-import-'));
    const out = join(dir, 'checkout.yaml');
    const { code, stdout, stderr } = await run(fixture('step-weights.yaml'), { out, kubeContext: 'kind-gloo' });
    expect(code).toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toContain(`wrote ${out}`);
    const text = readFileSync(out, 'utf8');
    expect(validateSpec(parse(text)).ok).toBe(true);
    const header = text
      .split('\n')
      .filter((l) => l.startsWith('#   '))
      .join('\n');
    const spec = parse(text) as { spec: { analysis: { webhooks?: Array<{ name: string }> }; strategy: { stepWeightPromotion?: number } } };
    // Flagger's stepWeightPromotion is a field of the written spec, not a comment.
    expect(spec.spec.strategy.stepWeightPromotion).toBe(20);
    expect(header).not.toContain('stepWeightPromotion');
    // Whatever Sluice does not run yet is in the header, not in the spec, and the report says so.
    if (stderr.includes('webhooks is not supported yet')) {
      expect(header).toContain('#     - name: promotion-gate');
      expect(spec.spec.analysis.webhooks).toBeUndefined();
    } else {
      expect(spec.spec.analysis.webhooks?.map((w) => w.name)).toContain('promotion-gate');
    }
  });

  it('prints one JSON object with --json', async () => {
    const { code, stdout } = await run(fixture('metric-template.yaml'), { json: true });
    expect(code).toBe(0);
    const last = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as {
      ok: boolean;
      spec: { spec: { analysis: { metrics: Array<{ name: string }> } } };
      report: { changed: unknown[] };
    };
    expect(last.ok).toBe(true);
    expect(last.spec.spec.analysis.metrics.map((m) => m.name)).toEqual(['404s percentage', 'queue-lag']);
    expect(last.report.changed.length).toBeGreaterThan(0);
  });

  it('exits 2 with one line for a non-Gloo Canary, a file that is not YAML, a missing file and a missing provider', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-import-'));
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'spec: [unclosed\n');
    const cases: Array<[string, ImportCommandOptions, RegExp]> = [
      [fixture('istio.yaml'), {}, /istio.yaml: provider "istio" is not supported: Sluice drives Gloo Edge only/],
      [broken, {}, /broken.yaml: not valid YAML/],
      [join(dir, 'absent.yaml'), {}, /absent.yaml: no such file/],
      [fixture('ab-testing.yaml'), {}, /spec.provider is not set/],
      [fixture('podinfo.yaml'), { cluster: 'prod-eks' }, /--cluster needs --region/],
    ];
    for (const [file, options, message] of cases) {
      const { code, stdout, stderr } = await run(file, options);
      expect(code, file).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(message);
      expect(stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
