/** The target registry: specs validated at synth time, a bad one fails synth naming file and field. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildApp } from './app.ts';
import { RegistryError, clusterInternalWarnings, loadRegistry, looksClusterInternal } from './registry.ts';

const EXAMPLE = readFileSync(join(import.meta.dirname, '..', 'rollouts', 'podinfo.yaml'), 'utf8');
/** The example with its placeholder address filled in, as before a deploy. */
const FILLED = EXAMPLE.replace('https://prometheus.replace-me.invalid', 'https://prometheus.example.com');
const dirs: string[] = [];

function registryWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-registry-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof RegistryError) return error.problems.map((p) => `${p.file.split('/').pop()}: ${p.path}: ${p.message}`);
    throw error;
  }
  throw new Error('expected a RegistryError');
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('loadRegistry', () => {
  it("refuses the shipped example's placeholder Prometheus address once wired to a cluster, naming the field and what to put there", () => {
    const problems = problemsOf(() =>
      loadRegistry(join(import.meta.dirname, '..', 'rollouts'), [{ name: 'prod-eks', region: 'us-east-1' }]),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^podinfo\.yaml: spec\.analysis\.prometheus\.address: is the placeholder shipped with the example .*Amazon Managed Prometheus workspace \(provider type amp, workspaceUrl https:\/\/aps-workspaces/,
    );
  });

  it('loads the example target with its defaults resolved (for review, without a cluster)', () => {
    const [entry, ...rest] = loadRegistry(join(import.meta.dirname, '..', 'rollouts'));
    expect(rest).toEqual([]);
    expect(entry?.file).toMatch(/rollouts\/podinfo\.yaml$/);
    expect(entry?.spec.spec.strategy.lookInterval).toBe('10s');
  });

  it('reports every bad field with its file and path', () => {
    const dir = registryWith({
      'bad.yaml': EXAMPLE.replace('interval: 1m', 'interval: soon'),
      'good.yaml': EXAMPLE.replace('name: podinfo\nspec', 'name: other\nspec'),
    });
    const problems = problemsOf(() => loadRegistry(dir));
    expect(problems.map((p) => p.split(': ').slice(0, 2).join(': '))).toEqual(['bad.yaml: spec.strategy.interval']);
    const weights = registryWith({ 'weights.yaml': EXAMPLE.replace('stepWeights: [5, 10, 25, 50]', 'stepWeights: [5, 3]') });
    expect(problemsOf(() => loadRegistry(weights))).toEqual([
      'weights.yaml: spec.strategy.stepWeights[1]: must be greater than the step before it (5): step weights strictly increase',
    ]);
  });

  it('refuses what cannot work once deployed: a kubeconfig context, another cluster, inline secrets, duplicate names', () => {
    const dir = registryWith({
      'a-local.yaml': FILLED.replace('name: podinfo\nspec', 'name: local\nspec').replace(
        'cluster: { name: prod-eks, region: us-east-1 }',
        'cluster: { kubeconfigContext: kind-gloo }',
      ),
      'b-other.yaml': FILLED.replace('name: podinfo\nspec', 'name: other\nspec').replace('name: prod-eks', 'name: staging-eks'),
      'c-secret.yaml': FILLED.replace('name: podinfo\nspec', 'name: secret\nspec').replace(
        'address: "https://prometheus.example.com" }',
        'address: "https://prometheus.example.com", bearerToken: hunter2 }',
      ),
      'd-twin.yaml': FILLED,
      'e-twin.yaml': FILLED,
    });
    expect(problemsOf(() => loadRegistry(dir, [{ name: 'prod-eks', region: 'us-east-1' }]))).toEqual([
      'a-local.yaml: spec.cluster: a deployed target needs an EKS cluster { name, region }; kubeconfigContext works only with the local engine',
      'b-other.yaml: spec.cluster: names EKS cluster staging-eks (us-east-1) but the stacks wire prod-eks (us-east-1): its Lambdas could not reach it (wire it with -c clusters=staging-eks:us-east-1)',
      'c-secret.yaml: spec.analysis.prometheus.bearerToken: an inline token: a value here would be stored in plain text in SSM, the execution input and the logs; give a reference instead: { secretRef: { secretsManager: <secret ARN>, key: <JSON key> } }',
      `e-twin.yaml: metadata.name: "podinfo" is already defined in ${join(dir, 'd-twin.yaml').replace(process.cwd() + '/', '')}: target names are unique`,
    ]);
  });

  it('names a YAML syntax error with its file', () => {
    const dir = registryWith({ 'broken.yml': 'apiVersion: sluice.dev/v1\nkind: [Rollout\n' });
    const [problem] = problemsOf(() => loadRegistry(dir));
    expect(problem).toMatch(/^broken\.yml: \(root\): not valid YAML: /);
  });

  it('treats a missing directory as an empty registry', () => {
    expect(loadRegistry(join(tmpdir(), 'sluice-no-such-registry'))).toEqual([]);
  });
});

describe('secrets in a deployed target', () => {
  const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice/web-AbCdEf';
  const withAnalysis = (analysis: Record<string, unknown>, notifications?: unknown) => {
    const spec = parse(FILLED) as { spec: { analysis: Record<string, unknown>; notifications?: unknown } };
    Object.assign(spec.spec.analysis, analysis);
    if (notifications) spec.spec.notifications = notifications;
    return JSON.stringify(spec);
  };

  it('refuses every secret-shaped value, naming the field and the reference form; accepts references by complete ARN', () => {
    const dir = registryWith({
      'p.yaml': withAnalysis(
        {
          judge: 'threshold',
          prometheus: { address: 'https://admin:hunter2@prometheus.example.com' },
          metrics: [
            { name: 'request-success-rate', thresholdRange: { min: 99 } },
            {
              name: 'apdex',
              provider: {
                type: 'web',
                url: 'https://metrics.example.com/apdex?api_key=abc123',
                jsonPath: '$.v',
                headers: { 'X-Api-Key': 'k-123456' },
              },
              thresholdRange: { min: 0.9 },
            },
          ],
          webhooks: [{ name: 'load', type: 'rollout', url: 'https://hooks.example.com/run?token=t0k3n' }],
        },
        {
          webhooks: [
            { url: 'https://hooks.slack.com/services/T000/B000/XXXXXXXX' },
            { url: { secretRef: { env: 'TEAMS_URL' } } },
            { url: { secretRef: { secretsManager: 'sluice/teams' } } },
          ],
        },
      ),
    });
    const problems = problemsOf(() => loadRegistry(dir, [{ name: 'prod-eks', region: 'us-east-1' }])).map(
      (p) => p.split(': ').slice(1, 2)[0],
    );
    expect(problems.sort()).toEqual(
      [
        'spec.analysis.metrics[1].provider.headers.X-Api-Key',
        'spec.analysis.webhooks[0].url',
        'spec.notifications.webhooks[0].url',
        'spec.notifications.webhooks[1].url',
        'spec.notifications.webhooks[2].url',
        'spec.analysis.prometheus.address',
        'spec.analysis.metrics[1].provider.url',
      ].sort(),
    );
    const text = problemsOf(() => loadRegistry(dir, [{ name: 'prod-eks', region: 'us-east-1' }])).join('\n');
    expect(text).toContain(
      'spec.analysis.metrics[1].provider.headers.X-Api-Key: a header value may be a credential: a value here would be stored in plain text in SSM, the execution input and the logs; give a reference instead: { secretRef: { secretsManager: <secret ARN>, key: <JSON key> } }',
    );
    expect(text).toContain('spec.notifications.webhooks[0].url: this URL is a Slack incoming webhook, whose path is its secret');
    expect(text).toContain('spec.analysis.prometheus.address: this address carries credentials (user:password@)');
    expect(text).toContain('spec.notifications.webhooks[1].url: an env reference works only locally');
    expect(text).toContain('a deployed target names the secret by its complete ARN');
    // The values themselves never appear in the refusal.
    for (const value of ['hunter2', 'abc123', 'k-123456', 't0k3n', 'XXXXXXXX']) expect(text).not.toContain(value);

    const ok = registryWith({
      'p.yaml': withAnalysis(
        {
          judge: 'threshold',
          prometheus: { address: 'https://prometheus.example.com', bearerToken: { secretRef: { secretsManager: ARN, key: 'prometheus' } } },
          webhooks: [
            {
              name: 'load',
              type: 'rollout',
              url: { secretRef: { secretsManager: ARN, key: 'loadUrl' } },
              headers: { Authorization: { secretRef: { secretsManager: ARN, key: 'auth' } } },
            },
          ],
        },
        { webhooks: [{ url: { secretRef: { secretsManager: ARN, key: 'slack' } } }] },
      ),
    });
    expect(loadRegistry(ok, [{ name: 'prod-eks', region: 'us-east-1' }])).toHaveLength(1);
  });
});

describe('addresses the Lambdas cannot resolve', () => {
  it('warns (not refuses) about cluster-internal-looking hosts, and only those', () => {
    for (const url of [
      'http://prometheus:9090',
      'http://prometheus.monitoring:9090',
      'http://prometheus.monitoring.svc:9090',
      'http://prometheus.monitoring.svc.cluster.local:9090',
    ]) {
      expect(looksClusterInternal(url), url).toBe(true);
    }
    for (const url of [
      'https://prometheus.example.com',
      'http://10.0.3.7:9090',
      'https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1',
      'http://localhost:9090',
      'https://metrics.acme.de',
    ]) {
      expect(looksClusterInternal(url), url).toBe(false);
    }
    const spec = loadRegistry(
      registryWith({ 'p.yaml': EXAMPLE.replace('https://prometheus.replace-me.invalid', 'http://prometheus.monitoring:9090') }),
      [{ name: 'prod-eks', region: 'us-east-1' }],
    )[0]!.spec;
    expect(clusterInternalWarnings(spec)).toEqual([
      {
        path: 'spec.analysis.prometheus.address',
        message: expect.stringContaining(
          "host prometheus.monitoring looks cluster-internal: the Lambdas resolve names through the VPC's DNS",
        ),
      },
    ]);
  });
});

describe('cdk synth without cluster context', () => {
  it('fails naming -c clusterName and -c clusterRegion, unless -c allowNoCluster=true', () => {
    const outdir = registryWith({});
    expect(() => buildApp({ outdir, context: { 'aws:cdk:bundling-stacks': [] } })).toThrow(
      /no EKS cluster given: pass -c clusterName=NAME -c clusterRegion=REGION .* or -c allowNoCluster=true/,
    );
    expect(() => buildApp({ outdir, context: { 'aws:cdk:bundling-stacks': [], clusterName: 'prod-eks' } })).toThrow(
      '-c clusterName was given without -c clusterRegion',
    );
  });
});

describe('cdk synth with a bad spec', () => {
  it('fails before anything is bundled, naming the file and the field path', () => {
    const dir = registryWith({ 'podinfo.yaml': EXAMPLE.replace('threshold: 3', 'threshold: 0') });
    const outdir = registryWith({});
    expect(() => buildApp({ outdir, context: { registryDir: dir, allowNoCluster: 'true' } })).toThrow(
      /podinfo\.yaml: spec\.strategy\.threshold: /,
    );
  });
});
