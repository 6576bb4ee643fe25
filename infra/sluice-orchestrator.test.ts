/**
 * The construct's other shapes: synthesized without a cluster (what `npx cdk synth` on a fresh
 * clone gives), and placed in a VPC. Each synthesized once, without bundling (the bundles are
 * covered by sluice-stack.test.ts); cdk-nag runs on both.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import type { CfnElement } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './app.ts';
import { HANDLERS, SluiceOrchestrator, VPC_ENI_ACTIONS } from './sluice-orchestrator.ts';
import { OPTIONAL_OUTPUTS, OUTPUTS } from './sluice-stack.ts';
import type { SluiceStack } from './sluice-stack.ts';

interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
}
type Template = { Resources: Record<string, Resource>; Outputs?: Record<string, { Value: unknown }> };

/** Skips esbuild: these tests look at the template, not the code. */
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cdk-'));
  dirs.push(dir);
  return dir;
};
const ofType = (template: Template, type: string) => Object.values(template.Resources).filter((r) => r.Type === type);
const noViolations = (outdir: string) =>
  (JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as { pluginReports: Array<{ violations: unknown[] }> }).pluginReports.flatMap((r) => r.violations);

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('without -c clusterName (a fresh clone, no credentials)', () => {
  let stack: SluiceStack;
  let template: Template;
  let outdir: string;

  beforeAll(() => {
    outdir = tempDir();
    const built = buildApp({ outdir, context: NO_BUNDLING });
    stack = built.stack;
    template = built.app.synth().getStackByName(stack.stackName).template as Template;
  }, 300_000);

  it('synthesizes, nag-clean, with no access entry and no EKS permission', () => {
    expect(noViolations(outdir)).toEqual([]);
    expect(ofType(template, 'AWS::EKS::AccessEntry')).toEqual([]);
    expect(JSON.stringify(ofType(template, 'AWS::IAM::Policy'))).not.toContain('eks:');
  });

  it('says so in a warning and in the ClusterWiring output', () => {
    const warnings = stack.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data)));
    expect(warnings.some((w) => w.includes('No EKS cluster given'))).toBe(true);
    expect(String(template.Outputs?.[OUTPUTS.clusterWiring]?.Value)).toMatch(/^none: synthesized without -c clusterName/);
  });

  it('has every output except those of features not configured (GitHub OIDC, Slack)', () => {
    expect(Object.keys(template.Outputs ?? {}).sort()).toEqual(Object.values(OUTPUTS).filter((key) => !OPTIONAL_OUTPUTS.has(key)).sort());
    expect([...OPTIONAL_OUTPUTS].sort()).toEqual([OUTPUTS.githubActionsRoleArn, OUTPUTS.slackFunctionUrl, OUTPUTS.slackSecretArn].sort());
  });
});

