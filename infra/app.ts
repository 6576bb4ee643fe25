/**
 * The CDK app (`cdk.json`: `node infra/app.ts`; Node 24 runs the TypeScript directly).
 * Context: `-c clusterName=NAME -c clusterRegion=REGION` wires an existing EKS cluster; synth
 * refuses to run without them unless `-c allowNoCluster=true` (a review synth: no access entry; a
 * warning and the ClusterWiring output say so). `-c clusters=NAME:REGION[:ACCOUNT],…` wires more EKS clusters (a fleet's,
 * docs/fleet-aws.md): the orchestrator stays in its region (`-c region=…`, else clusterRegion); each other region of
 * this account gets a small access stack `<stackName>-access-<region>`; a cluster in another account gets instructions. VPC placement by IDs (docs/deploy-aws.md):
 * `-c vpcId -c subnetIds -c subnetRouteTableIds -c availabilityZones [-c clusterSecurityGroupId]
 * [-c securityGroupIds] [-c vpcEndpoints=eks,events,dynamodb|none]`. `-c gitops=true` creates the
 * GitOps webhook's Function URL; `-c stateMachineLogLevel=ERROR|ALL|FATAL|OFF` (default ERROR).
 * `-c githubOidcProviderArn=ARN -c githubSubjects=repo:OWNER/NAME:ref:refs/heads/main[,…]` adds the role a
 * GitHub Actions job assumes to send `Rollout Requested`. `-c slackTeamId=T… -c slackApiAppId=A…` turns the Slack
 * bot on (`-c slackSecretArn=ARN` uses an existing secret instead of creating one). `-c compositeAlarms=true`
 * grants DescribeAlarms on "*" for targets that name composite alarms. `-c stackName=…` renames the stack; `-c registryDir=…` reads the targets from another directory
 * than `rollouts/`; `-c bundleAwsSdk=true` bundles the AWS SDK instead of using the runtime's. cdk-nag's AwsSolutions pack validates every synth.
 */
import { resolve } from 'node:path';
import { App, Token, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { SluiceStack } from './sluice-stack.ts';
import { SluiceAccessStack } from './access-stack.ts';
import type { SluiceClusterProps } from './sluice-orchestrator.ts';
import { vpcIdsFromContext } from './vpc.ts';

export interface BuildAppOptions {
  /** Cloud assembly directory (tests and the bench synthesize into their own). */
  outdir?: string;
  /** Context values, as `-c key=value` would give them. */
  context?: Record<string, unknown>;
  /** Account and region; default CDK_DEFAULT_ACCOUNT and clusterRegion or CDK_DEFAULT_REGION. */
  env?: { account?: string; region?: string };
}

const CLUSTER_ENTRY = /^([A-Za-z0-9][A-Za-z0-9_-]{0,99}):([a-z]{2}(?:-[a-z]+)+-\d)(?::(\d{12}))?$/;

/** `-c clusters=eu-1:eu-west-1,us-1:us-east-1:210987654321`: each NAME:REGION[:ACCOUNT]. */
export function parseClusters(value: string): SluiceClusterProps[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const m = CLUSTER_ENTRY.exec(entry);
      if (!m)
        throw new Error(
          `-c clusters: "${entry}" is not NAME:REGION[:ACCOUNT] (an EKS cluster name, an AWS region such as eu-west-1, optionally a 12-digit account)`,
        );
      return { name: m[1]!, region: m[2]!, ...(m[3] ? { account: m[3] } : {}) };
    });
}

