/**
 * SluiceOrchestrator: everything Sluice needs in AWS, as one construct users can embed in their
 * own CDK apps. The state machine file is the same one the local engine runs; the Lambdas are the
 * same handlers, bundled locally by esbuild (no Docker). Least privilege throughout: every IAM
 * statement names exact actions, and resources are ARNs of what this construct owns.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Annotations, ArnFormat, Duration, PhysicalName, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as eks from 'aws-cdk-lib/aws-eks';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { SluiceAlarms, endpointNeeds, metricReadNeeds } from './alarms.ts';
import { SluiceRegistry, describeCluster } from './registry.ts';
import type { WiredCluster } from './registry.ts';
import { SluiceSlack } from './slack.ts';
import type { SluiceSlackConfig } from './slack.ts';
import { grantFleetStarts } from './fleet-aws.ts';
import { SluiceRecovery } from './recovery.ts';
import { SluiceTriggers, nagResource } from './triggers.ts';
import type { BundledFunction, GithubOidcProps } from './triggers.ts';
import { placeInVpc } from './vpc.ts';
import { grantSecretReads } from './secrets.ts';
import type { SluiceVpcPlacement } from './vpc.ts';

export type { SluiceVpcPlacement } from './vpc.ts';

/** The Kubernetes group the Lambda role maps to; infra/k8s/rbac.yaml binds it. */
export const KUBERNETES_GROUP = 'sluice:orchestrator';

/**
 * The read-only Kubernetes group (get, and list on HPAs) Prepare and Analyze map to: they only read
 * objects, so a bug or a compromised dependency there cannot move traffic. Route promotion too:
 * the new canary Upstream is put in the retired one's place by the writers' first weight write
 * (gloo-weights.ts routePromotionView), never by Prepare.
 */
export const KUBERNETES_READ_GROUP = 'sluice:reader';

/**
 * Handlers that delete store items (releaseLock, clearTaskToken): dynamodb:DeleteItem goes to
 * their roles only. No rollout handler queries the table (listSteps/listEvents/listRollouts are
 * the CLI's and the Slack bot's), so no rollout role has dynamodb:Query, except the reconciler's on
 * the OPEN and LOCKS partitions only (infra/recovery.ts).
 */
export const STORE_DELETERS: ReadonlySet<string> = new Set(['prepare', 'analyze', 'webhook-gate', 'finish', 'rollback', 'safety-net']);

/** ESM bundles of CommonJS dependencies (client-node's) call `require`: give them one. */
export const ESM_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/** Where the repository's files are, wherever the construct is imported from. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * One entry per handler. `kubernetes`: the handler talks to the EKS API (through its deps), so it
 * runs with a role an access entry maps to `sluice:orchestrator`. Bake, Finish and the webhook gate only touch
 * the store and the bus: they get a role of their own with no EKS access, and their bundles carry
 * no Kubernetes client (the infra test checks both directions from the bundles' source maps).
 * `metrics`: the handler reads the metric providers (Prepare's preflight, Analyze's looks), so it
 * runs with the analysis role, the only one that may read CloudWatch.
 *
 * Timeouts stay below the ASL's TimeoutSeconds for the same state (Prepare/SetWeight/Analyze/Promote/
 * CheckCanary/CheckPrimary/Switch/ConfirmRollout/PreRollout/ConfirmPromotion/Shadow 120, Finish 60, Rollback 300) so a slow Lambda surfaces as its own error, which the ASL
 * retries or catches, rather than as a bare States.Timeout.
 */
export const HANDLERS = {
  prepare: { state: 'Prepare', substitution: 'PrepareFunctionArn', kubernetes: true, metrics: true, timeout: 100 },
  'set-weight': { state: 'SetWeight', substitution: 'SetWeightFunctionArn', kubernetes: true, metrics: false, timeout: 100 },
  bake: { state: 'Bake', substitution: 'BakeFunctionArn', kubernetes: false, metrics: false, timeout: 30 },
  analyze: { state: 'Analyze', substitution: 'AnalyzeFunctionArn', kubernetes: true, metrics: true, timeout: 100 },
  promote: { state: 'Promote', substitution: 'PromoteFunctionArn', kubernetes: true, metrics: false, timeout: 100 },
  'promotion-ready': { state: 'CheckCanary', substitution: 'PromotionReadyFunctionArn', kubernetes: true, metrics: false, timeout: 100 },
  'switch-traffic': { state: 'Switch', substitution: 'SwitchTrafficFunctionArn', kubernetes: true, metrics: false, timeout: 100 },
  finish: { state: 'Finish', substitution: 'FinishFunctionArn', kubernetes: false, metrics: false, timeout: 50 },
  'approval-expired': {
    state: 'StartApprovalExpired',
    substitution: 'ApprovalExpiredFunctionArn',
    kubernetes: false,
    metrics: false,
    timeout: 50,
  },
  // ConfirmRollout, PreRollout, ConfirmPromotion: calls the hooks, touches only the store and the bus.
  'webhook-gate': { state: 'ConfirmRollout', substitution: 'WebhookGateFunctionArn', kubernetes: false, metrics: false, timeout: 100 },
  shadow: { state: 'Shadow', substitution: 'ShadowFunctionArn', kubernetes: true, metrics: false, timeout: 100 },
  rollback: { state: 'Rollback', substitution: 'RollbackFunctionArn', kubernetes: true, metrics: false, timeout: 280 },
  'safety-net': { state: undefined, substitution: undefined, kubernetes: true, metrics: false, timeout: 300 },
  // every minute while a rollout is open (infra/recovery.ts), and on `sluice recover --stack`.
  reconciler: { state: undefined, substitution: undefined, kubernetes: true, metrics: false, timeout: 280 },
} as const satisfies Record<
  string,
  { state: string | undefined; substitution: string | undefined; kubernetes: boolean; metrics: boolean; timeout: number }
