/**
 * The deployed shape of Sluice, from one real synthesis of the app (bundling included, cdk-nag
 * AwsSolutions on), shared by every test in this file.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CfnElement } from 'aws-cdk-lib';
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildApp } from './app.ts';
import { HANDLERS, KUBERNETES_GROUP, KUBERNETES_READ_GROUP, STORE_ACTIONS } from './sluice-orchestrator.ts';
import type { HandlerName } from './sluice-orchestrator.ts';
import { STACK_OUTPUTS } from '../local/control.ts';
import { OPTIONAL_OUTPUTS, OUTPUTS } from './sluice-stack.ts';
import type { SluiceStack } from './sluice-stack.ts';

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties: Json;
  Metadata?: Json;
}
interface Statement {
  Action: string | string[];
  Resource: unknown;
  Effect: string;
}

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const ASL_FILE = join(import.meta.dirname, '..', 'statemachine', 'rollout.asl.json');
const OIDC_ARN = `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`;
const AMP_URL = `https://aps-workspaces.${REGION}.amazonaws.com/workspaces/ws-0a1b2c3d-4e5f-6789-abcd-ef0123456789`;
const AMP_ARN = {
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:aps:${REGION}:${ACCOUNT}:workspace/ws-0a1b2c3d-4e5f-6789-abcd-ef0123456789`]],
};
/** What Tracing.ACTIVE adds to each Lambda role. */
const XRAY = { actions: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], resources: ['*'] };

let outdir: string;
let registryDir: string;
let stack: SluiceStack;
let template: { Resources: Record<string, Resource>; Outputs: Record<string, Json> };

const logicalId = (construct: IConstruct): string => stack.getLogicalId(construct.node.defaultChild as CfnElement);
const getAtt = (construct: IConstruct) => ({ 'Fn::GetAtt': [logicalId(construct), 'Arn'] });
const ofType = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
const fnOf = (name: HandlerName) => stack.orchestrator.functions[name];
const fnProps = (name: HandlerName) => template.Resources[logicalId(fnOf(name))]!.Properties;

/** Statements of every policy attached to the role, normalized (sorted actions, resource list) and sorted. */
function statementsOf(role: IConstruct): Array<{ actions: string[]; resources: unknown[] }> {
  const ref = { Ref: logicalId(role) };
  return ofType('AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([ref]))
    .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
    .map((s) => ({ actions: [s.Action].flat().sort(), resources: [s.Resource].flat() }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}
/** The reconciler's schedule rule, by its physical name (infra/recovery.ts). */
const reconcilerRuleArn = () => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      `:events:${REGION}:${ACCOUNT}:rule/${String(template.Resources[logicalId(stack.orchestrator.recovery.schedule)]!.Properties.Name)}`,
    ],
  ],
});
const sortStatements = (list: Array<{ actions: string[]; resources: unknown[] }>) =>
  list
    .map((s) => ({ actions: [...s.actions].sort(), resources: s.resources }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'sluice-cdk-'));
  // The example target, plus one that names a CloudWatch alarm (so the alarm Lambda is bundled too).
  registryDir = mkdtempSync(join(tmpdir(), 'sluice-rollouts-'));
  // The shipped example with its placeholder address filled in, as a user does before a deploy.
  const example = readFileSync(join(import.meta.dirname, '..', 'rollouts', 'podinfo.yaml'), 'utf8').replace(
    'https://prometheus.replace-me.invalid',
    'https://prometheus.example.com',
  );
  writeFileSync(join(registryDir, 'podinfo.yaml'), example);
  const checkout = parse(example) as { metadata: { name: string }; spec: { analysis: { metrics: unknown[] } } };
  checkout.metadata.name = 'checkout';
  checkout.spec.analysis.metrics.push({ name: 'alarms', provider: { type: 'cloudwatch-alarm' }, alarms: ['checkout-5xx'] });
  checkout.spec.analysis.metrics.push({
    name: 'amp-errors',
    provider: { type: 'amp', workspaceUrl: AMP_URL },
    query: 'sum(rate(errors_total[1m]))',
    thresholdRange: { max: 1 },
  });
  writeFileSync(join(registryDir, 'checkout.yaml'), JSON.stringify(checkout));
  const context = {
    clusterName: 'prod-eks',
    clusterRegion: REGION,
    registryDir,
    slackTeamId: 'T0123ABCD',
    slackApiAppId: 'A0456EFGH',
    githubOidcProviderArn: OIDC_ARN,
    githubSubjects: 'repo:acme/web:ref:refs/heads/main',
    gitops: 'true',
  };
  const built = buildApp({ outdir, context, env: { account: ACCOUNT } });
  stack = built.stack;
  // Throws when cdk-nag (a validation plugin of the app) reports anything not acknowledged.
  const assembly = built.app.synth();
  template = assembly.getStackByName(stack.stackName).template as typeof template;
}, 600_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
  if (registryDir) rmSync(registryDir, { recursive: true, force: true });
});

