/**
 * SluiceSlack: the chat-ops bot as part of SluiceOrchestrator — the Function URL
 * Lambda Slack calls (lambdas/handlers/slack.ts `handler`: verify, ack, act on the store and Step
 * Functions) and the worker (`workerHandler` of slack-worker.ts: follow-ups to response_url, and the rollout threads
 * fed by Sluice's events through a rule on the Sluice bus), with the one Secrets Manager secret
 * `{ signingSecret, botToken }` both read.
 *
 * IAM is what lambdas/wiring/aws-slack.ts and the ack path call, nothing more: the worker
 * only reads rollouts and keeps thread records, so it gets neither Step Functions nor PutEvents.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { EVENT_TYPES } from '../lambdas/core/records.ts';
import { nagResource, watchedDeadLetterQueue } from './triggers.ts';
import type { SluiceSharedProps, SluiceTriggers } from './triggers.ts';

/**
 * The ack path's store calls: locks, rollouts, steps and history (GetItem, Query), the audit step
 * and event sequence counters (UpdateItem ADD, PutItem), abort flags and chat claims (PutItem),
 * and releasing a click claim when the action could not be done (DeleteItem).
 */
export const SLACK_ACK_STORE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
] as const;

/** The worker's: the rollout, its steps and pending gate (GetItem, Query), thread records (GetItem, PutItem). */
export const SLACK_WORKER_STORE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'] as const;

/** What a placeholder secret holds until someone pastes the app's real values in. */
export const SLACK_PLACEHOLDER_BOT_TOKEN = 'xoxb-replace-me';

export interface SluiceSlackConfig {
  /** The workspace (`T…`) this deployment serves; requests from any other are refused. */
  teamId: string;
  /** The Slack app (`A…`); requests for any other app are refused. */
  apiAppId: string;
  /**
   * A Secrets Manager secret holding JSON `{ "signingSecret": …, "botToken": "xoxb-…" }`.
   * Default: one created here with a random signing secret (every request is refused until the
   * app's real one is put in) and a placeholder bot token.
   */
  secret?: secretsmanager.ISecret;
  /** Concurrent Slack requests at most (a flood cannot exhaust the account's Lambda concurrency). Default 5. */
  concurrency?: number;
}

export interface SluiceSlackProps extends SluiceSlackConfig, SluiceSharedProps {
  eventBus: events.IEventBus;
  /** The fleet state machine, when a fleet is deployed: its executions' ends close their threads. */
  fleetStateMachine?: sfn.IStateMachine;
  /** The schedule group, the role Scheduler assumes, its DLQ and the start Lambda: `/sluice schedule` creates one-off schedules with them. */
  triggers: Pick<SluiceTriggers, 'scheduleGroup' | 'schedulerRole' | 'schedulerDeadLetterQueue' | 'startFunction'>;
}