>;

export type HandlerName = keyof typeof HANDLERS;

/**
 * What every rollout handler's store calls need (lambdas/adapters/store/dynamodb.ts): conditional
 * Put/Update for the lock, tokens, flags and history, Get for records (Delete: STORE_DELETERS). Its
 * TransactWriteItems (two conditional Puts) is authorized by dynamodb:PutItem: DynamoDB checks
 * each item's own action, and there is no separate IAM action for the transaction.
 */
export const STORE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'] as const;

/**
 * What Lambda needs to attach functions to a VPC (the actions of AWSLambdaVPCAccessExecutionRole
 * without its logs:* part): given inline, on `*`, only when the construct is placed in a VPC.
 */
export const VPC_ENI_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
] as const;

/**
 * The fleet state machine's Lambdas (statemachine/fleet.asl.json), one file
 * (lambdas/handlers/fleet.ts) with one export per state. Only the watch between waves reads
 * metrics (the promoted clusters against their thresholds): it runs with the analysis role, in the VPC.
 */
export const FLEET_HANDLERS = {
  plan: { substitution: 'FleetPlanFunctionArn', metrics: false },
  member: { substitution: 'FleetMemberFunctionArn', metrics: false },
  halt: { substitution: 'FleetHaltFunctionArn', metrics: false },
  step: { substitution: 'FleetStepFunctionArn', metrics: true },
  finish: { substitution: 'FleetFinishFunctionArn', metrics: false },
} as const satisfies Record<string, { substitution: string; metrics: boolean }>;

export type FleetHandlerName = keyof typeof FLEET_HANDLERS;

/**
 * The managed rule Step Functions creates to learn that a nested `.sync` execution ended: the
 * fleet's role may create it, target it and read it, and nothing else on EventBridge.
 * https://docs.aws.amazon.com/step-functions/latest/dg/stepfunctions-iam.html (IAM policies for
 * nested executions, "Synchronous").
 */
export const SYNC_EXECUTION_RULE = 'StepFunctionsGetEventsForStepFunctionsExecutionRule';

export interface SluiceClusterProps {
  /** The EKS cluster's name. */
  name: string;
  /**
   * Its region. For `cluster`, the stack's (an access entry is created in the cluster's region); the
   * `clusters` of a fleet may be anywhere: the app puts their access entries in one small stack per
   * region (infra/access-stack.ts). Default: the stack's.
   */
  region?: string;
  /** Its account, when not the stack's (`clusters` only): no access entry is created there; ClusterAccess says what to run. */
  account?: string;
}