describe('the app\'s Slack context', () => {
  const SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice/slack-AbCdEf';

  it('-c slackTeamId/slackApiAppId/slackSecretArn: the bot reads the existing secret; none is created', () => {
    const outdir = tempDir();
    const built = buildApp({ outdir, context: { ...NO_BUNDLING, slackTeamId: 'T0123ABCD', slackApiAppId: 'A0456EFGH', slackSecretArn: SECRET }, env: { account: '123456789012', region: 'us-east-1' } });
    const template = built.app.synth().getStackByName(built.stack.stackName).template as Template;
    expect(noViolations(outdir)).toEqual([]);
    expect(ofType(template, 'AWS::SecretsManager::Secret').filter((r) => JSON.stringify(r.Properties).includes('signingSecret'))).toEqual([]);
    expect(template.Outputs?.[OUTPUTS.slackSecretArn]?.Value).toBe(SECRET);
    const fn = template.Resources[built.stack.getLogicalId(built.stack.orchestrator.slack!.function.node.defaultChild as CfnElement)]!;
    expect((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables.SLACK_SECRET_ARN).toBe(SECRET);
    expect(JSON.stringify(ofType(template, 'AWS::IAM::Policy'))).toContain(`{"Action":"secretsmanager:GetSecretValue","Effect":"Allow","Resource":"${SECRET}"}`);
  }, 300_000);

  it('refuses half a Slack configuration', () => {
    expect(() => buildApp({ outdir: tempDir(), context: { ...NO_BUNDLING, slackTeamId: 'T0123ABCD' } })).toThrow('-c slackTeamId / slackSecretArn were given without -c slackApiAppId');
    expect(() => buildApp({ outdir: tempDir(), context: { ...NO_BUNDLING, slackApiAppId: 'A0456EFGH' } })).toThrow('-c slackApiAppId was given without -c slackTeamId');
  });
});

describe('placed in a VPC', () => {
  let stack: Stack;
  let sluice: SluiceOrchestrator;
  let template: Template;
  let outdir: string;
  const logicalId = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);

  beforeAll(() => {
    outdir = tempDir();
    const app = new App({ outdir, context: NO_BUNDLING });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    stack = new Stack(app, 'SluiceInVpc', { env: { account: '123456789012', region: 'us-east-1' } });
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: 'vpc-0123456789abcdef0',
      availabilityZones: ['us-east-1a', 'us-east-1b'],
      privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
      privateSubnetRouteTableIds: ['rtb-0aaaaaaaaaaaaaaaa', 'rtb-0bbbbbbbbbbbbbbbb'],
    });
    sluice = new SluiceOrchestrator(stack, 'Sluice', { cluster: { name: 'private-eks' }, vpc: { vpc }, registryDir: tempDir() });
    template = app.synth().getStackByName(stack.stackName).template as Template;
  }, 300_000);

  it('is nag-clean', () => {
    expect(noViolations(outdir)).toEqual([]);
  });

  it('runs every rollout Lambda in the private subnets with the Lambdas\' security group; the trigger Lambdas (AWS APIs only) outside', () => {
    const functions = ofType(template, 'AWS::Lambda::Function');
    expect(functions).toHaveLength(Object.keys(HANDLERS).length + 2);
    const group = { 'Fn::GetAtt': [logicalId(sluice.securityGroups![0]!), 'GroupId'] };
    for (const fn of Object.values(sluice.functions)) {
      expect(template.Resources[logicalId(fn)]!.Properties.VpcConfig).toEqual({ SubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'], SecurityGroupIds: [group] });
    }
    for (const fn of [sluice.triggers.startFunction, sluice.triggers.gitopsFunction]) expect(template.Resources[logicalId(fn)]!.Properties.VpcConfig).toBeUndefined();
  });

  it('creates the endpoints the Lambdas need, reachable from the Lambdas\' security group only', () => {
    const endpoints = ofType(template, 'AWS::EC2::VPCEndpoint');
    const services = endpoints.map((e) => JSON.stringify(e.Properties.ServiceName)).sort();
    for (const service of ['sts', 'eks', 'states', 'events', 'logs', 'monitoring', 'dynamodb']) {
      expect(services.some((s) => s.includes(`.${service}"`)), service).toBe(true);
    }
    expect(endpoints).toHaveLength(7);
    const gateway = endpoints.filter((e) => e.Properties.VpcEndpointType === 'Gateway');
    expect(gateway).toHaveLength(1);
    expect(gateway[0]!.Properties.RouteTableIds).toEqual(['rtb-0aaaaaaaaaaaaaaaa', 'rtb-0bbbbbbbbbbbbbbbb']);
    const ingress = ofType(template, 'AWS::EC2::SecurityGroupIngress');
    expect(ingress).toHaveLength(6);
    for (const rule of ingress) {
      expect(rule.Properties).toMatchObject({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(sluice.securityGroups![0]!), 'GroupId'] } });
    }
    // open: false — no endpoint admits the whole VPC CIDR.
    for (const group of ofType(template, 'AWS::EC2::SecurityGroup')) expect(group.Properties.SecurityGroupIngress).toBeUndefined();
  });

  it('gives each Lambda role the ENI actions VPC placement needs, and nothing else on "*"', () => {
    const policies = ofType(template, 'AWS::IAM::Policy');
    const onStar = policies.flatMap((p) =>
      (p.Properties.PolicyDocument as { Statement: Array<{ Action: string | string[]; Resource: unknown }> }).Statement.filter((st) => [st.Resource].flat().includes('*')).map((st) => ({
        role: JSON.stringify(p.Properties.Roles),
        actions: [st.Action].flat().sort(),
      })),
    );
    const lambdaRoles = new Set(Object.values(sluice.functions).map((fn) => JSON.stringify([{ Ref: logicalId(fn.role!) }])));
    expect(lambdaRoles.size).toBe(5); // the Kubernetes role, the analysis role, and one each for Bake, Finish and ApprovalExpired (no Kubernetes access)
    for (const role of lambdaRoles) expect(onStar.filter((s) => s.role === role).map((s) => s.actions)).toEqual([[...VPC_ENI_ACTIONS].sort()]);
    for (const role of ofType(template, 'AWS::IAM::Role')) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('defaults the cluster region to the stack\'s and scopes DescribeCluster to it', () => {
    expect(JSON.stringify(ofType(template, 'AWS::IAM::Policy'))).toContain(':eks:us-east-1:123456789012:cluster/private-eks');
  });

  it('refuses a cluster in another region than the stack', () => {
    const app = new App({ outdir: tempDir(), context: NO_BUNDLING });
    const other = new Stack(app, 'Elsewhere', { env: { region: 'eu-west-1' } });
    expect(() => new SluiceOrchestrator(other, 'Sluice', { cluster: { name: 'prod-eks', region: 'us-east-1' } })).toThrow(
      'EKS cluster prod-eks is in us-east-1 but the stack deploys to eu-west-1',
    );
  });
});
