/**
 * SluiceTriggers: the ways in as part of SluiceOrchestrator — the start
 * Lambda behind every EventBridge trigger, the GitOps webhook Lambda (Function URL), the rules for
 * `Rollout Requested` (Sluice bus) and ECR pushes (default bus), the EventBridge Scheduler group
 * and the role Scheduler assumes, a DLQ with an alarm for every asynchronous path, and optionally
 * the IAM role a GitHub Actions job assumes (OIDC) to send `Rollout Requested`.
 *
 * Least privilege: the start path may start executions of this state machine only, read the
 * registry's parameters only, write the store, and create/read schedules in its own group only.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { SluiceRegistry } from './registry.ts';

/** The custom event's source and detail-type: the OIDC role's conditions and the rule's pattern. */
export const ROLLOUT_REQUESTED = { source: 'sluice', detailType: 'Rollout Requested' } as const;

/**
 * What the start path calls on the store (a subset of STORE_ACTIONS: no Query or Update): the
 * ledger and the lock (conditional PutItem), and DeleteItem to give the lock back when the start
 * does not happen (a duplicate delivery, a failed StartExecution).
 */
export const START_STORE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'] as const;

/**
 * Builds a Lambda from lambdas/handlers/<entry>.ts the way the orchestrator bundles its handlers
 * (the function is created in the orchestrator's scope, so `id` must be unique there); `extra`
 * overrides props such as `handler` (another export of the same file).
 */
export type BundledFunction = (
  id: string,
  entry: string,
  role: iam.IRole,
  logGroup: logs.ILogGroup,
  timeoutSeconds: number,
  environment: Record<string, string>,
  extra?: Partial<nodejs.NodejsFunctionProps>,
) => nodejs.NodejsFunction;

/** What every construct the orchestrator adds around the state machine is given. */
export interface SluiceSharedProps {
  stateMachine: sfn.StateMachine;
  table: dynamodb.ITable;
  registry: SluiceRegistry;
  /** Builds a bundled Lambda the same way as the orchestrator's handlers. */
  bundledFunction: BundledFunction;
  logRetention: logs.RetentionDays;
}