export function buildApp(options: BuildAppOptions = {}): { app: App; stack: SluiceStack; accessStacks: SluiceAccessStack[] } {
  const app = new App({ ...(options.outdir ? { outdir: options.outdir } : {}), ...(options.context ? { context: options.context } : {}) });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const context = (key: string): string | undefined => {
    const value: unknown = app.node.tryGetContext(key);
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const clusterName = context('clusterName');
  const clusterRegion = context('clusterRegion');
  const registryDir = context('registryDir');
  const clusters = parseClusters(context('clusters') ?? '');
  if (clusterRegion && !clusterName) throw new Error('-c clusterRegion was given without -c clusterName');
  if (clusterName && !clusterRegion)
    throw new Error("-c clusterName was given without -c clusterRegion: name the cluster's region (the stack deploys there)");
  if (!clusterName && !clusters.length && context('allowNoCluster') !== 'true') {
    throw new Error(
      'no EKS cluster given: pass -c clusterName=NAME -c clusterRegion=REGION (the cluster the Lambdas roll out on), or -c allowNoCluster=true to synthesize for review only (the Lambdas then cannot reach Kubernetes)',
    );
  }
  const vpcIds = vpcIdsFromContext(context);
  const logLevel = context('stateMachineLogLevel') ?? 'ERROR';
  if (!(['OFF', 'ALL', 'ERROR', 'FATAL'] as const).includes(logLevel as 'ERROR'))
    throw new Error(`-c stateMachineLogLevel: "${logLevel}" is not one of OFF, ALL, ERROR, FATAL`);
  const githubProvider = context('githubOidcProviderArn');
  if (context('githubSubjects') && !githubProvider) throw new Error('-c githubSubjects was given without -c githubOidcProviderArn');
  const slackTeamId = context('slackTeamId');
  const slackApiAppId = context('slackApiAppId');
  const slackSecretArn = context('slackSecretArn');
  if ((slackTeamId || slackSecretArn) && !slackApiAppId)
    throw new Error('-c slackTeamId / slackSecretArn were given without -c slackApiAppId');
  if (slackApiAppId && !slackTeamId) throw new Error('-c slackApiAppId was given without -c slackTeamId');
  const region = options.env?.region ?? context('region') ?? clusterRegion ?? process.env.CDK_DEFAULT_REGION;
  if (clusters.length && !region) throw new Error('-c clusters was given without a region for the orchestrator: pass -c region=REGION');
  const account = options.env?.account ?? process.env.CDK_DEFAULT_ACCOUNT;
  const stack = new SluiceStack(app, context('stackName') ?? 'Sluice', {
    description: 'Sluice: serverless canary rollouts for services behind Gloo Edge',
    ...(region || account ? { env: { ...(account ? { account } : {}), ...(region ? { region } : {}) } } : {}),
    ...(registryDir ? { registryDir: resolve(registryDir) } : {}),
    ...(context('bundleAwsSdk') === 'true' ? { bundleAwsSdk: true } : {}),
    ...(clusterName ? { cluster: { name: clusterName, ...(clusterRegion ? { region: clusterRegion } : {}) } } : {}),
    ...(clusters.length ? { clusters } : {}),
    ...(context('compositeAlarms') === 'true' ? { compositeAlarms: true } : {}),
    ...(context('gitops') === 'true' ? { gitops: true } : {}),
    ...(context('secretsKmsKeyArn') ? { secretsKmsKeyArn: context('secretsKmsKeyArn') } : {}),
    ...(vpcIds ? { vpcIds } : {}),
    stateMachineLogLevel: logLevel as sfn.LogLevel,
    ...(githubProvider
      ? {
          githubOidc: {
            providerArn: githubProvider,
            subjects: (context('githubSubjects') ?? '')
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
          },
        }
      : {}),
    ...(slackTeamId && slackApiAppId ? { slack: { teamId: slackTeamId, apiAppId: slackApiAppId } } : {}),
    ...(slackSecretArn ? { slackSecretArn } : {}),
  });
  return { app, stack, accessStacks: accessStacks(app, stack) };
}

/** One access stack per region of this account where wired clusters are and the orchestrator is not. */
function accessStacks(app: App, stack: SluiceStack): SluiceAccessStack[] {
  const { remoteClusters, kubernetesRole, analysisRole } = stack.orchestrator;
  if (!remoteClusters.length) return [];
  if (Token.isUnresolved(stack.account))
    throw new Error(
      `clusters in other regions (${remoteClusters.map((c) => `${c.name} ${c.region}`).join(', ')}) need the account: set CDK_DEFAULT_ACCOUNT (cdk does, from your credentials)`,
    );
  const regions = [...new Set(remoteClusters.map((c) => c.region))].sort();
  return regions.map((region) => {
    const access = new SluiceAccessStack(app, `${stack.stackName}-access-${region}`, {
      env: { account: stack.account, region },
      description: `Sluice: EKS access entries for the clusters in ${region} (the orchestrator is in ${stack.region})`,
      clusters: remoteClusters.filter((c) => c.region === region),
      kubernetesRole,
      analysisRole,
    });
    access.addStackDependency(stack, 'the access entries name the roles the orchestrator stack creates');
    return access;
  });
}

if (import.meta.main) buildApp().app.synth();
