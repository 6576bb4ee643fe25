/**
 * The Slack bot in the construct, synthesized without bundling: the Function URL
 * Lambda and the worker, their environment (checked against what the code reads), exact IAM,
 * concurrency, the rule feeding the worker, and the secret.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../lambdas/core/records.ts';
import { SLACK_ACK_STORE_ACTIONS, SLACK_PLACEHOLDER_BOT_TOKEN, SLACK_WORKER_STORE_ACTIONS } from './slack.ts';
import type { SluiceSlackConfig } from './slack.ts';
import { SluiceOrchestrator } from './sluice-orchestrator.ts';

interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
}
interface Statement {
  Action: string | string[];
  Resource: unknown;
}
type Template = { Resources: Record<string, Resource> };

const ACCOUNT = '123456789012';
const ROOT = join(import.meta.dirname, '..');
const dirs: string[] = [];

function synth(slack: (stack: Stack) => SluiceSlackConfig) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-slack-'));
  dirs.push(dir);
  const outdir = join(dir, 'out');
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'SluiceSlackTest', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const sluice = new SluiceOrchestrator(stack, 'Sluice', {
    cluster: { name: 'prod-eks' },
    registryDir: join(dir, 'none'),
    slack: slack(stack),
  });
  const template = app.synth().getStackByName(stack.stackName).template as Template;
  const violations = (
    JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as { pluginReports: Array<{ violations: unknown[] }> }
  ).pluginReports.flatMap((r) => r.violations);
  const logicalId = (construct: IConstruct) =>
    stack.getLogicalId(construct instanceof CfnElement ? construct : (construct.node.defaultChild as CfnElement));
  const arn = (construct: IConstruct) => ({ 'Fn::GetAtt': [logicalId(construct), 'Arn'] });
  const props = (construct: IConstruct) => template.Resources[logicalId(construct)]!.Properties;
  const statementsOf = (role: IConstruct) =>
    Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: logicalId(role) }]))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
      .map((s) => ({ actions: [s.Action].flat().sort(), resources: [s.Resource].flat() }))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return { stack, sluice, template, violations, logicalId, arn, props, statementsOf };
}
const sorted = <T>(list: T[]) => [...list].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

/** The environment variables a file reads through requiredEnv('…'). */
function requiredEnvOf(file: string): string[] {
  return [...readFileSync(join(ROOT, file), 'utf8').matchAll(/requiredEnv\('([A-Z_]+)'\)/g)].map((m) => m[1]!);
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('Slack with a secret created by the construct', () => {
  let s: ReturnType<typeof synth>;
  beforeAll(() => {
    s = synth(() => ({ teamId: 'T0123ABCD', apiAppId: 'A0456EFGH' }));
  }, 300_000);

  it('synthesizes nag-clean', () => {
    expect(s.violations).toEqual([]);
  });

  it('the Function URL Lambda: auth NONE (the v0 signature is checked in code), reserved concurrency 5, the `handler` export', () => {
    const slack = s.sluice.slack!;
    const url = Object.values(s.template.Resources)
      .filter((r) => r.Type === 'AWS::Lambda::Url')
      .map((r) => r.Properties);
    expect(url).toContainEqual(expect.objectContaining({ AuthType: 'NONE', TargetFunctionArn: s.arn(slack.function) }));
    expect(s.props(slack.function)).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      ReservedConcurrentExecutions: 5,
      Timeout: 10,
    });
    expect(s.props(slack.function).VpcConfig).toBeUndefined();
  });

  it('the worker: the `workerHandler` export, one at a time, a DLQ for its asynchronous invokes', () => {
    const slack = s.sluice.slack!;
    expect(s.props(slack.worker)).toMatchObject({
      Handler: 'index.workerHandler',
      ReservedConcurrentExecutions: 1,
      DeadLetterConfig: { TargetArn: s.arn(slack.deadLetterQueue) },
    });
  });

  it("sets every variable the bot's AWS wiring requires, with the values it expects", () => {
    const slack = s.sluice.slack!;
    const env = (fn: IConstruct) => (s.props(fn).Environment as { Variables: Record<string, unknown> }).Variables;
    const required = [
      ...new Set([...requiredEnvOf('lambdas/wiring/aws-slack.ts'), ...requiredEnvOf('lambdas/wiring/aws-store.ts')]),
    ].sort();
    expect(required).toEqual([
      'SLACK_API_APP_ID',
      'SLACK_SECRET_ARN',
      'SLACK_TEAM_ID',
      'SLUICE_EVENT_BUS_NAME',
      'SLUICE_REGISTRY_PARAMETER_PREFIX',
      'SLUICE_SLACK_WORKER_FUNCTION',
      'SLUICE_STATE_MACHINE_ARN',
      'SLUICE_TABLE_NAME',
    ]);
    for (const name of required) expect(env(slack.function)[name], name).toBeDefined();
    expect(env(slack.function)).toMatchObject({
      SLUICE_TABLE_NAME: { Ref: s.logicalId(s.sluice.table) },
      SLUICE_EVENT_BUS_NAME: { Ref: s.logicalId(s.sluice.eventBus) },
      SLUICE_STATE_MACHINE_ARN: { Ref: s.logicalId(s.sluice.stateMachine) },
      SLUICE_REGISTRY_PARAMETER_PREFIX: '/sluice/SluiceSlackTest/targets',
      SLACK_SECRET_ARN: { Ref: s.logicalId(slack.secret as secretsmanager.Secret) },
      SLACK_TEAM_ID: 'T0123ABCD',
      SLACK_API_APP_ID: 'A0456EFGH',
      SLUICE_SLACK_WORKER_FUNCTION: s.arn(slack.worker),
    });
    // The worker: the store, the secret and the registry; it starts nothing and invokes nothing.
    expect(env(slack.worker)).toMatchObject({
      SLUICE_TABLE_NAME: { Ref: s.logicalId(s.sluice.table) },
      SLACK_SECRET_ARN: { Ref: s.logicalId(slack.secret as secretsmanager.Secret) },
      SLUICE_REGISTRY_PARAMETER_PREFIX: '/sluice/SluiceSlackTest/targets',
      // sluice doctor --stack: the bot token must belong to this workspace.
      SLACK_TEAM_ID: 'T0123ABCD',
    });
    expect(env(slack.worker).SLUICE_SLACK_WORKER_FUNCTION).toBeUndefined();
  });

  it('hands the bot the schedule group, the Scheduler role, its DLQ and the unqualified start Lambda, so `/sluice schedule` works', () => {
    const slack = s.sluice.slack!;
    const t = s.sluice.triggers;
    const env = (fn: IConstruct) => (s.props(fn).Environment as { Variables: Record<string, unknown> }).Variables;
    // The names slackScheduler reads (it builds no scheduler unless every one is set).
    const source = readFileSync(join(ROOT, 'lambdas/wiring/aws-slack.ts'), 'utf8');
    const body = source.slice(
      source.indexOf('export function slackScheduler'),
      source.indexOf('\n}\n', source.indexOf('export function slackScheduler')),
    );
    const names = [...body.matchAll(/env\['([A-Z_]+)'\]/g)].map((m) => m[1]!).sort();
    expect(names).toEqual(['SLUICE_SCHEDULER_DLQ_ARN', 'SLUICE_SCHEDULER_ROLE_ARN', 'SLUICE_SCHEDULE_GROUP', 'SLUICE_START_FUNCTION_ARN']);
    expect(env(slack.function)).toMatchObject({
      SLUICE_SCHEDULE_GROUP: { Ref: s.logicalId(t.scheduleGroup) },
      SLUICE_SCHEDULER_ROLE_ARN: s.arn(t.schedulerRole),
      SLUICE_SCHEDULER_DLQ_ARN: s.arn(t.schedulerDeadLetterQueue),
      SLUICE_START_FUNCTION_ARN: s.arn(t.startFunction),
    });
    // The worker creates no schedules.
    expect(env(slack.worker).SLUICE_SCHEDULE_GROUP).toBeUndefined();
  });

  it("the bot's role: the ack path's calls exactly — store, bus, start and settle on this machine, registry, secret, invoke the worker, its group's schedules", () => {
    const slack = s.sluice.slack!;
    const secret = { Ref: s.logicalId(slack.secret as secretsmanager.Secret) };
    const machine = { Ref: s.logicalId(s.sluice.stateMachine) };
    const executions = {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          `:states:us-east-1:${ACCOUNT}:execution:`,
          { 'Fn::GetAtt': [s.logicalId(s.sluice.stateMachine), 'Name'] },
          ':*',
        ],
      ],
    };
    const schedules = {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          `:scheduler:us-east-1:${ACCOUNT}:schedule/`,
          { Ref: s.logicalId(s.sluice.triggers.scheduleGroup) },
          '/*',
        ],
      ],
    };
    const parameters = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:ssm:us-east-1:${ACCOUNT}:parameter/sluice/SluiceSlackTest/targets/*`]],
    };
    expect(s.statementsOf(slack.role)).toEqual(
      sorted([
        { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [s.arn(slack.function.logGroup)] },
        { actions: [...SLACK_ACK_STORE_ACTIONS].sort(), resources: [s.arn(s.sluice.table)] },
        { actions: ['events:PutEvents'], resources: [s.arn(s.sluice.eventBus)] },
        { actions: ['states:StartExecution'], resources: [machine] },
        { actions: ['states:DescribeExecution'], resources: [executions] },
        { actions: ['states:SendTaskFailure', 'states:SendTaskSuccess'], resources: [machine] },
        { actions: ['ssm:GetParameter'], resources: [parameters] },
        { actions: ['secretsmanager:GetSecretValue'], resources: [secret] },
        { actions: ['lambda:InvokeFunction'], resources: [s.arn(slack.worker)] },
        { actions: ['scheduler:CreateSchedule', 'scheduler:DeleteSchedule', 'scheduler:GetSchedule'], resources: [schedules] },
        // No resource-level permission exists for ListSchedules.
        { actions: ['scheduler:ListSchedules'], resources: ['*'] },
        { actions: ['iam:PassRole'], resources: [s.arn(s.sluice.triggers.schedulerRole)] },
        // X-Ray tracing (Tracing.ACTIVE): no resource-level permission either.
        { actions: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], resources: ['*'] },
      ]),
    );
    // PassRole only to EventBridge Scheduler.
    const passRole = Object.values(s.template.Resources)
      .filter(
        (r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: s.logicalId(slack.role) }]),
      )
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Array<Statement & { Condition?: unknown }> }).Statement)
      .filter((st) => st.Action === 'iam:PassRole');
    expect(passRole.map((st) => st.Condition)).toEqual([{ StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } }]);
    expect(s.statementsOf(slack.workerRole)).toEqual(
      sorted([
        { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [s.arn(slack.worker.logGroup)] },
        { actions: [...SLACK_WORKER_STORE_ACTIONS].sort(), resources: [s.arn(s.sluice.table)] },
        { actions: ['ssm:GetParameter'], resources: [parameters] },
        { actions: ['secretsmanager:GetSecretValue'], resources: [secret] },
        { actions: ['sqs:SendMessage'], resources: [s.arn(slack.deadLetterQueue)] },
        { actions: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], resources: ['*'] },
      ]),
    );
  });

  it("Sluice's events (source sluice, every published type, not Rollout Requested) feed the worker, with retries and the DLQ", () => {
    const slack = s.sluice.slack!;
    const rule = s.props(slack.eventsRule);
    expect(rule.EventBusName).toEqual({ Ref: s.logicalId(s.sluice.eventBus) });
    expect(rule.EventPattern).toEqual({ source: ['sluice'], 'detail-type': [...EVENT_TYPES] });
    expect(EVENT_TYPES).not.toContain('Rollout Requested');
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: s.arn(slack.worker),
        DeadLetterConfig: { Arn: s.arn(slack.deadLetterQueue) },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 7200 },
      }),
    ]);
  });

  it('the created secret holds a placeholder bot token and a random signing secret (nothing anyone could sign with)', () => {
    const secret = s.props(s.sluice.slack!.secret as secretsmanager.Secret);
    expect(secret.GenerateSecretString).toMatchObject({
      SecretStringTemplate: JSON.stringify({ botToken: SLACK_PLACEHOLDER_BOT_TOKEN }),
      GenerateStringKey: 'signingSecret',
      PasswordLength: 48,
    });
    expect(secret.SecretString).toBeUndefined();
  });
});

describe('Slack with an existing secret', () => {
  it("imported by name: GetSecretValue on that secret's ARN with its six-character suffix only", () => {
    const s = synth((stack) => ({
      teamId: 'T0123ABCD',
      apiAppId: 'A0456EFGH',
      secret: secretsmanager.Secret.fromSecretNameV2(stack, 'Existing', 'sluice/slack'),
      concurrency: 10,
    }));
    expect(s.violations).toEqual([]);
    const slack = s.sluice.slack!;
    const onSecret = s.statementsOf(slack.role).filter((st) => st.actions.includes('secretsmanager:GetSecretValue'));
    expect(onSecret).toEqual([
      {
        actions: ['secretsmanager:GetSecretValue'],
        resources: [
          { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:secretsmanager:us-east-1:${ACCOUNT}:secret:sluice/slack-??????`]] },
        ],
      },
    ]);
    expect(s.props(slack.function).ReservedConcurrentExecutions).toBe(10);
    expect(
      Object.values(s.template.Resources).filter(
        (r) => r.Type === 'AWS::SecretsManager::Secret' && JSON.stringify(r.Properties).includes('signingSecret'),
      ),
    ).toEqual([]);
  }, 300_000);

  it("refuses IDs that are not Slack's", () => {
    expect(() => synth(() => ({ teamId: 'acme', apiAppId: 'A0456EFGH' }))).toThrow('slack.teamId "acme" is not a Slack workspace ID');
  });
});
