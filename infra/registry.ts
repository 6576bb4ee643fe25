/**
 * The target registry: every `rollouts/*.yaml` (or .yml/.json) is validated at synth time with the
 * same schema the Lambdas use, and deployed as one SSM parameter per target holding the resolved
 * spec (defaults filled in) as JSON.
 *
 * Why SSM parameters and not an asset bundled into a start Lambda: the start path (`sluice start
 * <target>` from a laptop today, an EventBridge/Slack start Lambda later) looks a target up by
 * name, so a per-target parameter under one prefix is a single GetParameter away, needs no code
 * redeploy to read, is versioned by SSM, and grants narrow to the prefix. A spec is small;
 * above the 4 KB standard tier it moves to the advanced tier (8 KB), above that synth fails.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { Annotations, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { parseDocument } from 'yaml';
import { validateSpec } from '../lambdas/core/spec.ts';
import { memberSpec } from '../lambdas/core/fleet.ts';
import type { RolloutSpec, SpecProblem } from '../lambdas/core/spec.ts';
import { deployedSecretProblems, secretRefs } from '../lambdas/core/secrets.ts';

export interface RegistryEntry {
  /** The file the spec came from, relative to the working directory when possible. */
  file: string;
  spec: RolloutSpec;
}

/** An EKS cluster the deployed Lambdas are wired to (an access entry maps their roles there). */
export interface WiredCluster {
  name: string;
  region: string;
  /** Only when the cluster is in another account than the stack (its access entry is then created by hand). */
  account?: string;
}

/** `name (region)`, `name (region, account 123…)`: how problems and outputs name a cluster. */
export function describeCluster(cluster: WiredCluster): string {
  return `${cluster.name} (${cluster.region}${cluster.account ? `, account ${cluster.account}` : ''})`;
}

/**
 * The rollouts a deployed spec runs: itself, or for a fleet each cluster's member spec
 * (`<target>@<cluster>`, lambdas/core/fleet.ts). Alarms, metric grants, secrets and VPC endpoints
 * are derived from these, so every cluster of a fleet is covered as a target of its own.
 */
export function rolloutsOf(entry: RegistryEntry): RegistryEntry[] {
  const fleet = entry.spec.spec.fleet;
  if (!fleet) return [entry];
  return fleet.clusters.map((cluster) => ({ file: entry.file, spec: memberSpec(entry.spec, cluster.name) }));
}

export class RegistryError extends Error {
  readonly problems: ReadonlyArray<{ file: string } & SpecProblem>;
  constructor(problems: ReadonlyArray<{ file: string } & SpecProblem>) {
    super(`rollout registry is invalid:\n${problems.map((p) => `${p.file}: ${p.path}: ${p.message}`).join('\n')}`);
    this.name = 'RegistryError';
    this.problems = problems;
  }
}

const SPEC_FILE = /\.(ya?ml|json)$/;
/** SSM String parameter limits: standard tier 4 KB, advanced tier 8 KB. */
const STANDARD_TIER_BYTES = 4096;
const ADVANCED_TIER_BYTES = 8192;

function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

/**
 * Problems that only matter for a deployed target: the Lambdas reach EKS with IAM, and whatever is
 * in the spec lands in SSM, in the execution input and in the state machine's logs.
 */
function deployProblems(spec: RolloutSpec, clusters: ReadonlyArray<WiredCluster>): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const fleet = spec.spec.fleet;
  if (fleet) {
    fleet.clusters.forEach((entry, i) => {
      const problem = clusterProblem(memberSpec(spec, entry.name).spec.cluster, clusters);
      if (problem) problems.push({ path: `spec.fleet.clusters[${i}]`, message: `cluster ${entry.name} ${problem}` });
    });
  } else {
    const problem = clusterProblem(spec.spec.cluster, clusters);
    if (problem) problems.push({ path: 'spec.cluster', message: problem });
  }
  // Secrets: references only (Secrets Manager, by complete ARN); nothing secret-shaped by value.
  // The metric addresses are checked too: user:pass@ or ?token= in a Prometheus, AMP or web URL.
  const metricAddresses = addresses(spec).filter(
    (a) => a.path.startsWith('spec.analysis.prometheus') || a.path.startsWith('spec.analysis.metrics'),
  );
  problems.push(...deployedSecretProblems(spec, metricAddresses));
  return problems;
}

/**
 * Whether the deployed Lambdas can reach a rollout's cluster: an EKS cluster the stacks wire (no
 * wired cluster at all is a review synth: anything named passes).
 */
function clusterProblem(target: RolloutSpec['spec']['cluster'], clusters: ReadonlyArray<WiredCluster>): string | undefined {
  if ('kubeconfigContext' in target)
    return 'a deployed target needs an EKS cluster { name, region }; kubeconfigContext works only with the local engine';
  if (!clusters.length || clusters.some((c) => c.name === target.name && c.region === target.region)) return undefined;
  return `names EKS cluster ${target.name} (${target.region}) but the stacks wire ${clusters.map(describeCluster).join(', ')}: its Lambdas could not reach it (wire it with -c clusters=${target.name}:${target.region})`;
}

