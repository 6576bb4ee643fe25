/** The target registry: specs validated at synth time, a bad one fails synth naming file and field. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
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
  it('refuses the shipped example\'s placeholder Prometheus address once wired to a cluster, naming the field and what to put there', () => {
    const problems = problemsOf(() => loadRegistry(join(import.meta.dirname, '..', 'rollouts'), { name: 'prod-eks', region: 'us-east-1' }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^podinfo\.yaml: spec\.analysis\.prometheus\.address: is the placeholder shipped with the example .*Amazon Managed Prometheus workspace \(provider type amp, workspaceUrl https:\/\/aps-workspaces/);
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
      'a-local.yaml': FILLED.replace('name: podinfo\nspec', 'name: local\nspec').replace('cluster: { name: prod-eks, region: us-east-1 }', 'cluster: { kubeconfigContext: kind-gloo }'),
      'b-other.yaml': FILLED.replace('name: podinfo\nspec', 'name: other\nspec').replace('name: prod-eks', 'name: staging-eks'),
      'c-secret.yaml': FILLED.replace('name: podinfo\nspec', 'name: secret\nspec').replace('address: "https://prometheus.example.com" }', 'address: "https://prometheus.example.com", bearerToken: hunter2 }'),
      'd-twin.yaml': FILLED,
      'e-twin.yaml': FILLED,
    });
    expect(problemsOf(() => loadRegistry(dir, { name: 'prod-eks', region: 'us-east-1' }))).toEqual([
      'a-local.yaml: spec.cluster: a deployed target needs an EKS cluster { name, region }; kubeconfigContext works only with the local engine',
      'b-other.yaml: spec.cluster: names EKS cluster staging-eks (us-east-1) but this stack is wired to prod-eks (us-east-1): its Lambdas could not reach it',
      'c-secret.yaml: spec.analysis.prometheus.bearerToken: an inline secret would be stored in plain text in SSM, the execution history and the logs: not allowed in a deployed target',
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

describe('addresses the Lambdas cannot resolve', () => {
  it('warns (not refuses) about cluster-internal-looking hosts, and only those', () => {
    for (const url of ['http://prometheus:9090', 'http://prometheus.monitoring:9090', 'http://prometheus.monitoring.svc:9090', 'http://prometheus.monitoring.svc.cluster.local:9090']) {
      expect(looksClusterInternal(url), url).toBe(true);
    }
    for (const url of ['https://prometheus.example.com', 'http://10.0.3.7:9090', 'https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1', 'http://localhost:9090', 'https://metrics.acme.de']) {
      expect(looksClusterInternal(url), url).toBe(false);
    }
    const spec = loadRegistry(registryWith({ 'p.yaml': EXAMPLE.replace('https://prometheus.replace-me.invalid', 'http://prometheus.monitoring:9090') }), { name: 'prod-eks', region: 'us-east-1' })[0]!.spec;
    expect(clusterInternalWarnings(spec)).toEqual([{ path: 'spec.analysis.prometheus.address', message: expect.stringContaining("host prometheus.monitoring looks cluster-internal: the Lambdas resolve names through the VPC's DNS") }]);
  });
});

describe('cdk synth without cluster context', () => {
  it('fails naming -c clusterName and -c clusterRegion, unless -c allowNoCluster=true', () => {
    const outdir = registryWith({});
    expect(() => buildApp({ outdir, context: { 'aws:cdk:bundling-stacks': [] } })).toThrow(/no EKS cluster given: pass -c clusterName=NAME -c clusterRegion=REGION .* or -c allowNoCluster=true/);
    expect(() => buildApp({ outdir, context: { 'aws:cdk:bundling-stacks': [], clusterName: 'prod-eks' } })).toThrow('-c clusterName was given without -c clusterRegion');
  });
});

describe('cdk synth with a bad spec', () => {
  it('fails before anything is bundled, naming the file and the field path', () => {
    const dir = registryWith({ 'podinfo.yaml': EXAMPLE.replace('threshold: 3', 'threshold: 0') });
    const outdir = registryWith({});
    expect(() => buildApp({ outdir, context: { registryDir: dir, allowNoCluster: 'true' } })).toThrow(/podinfo\.yaml: spec\.strategy\.threshold: /);
  });
});