export interface SluiceOrchestratorProps {
  /** The EKS cluster to wire to. Without it no access entry and no eks:DescribeCluster are created. */
  cluster?: SluiceClusterProps;
  /** More EKS clusters (a fleet's), in any region: eks:DescribeCluster on each, access entries per region. */
  clusters?: SluiceClusterProps[];
  /** Place the Lambdas in a VPC (private clusters, in-cluster Prometheus). */
  vpc?: SluiceVpcPlacement;
  /** Directory of rollout specs deployed as the target registry. Default `<repo>/rollouts`. */
  registryDir?: string;
  /** SSM prefix of the registry. Default `/sluice/<stack name>/targets`. */
  registryParameterPrefix?: string;
  /** An existing bus for Sluice's events. Default: a new bus owned by this construct. */
  eventBus?: events.IEventBus;
  /** Retention of the state machine's and the Lambdas' logs. Default one month. */
  logRetention?: logs.RetentionDays;
  /**
   * Removal policy of the table (rollout history, audit). Default RETAIN. Log groups are deleted
   * with the stack: their retention bounds them, and a retained, named state machine log group
   * would block deploying the stack again under the same name.
   */
  removalPolicy?: RemovalPolicy;
  /** Lambda memory in MB. Default 512 (arm64 cold starts shrink with memory; rollouts invoke rarely). */
  memorySize?: number;
  /**
   * Bundle the AWS SDK v3 into each Lambda instead of using the copy the nodejs24.x runtime ships.
   * Default false: with the runtime's SDK the bundles stay within the size budget (a Lambda
   * without Kubernetes ≈ 140 KiB instead of ≈ 490 KiB); bundling pins the exact SDK version the tests
   * ran with. `npm run bench:bundle` (and `-- --bundle-aws-sdk`) measures both sizes and load times.
   */
  bundleAwsSdk?: boolean;
  /** The repository root holding lambdas/, statemachine/ and package-lock.json. Default: this file's repo. */
  projectRoot?: string;
  /** A role GitHub Actions assumes (OIDC) to send `Rollout Requested`; the account's existing OIDC provider is imported by ARN. */
  githubOidc?: GithubOidcProps;
  /** The GitOps webhooks' secret `{ "flux", "argocd" }`; default: one created with a generated `token`. */
  gitopsSecret?: secretsmanager.ISecret;
  /** The Slack bot (Function URL + worker). Off when absent. */
  slack?: SluiceSlackConfig;
  /**
   * Some target names composite alarms: grant cloudwatch:DescribeAlarms on "*" instead of on the
   * named alarms' ARNs (CloudWatch returns composite alarms only to a caller allowed on every alarm).
   * Default false.
   */
  compositeAlarms?: boolean;
  /**
   * What the state machine logs: ERROR (failed executions and states) by default; ALL or FATAL by
   * choice. Execution data (inputs, outputs, task tokens) is never included at any level: a logged
   * task token lets anyone who can read the logs and call SendTaskSuccess approve a gate.
   */
  stateMachineLogLevel?: sfn.LogLevel;
  /** Create the GitOps webhook (a public Function URL, auth NONE, HMAC/bearer checked in code). Default false. */
  gitops?: boolean;
  /** The customer-managed KMS key of the referenced secrets, if not aws/secretsmanager: kms:Decrypt on it, via Secrets Manager only. */
  secretsKmsKeyArn?: string;
}

