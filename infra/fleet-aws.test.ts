/**
 * A fleet on AWS, from one synthesis of the app (cdk-nag on, bundling off): examples/fleet.yaml
 * over three clusters in two regions, plus a cluster in another account. The fleet state machine
 * beside the rollout one with the IAM a nested `.sync` execution needs
 * (https://docs.aws.amazon.com/step-functions/latest/dg/stepfunctions-iam.html), one access stack
 * per other region, DescribeCluster per cluster ARN, alarms per cluster.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildApp, parseClusters } from './app.ts';
import { RegistryError, loadRegistry } from './registry.ts';
import { OUTPUTS } from './sluice-stack.ts';
import type { SluiceStack } from './sluice-stack.ts';
import type { SluiceAccessStack } from './access-stack.ts';

type Json = Record<string, unknown>;
interface Template {
  Resources: Record<string, { Type: string; Properties: Json }>;
  Outputs: Record<string, Json>;
}
interface Statement {
  Action: string | string[];
  Resource: unknown;
}

const ACCOUNT = '123456789012';
const FOREIGN = '210987654321';
const ASL_FILE = join(import.meta.dirname, '..', 'statemachine', 'fleet.asl.json');
const EXAMPLE = readFileSync(join(import.meta.dirname, '..', 'examples', 'fleet.yaml'), 'utf8');
const CLUSTERS = `prod-eu-1:eu-west-1,prod-eu-2:eu-west-1,prod-us-1:us-east-1,prod-ap-1:ap-southeast-2:${FOREIGN}`;

let outdir: string;
let registryDir: string;
let stack: SluiceStack;
let accessStacks: SluiceAccessStack[];
let template: Template;
let usTemplate: Template;

const logicalId = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
const ofType = (t: Template, type: string) => Object.values(t.Resources).filter((r) => r.Type === type);
/** Every statement of the policies attached to `role`, actions sorted. */
function statementsOf(role: IConstruct): Array<{ actions: string[]; resource: unknown }> {
  const ref = JSON.stringify([{ Ref: logicalId(role) }]);
  return ofType(template, 'AWS::IAM::Policy')
    .filter((p) => JSON.stringify(p.Properties.Roles) === ref)
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
    .map((s) => ({ actions: [s.Action].flat().sort(), resource: s.Resource }));
}

beforeAll(() => {
  // Prepare: the example as shipped, and a second fleet target naming a CloudWatch alarm by name.
  outdir = mkdtempSync(join(tmpdir(), 'sluice-fleet-cdk-'));
  registryDir = mkdtempSync(join(tmpdir(), 'sluice-fleet-rollouts-'));
  writeFileSync(join(registryDir, 'podinfo.yaml'), EXAMPLE);
  const checkout = parse(EXAMPLE) as { metadata: { name: string }; spec: { analysis: { metrics: unknown[] } } };
  checkout.metadata.name = 'checkout';
  checkout.spec.analysis.metrics.push({ name: 'alarms', provider: { type: 'cloudwatch-alarm' }, alarms: ['checkout-5xx'] });
  writeFileSync(join(registryDir, 'checkout.json'), JSON.stringify(checkout));
  // Act
  const built = buildApp({
    outdir,
    context: {
      'aws:cdk:bundling-stacks': [],
      region: 'eu-west-1',
      clusters: CLUSTERS,
      registryDir,
      gitops: 'true',
      slackTeamId: 'T0TEAM',
      slackApiAppId: 'A0APP',
    },
    env: { account: ACCOUNT },
  });
  stack = built.stack;
  accessStacks = built.accessStacks;
  const assembly = built.app.synth();
  template = assembly.getStackByName(stack.stackName).template as Template;
  usTemplate = assembly.getStackByName(accessStacks[0]!.stackName).template as Template;
}, 300_000);