export class SluiceSlack extends Construct {
  /** The Function URL Lambda (`handler`). */
  readonly function: nodejs.NodejsFunction;
  readonly url: lambda.FunctionUrl;
  /** Follow-ups and thread updates (`workerHandler`); reserved concurrency 1. */
  readonly worker: nodejs.NodejsFunction;
  readonly secret: secretsmanager.ISecret;
  readonly role: iam.Role;
  readonly workerRole: iam.Role;
  /** Sluice's events -> the worker. */
  readonly eventsRule: events.Rule;
  /** The fleet executions' ends (default bus, source aws.states) -> the worker; present with a fleet. */
  readonly fleetEndRule: events.Rule | undefined;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: SluiceSlackProps) {
    super(scope, id);
    const stack = Stack.of(this);
    if (!/^[TE][A-Z0-9]+$/.test(props.teamId)) throw new Error(`slack.teamId "${props.teamId}" is not a Slack workspace ID (T…)`);
    if (!/^A[A-Z0-9]+$/.test(props.apiAppId)) throw new Error(`slack.apiAppId "${props.apiAppId}" is not a Slack app ID (A…)`);

    this.secret =
      props.secret ??
      new secretsmanager.Secret(this, 'Secret', {
        description: 'Sluice Slack app: { "signingSecret", "botToken" } — put the app\'s real values in after deploying',
        // The signing secret starts random (never a known value someone could sign with): until the
        // real one is put in, every Slack request is refused as forged.
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ botToken: SLACK_PLACEHOLDER_BOT_TOKEN }),
          generateStringKey: 'signingSecret',
          excludePunctuation: true,
          passwordLength: 48,
        },
      });
    if (!props.secret) {
      Validations.of(this.secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          "Slack issues the signing secret and the bot token: they are rotated in Slack's app settings and pasted here, which a rotation Lambda cannot do.",
      });
    }
    this.deadLetterQueue = watchedDeadLetterQueue(
      this,
      'DeadLetters',
      'a Slack follow-up or thread update the worker kept failing on',
    ).queue;
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the Slack worker and of the rule feeding it, watched by a CloudWatch alarm.',
    });

    const role = (roleId: string, what: string) =>
      new iam.Role(this, roleId, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: what });
    const logGroup = (groupId: string) =>
      new logs.LogGroup(this, groupId, { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    const shared = { SLACK_SECRET_ARN: this.secret.secretArn, SLUICE_REGISTRY_PARAMETER_PREFIX: props.registry.parameterPrefix };

    this.workerRole = role('WorkerRole', 'Sluice Slack worker: response_url follow-ups and rollout threads');
    const workerLogs = logGroup('WorkerLogs');
    // The background Slack client retries 429s after Retry-After (up to 4 times, 10 s each): room for that.
    // SLACK_TEAM_ID: `sluice doctor --stack` checks the bot token belongs to this workspace (doctor-notify.ts).
    this.worker = props.bundledFunction(
      'SlackWorkerFunction',
      'slack-worker',
      this.workerRole,
      workerLogs,
      90,
      { ...shared, SLACK_TEAM_ID: props.teamId },
      {
        handler: 'workerHandler',
        description: 'Sluice slack worker',
      },
    );
    const workerFn = this.worker.node.defaultChild as lambda.CfnFunction;
    // One at a time: updates of one rollout's thread never race (the head message is edited in place).
    workerFn.reservedConcurrentExecutions = 1;
    workerFn.deadLetterConfig = { targetArn: this.deadLetterQueue.queueArn };

    this.role = role('Role', 'Sluice Slack bot (Function URL): verified commands and clicks -> store and Step Functions');
    const urlLogs = logGroup('Logs');
    this.function = props.bundledFunction('SlackFunction', 'slack', this.role, urlLogs, 10, {
      ...shared,
      SLUICE_STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
      SLACK_TEAM_ID: props.teamId,
      SLACK_API_APP_ID: props.apiAppId,
      SLUICE_SLACK_WORKER_FUNCTION: this.worker.functionArn,
      // `/sluice schedule`: lambdas/wiring/aws-slack.ts builds the scheduler only when all four are set.
      SLUICE_SCHEDULE_GROUP: props.triggers.scheduleGroup.ref,
      SLUICE_SCHEDULER_ROLE_ARN: props.triggers.schedulerRole.roleArn,
      SLUICE_SCHEDULER_DLQ_ARN: props.triggers.schedulerDeadLetterQueue.queueArn,
      // Unqualified, as the start path's own schedules name it (the Scheduler role may invoke exactly that ARN).
      SLUICE_START_FUNCTION_ARN: props.triggers.startFunction.functionArn,
    });
    (this.function.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = props.concurrency ?? 5;
    // Auth NONE: Slack cannot sign SigV4; the handler checks Slack's v0 signature on the raw body first.
    this.url = this.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });

    // The secret's ARN for IAM: a secret imported by name has no random suffix in its ARN yet.
    const secretArn = this.secret.secretFullArn ?? `${this.secret.secretArn}-??????`;
    const grant = (fnRole: iam.Role, fnLogs: logs.LogGroup, storeActions: readonly string[]) => {
      fnRole.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [fnLogs.logGroupArn] }),
      );
      fnRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: [...storeActions], resources: [props.table.tableArn] }));
      fnRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretArn] }));
      this.secret.encryptionKey?.grantDecrypt(fnRole);
      props.registry.grantRead(fnRole);
      Validations.of(fnRole).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResource(stack, props.registry.parameterArnPattern)}]`,
        reason: 'ssm:GetParameter on the registry prefix only: one parameter per target, named by the target a command names.',
      });
    };
    grant(this.role, urlLogs, SLACK_ACK_STORE_ACTIONS);
    grant(this.workerRole, workerLogs, SLACK_WORKER_STORE_ACTIONS);
    // Audit records go out as `Command Audited` events.
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['events:PutEvents'], resources: [props.eventBus.eventBusArn] }));
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [props.stateMachine.stateMachineArn] }),
    );
    // `/sluice start` goes through the start path, which picks the next attempt name Step Functions has not seen.
    const executionArns = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${props.stateMachine.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [executionArns] }));
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(stack, executionArns)}]`,
      reason:
        'states:DescribeExecution on the executions of this one state machine (their names are chosen per rollout), to pick the next attempt name.',
    });
    // Approve / promote (SendTaskSuccess) and abort (SendTaskFailure) settle the pending token; a
    // token's SendTask* is authorized against the state machine whose execution issued it (the
    // resource CDK's grantTaskResponse names), so this reaches Sluice's tokens only. No heartbeat.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['states:SendTaskFailure', 'states:SendTaskSuccess'],
        resources: [props.stateMachine.stateMachineArn],
      }),
    );
    // The ack hands Slack-bound work to the worker (an asynchronous invoke) and answers at once.
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.worker.functionArn] }));
    this.workerRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.deadLetterQueue.queueArn] }),
    );
    // `/sluice schedule` (create, list, cancel): schedules of Sluice's own group only, handing them the Scheduler role.
    const scheduleArns = stack.formatArn({
      service: 'scheduler',
      resource: 'schedule',
      resourceName: `${props.triggers.scheduleGroup.ref}/*`,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['scheduler:CreateSchedule', 'scheduler:DeleteSchedule', 'scheduler:GetSchedule'],
        resources: [scheduleArns],
      }),
    );
    // ListSchedules has no resource-level permission (the group is a request parameter, not a resource), so "*".
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['scheduler:ListSchedules'], resources: ['*'] }));
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [props.triggers.schedulerRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    );
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(stack, scheduleArns)}]`,
      reason:
        "scheduler:CreateSchedule/GetSchedule/DeleteSchedule on the schedules of Sluice's own group only (their names are chosen per scheduled rollout).",
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'scheduler:ListSchedules has no resource-level permission: AWS accepts only "*"; it lists names and states, and the bot always passes its own group.',
    });
    if (secretArn.endsWith('-??????')) {
      for (const fnRole of [this.role, this.workerRole]) {
        Validations.of(fnRole).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${nagResource(stack, secretArn)}]`,
          reason:
            'A secret imported by name: "-??????" matches only the six-character suffix Secrets Manager appends to that one secret\'s ARN.',
        });
      }
    }

    // A fleet release's thread says how it ended: Step Functions reports its executions' status
    // changes on the default bus (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html).
    this.fleetEndRule = props.fleetStateMachine
      ? new events.Rule(this, 'FleetEndRule', {
          description: 'Sluice: a fleet release ended (its execution succeeded, failed, was stopped or timed out) -> the Slack worker',
          eventPattern: {
            source: ['aws.states'],
            detailType: ['Step Functions Execution Status Change'],
            detail: { status: ['SUCCEEDED', 'FAILED', 'ABORTED', 'TIMED_OUT'], stateMachineArn: [props.fleetStateMachine.stateMachineArn] },
          },
          targets: [
            new targets.LambdaFunction(this.worker, {
              deadLetterQueue: this.deadLetterQueue,
              retryAttempts: 8,
              maxEventAge: Duration.hours(2),
            }),
          ],
        })
      : undefined;

    this.eventsRule = new events.Rule(this, 'EventsRule', {
      description: 'Sluice: rollout events (source sluice) -> the Slack worker (threads, webhooks)',
      eventBus: props.eventBus,
      eventPattern: { source: ['sluice'], detailType: [...EVENT_TYPES] },
      targets: [
        new targets.LambdaFunction(this.worker, {
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: 8,
          maxEventAge: Duration.hours(2),
        }),
      ],
    });
  }
}