describe('cdk-nag AwsSolutions', () => {
  it('passes: the validation report has no plugin failures', () => {
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ conclusion: string; violations: unknown[] }>;
    };
    expect(report.pluginReports.flatMap((r) => r.violations)).toEqual([]);
  });

  it('every acknowledgement carries a written reason', () => {
    const acknowledged = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledged) expect(reason.length, id).toBeGreaterThan(60);
  });
});

describe('Lambdas', () => {
  const names = Object.keys(HANDLERS) as HandlerName[];

  it('one function per handler, every one nodejs24.x on arm64 with source maps enabled', () => {
    // + the start and GitOps Lambdas of the triggers (infra/triggers.test.ts), the alarm Lambda
    // (infra/alarms.test.ts), and the Slack bot and its worker (infra/slack.test.ts).
    expect(ofType('AWS::Lambda::Function')).toHaveLength(names.length + 5);
    for (const name of names) {
      const props = fnProps(name);
      expect(props.Runtime, name).toBe('nodejs24.x');
      expect(props.Architectures, name).toEqual(['arm64']);
      expect(props.Handler, name).toBe('index.handler');
      const env = (props.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env.NODE_OPTIONS, name).toBe('--enable-source-maps');
      expect(env.POWERTOOLS_SERVICE_NAME, name).toBe('sluice');
      expect(env.SLUICE_TABLE_NAME, name).toEqual({ Ref: logicalId(stack.orchestrator.table) });
      expect(env.SLUICE_EVENT_BUS_NAME, name).toEqual({ Ref: logicalId(stack.orchestrator.eventBus) });
    }
    const safetyEnv = (fnProps('safety-net').Environment as { Variables: Record<string, unknown> }).Variables;
    // No variable a handler does not read (the cluster comes from each spec; the safety net takes the machine from its event).
    expect(safetyEnv.SLUICE_STATE_MACHINE_ARN).toBeUndefined();
    for (const name of names)
      expect(
        Object.keys((fnProps(name).Environment as { Variables: Record<string, unknown> }).Variables).filter((k) =>
          k.startsWith('SLUICE_CLUSTER'),
        ),
        name,
      ).toEqual([]);
  });

  it('every Lambda traces with X-Ray', () => {
    for (const [id, fn] of ofType('AWS::Lambda::Function')) expect(fn.Properties.TracingConfig, id).toEqual({ Mode: 'Active' });
  });

  it('Prepare and Analyze ask DescribeAlarms for metric alarms only: compositeAlarms is not configured', () => {
    for (const name of ['prepare', 'analyze'] as const)
      expect((fnProps(name).Environment as { Variables: Record<string, unknown> }).Variables.SLUICE_COMPOSITE_ALARMS, name).toBe('false');
  });

  it("bundles are minified ESM with the createRequire banner, use the runtime's AWS SDK, and carry Kubernetes code only where the role can use it", () => {
    for (const name of names) {
      const assetDir = join(outdir, `asset.${(fnProps(name).Code as { S3Key: string }).S3Key.replace(/\.zip$/, '')}`);
      const code = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
      expect(code.startsWith("import { createRequire } from 'module'; const require = createRequire(import.meta.url);"), name).toBe(true);
      // Minified: long lines (template literals keep some newlines, so no line count).
      expect(code.length / code.split('\n').length, `${name} is minified`).toBeGreaterThan(2000);
      const map = JSON.parse(readFileSync(join(assetDir, 'index.mjs.map'), 'utf8')) as { sources: string[]; sourcesContent?: unknown };
      expect(map.sourcesContent, name).toBeUndefined();
      // The runtime's AWS SDK is used, not a bundled copy.
      expect(
        map.sources.some((source) => source.includes('node_modules/@aws-sdk/')),
        `${name}: AWS SDK bundled`,
      ).toBe(false);
      expect(code, name).toMatch(/from\s*"@aws-sdk\/client-dynamodb"/);
      const hasKubernetes = map.sources.some((source) => source.includes('node_modules/@kubernetes/client-node/'));
      expect(hasKubernetes, `${name}: Kubernetes client bundled`).toBe(HANDLERS[name].kubernetes);
      const role = fnOf(name).role!;
      const kubernetesRoles = [stack.orchestrator.kubernetesRole, stack.orchestrator.analysisRole];
      expect(kubernetesRoles.includes(role as never), `${name}: runs with a Kubernetes-mapped role`).toBe(HANDLERS[name].kubernetes);
      expect(role === stack.orchestrator.analysisRole, `${name}: runs with the analysis role`).toBe(HANDLERS[name].metrics);
    }
  });

  it("the Lambdas outside the rollout (start, GitOps webhook, alarm, Slack bot and worker) are lean: minified ESM, the runtime's AWS SDK, no Kubernetes client, no zod locales", () => {
    const o = stack.orchestrator;
    const t = o.triggers;
    for (const fn of [t.startFunction, t.gitopsFunction!, o.alarms!.function, o.slack!.function, o.slack!.worker]) {
      const assetDir = join(
        outdir,
        `asset.${(template.Resources[logicalId(fn)]!.Properties.Code as { S3Key: string }).S3Key.replace(/\.zip$/, '')}`,
      );
      const code = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
      const map = JSON.parse(readFileSync(join(assetDir, 'index.mjs.map'), 'utf8')) as { sources: string[] };
      expect(
        map.sources.some((source) => source.includes('node_modules/@kubernetes/')),
        fn.node.id,
      ).toBe(false);
      expect(
        map.sources.some((source) => source.includes('node_modules/@aws-sdk/')),
        fn.node.id,
      ).toBe(false);
      // en.js is zod's default; index.js shows up as a 17-byte stub when a module is imported lazily (the Slack deps).
      expect(
        map.sources.filter((source) => /zod\/v4\/locales\/(?!en\.js$|index\.js$)/.test(source)),
        fn.node.id,
      ).toEqual([]);
      expect(code.length, `${fn.node.id} bundle size`).toBeLessThan(600 * 1024);
    }
    // The budget for a Lambda without Kubernetes (300 KiB), for the two that are new with chat-ops and alarms,
    // plus 20 KiB since change windows use croner (30 KiB minified) instead of a hand-written cron engine,
    // plus 150 KiB since spec validation checks A/B match regexes with re2js (Envoy's RE2 semantics, about
    // 147 KiB minified), and 10 KiB for fleet specs (a fleet member's spec is resolved where it is parsed).
    for (const fn of [o.alarms!.function, o.slack!.function]) {
      const assetDir = join(
        outdir,
        `asset.${(template.Resources[logicalId(fn)]!.Properties.Code as { S3Key: string }).S3Key.replace(/\.zip$/, '')}`,
      );
      expect(readFileSync(join(assetDir, 'index.mjs')).length, `${fn.node.id} bundle size`).toBeLessThanOrEqual(500 * 1024);
    }
  });

  it('lambdas/handlers/ holds exactly the entry points of the deployed Lambdas: one per bundle, none left over', () => {
    // Read from each bundle's source map: the handler files esbuild put into it. Handlers never import each
    // other (a depcruise rule), so each bundle holds its own entry and nothing else from the folder.
    const bundled = ofType('AWS::Lambda::Function').map(([id, fn]) => {
      const assetDir = join(outdir, `asset.${(fn.Properties.Code as { S3Key: string }).S3Key.replace(/\.zip$/, '')}`);
      const map = JSON.parse(readFileSync(join(assetDir, 'index.mjs.map'), 'utf8')) as { sources: string[] };
      const files = map.sources.flatMap((source) => /(?:^|\/)lambdas\/handlers\/([^/]+\.ts)$/.exec(source)?.[1] ?? []);
      return { id, entries: files };
    });
    for (const { id, entries } of bundled) expect(entries, `${id}: handler files bundled`).toHaveLength(1);
    const deployed = [...new Set(bundled.flatMap(({ entries }) => entries))].sort();
    // fleet.ts is deployed only with a fleet target (infra/fleet-aws.test.ts): this registry has none.
    const inFolder = readdirSync(join(import.meta.dirname, '..', 'lambdas', 'handlers'))
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts') && file !== 'fleet.ts')
      .sort();
    expect(inFolder).toEqual(deployed);
  });

  it("each timeout stays below its state's TimeoutSeconds, so the Lambda's own error reaches the ASL's Retry/Catch", () => {
    const asl = JSON.parse(readFileSync(ASL_FILE, 'utf8')) as { States: Record<string, { TimeoutSeconds?: number }> };
    for (const name of names) {
      const state = HANDLERS[name].state;
      const limit = state ? asl.States[state]?.TimeoutSeconds : undefined;
      if (limit === undefined) continue;
      expect(fnProps(name).Timeout as number, name).toBeLessThan(limit);
    }
  });
});

