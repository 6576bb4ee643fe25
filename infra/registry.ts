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
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { parseDocument } from 'yaml';
import { validateSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpec, SpecProblem } from '../lambdas/core/spec.ts';

export interface RegistryEntry {
  /** The file the spec came from, relative to the working directory when possible. */
  file: string;
  spec: RolloutSpec;
}

/** The EKS cluster the deployed Lambdas are wired to, if any. */
export interface WiredCluster {
  name: string;
  region: string;
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
function deployProblems(spec: RolloutSpec, cluster: WiredCluster | undefined): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const target = spec.spec.cluster;
  if ('kubeconfigContext' in target) {
    problems.push({ path: 'spec.cluster', message: 'a deployed target needs an EKS cluster { name, region }; kubeconfigContext works only with the local engine' });
  } else if (cluster && (target.name !== cluster.name || target.region !== cluster.region)) {
    problems.push({
      path: 'spec.cluster',
      message: `names EKS cluster ${target.name} (${target.region}) but this stack is wired to ${cluster.name} (${cluster.region}): its Lambdas could not reach it`,
    });
  }
  const servers = [
    { path: 'spec.analysis.prometheus', server: spec.spec.analysis.prometheus },
    ...spec.spec.analysis.metrics.map((metric, i) => ({
      path: `spec.analysis.metrics[${i}].provider`,
      server: metric.provider?.type === 'prometheus' ? metric.provider : undefined,
    })),
  ];
  for (const { path, server } of servers) {
    if (server?.bearerToken) problems.push({ path: `${path}.bearerToken`, message: 'an inline secret would be stored in plain text in SSM, the execution history and the logs: not allowed in a deployed target' });
    if (server?.basicAuth) problems.push({ path: `${path}.basicAuth`, message: 'an inline password would be stored in plain text in SSM, the execution history and the logs: not allowed in a deployed target' });
  }
  return problems;
}

/**
 * Reads and validates every spec in `dir`. Throws a RegistryError listing every problem as
 * `file: field.path: message`; an empty or missing directory is an empty registry.
 */
export function loadRegistry(dir: string, cluster?: WiredCluster): RegistryEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => SPEC_FILE.test(name)).sort();
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
    const deploy = deployProblems(spec, cluster);
    problems.push(...deploy.map((p) => ({ file, ...p })));
    const owner = owners.get(spec.metadata.name);
    if (owner) problems.push({ file, path: 'metadata.name', message: `"${spec.metadata.name}" is already defined in ${owner}: target names are unique` });
    owners.set(spec.metadata.name, file);
    const bytes = Buffer.byteLength(JSON.stringify(spec));
    if (bytes > ADVANCED_TIER_BYTES) problems.push({ file, path: '(root)', message: `the resolved spec is ${bytes} bytes; an SSM parameter holds at most ${ADVANCED_TIER_BYTES}` });
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
  cluster?: WiredCluster;
}

/** The deployed registry: one SSM String parameter per target, `<prefix>/<metadata.name>`. */
export class SluiceRegistry extends Construct {
  readonly parameterPrefix: string;
  readonly entries: ReadonlyArray<RegistryEntry>;
  readonly parameters: ReadonlyMap<string, ssm.StringParameter>;

  constructor(scope: Construct, id: string, props: SluiceRegistryProps) {
    super(scope, id);
    this.parameterPrefix = props.parameterPrefix ?? `/sluice/${Stack.of(this).stackName}/targets`;
    if (!/^\/[A-Za-z0-9_.\-/]+[^/]$/.test(this.parameterPrefix)) {
      throw new Error(`registry parameter prefix "${this.parameterPrefix}" must start with "/", use only a-z A-Z 0-9 _ . - / and not end with "/"`);
    }
    this.entries = loadRegistry(props.dir, props.cluster);
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