afterAll(() => {
  for (const dir of [outdir, registryDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('fleet on AWS: cdk synth of a registry holding examples/fleet.yaml', () => {
  it('passes cdk-nag in every stack', () => {
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ violations: unknown[] }>;
    };
    expect(
      JSON.stringify(
        report.pluginReports.flatMap((r) => r.violations),
        null,
        1,
      ),
    ).toEqual('[]');
  });

  it('deploys the fleet state machine next to the rollout one, its nested executions on the rollout state machine', () => {
    const o = stack.orchestrator;
    const fleet = o.fleet!;
    expect(ofType(template, 'AWS::StepFunctions::StateMachine')).toHaveLength(2);
    const props = template.Resources[logicalId(fleet.stateMachine)]!.Properties;
    const key = (props.DefinitionS3Location as { Key: string }).Key;
    expect(readFileSync(join(outdir, `asset.${key}`), 'utf8')).toBe(readFileSync(ASL_FILE, 'utf8'));
    const substitutions = props.DefinitionSubstitutions as Record<string, unknown>;
    expect(substitutions).toEqual({
      RolloutStateMachineArn: { Ref: logicalId(o.stateMachine) },
      FleetPlanFunctionArn: { 'Fn::GetAtt': [logicalId(fleet.functions.plan), 'Arn'] },
      FleetMemberFunctionArn: { 'Fn::GetAtt': [logicalId(fleet.functions.member), 'Arn'] },
      FleetHaltFunctionArn: { 'Fn::GetAtt': [logicalId(fleet.functions.halt), 'Arn'] },
      FleetStepFunctionArn: { 'Fn::GetAtt': [logicalId(fleet.functions.step), 'Arn'] },
      FleetFinishFunctionArn: { 'Fn::GetAtt': [logicalId(fleet.functions.finish), 'Arn'] },
    });
    const unfilled = [...readFileSync(ASL_FILE, 'utf8').matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!).filter((n) => !(n in substitutions));
    expect(unfilled).toEqual([]);
    expect(template.Outputs[OUTPUTS.fleetStateMachineArn]!.Value).toEqual({ Ref: logicalId(fleet.stateMachine) });
    // Each state's Lambda is the one bundle with its own export.
    expect(Object.values(fleet.functions).map((fn) => template.Resources[logicalId(fn)]!.Properties.Handler)).toEqual([
      'index.plan',
      'index.member',
      'index.halt',
      'index.step',
      'index.finish',
    ]);
  });

  it("gives the fleet's role exactly what .sync nested executions need: start, describe/stop the rollout's executions, the managed rule", () => {
    const o = stack.orchestrator;
    const statements = statementsOf(o.fleet!.stateMachine.role);
    const rolloutName = { 'Fn::GetAtt': [logicalId(o.stateMachine), 'Name'] };
    expect(statements).toContainEqual({ actions: ['states:StartExecution'], resource: { Ref: logicalId(o.stateMachine) } });
    expect(statements).toContainEqual({
      actions: ['states:DescribeExecution', 'states:StopExecution'],
      resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:states:eu-west-1:${ACCOUNT}:execution:`, rolloutName, ':*']] },
    });
    expect(statements).toContainEqual({
      actions: ['events:DescribeRule', 'events:PutRule', 'events:PutTargets'],
      resource: {
        'Fn::Join': [
          '',
          ['arn:', { Ref: 'AWS::Partition' }, `:events:eu-west-1:${ACCOUNT}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule`],
        ],
      },
    });
    const invoked = statements.find((s) => s.actions.includes('lambda:InvokeFunction'))!.resource;
    expect(invoked).toHaveLength(5);
    // Nothing else of Step Functions or EventBridge.
    expect(statements.flatMap((s) => s.actions).filter((a) => a.startsWith('states:') || a.startsWith('events:'))).toHaveLength(6);
  });

  it('lets every start path start a fleet release: start Lambda, GitOps webhook and Slack bot, on the fleet machine only', () => {
    const o = stack.orchestrator;
    const fleet = o.fleet!.stateMachine;
    const fleetExecutions = {
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, `:states:eu-west-1:${ACCOUNT}:execution:`, { 'Fn::GetAtt': [logicalId(fleet), 'Name'] }, ':*'],
      ],
    };
    for (const fn of [o.triggers.startFunction, o.triggers.gitopsFunction!, o.slack!.function]) {
      const env = (template.Resources[logicalId(fn)]!.Properties.Environment as { Variables: Json }).Variables;
      expect(env.SLUICE_FLEET_STATE_MACHINE_ARN).toEqual({ Ref: logicalId(fleet) });
      const statements = statementsOf(fn.role!);
      expect(statements).toContainEqual({ actions: ['states:StartExecution'], resource: { Ref: logicalId(fleet) } });
      expect(statements).toContainEqual({ actions: ['states:DescribeExecution'], resource: fleetExecutions });
    }
  });

  it("sends the fleet executions' ends to the Slack worker (the release's thread says how it ended)", () => {
    const o = stack.orchestrator;
    const rule = template.Resources[logicalId(o.slack!.fleetEndRule!)]!.Properties;
    expect(rule.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['SUCCEEDED', 'FAILED', 'ABORTED', 'TIMED_OUT'], stateMachineArn: [{ Ref: logicalId(o.fleet!.stateMachine) }] },
    });
    expect(rule.EventBusName).toBeUndefined();
    expect((rule.Targets as Array<{ Arn: unknown }>).map((t) => t.Arn)).toEqual([{ 'Fn::GetAtt': [logicalId(o.slack!.worker), 'Arn'] }]);
  });

  it("turns the reconciler's schedule on from the fleet's Plan (it takes the target's lock), as Prepare does", () => {
    const o = stack.orchestrator;
    const plan = o.fleet!.functions.plan;
    const env = (template.Resources[logicalId(plan)]!.Properties.Environment as { Variables: Json }).Variables;
    const ruleName = String(template.Resources[logicalId(o.recovery.schedule)]!.Properties.Name);
    expect(ruleName).toMatch(/-reconciler$/);
    expect(env.SLUICE_RECONCILER_RULE).toBe(ruleName);
    expect(statementsOf(plan.role!)).toContainEqual({
      actions: ['events:EnableRule'],
      resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:events:eu-west-1:${ACCOUNT}:rule/${ruleName}`]] },
    });
  });

  it("creates the access entries in each cluster's region: eu-west-1 in the orchestrator's stack, us-east-1 in an access stack", () => {
    const o = stack.orchestrator;
    const entries = (t: Template) =>
      ofType(t, 'AWS::EKS::AccessEntry').map((r) => `${String(r.Properties.ClusterName)} ${JSON.stringify(r.Properties.KubernetesGroups)}`);
    expect(entries(template).sort()).toEqual([
      'prod-eu-1 ["sluice:orchestrator"]',
      'prod-eu-1 ["sluice:reader"]',
      'prod-eu-2 ["sluice:orchestrator"]',
      'prod-eu-2 ["sluice:reader"]',
    ]);
    expect(accessStacks.map((s) => [s.stackName, s.region, s.account])).toEqual([['Sluice-access-us-east-1', 'us-east-1', ACCOUNT]]);
    expect(entries(usTemplate).sort()).toEqual(['prod-us-1 ["sluice:orchestrator"]', 'prod-us-1 ["sluice:reader"]']);
    // The role crosses regions by its generated name, not by an export.
    const roleName = String(template.Resources[logicalId(o.kubernetesRole)]!.Properties.RoleName);
    expect(roleName).toMatch(/^sluice/);
    const principals = ofType(usTemplate, 'AWS::EKS::AccessEntry').map((r) => JSON.stringify(r.Properties.PrincipalArn));
    expect(principals.some((p) => p.includes(`:iam::${ACCOUNT}:role/${roleName}`))).toBe(true);
    expect(stack.dependencies).toEqual([]);
    expect(accessStacks[0]!.dependencies).toEqual([stack]);
  });

  it('grants eks:DescribeCluster on each cluster of this account by ARN, in its region, and nothing on the other account', () => {
    const o = stack.orchestrator;
    const describe = statementsOf(o.kubernetesRole)
      .filter((s) => s.actions.includes('eks:DescribeCluster'))
      .map((s) => JSON.stringify(s.resource));
    expect(describe.sort()).toEqual(
      [`eu-west-1:${ACCOUNT}:cluster/prod-eu-1`, `eu-west-1:${ACCOUNT}:cluster/prod-eu-2`, `us-east-1:${ACCOUNT}:cluster/prod-us-1`]
        .map((tail) => JSON.stringify({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:eks:${tail}`]] }))
        .sort(),
    );
    // The cluster in another account: what to run there (access entries for both roles, then the RBAC).
    const access = JSON.stringify(template.Outputs[OUTPUTS.clusterAccess]!.Value);
    expect(access).toContain(`In account ${FOREIGN} (ap-southeast-2), cluster prod-ap-1:`);
    expect(access).toContain('--kubernetes-groups sluice:orchestrator');
    expect(access).toContain('--kubernetes-groups sluice:reader');
    expect(access).toContain('kubectl apply -f infra/k8s/rbac.yaml');
  });

  it("covers every cluster of a fleet with its alarms: DescribeAlarms in each cluster's region, an interrupting rule per local cluster", () => {
    const o = stack.orchestrator;
    const alarms = statementsOf(o.analysisRole).find((s) => s.actions.includes('cloudwatch:DescribeAlarms'))!.resource as Json[];
    expect(JSON.stringify(alarms)).toContain(`:cloudwatch:eu-west-1:${ACCOUNT}:alarm:checkout-5xx`);
    expect(JSON.stringify(alarms)).toContain(`:cloudwatch:us-east-1:${ACCOUNT}:alarm:checkout-5xx`);
    expect([...o.alarms!.rules.keys()].sort()).toEqual(['checkout@eu-1', 'checkout@eu-2']);
  });
});

describe('fleet on AWS: what synth refuses', () => {
  it('refuses a fleet whose cluster the stacks do not wire, naming the cluster and the field', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'sluice-fleet-refuse-'));
    writeFileSync(join(dir, 'podinfo.yaml'), EXAMPLE);
    try {
      // Act
      let error: unknown;
      try {
        loadRegistry(dir, [
          { name: 'prod-eu-1', region: 'eu-west-1' },
          { name: 'prod-us-1', region: 'us-east-1' },
        ]);
      } catch (e) {
        error = e;
      }
      // Assess
      expect(error).toBeInstanceOf(RegistryError);
      expect((error as RegistryError).problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        expect.stringMatching(
          /^spec\.fleet\.clusters\[1\]: cluster eu-2 names EKS cluster prod-eu-2 \(eu-west-1\) but the stacks wire .*-c clusters=prod-eu-2:eu-west-1\)$/,
        ),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a malformed -c clusters entry, naming what was expected', () => {
    expect(parseClusters('a:eu-west-1, b:us-east-1:210987654321')).toEqual([
      { name: 'a', region: 'eu-west-1' },
      { name: 'b', region: 'us-east-1', account: '210987654321' },
    ]);
    expect(() => parseClusters('a:europe')).toThrow('-c clusters: "a:europe" is not NAME:REGION[:ACCOUNT]');
  });
});