describe('state machine', () => {
  it('is Standard, logs ERROR without execution data (no input, no task token) to its own log group, and traces with X-Ray', () => {
    const props = template.Resources[logicalId(stack.orchestrator.stateMachine)]!.Properties;
    expect(props.StateMachineType).toBe('STANDARD');
    expect(props.TracingConfiguration).toEqual({ Enabled: true });
    expect(props.LoggingConfiguration).toMatchObject({ Level: 'ERROR', IncludeExecutionData: false });
  });

  it('fills every ${…} of rollout.asl.json with the matching function ARN: none is left', () => {
    const props = template.Resources[logicalId(stack.orchestrator.stateMachine)]!.Properties;
    const key = (props.DefinitionS3Location as { Key: string }).Key;
    const definition = readFileSync(join(outdir, `asset.${key}`), 'utf8');
    expect(definition).toBe(readFileSync(ASL_FILE, 'utf8'));
    const substitutions = props.DefinitionSubstitutions as Record<string, unknown>;
    const expected = Object.fromEntries(
      (Object.keys(HANDLERS) as HandlerName[]).flatMap((name) => {
        const sub = HANDLERS[name].substitution;
        return sub ? [[sub, getAtt(fnOf(name))]] : [];
      }),
    );
    expect(substitutions).toEqual(expected);
    const filled = definition.replace(/\$\{(\w+)\}/g, (whole, name: string) => (name in substitutions ? 'arn:filled' : whole));
    expect(filled).not.toContain('${');
  });

  it('may invoke exactly the functions its states name; "*" only for the log-delivery and X-Ray actions that allow nothing narrower', () => {
    const invoked = (Object.keys(HANDLERS) as HandlerName[]).filter((n) => HANDLERS[n].state).map((n) => getAtt(fnOf(n)));
    expect(statementsOf(stack.orchestrator.stateMachine.role)).toEqual(
      sortStatements([
        { actions: ['lambda:InvokeFunction'], resources: invoked },
        {
          actions: [
            'logs:CreateLogDelivery',
            'logs:GetLogDelivery',
            'logs:UpdateLogDelivery',
            'logs:DeleteLogDelivery',
            'logs:ListLogDeliveries',
            'logs:PutResourcePolicy',
            'logs:DescribeResourcePolicies',
            'logs:DescribeLogGroups',
          ],
          resources: ['*'],
        },
        {
          actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'],
          resources: ['*'],
        },
      ]),
    );
  });
});