/** Every address a deployed Lambda calls, with its field path. */
function addresses(spec: RolloutSpec): Array<{ path: string; url: string }> {
  const { analysis, notifications } = spec.spec;
  const out: Array<{ path: string; url: string }> = [];
  if (analysis.prometheus) out.push({ path: 'spec.analysis.prometheus.address', url: analysis.prometheus.address });
  analysis.metrics.forEach((metric, i) => {
    const provider = metric.provider;
    if (provider?.type === 'prometheus' && provider.address)
      out.push({ path: `spec.analysis.metrics[${i}].provider.address`, url: provider.address });
    if (provider?.type === 'amp') out.push({ path: `spec.analysis.metrics[${i}].provider.workspaceUrl`, url: provider.workspaceUrl });
    if (provider?.type === 'web') out.push({ path: `spec.analysis.metrics[${i}].provider.url`, url: provider.url });
  });
  analysis.webhooks?.forEach((hook, i) => {
    if (typeof hook.url === 'string') out.push({ path: `spec.analysis.webhooks[${i}].url`, url: hook.url });
  });
  notifications?.webhooks?.forEach((hook, i) => {
    if (typeof hook.url === 'string') out.push({ path: `spec.notifications.webhooks[${i}].url`, url: hook.url });
  });
  return out;
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return '';
  }
}

/**
 * The shipped example's placeholder host: `.invalid` is reserved (RFC 2606) and never resolves,
 * so a target still carrying it could only fail at its first look.
 */
export function isPlaceholderAddress(url: string): boolean {
  return /(^|\.)invalid$/.test(hostOf(url));
}

/**
 * A host that looks like a Kubernetes Service name (`prometheus`, `prometheus.monitoring`,
 * `*.svc`, `*.cluster.local`): Lambdas resolve names through the VPC's DNS, not the cluster's, so
 * such an address works only where a private hosted zone makes it resolvable. A heuristic, hence
 * a warning: a two-label host counts when its last label is not a two-letter country code and not
 * one of the common generic top-level domains.
 */
const COMMON_TLDS = new Set([
  'com',
  'net',
  'org',
  'io',
  'dev',
  'app',
  'cloud',
  'ai',
  'co',
  'info',
  'biz',
  'xyz',
  'tech',
  'site',
  'online',
  'edu',
  'gov',
  'aws',
]);
export function looksClusterInternal(url: string): boolean {
  const host = hostOf(url);
  if (!host || /^[\d.]+$/.test(host) || host.startsWith('[')) return false;
  if (/\.(svc|svc\.cluster\.local|cluster\.local)$/.test(host)) return true;
  const labels = host.split('.');
  if (labels.length === 1) return host !== 'localhost';
  if (labels.length === 2) {
    const last = labels[1]!;
    return last.length > 2 && !COMMON_TLDS.has(last);
  }
  return false;
}

/**
 * The shipped placeholder, refused once the stack is wired to a cluster (a review synth with
 * -c allowNoCluster=true only warns: nothing can run there anyway).
 */
export function placeholderProblems(spec: RolloutSpec): SpecProblem[] {
  return addresses(spec)
    .filter(({ url }) => isPlaceholderAddress(url))
    .map(({ path }) => ({
      path,
      message:
        'is the placeholder shipped with the example (a .invalid host never resolves): put an address the Lambdas can reach — a Prometheus reachable from their VPC, or an Amazon Managed Prometheus workspace (provider type amp, workspaceUrl https://aps-workspaces.REGION.amazonaws.com/workspaces/ws-…)',
    }));
}

/** Addresses that look cluster-internal: warnings, not errors (a private hosted zone can make them resolvable). */
export function clusterInternalWarnings(spec: RolloutSpec): SpecProblem[] {
  return addresses(spec)
    .filter(({ url }) => looksClusterInternal(url))
    .map(({ path, url }) => ({
      path,
      message: `host ${hostOf(url)} looks cluster-internal: the Lambdas resolve names through the VPC's DNS, not the cluster's; use an address resolvable there (a load balancer, an ingress, a private hosted zone record)`,
    }));
}

/**
 * Reads and validates every spec in `dir`. Throws a RegistryError listing every problem as
 * `file: field.path: message`; an empty or missing directory is an empty registry.
 */
