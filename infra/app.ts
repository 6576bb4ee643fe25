/**
 * The CDK app (`cdk.json`: `node infra/app.ts`; Node 24 runs the TypeScript directly).
 * Context: `-c clusterName=NAME -c clusterRegion=REGION` wires an existing EKS cluster; without
 * them synth still works (no access entry; a warning and the ClusterWiring output say so).
 * `-c githubOidcProviderArn=ARN -c githubSubjects=repo:OWNER/NAME:ref:refs/heads/main[,…]` adds the role a
 * GitHub Actions job assumes to send `Rollout Requested`. `-c slackTeamId=T… -c slackApiAppId=A…` turns the Slack
 * bot on (`-c slackSecretArn=ARN` uses an existing secret instead of creating one). `-c compositeAlarms=true`
 * grants DescribeAlarms on "*" for targets that name composite alarms. `-c stackName=…` renames the stack; `-c registryDir=…` reads the targets from another directory
 * than `rollouts/`; `-c bundleAwsSdk=true` bundles the AWS SDK instead of using the runtime's. cdk-nag's AwsSolutions pack validates every synth.
 */
import { resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SluiceStack } from './sluice-stack.ts';

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
  const githubProvider = context('githubOidcProviderArn');
  if (context('githubSubjects') && !githubProvider) throw new Error('-c githubSubjects was given without -c githubOidcProviderArn');
  const slackTeamId = context('slackTeamId');
  const slackApiAppId = context('slackApiAppId');
  const slackSecretArn = context('slackSecretArn');
  if ((slackTeamId || slackSecretArn) && !slackApiAppId) throw new Error('-c slackTeamId / slackSecretArn were given without -c slackApiAppId');
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
    ...(githubProvider ? { githubOidc: { providerArn: githubProvider, subjects: (context('githubSubjects') ?? '').split(',').map((s) => s.trim()).filter(Boolean) } } : {}),
    ...(slackTeamId && slackApiAppId ? { slack: { teamId: slackTeamId, apiAppId: slackApiAppId } } : {}),
    ...(slackSecretArn ? { slackSecretArn } : {}),
  });
  return { app, stack };
}

if (import.meta.main) buildApp().app.synth();