export class SluiceOrchestrator extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly table: dynamodb.Table;
  readonly eventBus: events.IEventBus;
  readonly functions: Readonly<Record<HandlerName, nodejs.NodejsFunction>>;
  /** The role of the Lambdas that talk to Kubernetes and read no metrics, mapped to `sluice:orchestrator`. */
  readonly kubernetesRole: iam.Role;
  /** The role of Prepare and Analyze: Kubernetes (mapped to `sluice:orchestrator` too) plus the metric providers' reads. */
  readonly analysisRole: iam.Role;
  readonly accessEntry: eks.CfnAccessEntry | undefined;
  readonly analysisAccessEntry: eks.CfnAccessEntry | undefined;
  readonly cluster: WiredCluster | undefined;
  /** Every cluster the Lambdas are wired to: `cluster` and `clusters`. */
  readonly clusters: ReadonlyArray<WiredCluster>;
  /** Clusters of this account in other regions: their access entries belong in a stack of their region (infra/access-stack.ts). */
  readonly remoteClusters: ReadonlyArray<WiredCluster>;
  /** Clusters in other accounts: their access entries are created there, by hand (ClusterAccess output). */
  readonly foreignClusters: ReadonlyArray<WiredCluster>;
  /** The fleet state machine and its Lambdas; present when some target has spec.fleet. */
  readonly fleet: { stateMachine: sfn.StateMachine; functions: Readonly<Record<FleetHandlerName, nodejs.NodejsFunction>> } | undefined;
  readonly registry: SluiceRegistry;
  readonly safetyNetRule: events.Rule;
  readonly safetyNetDeadLetterQueue: sqs.Queue;
  /** The reconciler's schedule, the alert topic and the alarms. */
  readonly recovery: SluiceRecovery;
  readonly securityGroups: ec2.ISecurityGroup[] | undefined;
  /** The ways in: start and GitOps Lambdas, event rules, the schedule group, the GitHub role. */
  readonly triggers: SluiceTriggers;
  /** CloudWatch alarms interrupting bakes; present when some target names alarms. */
  readonly alarms: SluiceAlarms | undefined;
  /** The Slack bot; present when `slack` is configured. */
  readonly slack: SluiceSlack | undefined;

  constructor(scope: Construct, id: string, props: SluiceOrchestratorProps = {}) {
    super(scope, id);
    const root = props.projectRoot ?? REPO_ROOT;
    const retention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const logRemovalPolicy = RemovalPolicy.DESTROY;

    this.cluster = this.resolveCluster(props.cluster);
    this.clusters = this.resolveClusters(this.cluster, props.clusters ?? []);
    const stack = Stack.of(this);
    const here = (c: WiredCluster) => Token.isUnresolved(stack.region) || c.region === stack.region;
    this.foreignClusters = this.clusters.filter((c) => c.account !== undefined);
    this.remoteClusters = this.clusters.filter((c) => c.account === undefined && !here(c));
    // The registry first: a bad spec fails synth before anything is bundled.
    this.registry = new SluiceRegistry(this, 'Registry', {
      dir: props.registryDir ?? join(root, 'rollouts'),
      ...(props.registryParameterPrefix ? { parameterPrefix: props.registryParameterPrefix } : {}),
      clusters: this.clusters,
    });

    // One table (pk/sk, TTL on `ttl`) as the store adapter expects; on-demand because rollouts are bursty and rare.
    this.table = new dynamodb.Table(this, 'Store', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ttl',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy,
    });

    // A bus of Sluice's own: rules and archives on it see only rollout events, and PutEvents is
    // granted on it alone. AWS service events (the safety net's) arrive on the default bus.
    this.eventBus = props.eventBus ?? new events.EventBus(this, 'Bus', { description: 'Sluice rollout events (source "sluice")' });

    this.securityGroups = props.vpc ? placeInVpc(this, props.vpc, endpointNeeds(Stack.of(this), this.registry.rollouts)) : undefined;

    // A name is generated only when another region's access stack names the role (cross-environment reference).
    this.kubernetesRole = new iam.Role(this, 'KubernetesRole', {
      roleName: PhysicalName.GENERATE_IF_NEEDED,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Sluice Lambdas that talk to Kubernetes; the EKS access entry maps it to ${KUBERNETES_GROUP}`,
    });
    // A role of its own for the metric readers, so CloudWatch reads stay off the Lambdas that move traffic.
    this.analysisRole = new iam.Role(this, 'AnalysisRole', {
      roleName: PhysicalName.GENERATE_IF_NEEDED,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Sluice Prepare and Analyze: Kubernetes (mapped to ${KUBERNETES_READ_GROUP}) and the metric providers' reads`,
    });

    this.safetyNetDeadLetterQueue = new sqs.Queue(this, 'SafetyNetDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    const functions = {} as Record<HandlerName, nodejs.NodejsFunction>;
    for (const name of Object.keys(HANDLERS) as HandlerName[]) {
      functions[name] = this.handlerFunction(name, root, retention, logRemovalPolicy, props);
    }
    this.functions = functions;
    this.grantHandlers();
    this.grantMetricReads(props.compositeAlarms ?? false);

    this.stateMachine = this.createStateMachine(root, retention, logRemovalPolicy, props.stateMachineLogLevel ?? sfn.LogLevel.ERROR);

    this.recovery = new SluiceRecovery(this, 'Recovery', {
      reconciler: functions.reconciler,
      prepare: functions.prepare,
      stateMachine: this.stateMachine,
      table: this.table,
      eventBus: this.eventBus,
      safetyNetDeadLetterQueue: this.safetyNetDeadLetterQueue,
    });

    // StopExecution runs no Catch: this rule is how traffic gets back to the safe side then.
    this.safetyNetRule = new events.Rule(this, 'SafetyNetRule', {
      description: 'Sluice executions that ended without the Rollback state (aborted, failed outside a Catch, timed out)',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: ['ABORTED', 'FAILED', 'TIMED_OUT'], stateMachineArn: [this.stateMachine.stateMachineArn] },
      },
      targets: [
        new targets.LambdaFunction(functions['safety-net'], {
          deadLetterQueue: this.safetyNetDeadLetterQueue,
          retryAttempts: 8,
          maxEventAge: Duration.hours(6),
        }),
      ],
    });

    // Before the triggers and the bot: they start a fleet target on the fleet state machine.
    this.fleet = this.registry.entries.some(({ spec }) => spec.spec.fleet)
      ? this.createFleet(root, retention, logRemovalPolicy, props)
      : undefined;

    // Outside the VPC: the trigger, alarm and Slack Lambdas reach only AWS APIs (and Slack), never the cluster or Prometheus.
    const bundledFunction: BundledFunction = (fnId, entry, role, logGroup, timeoutSeconds, environment, extra = {}) =>
      this.bundle(fnId, entry, root, role, logGroup, timeoutSeconds, { ...this.baseEnvironment(), ...environment }, props, false, extra);
    this.triggers = new SluiceTriggers(this, 'Triggers', {
      stateMachine: this.stateMachine,
      table: this.table,
      eventBus: this.eventBus,
      registry: this.registry,
      logRetention: retention,
      ...(props.githubOidc ? { githubOidc: props.githubOidc } : {}),
      ...(props.gitopsSecret ? { gitopsSecret: props.gitopsSecret } : {}),
      gitops: props.gitops ?? false,
      bundledFunction,
    });
    const common = {
      stateMachine: this.stateMachine,
      table: this.table,
      registry: this.registry,
      logRetention: retention,
      bundledFunction,
    };
    this.alarms = metricReadNeeds(Stack.of(this), this.registry.rollouts).alarmArns.length
      ? new SluiceAlarms(this, 'Alarms', common)
      : undefined;
    this.slack = props.slack
      ? new SluiceSlack(this, 'Slack', {
          ...common,
          ...props.slack,
          eventBus: this.eventBus,
          triggers: this.triggers,
          ...(this.fleet ? { fleetStateMachine: this.fleet.stateMachine } : {}),
        })
      : undefined;
    // Every start path (deploy events, schedules, GitOps, `/sluice start`) starts a fleet target on the fleet machine.
    if (this.fleet) {
      const starters = [this.triggers.startFunction, this.triggers.gitopsFunction, this.slack?.function];
      for (const fn of starters) if (fn) grantFleetStarts(fn, this.fleet.stateMachine);
    }
    // The Slack worker is the one function that sends notifications (the thread and the webhooks).
    const notifying = this.registry.entries.filter(
      ({ spec }) => spec.spec.notifications?.slack || spec.spec.notifications?.webhooks?.length,
    );
    if (!this.slack && notifying.length)
      Annotations.of(this).addWarningV2(
        'sluice:notifications-unsent',
        `target(s) ${notifying.map(({ spec }) => spec.metadata.name).join(', ')} name spec.notifications, but without the Slack bot (-c slackTeamId -c slackApiAppId) no function sends them: neither the thread nor the webhooks.`,
      );

    // Secrets by reference: GetSecretValue on exactly the referenced secrets, for the roles that resolve them.
    const hookCallers = (['set-weight', 'webhook-gate', 'rollback', 'safety-net', 'finish'] as const).map(
      (name) => functions[name].role as iam.IRole,
    );
    grantSecretReads(
      this,
      this.registry.rollouts,
      { analysis: this.analysisRole, hookCallers, notifier: this.slack?.workerRole },
      props.secretsKmsKeyArn,
    );

    if (this.cluster) this.grantDescribeCluster(this.cluster);
    this.accessEntry = this.cluster ? this.wireCluster(this.cluster, this.kubernetesRole, 'AccessEntry', [KUBERNETES_GROUP]) : undefined;
    this.analysisAccessEntry = this.cluster
      ? this.wireCluster(this.cluster, this.analysisRole, 'AnalysisAccessEntry', [KUBERNETES_READ_GROUP])
      : undefined;
    // The other clusters of this region: their entries here too; every cluster's DescribeCluster on its ARN only.
    this.clusters.forEach((cluster, i) => {
      if (cluster === this.cluster) return;
      this.grantDescribeCluster(cluster);
      if (this.remoteClusters.includes(cluster) || this.foreignClusters.includes(cluster)) return;
      this.wireCluster(cluster, this.kubernetesRole, `AccessEntry${i}`, [KUBERNETES_GROUP]);
      this.wireCluster(cluster, this.analysisRole, `AnalysisAccessEntry${i}`, [KUBERNETES_READ_GROUP]);
    });
    for (const cluster of this.foreignClusters) {
      Annotations.of(this).addWarningV2(
        `sluice:foreign-cluster:${cluster.name}`,
        `EKS cluster ${describeCluster(cluster)} is in another account: no access entry is created for it; run what the ClusterAccess output says there.`,
      );
    }
    if (!this.cluster && !this.clusters.length) {
      Annotations.of(this).addWarningV2(
        'sluice:no-cluster',
        'No EKS cluster given (-c clusterName=… -c clusterRegion=…): no access entry and no eks:DescribeCluster were created, so the Lambdas cannot reach Kubernetes.',
      );
    }
  }

  private resolveCluster(cluster: SluiceClusterProps | undefined): WiredCluster | undefined {
    if (!cluster) return undefined;
    const stack = Stack.of(this);
    const region = cluster.region ?? stack.region;
    if (cluster.region && !Token.isUnresolved(stack.region) && stack.region !== cluster.region) {
      throw new Error(
        `EKS cluster ${cluster.name} is in ${cluster.region} but the stack deploys to ${stack.region}: an access entry can only be created in the cluster's region`,
      );
    }
    return { name: cluster.name, region };
  }

  /** `cluster` first, then `clusters` (a cluster named twice counts once); an account equal to the stack's is dropped. */
  private resolveClusters(first: WiredCluster | undefined, more: ReadonlyArray<SluiceClusterProps>): WiredCluster[] {
    const stack = Stack.of(this);
    const out: WiredCluster[] = first ? [first] : [];
    for (const c of more) {
      const region = c.region ?? stack.region;
      const foreign = c.account !== undefined && (Token.isUnresolved(stack.account) || c.account !== stack.account);
      const cluster: WiredCluster = { name: c.name, region, ...(foreign ? { account: c.account } : {}) };
      if (!out.some((o) => o.name === cluster.name && o.region === cluster.region)) out.push(cluster);
    }
    return out;
  }

  /** The cluster's ARN (its region, its account): what eks:DescribeCluster is granted on. */
  private clusterArn(cluster: WiredCluster): string {
    return Stack.of(this).formatArn({
      service: 'eks',
      resource: 'cluster',
      resourceName: cluster.name,
      region: cluster.region,
      ...(cluster.account ? { account: cluster.account } : {}),
    });
  }

  private grantDescribeCluster(cluster: WiredCluster): void {
    // The EKS token is a presigned sts:GetCallerIdentity signed for the cluster's region (no IAM permission needed).
    if (cluster.account) return; // DescribeCluster does not cross accounts (EKS has no resource policy): docs/fleet-aws.md
    for (const role of [this.kubernetesRole, this.analysisRole])
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['eks:DescribeCluster'], resources: [this.clusterArn(cluster)] }));
  }

  /**
   * The fleet state machine (statemachine/fleet.asl.json) beside the rollout one: its Lambdas, and a
   * role that may start the rollout state machine as nested `.sync` executions and nothing more.
   */
  private createFleet(
    root: string,
    retention: logs.RetentionDays,
    removalPolicy: RemovalPolicy,
    props: SluiceOrchestratorProps,
  ): NonNullable<SluiceOrchestrator['fleet']> {
    const stack = Stack.of(this);
    const fleetRole = new iam.Role(this, 'FleetRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sluice fleet Lambdas: plan the waves, resolve members, read the end state (store only, no Kubernetes)',
    });
    fleetRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: [...STORE_ACTIONS, 'dynamodb:DeleteItem'], resources: [this.table.tableArn] }),
    );
    fleetRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['events:PutEvents'], resources: [this.eventBus.eventBusArn] }));
    const functions = {} as Record<FleetHandlerName, nodejs.NodejsFunction>;
    for (const [name, config] of Object.entries(FLEET_HANDLERS) as Array<[FleetHandlerName, (typeof FLEET_HANDLERS)[FleetHandlerName]]>) {
      const id = `Fleet${name[0]!.toUpperCase()}${name.slice(1)}`;
      const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention, removalPolicy });
      const role = config.metrics ? this.analysisRole : fleetRole;
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
      );
      const environment = this.baseEnvironment();
      if (config.metrics) environment.SLUICE_COMPOSITE_ALARMS = String(props.compositeAlarms ?? false);
      functions[name] = this.bundle(`${id}Function`, 'fleet', root, role, logGroup, 50, environment, props, config.metrics, {
        handler: name,
      });
    }
    // Plan takes the target's lock: like Prepare it turns the reconciler's schedule on (a fleet lock
    // whose execution dies is the reconciler's to give back, lambdas/app/reconcile.ts).
    // The rule's physical name, not a reference: the rule targets the reconciler, which names this
    // machine (ReconcilerFleetReads), whose definition names Plan — a reference would close that cycle.
    const ruleName = (this.recovery.schedule.node.defaultChild as events.CfnRule).name;
    if (!ruleName) throw new Error("the reconciler's schedule has no physical name");
    functions.plan.addEnvironment('SLUICE_RECONCILER_RULE', ruleName);
    const ruleArn = stack.formatArn({ service: 'events', resource: 'rule', resourceName: ruleName });
    fleetRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['events:EnableRule'], resources: [ruleArn] }));
    const logGroup = new logs.LogGroup(this, 'FleetStateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/${stack.stackName}-${this.node.addr.slice(0, 8)}-fleet`,
      retention,
      removalPolicy,
    });
    const substitutions: Record<string, string> = { RolloutStateMachineArn: this.stateMachine.stateMachineArn };
    for (const [name, config] of Object.entries(FLEET_HANDLERS) as Array<[FleetHandlerName, (typeof FLEET_HANDLERS)[FleetHandlerName]]>)
      substitutions[config.substitution] = functions[name].functionArn;
    const level = props.stateMachineLogLevel ?? sfn.LogLevel.ERROR;
    const machine = new sfn.StateMachine(this, 'FleetStateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(join(root, 'statemachine', 'fleet.asl.json')),
      definitionSubstitutions: substitutions,
      logs: { destination: logGroup, level, includeExecutionData: false },
      tracingEnabled: true,
    });
    machine.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: Object.values(functions).map((fn) => fn.functionArn) }),
    );
    // Nested executions with .sync (https://docs.aws.amazon.com/step-functions/latest/dg/stepfunctions-iam.html):
    // start the rollout state machine; describe and stop its executions (stopping the fleet stops its
    // running members); and the managed EventBridge rule through which Step Functions learns that one ended.
    machine.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachine.stateMachineArn] }),
    );
    const memberExecutions = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${this.stateMachine.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    machine.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['states:DescribeExecution', 'states:StopExecution'], resources: [memberExecutions] }),
    );
    machine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [stack.formatArn({ service: 'events', resource: 'rule', resourceName: SYNC_EXECUTION_RULE })],
      }),
    );
    Validations.of(machine.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(stack, memberExecutions)}]`,
      reason:
        "states:DescribeExecution and StopExecution on the rollout state machine's executions only (each member's name is target-cluster-version): what a nested .sync execution needs.",
    });
    Validations.of(machine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Added by CDK for logging and X-Ray: the log delivery and X-Ray actions support no resource narrower than "*".',
    });
    if (level !== sfn.LogLevel.ALL) {
      Validations.of(machine).acknowledge({
        id: 'AwsSolutions-SF1',
        reason: `Logs ${level} by choice (stateMachineLogLevel), like the rollout state machine; each member's steps are in its own execution and the store.`,
      });
    }
    // A fleet execution holds its target's lock: the reconciler asks this machine too before calling the lock orphaned.
    // A policy of its own: the reconciler's role is the rollout Lambdas' role, which the rollout state machine depends on.
    const fleetExecutions = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${machine.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    // RECONCILER_ENV.fleetStateMachineArn (lambdas/wiring/aws-reconciler.ts), as recovery.ts names the others.
    this.functions.reconciler.addEnvironment('SLUICE_FLEET_STATE_MACHINE_ARN', machine.stateMachineArn);
    const reads = new iam.Policy(this, 'ReconcilerFleetReads', {
      statements: [new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [fleetExecutions] })],
      roles: [this.functions.reconciler.role as iam.IRole],
    });
    Validations.of(reads).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(stack, fleetExecutions)}]`,
      reason:
        "The reconciler asks DescribeExecution about the fleet state machine's executions (a fleet holds its target's lock); names are not known in advance.",
    });
    return { stateMachine: machine, functions };
  }

  private handlerFunction(
    name: HandlerName,
    root: string,
    retention: logs.RetentionDays,
    removalPolicy: RemovalPolicy,
    props: SluiceOrchestratorProps,
  ): nodejs.NodejsFunction {
    const config = HANDLERS[name];
    const id = name.replace(/(^|-)([a-z])/g, (_m, _dash: string, c: string) => c.toUpperCase());
    const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention, removalPolicy });
    const role = config.kubernetes
      ? config.metrics
        ? this.analysisRole
        : this.kubernetesRole
      : new iam.Role(this, `${id}Role`, {
          assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
          description: `Sluice ${name} Lambda (no Kubernetes access)`,
        });
    // Explicit log groups and our own roles: no AWSLambdaBasicExecutionRole (logs:* on every group).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    );

    // The cluster comes from each spec (spec.cluster), not from the environment.
    const environment = this.baseEnvironment();
    // cloudwatch-alarm asks DescribeAlarms for composite alarms only when the grant allows them (lambdas/adapters/metrics/factory.ts).
    if (config.metrics) environment.SLUICE_COMPOSITE_ALARMS = String(props.compositeAlarms ?? false);
    const fn = this.bundle(
      `${id}Function`,
      name,
      root,
      role,
      logGroup,
      config.timeout,
      environment,
      props,
      true,
      name === 'safety-net' ? { deadLetterQueue: this.safetyNetDeadLetterQueue, retryAttempts: 2 } : {},
    );
    return fn;
  }

  private baseEnvironment(): Record<string, string> {
    return {
      POWERTOOLS_SERVICE_NAME: 'sluice',
      SLUICE_TABLE_NAME: this.table.tableName,
      SLUICE_EVENT_BUS_NAME: this.eventBus.eventBusName,
      NODE_OPTIONS: '--enable-source-maps',
    };
  }

  /** One handler file bundled by esbuild (ESM, minified, the runtime's AWS SDK), nodejs24.x on arm64. */
  private bundle(
    id: string,
    handlerFile: string,
    root: string,
    role: iam.IRole,
    logGroup: logs.ILogGroup,
    timeoutSeconds: number,
    environment: Record<string, string>,
    props: SluiceOrchestratorProps,
    inVpc: boolean,
    extra: Partial<nodejs.NodejsFunctionProps> = {},
  ): nodejs.NodejsFunction {
    // Tracing.ACTIVE adds these to the function's role; X-Ray's write actions have no resource-level permissions.
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray tracing of the Lambdas: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource narrower than "*".',
    });
    return new nodejs.NodejsFunction(this, id, {
      entry: join(root, 'lambdas', 'handlers', `${handlerFile}.ts`),
      handler: 'handler',
      projectRoot: root,
      depsLockFilePath: join(root, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: Duration.seconds(timeoutSeconds),
      role,
      logGroup,
      environment,
      description: `Sluice ${handlerFile}`,
      // X-Ray: one trace per invocation (Lambda adds xray:PutTraceSegments/PutTelemetryRecords to the role).
      tracing: lambda.Tracing.ACTIVE,
      ...(inVpc && props.vpc && this.securityGroups
        ? {
            vpc: props.vpc.vpc,
            vpcSubnets: props.vpc.subnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
            securityGroups: this.securityGroups,
          }
        : {}),
      ...extra,
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: 'node24',
        minify: true,
        sourceMap: true,
        // Stack traces need file names and lines, not the sources: a map without them is a fraction
        // of the size, and Node parses it at load time under --enable-source-maps.
        sourcesContent: false,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        // The nodejs24.x runtime ships the AWS SDK v3: using it keeps every bundle within the size
        // budget (the SDK is a third to a half of a bundle otherwise). Our own @smithy imports (the
        // EKS token presigner) are still bundled. See the bundleAwsSdk prop for the other choice.
        externalModules: props.bundleAwsSdk ? [] : ['@aws-sdk/*'],
      },
    });
  }

  private grantHandlers(): void {
    const roles = new Set<iam.IRole>(Object.values(this.functions).map((fn) => fn.role as iam.IRole));
    const deleters = new Set<iam.IRole>(
      (Object.entries(this.functions) as Array<[HandlerName, nodejs.NodejsFunction]>)
        .filter(([name]) => STORE_DELETERS.has(name))
        .map(([, fn]) => fn.role as iam.IRole),
    );
    for (const role of roles) {
      const actions = [...STORE_ACTIONS, ...(deleters.has(role) ? ['dynamodb:DeleteItem'] : [])];
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources: [this.table.tableArn] }));
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['events:PutEvents'], resources: [this.eventBus.eventBusArn] }));
    }
    if (!this.securityGroups) return;
    for (const role of roles) {
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: [...VPC_ENI_ACTIONS], resources: ['*'] }));
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'VPC placement: Lambda creates, describes and deletes the functions\' network interfaces with this role; ec2:Describe* support no resource narrower than "*", and the ENIs do not exist before Lambda creates them.',
      });
    }
  }

  /**
   * What the metric providers call in AWS, on the Prepare/Analyze role only, and only when some
   * target uses the provider: cloudwatch:DescribeAlarms on the alarms the specs name (the alarm
   * resource type allows that much narrowing), cloudwatch:GetMetricData on "*" (it has no
   * resource-level permission: a query names metrics, not resources).
   */
  private grantMetricReads(compositeAlarms: boolean): void {
    const needs = metricReadNeeds(Stack.of(this), this.registry.rollouts);
    if (needs.alarmArns.length) {
      this.analysisRole.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['cloudwatch:DescribeAlarms'], resources: compositeAlarms ? ['*'] : needs.alarmArns }),
      );
    }
    if (needs.metricData) {
      this.analysisRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] }));
    }
    // AMP: the query API (query, query_range, labels, series) is aps:QueryMetrics on the workspace.
    if (needs.ampWorkspaceArns.length) {
      this.analysisRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['aps:QueryMetrics'], resources: needs.ampWorkspaceArns }));
    }
    const onStar = [
      ...(needs.metricData ? ['cloudwatch:GetMetricData'] : []),
      ...(compositeAlarms && needs.alarmArns.length ? ['cloudwatch:DescribeAlarms'] : []),
    ];
    if (!onStar.length) return;
    Validations.of(this.analysisRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: `Metric providers of the targets: ${onStar.join(', ')} on "*". GetMetricData supports no resource-level permission (a query names metrics, not resources); DescribeAlarms returns composite alarms only when allowed on "*" (granted so only with compositeAlarms). Read-only, Prepare and Analyze only.`,
    });
  }

  private createStateMachine(
    root: string,
    retention: logs.RetentionDays,
    removalPolicy: RemovalPolicy,
    level: sfn.LogLevel,
  ): sfn.StateMachine {
    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      // The /aws/vendedlogs/ prefix keeps Step Functions from growing the account's CloudWatch Logs resource policy.
      logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-${this.node.addr.slice(0, 8)}-rollout`,
      retention,
      removalPolicy,
    });
    const substitutions: Record<string, string> = {};
    const invoked: string[] = [];
    for (const [name, config] of Object.entries(HANDLERS) as Array<[HandlerName, (typeof HANDLERS)[HandlerName]]>) {
      if (!config.substitution) continue;
      substitutions[config.substitution] = this.functions[name].functionArn;
      invoked.push(this.functions[name].functionArn);
    }
    const machine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(join(root, 'statemachine', 'rollout.asl.json')),
      definitionSubstitutions: substitutions,
      // Never includeExecutionData: inputs carry specs, and waitForTaskToken states carry task tokens.
      logs: { destination: logGroup, level, includeExecutionData: false },
      tracingEnabled: true,
    });
    // A file-based definition grants nothing: invoke on exactly these functions (unqualified ARNs, as the ASL names them).
    machine.addToRolePolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: invoked }));
    const role = machine.role;
    if (level !== sfn.LogLevel.ALL) {
      Validations.of(machine).acknowledge({
        id: 'AwsSolutions-SF1',
        reason: `Logs ${level} by choice (stateMachineLogLevel): failed executions and states are logged; the full history of every execution stays in Step Functions, and sluice status / the store keep each step.`,
      });
    }
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Added by CDK for logging and X-Ray: logs:CreateLogDelivery/GetLogDelivery/UpdateLogDelivery/DeleteLogDelivery/ListLogDeliveries/PutResourcePolicy/DescribeResourcePolicies/DescribeLogGroups and xray:PutTraceSegments/PutTelemetryRecords/GetSamplingRules/GetSamplingTargets support no resource narrower than "*".',
    });
    return machine;
  }

  private wireCluster(cluster: WiredCluster, role: iam.Role, id: string, groups: string[]): eks.CfnAccessEntry {
    return new eks.CfnAccessEntry(this, id, {
      clusterName: cluster.name,
      principalArn: role.roleArn,
      type: 'STANDARD',
      kubernetesGroups: groups,
    });
  }
}