/** An SQS dead-letter queue (SSE, TLS only, 14 days) with an alarm on its first message. */
export function watchedDeadLetterQueue(scope: Construct, id: string, what: string): { queue: sqs.Queue; alarm: cloudwatch.Alarm } {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  const alarm = new cloudwatch.Alarm(scope, `${id}Alarm`, {
    alarmDescription: `Sluice: ${what} landed in a dead-letter queue: inspect the message, fix the cause, send it again`,
    metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  return { queue, alarm };
}

export interface GithubOidcProps {
  /** ARN of the account's existing `token.actions.githubusercontent.com` OIDC provider. */
  providerArn: string;
  /** Allowed `sub` claims, e.g. `repo:acme/web:ref:refs/heads/main` or `repo:acme/web:environment:prod`. */
  subjects: string[];
}

export interface SluiceTriggersProps extends SluiceSharedProps {
  eventBus: events.IEventBus;
  githubOidc?: GithubOidcProps;
  /** An existing Secrets Manager secret `{ "flux": …, "argocd": … }`; default: one created here with a generated `token`. */
  gitopsSecret?: secretsmanager.ISecret;
  /** Concurrent webhook requests at most (a flood cannot exhaust the account's Lambda concurrency). Default 5. */
  gitopsConcurrency?: number;
  /**
   * Create the GitOps webhook Lambda and its public Function URL (auth NONE). Default false: an
   * organisation whose guardrails deny public Lambda URLs can deploy the stack without GitOps.
   */
  gitops?: boolean;
}

export class SluiceTriggers extends Construct {
  readonly startFunction: nodejs.NodejsFunction;
  /** The GitOps webhook; present only with `gitops: true`. */
  readonly gitopsFunction: nodejs.NodejsFunction | undefined;
  readonly gitopsUrl: lambda.FunctionUrl | undefined;
  readonly gitopsSecret: secretsmanager.ISecret | undefined;
  readonly startDeadLetterQueue: sqs.Queue;
  readonly requestedRule: events.Rule;
  readonly requestedDeadLetterQueue: sqs.Queue;
  readonly ecrRule: events.Rule | undefined;
  readonly ecrDeadLetterQueue: sqs.Queue;
  readonly scheduleGroup: scheduler.CfnScheduleGroup;
  readonly schedulerRole: iam.Role;
  readonly schedulerDeadLetterQueue: sqs.Queue;
  readonly githubRole: iam.Role | undefined;
  readonly alarms: cloudwatch.Alarm[] = [];
  /** ECR repository -> targets watching it, from the registry at synth. */
  readonly ecrTargets: Record<string, string[]>;

  constructor(scope: Construct, id: string, props: SluiceTriggersProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const queue = (queueId: string, what: string) => {
      const { queue: q, alarm } = watchedDeadLetterQueue(this, queueId, what);
      this.alarms.push(alarm);
      return q;
    };

    this.ecrTargets = {};
    for (const { spec } of props.registry.entries) {
      const repository = spec.spec.triggers?.ecr?.repository;
      if (repository) (this.ecrTargets[repository] ??= []).push(spec.metadata.name);
    }

    this.scheduleGroup = new scheduler.CfnScheduleGroup(this, 'ScheduleGroup', { name: `sluice-${stack.stackName}`.slice(0, 64) });
    this.schedulerDeadLetterQueue = queue('SchedulerDeadLetters', 'a scheduled rollout start');
    this.startDeadLetterQueue = queue('StartDeadLetters', 'a start request the start Lambda kept failing on');
    this.requestedDeadLetterQueue = queue('RequestedDeadLetters', 'a Rollout Requested event that could not be delivered');
    this.ecrDeadLetterQueue = queue('EcrDeadLetters', 'an ECR push event that could not be delivered');

    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'EventBridge Scheduler: invokes the Sluice start Lambda for one-off scheduled rollouts',
    });

    const environment = (extra: Record<string, string>): Record<string, string> => ({
      SLUICE_STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
      SLUICE_REGISTRY_PREFIX: props.registry.parameterPrefix,
      SLUICE_SCHEDULE_GROUP: this.scheduleGroup.ref,
      SLUICE_SCHEDULER_ROLE_ARN: this.schedulerRole.roleArn,
      SLUICE_SCHEDULER_DLQ_ARN: this.schedulerDeadLetterQueue.queueArn,
      ...extra,
    });
    const role = (roleId: string, what: string) =>
      new iam.Role(this, roleId, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: what });
    const logGroup = (groupId: string) =>
      new logs.LogGroup(this, groupId, { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });

    const startRole = role('StartRole', 'Sluice start Lambda: every trigger -> StartExecution');
    const startLogs = logGroup('StartLogs');
    this.startFunction = props.bundledFunction(
      'StartFunction',
      'start',
      startRole,
      startLogs,
      30,
      environment({ SLUICE_ECR_TARGETS: JSON.stringify(this.ecrTargets) }),
    );
    // Lambda's own async retries exhausted (a failing dependency): the event lands here, with an alarm.
    (this.startFunction.node.defaultChild as lambda.CfnFunction).deadLetterConfig = { targetArn: this.startDeadLetterQueue.queueArn };
    startRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.startDeadLetterQueue.queueArn] }),
    );

    let gitops: { role: iam.Role; logs: logs.LogGroup } | undefined;
    if (props.gitops) {
      const gitopsSecret =
        props.gitopsSecret ??
        new secretsmanager.Secret(this, 'GitopsSecret', {
          description: 'Sluice GitOps webhooks: { "token" } (or "flux" HMAC key and "argocd" bearer token)',
          generateSecretString: { secretStringTemplate: '{}', generateStringKey: 'token', excludePunctuation: true, passwordLength: 48 },
        });
      const gitopsRole = role('GitopsRole', 'Sluice GitOps webhook Lambda: verified Flux / Argo CD notifications -> StartExecution');
      const gitopsLogs = logGroup('GitopsLogs');
      const gitopsFunction = props.bundledFunction(
        'GitopsFunction',
        'gitops-webhook',
        gitopsRole,
        gitopsLogs,
        15,
        environment({ SLUICE_GITOPS_SECRET_ARN: gitopsSecret.secretArn, SLUICE_START_FUNCTION_ARN: this.startFunction.functionArn }),
      );
      (gitopsFunction.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = props.gitopsConcurrency ?? 5;
      // Auth NONE: Flux and Argo CD cannot sign SigV4; the handler verifies the HMAC / bearer token on the raw body.
      this.gitopsUrl = gitopsFunction.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
      gitopsSecret.grantRead(gitopsRole);
      this.gitopsSecret = gitopsSecret;
      this.gitopsFunction = gitopsFunction;
      gitops = { role: gitopsRole, logs: gitopsLogs };
      if (!props.gitopsSecret) {
        Validations.of(gitopsSecret).acknowledge({
          id: 'AwsSolutions-SMG4',
          reason:
            'A shared webhook secret that Flux and Argo CD also hold: rotating it needs their Secrets changed in the same step, which a rotation Lambda cannot do.',
        });
      }
    } else {
      if (props.gitopsSecret) throw new Error('gitopsSecret was given without gitops: true');
      this.gitopsUrl = undefined;
      this.gitopsSecret = undefined;
      this.gitopsFunction = undefined;
    }

    const executionArns = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${props.stateMachine.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const scheduleArns = stack.formatArn({ service: 'scheduler', resource: 'schedule', resourceName: `${this.scheduleGroup.ref}/*` });
    const callers: Array<[iam.Role, logs.LogGroup]> = [
      [startRole, startLogs],
      ...(gitops ? [[gitops.role, gitops.logs] as [iam.Role, logs.LogGroup]] : []),
    ];
    for (const [fnRole, fnLogs] of callers) {
      fnRole.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [fnLogs.logGroupArn] }),
      );
      fnRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: [...START_STORE_ACTIONS], resources: [props.table.tableArn] }));
      fnRole.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [props.stateMachine.stateMachineArn] }),
      );
      fnRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [executionArns] }));
      fnRole.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['scheduler:CreateSchedule', 'scheduler:GetSchedule'], resources: [scheduleArns] }),
      );
      fnRole.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['iam:PassRole'],
          resources: [this.schedulerRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
        }),
      );
      props.registry.grantRead(fnRole);
    }
    const scoped: Array<[string, string]> = [
      [
        executionArns,
        'states:DescribeExecution on the executions of this one state machine (their names are chosen per rollout), to tell a claimed start from one that never ran',
      ],
      [
        scheduleArns,
        "scheduler:CreateSchedule/GetSchedule on the schedules of Sluice's own group only (their names are chosen per queued rollout)",
      ],
      [props.registry.parameterArnPattern, 'ssm:GetParameter on the registry prefix only: one parameter per target, named by the target'],
    ];
    for (const [fnRole] of callers) {
      for (const [arn, reason] of scoped)
        Validations.of(fnRole).acknowledge({ id: `AwsSolutions-IAM5[Resource::${nagResource(stack, arn)}]`, reason });
    }
    for (const dlq of [this.requestedDeadLetterQueue, this.ecrDeadLetterQueue, this.schedulerDeadLetterQueue]) {
      Validations.of(dlq).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason:
          'This queue is itself a dead-letter queue (of an EventBridge rule target or of Scheduler schedules), watched by a CloudWatch alarm.',
      });
    }

    // Scheduler invokes the start Lambda (unqualified ARN, as schedules name it) and parks failures in its DLQ.
    this.schedulerRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.startFunction.functionArn] }),
    );
    this.schedulerRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.schedulerDeadLetterQueue.queueArn] }),
    );

    const startTarget = (deadLetterQueue: sqs.IQueue) =>
      new targets.LambdaFunction(this.startFunction, { deadLetterQueue, retryAttempts: 4, maxEventAge: Duration.hours(2) });
    this.requestedRule = new events.Rule(this, 'RolloutRequestedRule', {
      description: 'Sluice: Rollout Requested (source sluice) -> the start Lambda',
      eventBus: props.eventBus,
      eventPattern: { source: [ROLLOUT_REQUESTED.source], detailType: [ROLLOUT_REQUESTED.detailType] },
      targets: [startTarget(this.requestedDeadLetterQueue)],
    });
    const repositories = Object.keys(this.ecrTargets).sort();
    // AWS service events arrive on the default bus; only repositories some target watches match.
    this.ecrRule = repositories.length
      ? new events.Rule(this, 'EcrPushRule', {
          description: 'Sluice: successful ECR pushes to repositories named by targets -> the start Lambda',
          eventPattern: {
            source: ['aws.ecr'],
            detailType: ['ECR Image Action'],
            detail: { 'action-type': ['PUSH'], result: ['SUCCESS'], 'repository-name': repositories },
          },
          targets: [startTarget(this.ecrDeadLetterQueue)],
        })
      : undefined;

    this.githubRole = props.githubOidc ? this.githubActionsRole(props.githubOidc, props.eventBus) : undefined;
  }

  private githubActionsRole(oidc: GithubOidcProps, bus: events.IEventBus): iam.Role {
    if (!oidc.subjects.length)
      throw new Error('githubOidc.subjects is empty: name the repositories (repo:OWNER/NAME:…) that may request rollouts');
    const provider = iam.OpenIdConnectProvider.fromOpenIdConnectProviderArn(this, 'GithubProvider', oidc.providerArn);
    const role = new iam.Role(this, 'GithubActionsRole', {
      description: 'GitHub Actions (OIDC): may send Rollout Requested to the Sluice bus, nothing else',
      maxSessionDuration: Duration.hours(1),
      assumedBy: new iam.WebIdentityPrincipal(provider.openIdConnectProviderArn, {
        StringEquals: { 'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com' },
        StringLike: { 'token.actions.githubusercontent.com:sub': oidc.subjects },
      }),
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['events:PutEvents'],
        resources: [bus.eventBusArn],
        conditions: { StringEquals: { 'events:source': ROLLOUT_REQUESTED.source, 'events:detail-type': ROLLOUT_REQUESTED.detailType } },
      }),
    );
    return role;
  }
}

/** How cdk-nag prints a resource in a finding id: tokens as <LogicalId>, <LogicalId.Attr>, <AWS::Pseudo>. */
export function nagResource(stack: Stack, arn: string): string {
  const render = (part: unknown): string => {
    if (typeof part === 'string') return part;
    const ref = (part as { Ref?: string }).Ref;
    if (ref) return `<${ref}>`;
    const att = (part as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
    if (att) return `<${att[0]}.${att[1]}>`;
    const join = (part as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
    if (join) return join[1].map(render).join(join[0]);
    throw new Error(`cannot render ${JSON.stringify(part)} for a cdk-nag acknowledgement`);
  };
  return render(stack.resolve(arn));
}
