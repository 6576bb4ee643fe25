/**
 * CloudWatch alarms and metric providers in the construct, synthesized once
 * without bundling: targets naming alarms get a rule each that hands the alarm Lambda
 * `{ target, event }`; the alarm Lambda and the Prepare/Analyze role get exactly the calls their
 * code makes. A second synthesis without any CloudWatch provider shows none of it appears.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALARM_STORE_ACTIONS } from './alarms.ts';
import { SluiceOrchestrator, STORE_ACTIONS } from './sluice-orchestrator.ts';

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
const dirs: string[] = [];

function target(name: string, metrics: unknown[]) {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name },
    spec: {
      cluster: { name: 'prod-eks', region: 'us-east-1' },
      router: {
        name,
        namespace: 'gloo-system',
        primary: { upstream: { name: `${name}-primary`, namespace: 'gloo-system' } },
        canary: { upstream: { name: `${name}-canary`, namespace: 'gloo-system' } },
      },
      // threshold: the sequential judge reads request counts and refuses a target judged by CloudWatch metrics alone.
      analysis: { judge: 'threshold', prometheus: { address: 'http://prometheus:9090' }, metrics },
    },
  };
}

function synth(specs: Array<ReturnType<typeof target>>, props: { compositeAlarms?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-alarms-'));
  dirs.push(dir);
  const registry = join(dir, 'rollouts');
  mkdirSync(registry);
  for (const spec of specs) writeFileSync(join(registry, `${spec.metadata.name}.yaml`), JSON.stringify(spec));
  const outdir = join(dir, 'out');
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'SluiceAlarmsTest', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const sluice = new SluiceOrchestrator(stack, 'Sluice', { cluster: { name: 'prod-eks' }, registryDir: registry, ...props });
  const template = app.synth().getStackByName(stack.stackName).template as Template;
  const violations = (
    JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as { pluginReports: Array<{ violations: unknown[] }> }
  ).pluginReports.flatMap((r) => r.violations);
  const logicalId = (construct: IConstruct) =>
    stack.getLogicalId(construct instanceof CfnElement ? construct : (construct.node.defaultChild as CfnElement));
  const statementsOf = (role: IConstruct) =>
    Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: logicalId(role) }]))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
      .map((s) => ({ actions: [s.Action].flat().sort(), resources: [s.Resource].flat() }));
  return { stack, sluice, template, violations, logicalId, statementsOf };
}

const ALARMS = [
  {
    name: 'errors',
    provider: { type: 'cloudwatch-alarm' },
    alarms: ['web-5xx', `arn:aws:cloudwatch:us-east-1:${ACCOUNT}:alarm:web-latency`],
  },
  // Another region: its events never reach this stack's bus; Analyze still reads it at each look.
  // A name next to an ARN is read in the ARN's region (as the provider's client is).
  {
    name: 'edge',
    provider: { type: 'cloudwatch-alarm' },
    alarms: [`arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:web-edge`, 'web-edge-5xx'],
  },
  {
    name: 'cw-errors',
    provider: { type: 'cloudwatch' },
    metricDataQueries: [{ Id: 'e', Expression: 'SUM(x)' }],
    thresholdRange: { max: 1 },
  },
];
const namedArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:cloudwatch:us-east-1:${ACCOUNT}:alarm:web-5xx`]] };
const latencyArn = `arn:aws:cloudwatch:us-east-1:${ACCOUNT}:alarm:web-latency`;
const edgeArn = `arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:web-edge`;
const edgeNamedArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:cloudwatch:eu-west-1:${ACCOUNT}:alarm:web-edge-5xx`]] };

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('targets that name CloudWatch alarms and metrics', () => {
  let s: ReturnType<typeof synth>;
  beforeAll(() => {
    s = synth([
      target('web', ALARMS),
      target('api', [{ name: 'api-alarm', provider: { type: 'cloudwatch-alarm' }, alarms: ['api-5xx'] }]),
      target('plain', [{ name: 'request-success-rate', thresholdRange: { min: 99 } }]),
    ]);
  }, 300_000);

  it('synthesize nag-clean', () => {
    expect(s.violations).toEqual([]);
  });

  it('one rule per target with alarms: ALARM transitions of exactly its alarms in this region, on the default bus', () => {
    const rules = s.sluice.alarms!.rules;
    expect([...rules.keys()].sort()).toEqual(['api', 'web']);
    const web = s.template.Resources[s.logicalId(rules.get('web')!)]!.Properties;
    expect(web.EventBusName).toBeUndefined();
    expect(web.EventPattern).toEqual({
      source: ['aws.cloudwatch'],
      'detail-type': ['CloudWatch Alarm State Change'],
      resources: [namedArn, latencyArn],
      detail: { state: { value: ['ALARM'] } },
    });
    const api = s.template.Resources[s.logicalId(rules.get('api')!)]!.Properties;
    expect((api.EventPattern as { resources: unknown }).resources).toEqual([
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:cloudwatch:us-east-1:${ACCOUNT}:alarm:api-5xx`]] },
    ]);
  });

  it('hands the alarm Lambda { target, event: <the whole event> }, with retries and a dead-letter queue', () => {
    const a = s.sluice.alarms!;
    const [ruleTarget] = s.template.Resources[s.logicalId(a.rules.get('web')!)]!.Properties.Targets as Array<Record<string, unknown>>;
    expect(ruleTarget).toMatchObject({
      Arn: { 'Fn::GetAtt': [s.logicalId(a.function), 'Arn'] },
      InputTransformer: { InputPathsMap: { f1: '$' }, InputTemplate: '{"target":"web","event":<f1>}' },
      DeadLetterConfig: { Arn: { 'Fn::GetAtt': [s.logicalId(a.deadLetterQueue), 'Arn'] } },
      RetryPolicy: { MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 900 },
    });
    const fn = s.template.Resources[s.logicalId(a.function)]!.Properties;
    expect(fn).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      DeadLetterConfig: { TargetArn: { 'Fn::GetAtt': [s.logicalId(a.deadLetterQueue), 'Arn'] } },
    });
    expect(fn.VpcConfig).toBeUndefined();
    const alarm = Object.values(s.template.Resources).find(
      (r) =>
        r.Type === 'AWS::CloudWatch::Alarm' && (JSON.stringify(r.Properties.Dimensions) ?? '').includes(s.logicalId(a.deadLetterQueue)),
    );
    expect(alarm?.Properties).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1 });
  });

  it('warns about an alarm whose events cannot reach this stack, and leaves it out of the rule', () => {
    const warnings = s.stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data)));
    expect(warnings.some((w) => w.includes(`alarm ${edgeArn} is in another region or account`))).toBe(true);
    expect(warnings.some((w) => w.includes('alarm web-edge-5xx is in another region or account'))).toBe(true);
    expect(JSON.stringify(s.template.Resources[s.logicalId(s.sluice.alarms!.rules.get('web')!)])).not.toContain('web-edge');
  });

  it('the alarm role: getLock/getTaskToken/requestAbort on the table, SendTaskFailure on this machine, its log group and DLQ', () => {
    const a = s.sluice.alarms!;
    const arn = (c: IConstruct) => ({ 'Fn::GetAtt': [s.logicalId(c), 'Arn'] });
    expect(s.statementsOf(a.role)).toEqual(
      expect.arrayContaining([
        { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [arn(a.function.logGroup)] },
        { actions: [...ALARM_STORE_ACTIONS].sort(), resources: [arn(s.sluice.table)] },
        { actions: ['states:SendTaskFailure'], resources: [{ Ref: s.logicalId(s.sluice.stateMachine) }] },
        { actions: ['sqs:SendMessage'], resources: [arn(a.deadLetterQueue)] },
        { actions: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], resources: ['*'] },
      ]),
    );
    expect(s.statementsOf(a.role)).toHaveLength(5);
    expect(ALARM_STORE_ACTIONS).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem']);
  });

  it('Prepare and Analyze (their own role, mapped to sluice:reader, plus sluice:orchestrator for route promotion) may read the named alarms and metric data; no other role may', () => {
    const o = s.sluice;
    expect(o.functions.prepare.role).toBe(o.analysisRole);
    expect(o.functions.analyze.role).toBe(o.analysisRole);
    const reads = s.statementsOf(o.analysisRole).filter((st) => st.actions.some((a) => a.startsWith('cloudwatch:')));
    expect(reads).toEqual([
      // Registry order (files sorted: api.yaml, web.yaml), each alarm once.
      {
        actions: ['cloudwatch:DescribeAlarms'],
        resources: [
          { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:cloudwatch:us-east-1:${ACCOUNT}:alarm:api-5xx`]] },
          namedArn,
          latencyArn,
          edgeArn,
          edgeNamedArn,
        ],
      },
      { actions: ['cloudwatch:GetMetricData'], resources: ['*'] },
    ]);
    // Everything else on the role is what the Kubernetes role has too.
    // Prepare turns the reconciler's schedule on while a rollout is open: that one rule, nothing else.
    const schedule = s.statementsOf(o.analysisRole).filter((st) => st.actions.includes('events:EnableRule'));
    expect(schedule).toHaveLength(1);
    expect(schedule[0]?.actions).toEqual(['events:EnableRule']);
    expect(JSON.stringify(schedule[0]?.resources)).toMatch(/:rule\/[^"]*reconciler"/);
    const rest = s
      .statementsOf(o.analysisRole)
      .filter(
        (st) =>
          !st.actions.some(
            (a) => a.startsWith('cloudwatch:') || a.startsWith('logs:') || a.startsWith('xray:') || a === 'events:EnableRule',
          ),
      );
    expect(rest).toEqual([
      { actions: [...STORE_ACTIONS, 'dynamodb:DeleteItem'].sort(), resources: [{ 'Fn::GetAtt': [s.logicalId(o.table), 'Arn'] }] },
      { actions: ['events:PutEvents'], resources: [{ 'Fn::GetAtt': [s.logicalId(o.eventBus), 'Arn'] }] },
      {
        actions: ['eks:DescribeCluster'],
        resources: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:eks:us-east-1:${ACCOUNT}:cluster/prod-eks`]] }],
      },
    ]);
    const elsewhere = Object.values(s.template.Resources).filter(
      (r) =>
        r.Type === 'AWS::IAM::Policy' &&
        JSON.stringify(r.Properties.Roles) !== JSON.stringify([{ Ref: s.logicalId(o.analysisRole) }]) &&
        JSON.stringify(r.Properties).includes('cloudwatch:'),
    );
    expect(elsewhere).toEqual([]);
    const entries = Object.values(s.template.Resources)
      .filter((r) => r.Type === 'AWS::EKS::AccessEntry')
      .map((r) => r.Properties);
    expect(entries).toContainEqual({
      ClusterName: 'prod-eks',
      PrincipalArn: { 'Fn::GetAtt': [s.logicalId(o.analysisRole), 'Arn'] },
      Type: 'STANDARD',
      KubernetesGroups: ['sluice:reader'],
    });
    // These targets name no workload (route promotion): the writers adopt the new canary with their first weight write,
    // so Prepare and Analyze stay in the read-only group and synth has nothing to warn about.
    const warnings = s.sluice.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data)));
    expect(warnings.filter((w) => /route promotion|sluice:orchestrator/.test(w))).toEqual([]);
  });
});

describe('notifications on a stack without the Slack bot', () => {
  it('warns that no function would send them (the Slack worker sends the thread and the webhooks)', () => {
    const spec = target('web', [{ name: 'request-success-rate', thresholdRange: { min: 99 } }]);
    const s = synth([
      { ...spec, spec: { ...spec.spec, notifications: { webhooks: [{ url: 'https://hooks.example.com/rollouts' }] } } } as typeof spec,
    ]);
    const warnings = s.sluice.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data)));
    expect(warnings.filter((w) => w.includes('spec.notifications'))).toEqual([
      expect.stringContaining(
        'target(s) web name spec.notifications, but without the Slack bot (-c slackTeamId -c slackApiAppId) no function sends them',
      ),
    ]);
  });
});

describe('composite alarms', () => {
  it('with compositeAlarms, DescribeAlarms is granted on "*" (CloudWatch shows composite alarms only then), acknowledged with its reason', () => {
    const s = synth([target('web', [ALARMS[0]])], { compositeAlarms: true });
    expect(s.violations).toEqual([]);
    expect(s.statementsOf(s.sluice.analysisRole).filter((st) => st.actions.some((a) => a.startsWith('cloudwatch:')))).toEqual([
      { actions: ['cloudwatch:DescribeAlarms'], resources: ['*'] },
    ]);
    // The Lambdas then ask for composite alarms too (lambdas/adapters/metrics/factory.ts reads this).
    const prepare = s.template.Resources[s.logicalId(s.sluice.functions.prepare)]!;
    expect((prepare.Properties.Environment as { Variables: Record<string, unknown> }).Variables.SLUICE_COMPOSITE_ALARMS).toBe('true');
  }, 300_000);
});

describe('no target uses CloudWatch', () => {
  it('no alarm Lambda, no alarm rules, and no CloudWatch permission anywhere', () => {
    const s = synth([target('plain', [{ name: 'request-success-rate', thresholdRange: { min: 99 } }])]);
    expect(s.violations).toEqual([]);
    expect(s.sluice.alarms).toBeUndefined();
    const policies = Object.values(s.template.Resources).filter((r) => r.Type === 'AWS::IAM::Policy');
    expect(JSON.stringify(policies)).not.toContain('cloudwatch:');
    expect(JSON.stringify(Object.values(s.template.Resources).filter((r) => r.Type === 'AWS::Events::Rule'))).not.toContain(
      'aws.cloudwatch',
    );
  }, 300_000);
});