describe('IAM', () => {
  it('no statement anywhere has a wildcard action, and "*" resources appear only on the state machine role, for X-Ray and for the Slack bot\'s ListSchedules (no target reads CloudWatch metrics here)', () => {
    const slackRole = [{ Ref: logicalId(stack.orchestrator.slack!.role) }];
    for (const [id, policy] of ofType('AWS::IAM::Policy')) {
      for (const statement of (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement) {
        for (const action of [statement.Action].flat()) expect(action, id).not.toContain('*');
        if (![statement.Resource].flat().includes('*')) continue;
        if (JSON.stringify([statement.Action].flat().sort()) === JSON.stringify(XRAY.actions)) continue;
        if (JSON.stringify(policy.Properties.Roles) === JSON.stringify(slackRole))
          expect(statement.Action, id).toBe('scheduler:ListSchedules');
        else expect(policy.Properties.Roles, id).toEqual([{ Ref: logicalId(stack.orchestrator.stateMachine.role) }]);
      }
    }
    expect(ofType('AWS::IAM::ManagedPolicy')).toEqual([]);
    for (const [id, role] of ofType('AWS::IAM::Role')) expect(role.Properties.ManagedPolicyArns, id).toBeUndefined();
  });

  it('the Kubernetes role: its log groups, the store, the bus, the DLQ and DescribeCluster on the wired cluster only', () => {
    const o = stack.orchestrator;
    const logGroups = (Object.keys(HANDLERS) as HandlerName[])
      .filter((n) => HANDLERS[n].kubernetes && !HANDLERS[n].metrics)
      .map((n) => getAtt(fnOf(n).logGroup));
    expect(statementsOf(o.kubernetesRole)).toEqual(
      sortStatements([
        ...logGroups.map((group) => ({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [group] })),
        { actions: [...STORE_ACTIONS, 'dynamodb:DeleteItem'], resources: [getAtt(o.table)] },
        { actions: ['events:PutEvents'], resources: [getAtt(o.eventBus)] },
        { actions: ['sqs:SendMessage'], resources: [getAtt(o.safetyNetDeadLetterQueue)] },
        XRAY,
        {
          actions: ['eks:DescribeCluster'],
          resources: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:eks:${REGION}:${ACCOUNT}:cluster/prod-eks`]] }],
        },
        // The reconciler: its schedule's rule, DescribeExecution on this machine's executions, and
        // Query for open rollouts and held locks (on those two partitions only: asserted below).
        { actions: ['events:DisableRule', 'events:EnableRule'], resources: [reconcilerRuleArn()] },
        { actions: ['dynamodb:Query'], resources: [getAtt(o.table)] },
        {
          actions: ['states:DescribeExecution'],
          resources: [
            {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  `:states:${REGION}:${ACCOUNT}:execution:`,
                  { 'Fn::GetAtt': [logicalId(o.stateMachine), 'Name'] },
                  ':*',
                ],
              ],
            },
          ],
        },
      ]),
    );
  });

  it("the reconciler's Query reaches only the OPEN and LOCKS partitions (open rollouts, held locks), never the history", () => {
    const queries = ofType('AWS::IAM::Policy')
      .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement)
      .filter((statement) => [statement['Action']].flat().includes('dynamodb:Query'));
    const reconcilerQueries = queries.filter((statement) => JSON.stringify(statement).includes('LeadingKeys'));

    expect(reconcilerQueries).toEqual([
      {
        Action: 'dynamodb:Query',
        Effect: 'Allow',
        Resource: getAtt(stack.orchestrator.table),
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['OPEN', 'LOCKS'] } },
      },
    ]);
  });

  it('the analysis role (Prepare, Analyze): the same plus DescribeAlarms on the one alarm a target names and QueryMetrics on the one AMP workspace; no GetMetricData, as no target reads CloudWatch metrics', () => {
    const o = stack.orchestrator;
    expect(statementsOf(o.analysisRole)).toEqual(
      sortStatements([
        { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [getAtt(fnOf('prepare').logGroup)] },
        { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [getAtt(fnOf('analyze').logGroup)] },
        { actions: [...STORE_ACTIONS, 'dynamodb:DeleteItem'], resources: [getAtt(o.table)] },
        { actions: ['events:PutEvents'], resources: [getAtt(o.eventBus)] },
        { actions: ['aps:QueryMetrics'], resources: [AMP_ARN] },
        XRAY,
        {
          actions: ['cloudwatch:DescribeAlarms'],
          resources: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:cloudwatch:${REGION}:${ACCOUNT}:alarm:checkout-5xx`]] }],
        },
        { actions: ['events:EnableRule'], resources: [reconcilerRuleArn()] },
        {
          actions: ['eks:DescribeCluster'],
          resources: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:eks:${REGION}:${ACCOUNT}:cluster/prod-eks`]] }],
        },
      ]),
    );
  });

  it.each([
    ['bake', []],
    ['finish', ['dynamodb:DeleteItem']],
    ['webhook-gate', ['dynamodb:DeleteItem']],
  ] as const)(
    '%s has a role of its own: its log group, the store (DeleteItem only where it releases the lock) and the bus; no EKS, no Query',
    (name, extra) => {
      const o = stack.orchestrator;
      expect(statementsOf(fnOf(name).role!)).toEqual(
        sortStatements([
          { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [getAtt(fnOf(name).logGroup)] },
          { actions: [...STORE_ACTIONS, ...extra], resources: [getAtt(o.table)] },
          { actions: ['events:PutEvents'], resources: [getAtt(o.eventBus)] },
          XRAY,
        ]),
      );
      expect(STORE_ACTIONS).not.toContain('dynamodb:Query');
    },
  );
});

describe('EKS wiring', () => {
  it("two STANDARD access entries: the writers' role to sluice:orchestrator, the analysis role (Prepare, Analyze) to the read-only sluice:reader", () => {
    const entries = ofType('AWS::EKS::AccessEntry').map(([, e]) => e.Properties);
    expect(entries).toEqual([
      {
        ClusterName: 'prod-eks',
        PrincipalArn: getAtt(stack.orchestrator.kubernetesRole),
        Type: 'STANDARD',
        KubernetesGroups: [KUBERNETES_GROUP],
      },
      {
        ClusterName: 'prod-eks',
        PrincipalArn: getAtt(stack.orchestrator.analysisRole),
        Type: 'STANDARD',
        KubernetesGroups: [KUBERNETES_READ_GROUP],
      },
    ]);
    expect(KUBERNETES_GROUP).toBe('sluice:orchestrator');
    expect(KUBERNETES_READ_GROUP).toBe('sluice:reader');
  });
});

describe('safety net', () => {
  it("a rule on this machine's ABORTED / FAILED / TIMED_OUT status changes", () => {
    // The safety net's rule (the recovery alarms' RollbackFailed rule also listens to aws.states, for FAILED with that error only).
    const rules = ofType('AWS::Events::Rule').filter(
      ([, r]) =>
        JSON.stringify(r.Properties.EventPattern ?? {}).includes('aws.states') &&
        !JSON.stringify(r.Properties.EventPattern).includes('Sluice.RollbackFailed'),
    );
    expect(rules).toHaveLength(1);
    const props = rules[0]![1].Properties;
    expect(props.EventBusName).toBeUndefined(); // AWS service events arrive on the default bus
    expect(props.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['ABORTED', 'FAILED', 'TIMED_OUT'], stateMachineArn: [{ Ref: logicalId(stack.orchestrator.stateMachine) }] },
    });
  });

  it('targets the safety-net Lambda with retries and a dead-letter queue, and the Lambda retries on its own too', () => {
    const [target] = (template.Resources[logicalId(stack.orchestrator.safetyNetRule)]!.Properties.Targets as Json[]) ?? [];
    expect(target).toMatchObject({
      Arn: getAtt(fnOf('safety-net')),
      RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 6 * 3600 },
      DeadLetterConfig: { Arn: getAtt(stack.orchestrator.safetyNetDeadLetterQueue) },
    });
    expect(fnProps('safety-net').DeadLetterConfig).toEqual({ TargetArn: getAtt(stack.orchestrator.safetyNetDeadLetterQueue) });
    const [, invokeConfig] = ofType('AWS::Lambda::EventInvokeConfig')[0]!;
    expect(invokeConfig.Properties.MaximumRetryAttempts).toBe(2);
  });

  it('the dead-letter queue is encrypted and refuses plain HTTP', () => {
    const queue = template.Resources[logicalId(stack.orchestrator.safetyNetDeadLetterQueue)]!.Properties;
    expect(queue.SqsManagedSseEnabled).toBe(true);
    const [, policy] = ofType('AWS::SQS::QueuePolicy')[0]!;
    expect(JSON.stringify(policy.Properties)).toContain('"aws:SecureTransport":"false"');
  });
});

describe('store, bus, registry, outputs', () => {
  it('one on-demand table keyed pk/sk with TTL on ttl and point-in-time recovery, retained on delete', () => {
    const [[, table]] = ofType('AWS::DynamoDB::Table') as [[string, Resource & { DeletionPolicy?: string }]];
    expect(table.Properties).toMatchObject({
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    expect(table.DeletionPolicy).toBe('Retain');
  });

  it('a bus of its own for Sluice events', () => {
    expect(ofType('AWS::Events::EventBus')).toHaveLength(1);
  });

  it('each rollouts/*.yaml target is an SSM parameter holding the resolved spec', () => {
    const parameters = ofType('AWS::SSM::Parameter').map(([, p]) => p.Properties);
    const podinfo = parameters.find((p) => p.Name === `/sluice/${stack.stackName}/targets/podinfo`);
    expect(podinfo).toBeDefined();
    const spec = JSON.parse(String(podinfo!.Value)) as {
      metadata: { name: string };
      spec: { strategy: { lookInterval: string }; workload: { scaleCanaryToZero: boolean } };
    };
    expect(spec.metadata.name).toBe('podinfo');
    // Resolved: defaults the YAML leaves out are filled in, so the execution input is the whole record.
    expect(spec.spec.strategy.lookInterval).toBe('10s');
    expect(spec.spec.workload.scaleCanaryToZero).toBe(true);
  });

  it('outputs what the CLI and the README name (all but the fleet ones: OIDC, GitOps and Slack are configured here)', () => {
    const fleetOnly: string[] = [OUTPUTS.fleetStateMachineArn, OUTPUTS.clusterAccess];
    expect(Object.keys(template.Outputs).sort()).toEqual(
      Object.values(OUTPUTS)
        .filter((key) => !fleetOnly.includes(key))
        .sort(),
    );
    const o = stack.orchestrator;
    expect(template.Outputs[OUTPUTS.gitopsWebhookUrl]!.Value).toEqual({
      'Fn::GetAtt': [stack.getLogicalId(o.triggers.gitopsUrl!.node.defaultChild as CfnElement), 'FunctionUrl'],
    });
    expect(template.Outputs[OUTPUTS.slackFunctionUrl]!.Value).toEqual({
      'Fn::GetAtt': [stack.getLogicalId(o.slack!.url.node.defaultChild as CfnElement), 'FunctionUrl'],
    });
    expect(template.Outputs[OUTPUTS.githubActionsRoleArn]!.Value).toEqual(getAtt(o.triggers.githubRole!));
    expect(template.Outputs[OUTPUTS.slackSecretArn]!.Value).toEqual({ Ref: logicalId(o.slack!.secret) });
    // sluice doctor --stack's notification probes run in the function that sends notifications.
    expect(template.Outputs[OUTPUTS.doctorNotifyFunctionArn]!.Value).toEqual(getAtt(o.slack!.worker));
    // Every output the CLI reads exists on every stack (none depends on an optional feature).
    for (const key of Object.values(STACK_OUTPUTS)) {
      expect(template.Outputs[key], key).toBeDefined();
      expect(OPTIONAL_OUTPUTS.has(key), key).toBe(false);
    }
    // What `sluice start --at` / `sluice schedule` read (local/control.ts STACK_OUTPUTS): the start Lambda unqualified.
    expect(template.Outputs[OUTPUTS.scheduleGroupName]!.Value).toEqual({ Ref: stack.getLogicalId(o.triggers.scheduleGroup) });
    expect(template.Outputs[OUTPUTS.startFunctionArn]!.Value).toEqual(getAtt(o.triggers.startFunction));
    expect(template.Outputs[OUTPUTS.schedulerRoleArn]!.Value).toEqual(getAtt(o.triggers.schedulerRole));
    expect(template.Outputs[OUTPUTS.schedulerDeadLetterArn]!.Value).toEqual(getAtt(o.triggers.schedulerDeadLetterQueue));
    expect(template.Outputs[OUTPUTS.clusterWiring]!.Value).toBe(`access entry for prod-eks (${REGION}) -> sluice:orchestrator`);
    expect(existsSync(join(outdir, 'manifest.json'))).toBe(true);
  });
});