export function loadRegistry(dir: string, clusters: ReadonlyArray<WiredCluster> = []): RegistryEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((name) => SPEC_FILE.test(name))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`rollout registry ${dir} could not be read`, { cause: error });
  }
  const problems: Array<{ file: string } & SpecProblem> = [];
  const entries: RegistryEntry[] = [];
  const owners = new Map<string, string>();
  for (const name of names) {
    const file = displayPath(join(dir, name));
    const document = parseDocument(readFileSync(join(dir, name), 'utf8'), { prettyErrors: true });
    if (document.errors.length) {
      for (const error of document.errors) problems.push({ file, path: '(root)', message: `not valid YAML: ${error.message}` });
      continue;
    }
    const result = validateSpec(document.toJS());
    if (!result.ok) {
      problems.push(...result.problems.map((p) => ({ file, ...p })));
      continue;
    }
    const spec = result.spec;
    const deploy = [...deployProblems(spec, clusters), ...(clusters.length ? placeholderProblems(spec) : [])];
    problems.push(...deploy.map((p) => ({ file, ...p })));
    const owner = owners.get(spec.metadata.name);
    if (owner)
      problems.push({
        file,
        path: 'metadata.name',
        message: `"${spec.metadata.name}" is already defined in ${owner}: target names are unique`,
      });
    owners.set(spec.metadata.name, file);
    const bytes = Buffer.byteLength(JSON.stringify(spec));
    if (bytes > ADVANCED_TIER_BYTES)
      problems.push({
        file,
        path: '(root)',
        message: `the resolved spec is ${bytes} bytes; an SSM parameter holds at most ${ADVANCED_TIER_BYTES}`,
      });
    if (!deploy.length) entries.push({ file, spec });
  }
  if (problems.length) throw new RegistryError(problems);
  return entries;
}

export interface SluiceRegistryProps {
  /** Directory of the specs (`rollouts/`). */
  dir: string;
  /** SSM path prefix, starting with `/` and not ending with one. Default `/sluice/<stack name>/targets`. */
  parameterPrefix?: string;
  /** The clusters the stacks wire: every spec (every cluster of a fleet) must name one of them. */
  clusters?: ReadonlyArray<WiredCluster>;
}

/** The deployed registry: one SSM String parameter per target, `<prefix>/<metadata.name>`. */
export class SluiceRegistry extends Construct {
  readonly parameterPrefix: string;
  readonly entries: ReadonlyArray<RegistryEntry>;
  /** The rollouts the entries run: a fleet's member specs in its place (rolloutsOf). */
  readonly rollouts: ReadonlyArray<RegistryEntry>;
  readonly parameters: ReadonlyMap<string, ssm.StringParameter>;

  constructor(scope: Construct, id: string, props: SluiceRegistryProps) {
    super(scope, id);
    this.parameterPrefix = props.parameterPrefix ?? `/sluice/${Stack.of(this).stackName}/targets`;
    if (!/^\/[A-Za-z0-9_.\-/]+[^/]$/.test(this.parameterPrefix)) {
      throw new Error(
        `registry parameter prefix "${this.parameterPrefix}" must start with "/", use only a-z A-Z 0-9 _ . - / and not end with "/"`,
      );
    }
    const clusters = props.clusters ?? [];
    this.entries = loadRegistry(props.dir, clusters);
    this.rollouts = this.entries.flatMap(rolloutsOf);
    for (const { file, spec } of this.entries) {
      const warnings = [...clusterInternalWarnings(spec), ...(clusters.length ? [] : placeholderProblems(spec))];
      for (const warning of warnings) {
        Annotations.of(this).addWarningV2(
          `sluice:address:${spec.metadata.name}:${warning.path}`,
          `${basename(file)}: ${warning.path}: ${warning.message}`,
        );
      }
    }
    const parameters = new Map<string, ssm.StringParameter>();
    for (const { file, spec } of this.entries) {
      const value = JSON.stringify(spec);
      parameters.set(
        spec.metadata.name,
        new ssm.StringParameter(this, `Target-${spec.metadata.name}`, {
          parameterName: `${this.parameterPrefix}/${spec.metadata.name}`,
          stringValue: value,
          description: `Sluice rollout target ${spec.metadata.name} (resolved from ${basename(file)})`,
          tier: Buffer.byteLength(value) > STANDARD_TIER_BYTES ? ssm.ParameterTier.ADVANCED : ssm.ParameterTier.STANDARD,
        }),
      );
    }
    this.parameters = parameters;
  }

  /** The ARN pattern covering every target parameter (for a start path's role). */
  get parameterArnPattern(): string {
    return Stack.of(this).formatArn({ service: 'ssm', resource: 'parameter', resourceName: `${this.parameterPrefix.slice(1)}/*` });
  }

  /** Lets `grantee` read the targets: ssm:GetParameter on `<prefix>/*` only. */
  grantRead(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['ssm:GetParameter'], resourceArns: [this.parameterArnPattern] });
  }
}

/**
 * The Secrets Manager secrets the targets reference (complete ARNs: deployProblems refuses
 * anything else) and whether any reference is used at all, for the Lambdas' grants.
 */
export function referencedSecretArns(entries: ReadonlyArray<RegistryEntry>): string[] {
  const arns = new Set<string>();
  for (const { spec } of entries) {
    for (const { ref } of secretRefs(spec)) if ('secretsManager' in ref.secretRef) arns.add(ref.secretRef.secretsManager);
  }
  return [...arns].sort();
}
