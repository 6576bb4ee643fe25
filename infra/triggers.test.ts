/**
 * The triggers part of the construct, synthesized once without bundling, with a
 * target that watches an ECR repository and a GitHub OIDC role: exact IAM, rules, DLQs and alarms.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SluiceOrchestrator } from './sluice-orchestrator.ts';
import { START_STORE_ACTIONS } from './triggers.ts';

interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
}
interface Statement {
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

const OIDC_ARN = 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com';
let dir: string;
let stack: Stack;
let sluice: SluiceOrchestrator;
let template: { Resources: Record<string, Resource> };
let outdir: string;

const logicalId = (construct: IConstruct) =>
  stack.getLogicalId(construct instanceof CfnElement ? construct : (construct.node.defaultChild as CfnElement));
const arnOf = (construct: IConstruct) => ({ 'Fn::GetAtt': [logicalId(construct), 'Arn'] });
const ofType = (type: string) => Object.values(template.Resources).filter((r) => r.Type === type);
const props = (construct: IConstruct) => template.Resources[logicalId(construct)]!.Properties;

function statementsOf(role: IConstruct) {
  return ofType('AWS::IAM::Policy')
    .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: logicalId(role) }]))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
    .map((s) => ({ actions: [s.Action].flat().sort(), resources: [s.Resource].flat(), ...(s.Condition ? { condition: s.Condition } : {}) }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}
const sorted = <T>(list: T[]) => [...list].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-triggers-'));
  outdir = join(dir, 'out');
  const registry = join(dir, 'rollouts');
  mkdirSync(registry);
  writeFileSync(
    join(registry, 'web.yaml'),
    JSON.stringify({
      apiVersion: 'sluice.dev/v1',
      kind: 'Rollout',
      metadata: { name: 'web' },
      spec: {
        cluster: { name: 'prod-eks', region: 'us-east-1' },
        router: {
          name: 'web',
          namespace: 'gloo-system',
          primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
          canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
        },
        analysis: { prometheus: { address: 'http://prometheus:9090' } },
        triggers: { ecr: { repository: 'acme/web', tagPattern: '^v\\d+' } },
      },
    }),
  );
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  stack = new Stack(app, 'SluiceTriggersTest', { env: { account: '123456789012', region: 'us-east-1' } });
  sluice = new SluiceOrchestrator(stack, 'Sluice', {
    cluster: { name: 'prod-eks' },
    registryDir: registry,
    gitops: true,
    githubOidc: { providerArn: OIDC_ARN, subjects: ['repo:acme/web:ref:refs/heads/main'] },
  });
  template = app.synth().getStackByName(stack.stackName).template as typeof template;
}, 300_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('triggers', () => {
  it('synthesize nag-clean', () => {
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ violations: unknown[] }>;
    };
    expect(report.pluginReports.flatMap((r) => r.violations)).toEqual([]);
  });

  it('the start Lambda: nodejs24.x arm64, told where the machine, registry, schedule group and ECR targets are', () => {
    const fn = props(sluice.triggers.startFunction);
    expect(fn).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      DeadLetterConfig: { TargetArn: arnOf(sluice.triggers.startDeadLetterQueue) },
    });
    expect((fn.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      SLUICE_STATE_MACHINE_ARN: { Ref: logicalId(sluice.stateMachine) },
      SLUICE_REGISTRY_PREFIX: '/sluice/SluiceTriggersTest/targets',
      SLUICE_SCHEDULE_GROUP: { Ref: logicalId(sluice.triggers.scheduleGroup) },
      SLUICE_SCHEDULER_ROLE_ARN: arnOf(sluice.triggers.schedulerRole),
      SLUICE_SCHEDULER_DLQ_ARN: arnOf(sluice.triggers.schedulerDeadLetterQueue),
      SLUICE_ECR_TARGETS: JSON.stringify({ 'acme/web': ['web'] }),
    });
  });

  it("the start and GitOps roles: exactly the start path's calls, on Sluice's own resources", () => {
    const t = sluice.triggers;
    const executions = {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':states:us-east-1:123456789012:execution:',
          { 'Fn::GetAtt': [logicalId(sluice.stateMachine), 'Name'] },
          ':*',
        ],
      ],
    };
    const schedules = {
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':scheduler:us-east-1:123456789012:schedule/', { Ref: logicalId(t.scheduleGroup) }, '/*'],
      ],
    };
    const parameters = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:us-east-1:123456789012:parameter/sluice/SluiceTriggersTest/targets/*']],
    };
    const common = (logGroup: IConstruct) => [
      { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [arnOf(logGroup)] },
      { actions: [...START_STORE_ACTIONS].sort(), resources: [arnOf(sluice.table)] },
      { actions: ['states:StartExecution'], resources: [{ Ref: logicalId(sluice.stateMachine) }] },
      { actions: ['states:DescribeExecution'], resources: [executions] },
      { actions: ['scheduler:CreateSchedule', 'scheduler:GetSchedule'], resources: [schedules] },
      {
        actions: ['iam:PassRole'],
        resources: [arnOf(t.schedulerRole)],
        condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      },
      { actions: ['ssm:GetParameter'], resources: [parameters] },
      { actions: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], resources: ['*'] },
    ];
    expect(statementsOf(t.startFunction.role!)).toEqual(
      sorted([...common(t.startFunction.logGroup), { actions: ['sqs:SendMessage'], resources: [arnOf(t.startDeadLetterQueue)] }]),
    );
    expect(statementsOf(t.gitopsFunction!.role!)).toEqual(
      sorted([
        ...common(t.gitopsFunction!.logGroup),
        { actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], resources: [{ Ref: logicalId(t.gitopsSecret!) }] },
      ]),
    );
  });

  it("Scheduler's role may invoke the start Lambda and write its DLQ, assumed only from this account", () => {
    const t = sluice.triggers;
    expect(statementsOf(t.schedulerRole)).toEqual(
      sorted([
        { actions: ['lambda:InvokeFunction'], resources: [arnOf(t.startFunction)] },
        { actions: ['sqs:SendMessage'], resources: [arnOf(t.schedulerDeadLetterQueue)] },
      ]),
    );
    expect(props(t.schedulerRole).AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Action: 'sts:AssumeRole',
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
        },
      ],
    });
  });

  it('the GitHub Actions role: web identity from the imported provider, PutEvents on the Sluice bus for Rollout Requested only', () => {
    const role = sluice.triggers.githubRole!;
    expect(statementsOf(role)).toEqual([
      {
        actions: ['events:PutEvents'],
        resources: [arnOf(sluice.eventBus)],
        condition: { StringEquals: { 'events:source': 'sluice', 'events:detail-type': 'Rollout Requested' } },
      },
    ]);
    expect(props(role).AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Action: 'sts:AssumeRoleWithWebIdentity',
          Principal: { Federated: OIDC_ARN },
          Condition: {
            StringEquals: { 'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com' },
            StringLike: { 'token.actions.githubusercontent.com:sub': ['repo:acme/web:ref:refs/heads/main'] },
          },
        },
      ],
    });
  });

  it('rules: Rollout Requested on the Sluice bus, ECR pushes of watched repositories on the default bus, each with retries and a DLQ', () => {
    const t = sluice.triggers;
    const requested = props(t.requestedRule);
    expect(requested).toMatchObject({
      EventBusName: { Ref: logicalId(sluice.eventBus) },
      EventPattern: { source: ['sluice'], 'detail-type': ['Rollout Requested'] },
    });
    expect(requested.Targets).toEqual([
      expect.objectContaining({
        Arn: arnOf(t.startFunction),
        DeadLetterConfig: { Arn: arnOf(t.requestedDeadLetterQueue) },
        RetryPolicy: { MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 7200 },
      }),
    ]);
    const ecr = props(t.ecrRule!);
    expect(ecr.EventBusName).toBeUndefined();
    expect(ecr.EventPattern).toEqual({
      source: ['aws.ecr'],
      'detail-type': ['ECR Image Action'],
      detail: { 'action-type': ['PUSH'], result: ['SUCCESS'], 'repository-name': ['acme/web'] },
    });
    expect(ecr.Targets).toEqual([expect.objectContaining({ DeadLetterConfig: { Arn: arnOf(t.ecrDeadLetterQueue) } })]);
  });

  it('every dead-letter queue has an alarm that fires on the first message', () => {
    const t = sluice.triggers;
    const queues = [t.startDeadLetterQueue, t.requestedDeadLetterQueue, t.ecrDeadLetterQueue, t.schedulerDeadLetterQueue];
    const alarms = ofType('AWS::CloudWatch::Alarm');
    for (const queue of queues) {
      const alarm = alarms.find((a) => (JSON.stringify(a.Properties.Dimensions) ?? '').includes(logicalId(queue)));
      expect(alarm?.Properties, logicalId(queue)).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
      });
    }
  });

  it('the GitOps Lambda: a Function URL with auth NONE (signatures checked in code) and reserved concurrency', () => {
    const t = sluice.triggers;
    expect(ofType('AWS::Lambda::Url').map((u) => u.Properties)).toEqual([
      expect.objectContaining({ AuthType: 'NONE', TargetFunctionArn: arnOf(t.gitopsFunction!) }),
    ]);
    expect(props(t.gitopsFunction!).ReservedConcurrentExecutions).toBe(5);
    expect((props(t.gitopsFunction!).Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      SLUICE_GITOPS_SECRET_ARN: { Ref: logicalId(t.gitopsSecret!) },
      SLUICE_START_FUNCTION_ARN: arnOf(t.startFunction),
    });
  });
});
