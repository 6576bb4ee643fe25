/**
 * The CDK app (`cdk.json`: `node infra/app.ts`; Node 24 runs the TypeScript directly).
 * Context: `-c clusterName=NAME -c clusterRegion=REGION` wires an existing EKS cluster; synth
 * refuses to run without them unless `-c allowNoCluster=true` (a review synth: no access entry; a
 * warning and the ClusterWiring output say so). VPC placement by IDs (docs/deploy-aws.md):
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
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { SluiceStack } from './sluice-stack.ts';
import { vpcIdsFromContext } from './vpc.ts';

export interface BuildAppOptions {
  /** Cloud assembly directory (tests and the bench synthesize into their own). */
  outdir?: string;
  /** Context values, as `-c key=value` would give them. */
  context?: Record<string, unknown>;
  /** Account and region; default CDK_DEFAULT_ACCOUNT and clusterRegion or CDK_DEFAULT_REGION. */
  env?: { account?: string; region?: string };
}

export function buildApp(options: BuildAppOptions = {}): { app: App; stack: SluiceStack } {
  const app = new App({ ...(options.outdir ? { outdir: options.outdir } : {}), ...(options.context ? { context: options.context } : {}) });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const context = (key: string): string | undefined => {
    const value: unknown = app.node.tryGetContext(key);
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const clusterName = context('clusterName');
  const clusterRegion = context('clusterRegion');
  const registryDir = context('registryDir');
  if (clusterRegion && !clusterName) throw new Error('-c clusterRegion was given without -c clusterName');
  if (clusterName && !clusterRegion)
    throw new Error("-c clusterName was given without -c clusterRegion: name the cluster's region (the stack deploys there)");
  if (!clusterName && context('allowNoCluster') !== 'true') {
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
  const region = options.env?.region ?? clusterRegion ?? process.env.CDK_DEFAULT_REGION;
  const account = options.env?.account ?? process.env.CDK_DEFAULT_ACCOUNT;
  const stack = new SluiceStack(app, context('stackName') ?? 'Sluice', {
    description: 'Sluice: serverless canary rollouts for services behind Gloo Edge',
    ...(region || account ? { env: { ...(account ? { account } : {}), ...(region ? { region } : {}) } } : {}),
    ...(registryDir ? { registryDir: resolve(registryDir) } : {}),
    ...(context('bundleAwsSdk') === 'true' ? { bundleAwsSdk: true } : {}),
    ...(clusterName ? { cluster: { name: clusterName, ...(clusterRegion ? { region: clusterRegion } : {}) } } : {}),
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
  return { app, stack };
}

if (import.meta.main) buildApp().app.synth();
