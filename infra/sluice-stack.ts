/**
 * The thin stack `cdk.json` deploys: one SluiceOrchestrator and the outputs the CLI reads
 * (`sluice start/status/abort` resolve the state machine, table and registry from them; `sluice start --at`
 * and `sluice schedule` the schedule group, the start Lambda, the Scheduler role and its dead-letter queue).
 */
import { CfnOutput, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { SluiceOrchestrator } from './sluice-orchestrator.ts';
import type { SluiceOrchestratorProps } from './sluice-orchestrator.ts';
import { vpcPlacementFromIds } from './vpc.ts';
import { foreignAccessInstructions } from './access-stack.ts';
import { describeCluster } from './registry.ts';
import type { VpcIds } from './vpc.ts';

/** Output keys of the stack: a contract with the CLI and the README. */
export const OUTPUTS = {
  stateMachineArn: 'StateMachineArn',
  tableName: 'TableName',
  eventBusName: 'EventBusName',
  registryParameterPrefix: 'RegistryParameterPrefix',
  kubernetesRoleArn: 'KubernetesRoleArn',
  clusterWiring: 'ClusterWiring',
  safetyNetDeadLetterQueueUrl: 'SafetyNetDeadLetterQueueUrl',
  /** Only with `-c gitops=true`. */
  gitopsWebhookUrl: 'GitopsWebhookUrl',
  /** `sluice start --at` and `sluice schedule list|cancel` against the stack: the group, target, role and DLQ of one-off schedules. */
  scheduleGroupName: 'ScheduleGroupName',
  startFunctionArn: 'StartFunctionArn',
  schedulerRoleArn: 'SchedulerRoleArn',
  schedulerDeadLetterArn: 'SchedulerDeadLetterArn',
  /** `sluice recover --stack`: the reconciler Lambda it invokes. */
  reconcilerFunctionArn: 'ReconcilerFunctionArn',
  /** Subscribe people here: alarms on stuck rollouts, failed rollbacks, dead-lettered safety nets, reconciler findings. */
  alertTopicArn: 'AlertTopicArn',
  /** `sluice doctor --stack`: Prepare (reads, read-only group) and SetWeight (dry-run patches, writers' group) in doctor mode. */
  doctorReadFunctionArn: 'DoctorReadFunctionArn',
  doctorWriteFunctionArn: 'DoctorWriteFunctionArn',
  /** Only when some target has spec.fleet: the fleet state machine (`sluice start` of a fleet target starts it). */
  fleetStateMachineArn: 'FleetStateMachineArn',
  /** Only when a wired cluster is in another account: the access entries and RBAC to create there. */
  clusterAccess: 'ClusterAccess',
  /** Only when Slack is configured: the Slack worker, which sends notifications, probes them in doctor mode. */
  doctorNotifyFunctionArn: 'DoctorNotifyFunctionArn',
  /** The Prepare/Analyze role (mapped to sluice:reader): `sluice doctor --stack` checks its access entry. */
  analysisRoleArn: 'AnalysisRoleArn',
  /** Only when GitHub OIDC is configured. */
  githubActionsRoleArn: 'GithubActionsRoleArn',
  /** Only when Slack is configured. */
  slackFunctionUrl: 'SlackFunctionUrl',
  /** Only when Slack is configured. */
  slackSecretArn: 'SlackSecretArn',
} as const;

/** The outputs a stack has only when the feature behind them is configured. */
export const OPTIONAL_OUTPUTS: ReadonlySet<string> = new Set([
  OUTPUTS.githubActionsRoleArn,
  OUTPUTS.slackFunctionUrl,
  OUTPUTS.slackSecretArn,
  OUTPUTS.gitopsWebhookUrl,
  OUTPUTS.doctorNotifyFunctionArn,
  OUTPUTS.fleetStateMachineArn,
  OUTPUTS.clusterAccess,
]);

export type SluiceStackProps = StackProps &
  SluiceOrchestratorProps & {
    /** The complete ARN of an existing Slack secret `{ signingSecret, botToken }` (with `slack`; instead of `slack.secret`). */
    slackSecretArn?: string;
    /** VPC placement by IDs (what `-c vpcId=…` gives); built with Vpc.fromVpcAttributes, no lookup. Instead of `vpc`. */
    vpcIds?: VpcIds;
  };

export class SluiceStack extends Stack {
  readonly orchestrator: SluiceOrchestrator;

  constructor(scope: Construct, id: string, props: SluiceStackProps = {}) {
    super(scope, id, props);
    const { slackSecretArn, vpcIds, ...rest } = props;
    if (vpcIds && props.vpc) throw new Error('give vpc or vpcIds, not both');
    if (vpcIds) rest.vpc = vpcPlacementFromIds(this, vpcIds);
    if (slackSecretArn && !props.slack) throw new Error('slackSecretArn was given without slack { teamId, apiAppId }');
    const slack =
      props.slack && slackSecretArn
        ? { ...props.slack, secret: secretsmanager.Secret.fromSecretCompleteArn(this, 'SlackSecret', slackSecretArn) }
        : props.slack;
    const sluice = new SluiceOrchestrator(this, 'Sluice', { ...rest, ...(slack ? { slack } : {}) });
    this.orchestrator = sluice;
    const output = (key: string, value: string, description: string) => new CfnOutput(this, key, { value, description });
    output(OUTPUTS.stateMachineArn, sluice.stateMachine.stateMachineArn, 'The rollout state machine (sluice start/status/abort)');
    output(OUTPUTS.tableName, sluice.table.tableName, 'The DynamoDB store: locks, task tokens, abort flags, history');
    output(OUTPUTS.eventBusName, sluice.eventBus.eventBusName, 'EventBridge bus of Sluice events (source "sluice")');
    output(
      OUTPUTS.registryParameterPrefix,
      sluice.registry.parameterPrefix,
      'SSM prefix of the rollout targets: <prefix>/<target> holds the resolved spec',
    );
    output(
      OUTPUTS.kubernetesRoleArn,
      sluice.kubernetesRole.roleArn,
      'IAM role of the Lambdas that talk to Kubernetes (mapped to sluice:orchestrator)',
    );
    output(
      OUTPUTS.clusterWiring,
      sluice.clusters.length
        ? sluice.clusters
            .map((c) =>
              sluice.foreignClusters.includes(c)
                ? `${describeCluster(c)}: by hand (ClusterAccess)`
                : sluice.remoteClusters.includes(c)
                  ? `access entry for ${c.name} (${c.region}) in stack ${this.stackName}-access-${c.region}`
                  : `access entry for ${c.name} (${c.region}) -> sluice:orchestrator`,
            )
            .join('; ')
        : 'none: synthesized without -c clusterName=... -c clusterRegion=...; the Lambdas cannot reach Kubernetes',
      'Which EKS cluster the Lambdas are wired to',
    );
    output(
      OUTPUTS.safetyNetDeadLetterQueueUrl,
      sluice.safetyNetDeadLetterQueue.queueUrl,
      'Safety-net events that could not be handled: inspect, then restore traffic by hand',
    );
    if (sluice.triggers.gitopsUrl)
      output(OUTPUTS.gitopsWebhookUrl, sluice.triggers.gitopsUrl.url, 'HTTPS endpoint for Flux (generic-hmac) and Argo CD notifications');
    const triggers = sluice.triggers;
    output(
      OUTPUTS.scheduleGroupName,
      triggers.scheduleGroup.ref,
      'EventBridge Scheduler group of one-off rollouts (sluice start --at, sluice schedule)',
    );
    output(
      OUTPUTS.startFunctionArn,
      triggers.startFunction.functionArn,
      'The start Lambda (unqualified ARN): what a one-off schedule invokes',
    );
    output(OUTPUTS.schedulerRoleArn, triggers.schedulerRole.roleArn, 'The role EventBridge Scheduler assumes to invoke the start Lambda');
    output(
      OUTPUTS.schedulerDeadLetterArn,
      triggers.schedulerDeadLetterQueue.queueArn,
      'Dead-letter queue of schedules whose every attempt failed',
    );
    output(
      OUTPUTS.reconcilerFunctionArn,
      sluice.functions.reconciler.functionArn,
      'The reconciler Lambda: `sluice recover [TARGET] --stack` invokes it',
    );
    output(
      OUTPUTS.alertTopicArn,
      sluice.recovery.topic.topicArn,
      'SNS topic of the alarms that need a person (stuck rollout, failed rollback, dead-lettered safety net, reconciler findings)',
    );
    output(OUTPUTS.analysisRoleArn, sluice.analysisRole.roleArn, 'IAM role of Prepare and Analyze (mapped to the read-only sluice:reader)');
    output(
      OUTPUTS.doctorReadFunctionArn,
      sluice.functions.prepare.functionArn,
      "sluice doctor --stack: the checks in Prepare's role (reads)",
    );
    output(
      OUTPUTS.doctorWriteFunctionArn,
      sluice.functions['set-weight'].functionArn,
      "sluice doctor --stack: the checks in the writers' role (dry-run patches)",
    );
    if (sluice.fleet)
      output(
        OUTPUTS.fleetStateMachineArn,
        sluice.fleet.stateMachine.stateMachineArn,
        'The fleet state machine: one release across clusters in waves',
      );
    if (sluice.foreignClusters.length)
      output(
        OUTPUTS.clusterAccess,
        foreignAccessInstructions(sluice.foreignClusters, sluice.kubernetesRole.roleArn, sluice.analysisRole.roleArn),
        'Clusters in other accounts: create these access entries there, then apply the RBAC',
      );
    if (sluice.triggers.githubRole)
      output(
        OUTPUTS.githubActionsRoleArn,
        sluice.triggers.githubRole.roleArn,
        'Role a GitHub Actions job assumes (OIDC) to send Rollout Requested',
      );
    if (sluice.slack) {
      output(OUTPUTS.slackFunctionUrl, sluice.slack.url.url, 'Request URL of the Slack app (slash command and interactivity)');
      output(OUTPUTS.slackSecretArn, sluice.slack.secret.secretArn, 'Secrets Manager secret { signingSecret, botToken } of the Slack app');
      output(
        OUTPUTS.doctorNotifyFunctionArn,
        sluice.slack.worker.functionArn,
        'sluice doctor --stack: the notification probes in the Slack worker (the function that sends them)',
      );
    }
  }
}
