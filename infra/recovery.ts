/**
 * SluiceRecovery: the reconciler's schedule and someone being told.
 *
 * - An EventBridge rule runs the reconciler Lambda every minute. It is created DISABLED: Prepare
 *   enables it when a rollout opens (EnableRule), the reconciler disables it when nothing is open
 *   (DisableRule), so no invocation happens while no rollout is open. A disabled rule costs
 *   nothing (bench/reconciler-cost.ts prices the enabled minutes from this template).
 * - An SNS topic (output AlertTopicArn) that people subscribe to, and CloudWatch alarms whose
 *   actions publish to it, on: the safety net's dead letters, executions that ended in
 *   `Sluice.RollbackFailed`, `Rollout Stuck` events, and reconciler findings. The Slack notifier
 *   gets `Rollout Stuck`/`Rollout Recovered` through its own rule (they are in EVENT_TYPES).
 *
 * Alarms on EventBridge matches use AWS/Events `TriggeredRules` per rule (a rule with an SNS
 * target matches each event); reconciler findings come from the reconciler's JSON log lines
 * through a metric filter.
 */
import { ArnFormat, Duration, Names, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { nagResource } from './triggers.ts';
import { RECONCILE_PERIOD_SECONDS, RECONCILER_FINDING_MESSAGE } from '../lambdas/core/recovery.ts';
import { RECONCILER_PARTITIONS } from '../lambdas/adapters/store/dynamodb.ts';

export interface SluiceRecoveryProps {
  reconciler: nodejs.NodejsFunction;
  /** Turns the schedule on (Prepare). */
  prepare: nodejs.NodejsFunction;
  stateMachine: sfn.StateMachine;
  /** The store: the reconciler lists open rollouts and held locks with a Query on their two partitions. */
  table: dynamodb.ITable;
  eventBus: events.IEventBus;
  safetyNetDeadLetterQueue: sqs.IQueue;
}

export class SluiceRecovery extends Construct {
  readonly schedule: events.Rule;
  readonly topic: sns.Topic;
  readonly alarms: Record<'safetyNetDeadLetters' | 'rollbackFailed' | 'rolloutStuck' | 'reconcilerFindings', cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: SluiceRecoveryProps) {
    super(scope, id);
    const { reconciler, prepare, stateMachine } = props;

    // A physical name known at synth: the functions' env and their roles' policies name it without a
    // reference to the rule, which targets one of them (a reference would be a dependency cycle).
    const ruleName = Names.uniqueResourceName(this, { maxLength: 64, separator: '-' }) + '-reconciler';
    const ruleArn = Stack.of(this).formatArn({ service: 'events', resource: 'rule', resourceName: ruleName });
    this.schedule = new events.Rule(this, 'ReconcilerSchedule', {
      ruleName,
      description: 'Sluice reconciler, every minute while a rollout is open (Prepare enables it, the reconciler disables it)',
      schedule: events.Schedule.rate(Duration.seconds(RECONCILE_PERIOD_SECONDS)),
      enabled: false,
      targets: [new targets.LambdaFunction(reconciler, { retryAttempts: 0 })],
    });
    reconciler.addEnvironment('SLUICE_STATE_MACHINE_ARN', stateMachine.stateMachineArn);
    reconciler.addEnvironment('SLUICE_RECONCILER_RULE', ruleName);
    prepare.addEnvironment('SLUICE_RECONCILER_RULE', ruleName);
    prepare.role?.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['events:EnableRule'], resources: [ruleArn] }));
    reconciler.role?.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['events:EnableRule', 'events:DisableRule'], resources: [ruleArn] }),
    );
    // Whether an open rollout's execution still runs: DescribeExecution on this machine's executions only.
    const executions = Stack.of(this).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${stateMachine.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    // A policy of its own (not the role's default policy, which the functions depend on): it names
    // the state machine, whose definition names the functions — in the default policy that is a cycle.
    const reads = new iam.Policy(this, 'ReconcilerReads', {
      statements: [
        new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [executions] }),
        // Query only on the OPEN and LOCKS partitions (dynamodb:LeadingKeys is the partition key of
        // the queried items): the history stays out of this shared rollout role's reach.
        new iam.PolicyStatement({
          actions: ['dynamodb:Query'],
          resources: [props.table.tableArn],
          conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [...RECONCILER_PARTITIONS] } },
        }),
      ],
      ...(reconciler.role ? { roles: [reconciler.role] } : {}),
    });
    Validations.of(reads).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(Stack.of(this), executions)}]`,
      reason:
        'The reconciler asks DescribeExecution about the executions of this one state machine; execution names are not known in advance.',
    });

    this.topic = new sns.Topic(this, 'Alerts', { displayName: 'Sluice: a rollout needs a person', enforceSSL: true });
    Validations.of(this.topic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason:
        'CloudWatch alarm actions and EventBridge cannot publish to a topic encrypted with the AWS-managed SNS key; the alerts carry target names and weights, no secrets.',
    });
    const notify = new actions.SnsAction(this.topic);
    const alarm = (alarmId: string, metric: cloudwatch.IMetric, description: string) => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      created.addAlarmAction(notify);
      return created;
    };
    const matches = (rule: events.Rule) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Events',
        metricName: 'TriggeredRules',
        dimensionsMap: { RuleName: rule.ruleName },
        statistic: 'Sum',
        period: Duration.minutes(1),
      });

    const rollbackFailed = new events.Rule(this, 'RollbackFailedRule', {
      description: 'Sluice executions that ended in Sluice.RollbackFailed: traffic may not be on a safe side',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED'], error: ['Sluice.RollbackFailed'], stateMachineArn: [stateMachine.stateMachineArn] },
      },
      targets: [new targets.SnsTopic(this.topic)],
    });
    const stuck = new events.Rule(this, 'RolloutStuckRule', {
      description: 'Rollout Stuck: Sluice has tried for minutes to restore a safe side, or someone else took the target over',
      eventBus: props.eventBus,
      eventPattern: { source: ['sluice'], detailType: ['Rollout Stuck'] },
      targets: [new targets.SnsTopic(this.topic)],
    });
    const findings = new logs.MetricFilter(this, 'ReconcilerFindingsFilter', {
      logGroup: reconciler.logGroup,
      filterPattern: logs.FilterPattern.stringValue('$.message', '=', RECONCILER_FINDING_MESSAGE),
      metricNamespace: 'Sluice',
      metricName: 'ReconcilerFindings',
      metricValue: '1',
      defaultValue: 0,
    });

    this.alarms = {
      safetyNetDeadLetters: alarm(
        'SafetyNetDeadLettersAlarm',
        props.safetyNetDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        'The safety net dead-lettered an execution: the reconciler retries every minute; run `sluice recover --stack` and read the queue',
      ),
      rollbackFailed: alarm(
        'RollbackFailedAlarm',
        matches(rollbackFailed),
        'A rollout ended in Sluice.RollbackFailed: fix the cause (RBAC, Gloo), then `sluice recover TARGET --stack`',
      ),
      rolloutStuck: alarm(
        'RolloutStuckAlarm',
        matches(stuck),
        'Rollout Stuck: traffic is not on a safe side yet, or someone else took a target over',
      ),
      reconcilerFindings: alarm(
        'ReconcilerFindingsAlarm',
        findings.metric({ statistic: 'Sum', period: Duration.minutes(1) }),
        'The reconciler found an orphaned rollout (open, execution not running) and acted on it',
      ),
    };
  }
}
