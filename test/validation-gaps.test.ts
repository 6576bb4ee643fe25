/**
 * The validation gaps , each as a user meets it: `sluice validate` names an
 * unknown query variable and a webhook timeout that cannot fit its Lambda, warns about
 * `noData: pass`; every entry point caps `version` the same way (a Flux notification with a
 * 500-character version is a 400, not a 202); `sluice event` refuses a target that is a path.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { argoToStart, fluxToStart } from '../lambdas/core/deploy-events.ts';
import { validateSpec } from '../lambdas/core/spec.ts';
import { MAX_VERSION_LENGTH, targetProblem, versionProblem } from '../lambdas/core/version.ts';
import { validateCommand } from '../local/cli.ts';
import { folderRegistry } from '../local/commands/event.ts';
import { localTargetLoader } from '../local/control.ts';
import { startRollout } from '../local/commands/run.ts';
import { RecordingRouter, scriptedMetrics, successRate } from './support/recording-router.ts';
import { flowRuntimes, webSpec } from './support/flow.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec = (analysis: Record<string, unknown>, router: Record<string, unknown> = {}) => ({
  apiVersion: 'sluice.dev/v1',
  kind: 'Rollout',
  metadata: { name: 'web' },
  spec: {
    cluster: { kubeconfigContext: 'kind' },
    router: {
      name: 'web',
      namespace: 'gloo-system',
      primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
      canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
      ...router,
    },
    analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9090' }, ...analysis },
  },
});
const problems = (document: unknown) => {
  const result = validateSpec(document);
  return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
};

describe('sluice validate closes the gaps', () => {
  it('names unknown query variables in queries, web URLs and the Envoy cluster template', () => {
    expect(
      problems(spec({ metrics: [{ name: 'lag', query: 'max(lag{pod="{{pod}}", ns="{{namespace}}"})', thresholdRange: { max: 5 } }] })),
    ).toEqual([
      'spec.analysis.metrics[0].query: uses unknown variable {{pod}} (known: namespace, target, interval, primary, canary, primaryCluster, canaryCluster)',
    ]);
    expect(
      problems(
        spec({
          metrics: [
            {
              name: 'apdex',
              provider: { type: 'web', url: 'https://m.example.com/{{service}}', jsonPath: '$.v' },
              thresholdRange: { min: 1 },
            },
          ],
        }),
      ),
    ).toEqual([
      'spec.analysis.metrics[0].provider.url: uses unknown variable {{service}} (known: namespace, target, interval, primary, canary, primaryCluster, canaryCluster)',
    ]);
    expect(problems(spec({}, { envoyClusterName: '{{upstream}}_{{cluster}}' }))).toEqual([
      'spec.router.envoyClusterName: uses unknown variable {{cluster}} (known: upstream, namespace)',
    ]);
  });

  it('bounds webhook timeouts so every Task fits its Lambda', () => {
    expect(problems(spec({ webhooks: [{ name: 'load', type: 'rollout', url: 'https://h.example.com/', timeout: '45s' }] }))).toEqual([
      'spec.analysis.webhooks[0].timeout: is 45s; at most 30s: each hook runs inside a Lambda (Analyze and the gate states have 100 s)',
    ]);
    // The gates are states of their own: a look no longer waits on confirm-rollout and confirm-promotion hooks too.
    const slow = ['rollback', 'rollout', 'confirm-rollout', 'confirm-promotion', 'pre-rollout'].map((type, i) => ({
      name: `h${i}`,
      type,
      url: 'https://h.example.com/',
      timeout: '30s',
    }));
    expect(problems(spec({ webhooks: slow }))).toEqual([]);
  });

  it('counts the confirm-promotion gate in the history budget of a look: a deadline that fits without the gate may not with it', () => {
    // 600 looks of 60 s: 16 events each fit half of Step Functions' 25,000; 23 with the gate's Task and Choice do not.
    const long = (webhooks: unknown[]) => {
      const document = spec({ webhooks });
      return { ...document, spec: { ...document.spec, strategy: { stepWeights: [10, 50], interval: '60s', deadline: '10h' } } };
    };
    expect(problems(long([]))).toEqual([]);
    expect(problems(long([{ name: 'ok', type: 'confirm-promotion', url: 'https://h.example.com/' }]))).toEqual([
      'spec.strategy.deadline: allows 600 looks (13800 history events); Step Functions keeps at most 25000: shorten the deadline or lengthen the look interval',
    ]);
  });

  it('warns about noData: pass (stderr), still prints valid (stdout), exit 0', async () => {
    const path = join(dir, 'pass.json');
    writeFileSync(path, JSON.stringify(spec({ noData: 'pass' })));
    const out: string[] = [];
    const err: string[] = [];
    const code = await validateCommand(path, { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
    expect(code).toBe(0);
    expect(out.join('')).toBe('valid\n');
    expect(err.join('')).toBe(
      'warning: spec.analysis.noData: is pass: a look without metric data counts as passed, so a rollout can promote with no evidence at all (the summary counts such looks); prefer hold or fail\n',
    );
  });
});

describe('every entry point caps version and target the same way', () => {
  const long = 'v'.repeat(500);

  it('one rule', () => {
    expect(versionProblem(long)).toBe(`version is 500 characters long; at most ${MAX_VERSION_LENGTH}`);
    expect(versionProblem(' ')).toBe('no version given');
    expect(versionProblem('1.2.3')).toBeUndefined();
    expect(targetProblem('../../x')).toBe('target "../../x" is not a target name (lowercase a-z, 0-9 and -, at most 63 characters)');
  });

  it('a Flux notification or Argo CD payload with a 500-character version is invalid (the handler answers 400), not a start', () => {
    const flux = {
      involvedObject: { kind: 'Kustomization', namespace: 'flux-system', name: 'web' },
      severity: 'info',
      reason: 'ReconciliationSucceeded',
      message: 'applied',
      metadata: { target: 'web', revision: 'main@sha1:0123456789abcdef', version: long },
    };
    expect(fluxToStart(flux, 'test')).toEqual({
      ok: false,
      invalid: `Kustomization/flux-system/web: version is 500 characters long; at most ${MAX_VERSION_LENGTH}`,
    });
    expect(argoToStart({ target: 'web', version: long, revision: 'abc' }, 'test')).toEqual({
      ok: false,
      invalid: `version is 500 characters long; at most ${MAX_VERSION_LENGTH}`,
    });
    expect(argoToStart({ target: '../../x', version: '1', revision: 'abc' }, 'test')).toMatchObject({
      ok: false,
      invalid: expect.stringContaining('is not a target name'),
    });
  });

  it('sluice event never reads a target that is a path as a file', async () => {
    writeFileSync(join(dir, 'x.yaml'), JSON.stringify(spec({})));
    const registry = folderRegistry({ loadTarget: localTargetLoader(join(dir, 'sub')) }, join(dir, 'sub'));
    expect(await registry.get('../x')).toBeNull();
  });
});

describe('noData: pass in the summary (real ASL, local engine)', () => {
  const runtimeWith = flowRuntimes();

  it('a rollout promoted on looks without data says so: "promoted without evidence at N looks"', async () => {
    // Prepare: the metrics answer no data for the canary at every look
    const router = new RecordingRouter();
    const runtime = await runtimeWith(
      router,
      scriptedMetrics(() => [successRate(null)]),
    );
    // Act
    const summary = await (await startRollout(runtime, webSpec({ analysis: { noData: 'pass' } }), { version: 'v2' })).done;
    // Assess
    expect(summary.outcome).toBe('promoted');
    const empty = summary.steps.filter((s) => s.verdict === 'no-data').length;
    expect(empty).toBeGreaterThan(0);
    expect(summary.reason).toMatch(new RegExp(`; promoted without evidence at ${empty} looks? \\(noData: pass\\)$`));
  });
});
