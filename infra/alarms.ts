/**
 * SluiceAlarms: CloudWatch alarms interrupt the bake. For every target whose spec
 * names alarms (`provider.type: cloudwatch-alarm`), an EventBridge rule on the default bus matches
 * "CloudWatch Alarm State Change" to ALARM for exactly those alarms and hands the alarm Lambda
 * `{ target, event }`; the Lambda fails the target's pending bake token (SendTaskFailure), so the
 * rollback starts within seconds instead of at the next look.
 *
 * Also here: what the metric providers need in IAM, derived from the registry at synth
 * (`metricReadNeeds`): DescribeAlarms on the named alarms, GetMetricData when a target reads
 * CloudWatch metrics. The orchestrator grants them to the Prepare/Analyze role only.
 */
import { Annotations, ArnFormat, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import { referencedSecretArns } from './registry.ts';
import type { RegistryEntry } from './registry.ts';
import { watchedDeadLetterQueue } from './triggers.ts';
import type { SluiceSharedProps } from './triggers.ts';

/** What the alarm path calls on the store: getLock and getTaskToken (GetItem), requestAbort (PutItem). */
export const ALARM_STORE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem'] as const;

/** The event the rules match (EventBridge's name for CloudWatch's alarm transitions). */
export const ALARM_STATE_CHANGE = { source: 'aws.cloudwatch', detailType: 'CloudWatch Alarm State Change' } as const;

const ALARM_ARN = /^arn:aws[a-z-]*:cloudwatch:([a-z0-9-]+):(\d{12}):alarm:(.+)$/;

/** One alarm a target names: the ARN it is known by, and whether its events reach this stack's default bus. */
export interface NamedAlarm {
  target: string;
  /** As written in the spec: a name or an ARN. */
  written: string;
  arn: string;
  /** false when the ARN names another region or account than the stack: its events never arrive here. */
  local: boolean;
}

/** The EKS cluster's region, the default region of AWS providers that name none (as lambdas/adapters/metrics/factory.ts). */
function clusterRegion(spec: RolloutSpec): string | undefined {
  const cluster = spec.spec.cluster;
  return 'region' in cluster ? cluster.region : undefined;
}

/** Every alarm the specs name, as ARNs (a name is resolved where lambdas/adapters/metrics/factory.ts reads it, in the stack's account). */
export function namedAlarms(stack: Stack, entries: ReadonlyArray<RegistryEntry>): NamedAlarm[] {
  const same = (a: string, b: string) => Token.isUnresolved(b) || a === b;
  const out: NamedAlarm[] = [];
  for (const { spec } of entries) {
    for (const metric of spec.spec.analysis.metrics) {
      if (metric.provider?.type !== 'cloudwatch-alarm') continue;
      // The client's region, as the provider picks it: its own, else the region its ARNs name, else the cluster's.
      const arnRegion = (metric.alarms ?? []).map((a) => ALARM_ARN.exec(a)?.[1]).find((r) => r !== undefined);
      const region = metric.provider.region ?? arnRegion ?? clusterRegion(spec) ?? stack.region;
      for (const written of metric.alarms ?? []) {
        const parsed = ALARM_ARN.exec(written);
        if (parsed) {
          out.push({
            target: spec.metadata.name,
            written,
            arn: written,
            local: same(parsed[1]!, stack.region) && same(parsed[2]!, stack.account),
          });
          continue;
        }
        const arn = stack.formatArn({
          service: 'cloudwatch',
          resource: 'alarm',
          resourceName: written,
          region,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        });
        out.push({ target: spec.metadata.name, written, arn, local: same(region, stack.region) });
      }
    }
  }
  return out;
}

export interface MetricReadNeeds {
  /** ARNs for cloudwatch:DescribeAlarms (the cloudwatch-alarm provider reads each alarm's state at every look). */
  alarmArns: string[];
  /** Some target reads CloudWatch metrics (cloudwatch:GetMetricData, which has no resource-level permission). */
  metricData: boolean;
  /** Workspace ARNs for aps:QueryMetrics, one per AMP workspace a target reads. */
  ampWorkspaceArns: string[];
}

const AMP_WORKSPACE = /\/workspaces\/(ws-[A-Za-z0-9-]+)\/?$/;

/** The AMP workspaces the specs read, as ARNs (region: the provider's, else the workspace URL's host). */
export function ampWorkspaceArns(stack: Stack, entries: ReadonlyArray<RegistryEntry>): string[] {
  const arns = new Set<string>();
  for (const { file, spec } of entries) {
    spec.spec.analysis.metrics.forEach((metric, i) => {
      if (metric.provider?.type !== 'amp') return;
      const url = new URL(metric.provider.workspaceUrl);
      const id = AMP_WORKSPACE.exec(url.pathname)?.[1];
      const region = metric.provider.region ?? /^aps-workspaces\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(url.hostname)?.[1];
      if (!id || !region) {
        throw new Error(
          `${file}: spec.analysis.metrics[${i}].provider.workspaceUrl: expected https://aps-workspaces.REGION.amazonaws.com/workspaces/ws-… (or set provider.region), so the workspace can be granted aps:QueryMetrics`,
        );
      }
      arns.add(stack.formatArn({ service: 'aps', resource: 'workspace', resourceName: id, region }));
    });
  }
  return [...arns];
}

/** What in-VPC Lambdas reach beyond the default endpoints (infra/vpc.ts). */
export function endpointNeeds(
  stack: Stack,
  entries: ReadonlyArray<RegistryEntry>,
): { monitoring: boolean; amp: boolean; secrets: boolean } {
  const types = new Set(entries.flatMap(({ spec }) => spec.spec.analysis.metrics.map((m) => m.provider?.type ?? 'prometheus')));
  return {
    monitoring: types.has('cloudwatch') || types.has('cloudwatch-alarm'),
    amp: ampWorkspaceArns(stack, entries).length > 0,
    secrets: referencedSecretArns(entries).length > 0,
  };
}

export function metricReadNeeds(stack: Stack, entries: ReadonlyArray<RegistryEntry>): MetricReadNeeds {
  const alarmArns = [...new Set(namedAlarms(stack, entries).map((a) => a.arn))];
  const metricData = entries.some(({ spec }) => spec.spec.analysis.metrics.some((m) => m.provider?.type === 'cloudwatch'));
  return { alarmArns, metricData, ampWorkspaceArns: ampWorkspaceArns(stack, entries) };
}

export type SluiceAlarmsProps = SluiceSharedProps;

/** The alarm path; created only when some target names CloudWatch alarms. */
export class SluiceAlarms extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  /** Target name -> its rule. */
  readonly rules: ReadonlyMap<string, events.Rule>;
  readonly deadLetterQueue: sqs.Queue;
  readonly alarms: NamedAlarm[];

  constructor(scope: Construct, id: string, props: SluiceAlarmsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    // A fleet's clusters each count as a target (`<target>@<cluster>`): its rule interrupts that cluster's bake.
    this.alarms = namedAlarms(stack, props.registry.rollouts);
    if (!this.alarms.length) throw new Error('SluiceAlarms needs a target that names CloudWatch alarms');

    this.deadLetterQueue = watchedDeadLetterQueue(
      this,
      'DeadLetters',
      'an alarm event the alarm Lambda could not take (the rollout was not interrupted; its next look still reads the alarm)',
    ).queue;
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: "Sluice alarm Lambda: CloudWatch alarm -> fail the target's pending bake token",
    });
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    this.function = props.bundledFunction('AlarmFunction', 'alarm', this.role, logGroup, 15, {});
    // Lambda's own async retries exhausted (the store or Step Functions failing): the event lands here too.
    (this.function.node.defaultChild as lambda.CfnFunction).deadLetterConfig = { targetArn: this.deadLetterQueue.queueArn };

    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    );
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: [...ALARM_STORE_ACTIONS], resources: [props.table.tableArn] }));
    // A task token's SendTask* is authorized against the state machine whose execution issued the
    // token (the same resource CDK's grantTaskResponse names): this role can fail Sluice's bake
    // tokens and no other workflow's. Only SendTaskFailure: the alarm path never succeeds a task.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['states:SendTaskFailure'], resources: [props.stateMachine.stateMachineArn] }),
    );
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.deadLetterQueue.queueArn] }));

    const byTarget = new Map<string, string[]>();
    for (const alarm of this.alarms) {
      if (!alarm.local) {
        Annotations.of(this).addWarningV2(
          `sluice:alarm-elsewhere:${alarm.target}:${alarm.written}`,
          `target ${alarm.target}: alarm ${alarm.written} is in another region or account than this stack, so its state changes never reach this stack's default bus: it stops the rollout at the next look (DescribeAlarms), not within seconds.`,
        );
        continue;
      }
      const list = byTarget.get(alarm.target) ?? [];
      if (!list.includes(alarm.arn)) list.push(alarm.arn);
      byTarget.set(alarm.target, list);
    }
    const rules = new Map<string, events.Rule>();
    for (const [target, arns] of byTarget) {
      rules.set(
        target,
        new events.Rule(this, `Rule-${target}`, {
          description: `Sluice: alarms of target ${target} going to ALARM -> interrupt its bake`,
          // AWS service events arrive on the default bus; `resources` holds the alarm's ARN.
          eventPattern: {
            source: [ALARM_STATE_CHANGE.source],
            detailType: [ALARM_STATE_CHANGE.detailType],
            resources: arns,
            detail: { state: { value: ['ALARM'] } },
          },
          targets: [
            new targets.LambdaFunction(this.function, {
              event: events.RuleTargetInput.fromObject({ target, event: events.EventField.fromPath('$') }),
              deadLetterQueue: this.deadLetterQueue,
              // An alarm matters now: after a quarter of an hour the next look has read it anyway.
              retryAttempts: 4,
              maxEventAge: Duration.minutes(15),
            }),
          ],
        }),
      );
    }
    this.rules = rules;
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the alarm rules and of the alarm Lambda, watched by a CloudWatch alarm.',
    });
  }
}
