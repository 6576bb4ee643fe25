/**
 * The construct's other shapes: synthesized without a cluster (what `npx cdk synth` on a fresh
 * clone gives), and placed in a VPC. Each synthesized once, without bundling (the bundles are
 * covered by sluice-stack.test.ts); cdk-nag runs on both.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  (
    JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as { pluginReports: Array<{ violations: unknown[] }> }
  ).pluginReports.flatMap((r) => r.violations);

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('with -c allowNoCluster=true and no -c clusterName (a review synth on a fresh clone, no credentials)', () => {
  let stack: SluiceStack;
  let template: Template;
  let outdir: string;

  beforeAll(() => {
    outdir = tempDir();
    const built = buildApp({ outdir, context: { ...NO_BUNDLING, allowNoCluster: 'true' } });
    stack = built.stack;
    template = built.app.synth().getStackByName(stack.stackName).template as Template;
  }, 300_000);

  it('synthesizes, nag-clean, with no access entry and no EKS permission', () => {
    expect(noViolations(outdir)).toEqual([]);
    expect(ofType(template, 'AWS::EKS::AccessEntry')).toEqual([]);
    expect(JSON.stringify(ofType(template, 'AWS::IAM::Policy'))).not.toContain('eks:');
  });

  it('says so in a warning and in the ClusterWiring output', () => {
    const warnings = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data)));
    expect(warnings.some((w) => w.includes('No EKS cluster given'))).toBe(true);
    expect(String(template.Outputs?.[OUTPUTS.clusterWiring]?.Value)).toMatch(/^none: synthesized without -c clusterName/);
  });

  it('has every output except those of features not configured (GitHub OIDC, GitOps, Slack, a fleet, a cluster in another account)', () => {
    expect(Object.keys(template.Outputs ?? {}).sort()).toEqual(
      Object.values(OUTPUTS)
        .filter((key) => !OPTIONAL_OUTPUTS.has(key))
        .sort(),
    );
    expect([...OPTIONAL_OUTPUTS].sort()).toEqual(
      [
        OUTPUTS.githubActionsRoleArn,
        OUTPUTS.slackFunctionUrl,
        OUTPUTS.slackSecretArn,
        OUTPUTS.gitopsWebhookUrl,
        OUTPUTS.doctorNotifyFunctionArn,
        OUTPUTS.fleetStateMachineArn,
        OUTPUTS.clusterAccess,
      ].sort(),
    );
  });

  it('creates no public endpoint: no Function URL (GitOps and Slack are opt-in), no GitOps Lambda or secret', () => {
    expect(ofType(template, 'AWS::Lambda::Url')).toEqual([]);
    expect(stack.orchestrator.triggers.gitopsFunction).toBeUndefined();
    expect(ofType(template, 'AWS::SecretsManager::Secret')).toEqual([]);
    expect(JSON.stringify(ofType(template, 'AWS::Lambda::Permission'))).not.toContain('lambda:InvokeFunctionUrl');
  });

  it('only warns about the shipped placeholder address: nothing can run on a stack without a cluster', () => {
    const warnings = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data)));
    expect(
      warnings.some((w) => w.includes('podinfo.yaml: spec.analysis.prometheus.address: is the placeholder shipped with the example')),
    ).toBe(true);
  });
});

describe("the app's Slack context", () => {
  const SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice/slack-AbCdEf';

  it('-c slackTeamId/slackApiAppId/slackSecretArn: the bot reads the existing secret; none is created', () => {
    const outdir = tempDir();
    const built = buildApp({
      outdir,
      context: { ...NO_BUNDLING, allowNoCluster: 'true', slackTeamId: 'T0123ABCD', slackApiAppId: 'A0456EFGH', slackSecretArn: SECRET },
      env: { account: '123456789012', region: 'us-east-1' },
    });
    const template = built.app.synth().getStackByName(built.stack.stackName).template as Template;
    expect(noViolations(outdir)).toEqual([]);
    expect(ofType(template, 'AWS::SecretsManager::Secret').filter((r) => JSON.stringify(r.Properties).includes('signingSecret'))).toEqual(
      [],
    );
    expect(template.Outputs?.[OUTPUTS.slackSecretArn]?.Value).toBe(SECRET);
    // sluice doctor --stack probes the notifications in the function that sends them: the Slack worker.
    expect(template.Outputs?.[OUTPUTS.doctorNotifyFunctionArn]?.Value).toEqual({
      'Fn::GetAtt': [built.stack.getLogicalId(built.stack.orchestrator.slack!.worker.node.defaultChild as CfnElement), 'Arn'],
    });
    const fn = template.Resources[built.stack.getLogicalId(built.stack.orchestrator.slack!.function.node.defaultChild as CfnElement)]!;
    expect((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables.SLACK_SECRET_ARN).toBe(SECRET);
    expect(JSON.stringify(ofType(template, 'AWS::IAM::Policy'))).toContain(
      `{"Action":"secretsmanager:GetSecretValue","Effect":"Allow","Resource":"${SECRET}"}`,
    );
  }, 300_000);

  it('refuses half a Slack configuration', () => {
    expect(() => buildApp({ outdir: tempDir(), context: { ...NO_BUNDLING, allowNoCluster: 'true', slackTeamId: 'T0123ABCD' } })).toThrow(
      '-c slackTeamId / slackSecretArn were given without -c slackApiAppId',
    );
    expect(() => buildApp({ outdir: tempDir(), context: { ...NO_BUNDLING, allowNoCluster: 'true', slackApiAppId: 'A0456EFGH' } })).toThrow(
      '-c slackApiAppId was given without -c slackTeamId',
    );
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

  it("runs every rollout Lambda in the private subnets with the Lambdas' security group; the trigger Lambdas (AWS APIs only) outside", () => {
    const functions = ofType(template, 'AWS::Lambda::Function');
    expect(functions).toHaveLength(Object.keys(HANDLERS).length + 1);
    const group = { 'Fn::GetAtt': [logicalId(sluice.securityGroups![0]!), 'GroupId'] };
    for (const fn of Object.values(sluice.functions)) {
      expect(template.Resources[logicalId(fn)]!.Properties.VpcConfig).toEqual({
        SubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
        SecurityGroupIds: [group],
      });
    }
    for (const fn of [sluice.triggers.startFunction]) expect(template.Resources[logicalId(fn)]!.Properties.VpcConfig).toBeUndefined();
  });

  it("creates only the endpoints the Lambdas need by default (EKS, EventBridge, DynamoDB), reachable from the Lambdas' security group only", () => {
    const endpoints = ofType(template, 'AWS::EC2::VPCEndpoint');
    expect(endpointServices(template)).toEqual(['dynamodb', 'eks', 'events']);
    const gateway = endpoints.filter((e) => e.Properties.VpcEndpointType === 'Gateway');
    expect(gateway).toHaveLength(1);
    expect(gateway[0]!.Properties.RouteTableIds).toEqual(['rtb-0aaaaaaaaaaaaaaaa', 'rtb-0bbbbbbbbbbbbbbbb']);
    const ingress = ofType(template, 'AWS::EC2::SecurityGroupIngress');
    expect(ingress).toHaveLength(2);
    for (const rule of ingress) {
      expect(rule.Properties).toMatchObject({
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(sluice.securityGroups![0]!), 'GroupId'] },
      });
    }
    // open: false — no endpoint admits the whole VPC CIDR.
    for (const group of ofType(template, 'AWS::EC2::SecurityGroup')) expect(group.Properties.SecurityGroupIngress).toBeUndefined();
  });

  it('gives each Lambda role the ENI actions VPC placement needs, and nothing else on "*"', () => {
    const policies = ofType(template, 'AWS::IAM::Policy');
    const onStar = policies.flatMap((p) =>
      (p.Properties.PolicyDocument as { Statement: Array<{ Action: string | string[]; Resource: unknown }> }).Statement.filter((st) =>
        [st.Resource].flat().includes('*'),
      ).map((st) => ({
        role: JSON.stringify(p.Properties.Roles),
        actions: [st.Action].flat().sort(),
      })),
    );
    const lambdaRoles = new Set(Object.values(sluice.functions).map((fn) => JSON.stringify([{ Ref: logicalId(fn.role!) }])));
    expect(lambdaRoles.size).toBe(6); // the Kubernetes role, the analysis role, and one each for Bake, Finish, ApprovalExpired and the webhook gate (no Kubernetes access)
    const xray = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
    for (const role of lambdaRoles)
      expect(
        onStar
          .filter((s) => s.role === role)
          .map((s) => s.actions)
          .sort(),
      ).toEqual([[...VPC_ENI_ACTIONS].sort(), xray].sort());
    for (const role of ofType(template, 'AWS::IAM::Role')) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it("defaults the cluster region to the stack's and scopes DescribeCluster to it", () => {
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

/** The AWS service of each VPC endpoint in a template (`com.amazonaws.REGION.<service>`), sorted. */
function endpointServices(template: Template): string[] {
  return ofType(template, 'AWS::EC2::VPCEndpoint')
    .map((e) => {
      const name = JSON.stringify(e.Properties.ServiceName);
      return /\.([a-z-]+)"\]*\]*\}*$/.exec(name)?.[1] ?? /com\.amazonaws\.[a-z0-9-]+\.([a-z-]+)/.exec(name)?.[1] ?? name;
    })
    .sort();
}

describe('VPC placement from -c context (IDs only: Vpc.fromVpcAttributes, no lookup, synth offline)', () => {
  const VPC = {
    vpcId: 'vpc-0123456789abcdef0',
    subnetIds: 'subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb',
    subnetRouteTableIds: 'rtb-0aaaaaaaaaaaaaaaa,rtb-0bbbbbbbbbbbbbbbb',
    availabilityZones: 'us-east-1a,us-east-1b',
  };
  const CLUSTER = { clusterName: 'prod-eks', clusterRegion: 'us-east-1' };
  const registry = (metrics?: unknown[]) => {
    const dir = tempDir();
    const spec = {
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
        analysis: { judge: 'threshold', prometheus: { address: 'https://prometheus.example.com' }, ...(metrics ? { metrics } : {}) },
      },
    };
    writeFileSync(join(dir, 'web.yaml'), JSON.stringify(spec));
    return dir;
  };
  const synth = (context: Record<string, string>, registryDir = registry()) => {
    const outdir = tempDir();
    const built = buildApp({ outdir, context: { ...NO_BUNDLING, ...CLUSTER, registryDir, ...context }, env: { account: '123456789012' } });
    const template = built.app.synth().getStackByName(built.stack.stackName).template as Template;
    return { built, template, outdir, logicalId: (c: IConstruct) => built.stack.getLogicalId(c.node.defaultChild as CfnElement) };
  };
  const AMP = 'https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0a1b2c3d-4e5f-6789-abcd-ef0123456789';

  it('builds the VPC from the IDs: the rollout Lambdas in the named subnets, the default endpoints, nag-clean', () => {
    const { built, template, outdir, logicalId } = synth(VPC);
    expect(noViolations(outdir)).toEqual([]);
    expect(endpointServices(template)).toEqual(['dynamodb', 'eks', 'events']);
    const prepare = template.Resources[logicalId(built.stack.orchestrator.functions.prepare)]!;
    expect((prepare.Properties.VpcConfig as { SubnetIds: unknown }).SubnetIds).toEqual([
      'subnet-0aaaaaaaaaaaaaaaa',
      'subnet-0bbbbbbbbbbbbbbbb',
    ]);
  }, 300_000);

  it('-c vpcEndpoints=none creates none, and warns that the subnets must reach those services another way', () => {
    const { built, template } = synth({ ...VPC, vpcEndpoints: 'none' });
    expect(ofType(template, 'AWS::EC2::VPCEndpoint')).toEqual([]);
    const warnings = built.stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data)));
    expect(warnings.some((w) => w.includes('VPC placement without endpoints for eks, events, dynamodb'))).toBe(true);
  }, 300_000);

  it('-c vpcEndpoints=eks,dynamodb creates exactly those (the VPC already has its own events endpoint)', () => {
    const { template } = synth({ ...VPC, vpcEndpoints: 'eks,dynamodb,eks' });
    expect(endpointServices(template)).toEqual(['dynamodb', 'eks']);
  }, 300_000);

  it('-c vpcEndpoints naming every service creates each once; never sts, logs or states', () => {
    const { template, outdir } = synth({ ...VPC, vpcEndpoints: 'eks,events,dynamodb,monitoring,aps-workspaces,secretsmanager' });
    expect(noViolations(outdir)).toEqual([]);
    expect(endpointServices(template)).toEqual(['aps-workspaces', 'dynamodb', 'eks', 'events', 'monitoring', 'secretsmanager']);
  }, 300_000);

  it('an AMP target adds aps-workspaces (and its aps:QueryMetrics grant on that workspace); a CloudWatch alarm target adds monitoring', () => {
    const dir = registry([
      { name: 'errors', provider: { type: 'amp', workspaceUrl: AMP }, query: 'sum(rate(errors_total[1m]))', thresholdRange: { max: 1 } },
      { name: 'alarms', provider: { type: 'cloudwatch-alarm' }, alarms: ['web-5xx'] },
    ]);
    const { template } = synth(VPC, dir);
    expect(endpointServices(template)).toEqual(['aps-workspaces', 'dynamodb', 'eks', 'events', 'monitoring']);
    expect(JSON.stringify(ofType(template, 'AWS::IAM::Policy'))).toContain(
      '{"Action":"aps:QueryMetrics","Effect":"Allow","Resource":{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":aps:us-east-1:123456789012:workspace/ws-0a1b2c3d-4e5f-6789-abcd-ef0123456789"]]}}',
    );
  }, 300_000);

  it("-c clusterSecurityGroupId opens the cluster security group on 443 to the Lambdas' security group, and nothing else", () => {
    const { built, template, logicalId } = synth({ ...VPC, vpcEndpoints: 'none', clusterSecurityGroupId: 'sg-0cccccccccccccccc' });
    const ingress = ofType(template, 'AWS::EC2::SecurityGroupIngress').map((r) => r.Properties);
    expect(ingress).toEqual([
      {
        GroupId: 'sg-0cccccccccccccccc',
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(built.stack.orchestrator.securityGroups![0]!), 'GroupId'] },
        Description: 'Sluice Lambdas to the EKS API endpoint',
      },
    ]);
  }, 300_000);

  it('refuses IDs that are not IDs, mismatched lists and unknown services, naming the -c key', () => {
    const build = (context: Record<string, string>) => () =>
      buildApp({ outdir: tempDir(), context: { ...NO_BUNDLING, ...CLUSTER, registryDir: registry(), ...context } });
    expect(build({ ...VPC, vpcId: 'my-vpc' })).toThrow('-c vpcId: "my-vpc" is not a VPC ID (vpc-…)');
    expect(build({ ...VPC, subnetRouteTableIds: 'rtb-0aaaaaaaaaaaaaaaa' })).toThrow(
      '-c subnetRouteTableIds names 1 route tables for 2 subnets',
    );
    expect(build({ ...VPC, vpcEndpoints: 'eks,sts,logs' })).toThrow('-c vpcEndpoints: unknown "sts", "logs"');
    expect(build({ ...VPC, clusterSecurityGroupId: 'default' })).toThrow('-c clusterSecurityGroupId: "default" is not a security group ID');
    expect(build({ subnetIds: VPC.subnetIds })).toThrow('-c subnetIds given without -c vpcId');
    const { subnetRouteTableIds: _omitted, ...withoutRouteTables } = VPC;
    expect(build(withoutRouteTables)).toThrow('VPC placement needs -c subnetRouteTableIds=');
  });
});

describe('secrets by reference', () => {
  const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice/web-AbCdEf';
  const HOOK_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice/hooks-GhIjKl';
  const CHAT_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice/chat-MnOpQr';
  const KEY = 'arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-1111-2222-333344445555';
  let template: Template;
  let stack: SluiceStack;
  let outdir: string;
  const statementsOf = (role: IConstruct) => {
    const ref = JSON.stringify([{ Ref: stack.getLogicalId(role.node.defaultChild as CfnElement) }]);
    return ofType(template, 'AWS::IAM::Policy')
      .filter((p) => JSON.stringify(p.Properties.Roles) === ref)
      .flatMap(
        (p) => (p.Properties.PolicyDocument as { Statement: Array<{ Action: unknown; Resource: unknown; Condition?: unknown }> }).Statement,
      );
  };
  const secretStatements = (role: IConstruct) =>
    statementsOf(role).filter((s) => JSON.stringify(s.Action).includes('secretsmanager:') || JSON.stringify(s.Action).includes('kms:'));

  beforeAll(() => {
    outdir = tempDir();
    const registryDir = tempDir();
    writeFileSync(
      join(registryDir, 'web.yaml'),
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
          workload: { namespace: 'default', primary: 'web-primary', canary: 'web' },
          analysis: {
            judge: 'threshold',
            prometheus: {
              address: 'https://prometheus.example.com',
              bearerToken: { secretRef: { secretsManager: ARN, key: 'prometheus' } },
            },
            metrics: [
              { name: 'request-success-rate', thresholdRange: { min: 99 } },
              {
                name: 'apdex',
                provider: {
                  type: 'web',
                  url: 'https://metrics.example.com/apdex',
                  jsonPath: '$.v',
                  headers: { 'X-Api-Key': { secretRef: { secretsManager: ARN, key: 'apiKey' } } },
                },
                thresholdRange: { min: 0.9 },
              },
            ],
            webhooks: [{ name: 'load', type: 'rollout', url: { secretRef: { secretsManager: HOOK_ARN } } }],
          },
          notifications: { webhooks: [{ url: { secretRef: { secretsManager: CHAT_ARN } } }] },
        },
      }),
    );
    const built = buildApp({
      outdir,
      context: {
        ...NO_BUNDLING,
        clusterName: 'prod-eks',
        clusterRegion: 'us-east-1',
        registryDir,
        slackTeamId: 'T0123ABCD',
        slackApiAppId: 'A0456EFGH',
        secretsKmsKeyArn: KEY,
        vpcId: 'vpc-0123456789abcdef0',
        subnetIds: 'subnet-0aaaaaaaaaaaaaaaa',
        subnetRouteTableIds: 'rtb-0aaaaaaaaaaaaaaaa',
        availabilityZones: 'us-east-1a',
      },
      env: { account: '123456789012' },
    });
    stack = built.stack;
    template = built.app.synth().getStackByName(stack.stackName).template as Template;
  }, 300_000);

  it('is nag-clean', () => {
    expect(noViolations(outdir)).toEqual([]);
  });

  it('Prepare/Analyze read the metric and webhook secrets; the other hook callers the webhook secret; the Slack worker the notification secret; KMS only via Secrets Manager', () => {
    const o = stack.orchestrator;
    const kms = {
      Action: 'kms:Decrypt',
      Effect: 'Allow',
      Resource: KEY,
      Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' } },
    };
    expect(secretStatements(o.analysisRole)).toEqual([
      { Action: 'secretsmanager:GetSecretValue', Effect: 'Allow', Resource: [HOOK_ARN, ARN].sort() },
      kms,
    ]);
    expect(secretStatements(o.kubernetesRole)).toEqual([
      { Action: 'secretsmanager:GetSecretValue', Effect: 'Allow', Resource: HOOK_ARN },
      kms,
    ]);
    expect(secretStatements(o.functions.finish.role!)).toEqual([
      { Action: 'secretsmanager:GetSecretValue', Effect: 'Allow', Resource: HOOK_ARN },
      kms,
    ]);
    expect(secretStatements(o.functions['webhook-gate'].role!)).toEqual([
      { Action: 'secretsmanager:GetSecretValue', Effect: 'Allow', Resource: HOOK_ARN },
      kms,
    ]);
    expect(secretStatements(o.functions.bake.role!)).toEqual([]);
    expect(secretStatements(o.slack!.workerRole).filter((s) => JSON.stringify(s.Resource).includes('chat'))).toEqual([
      { Action: 'secretsmanager:GetSecretValue', Effect: 'Allow', Resource: CHAT_ARN },
    ]);
  });

  it('adds the secretsmanager endpoint to a VPC placement, as the Lambdas resolve the references from inside it', () => {
    expect(
      ofType(template, 'AWS::EC2::VPCEndpoint')
        .map((e) => JSON.stringify(e.Properties.ServiceName))
        .some((n) => n.includes('secretsmanager')),
    ).toBe(true);
  });

  it('no secret value in any template, parameter or logging configuration: the registry parameter holds the references, the state machine logs no execution data', () => {
    const parameter = ofType(template, 'AWS::SSM::Parameter').find((p) => String(p.Properties.Name).endsWith('/targets/web'))!;
    const stored = JSON.parse(String(parameter.Properties.Value)) as { spec: { analysis: { prometheus: { bearerToken: unknown } } } };
    expect(stored.spec.analysis.prometheus.bearerToken).toEqual({ secretRef: { secretsManager: ARN, key: 'prometheus' } });
    const machine = ofType(template, 'AWS::StepFunctions::StateMachine')[0]!;
    expect(machine.Properties.LoggingConfiguration).toMatchObject({ Level: 'ERROR', IncludeExecutionData: false });
    // Every string in the template that looks like a credential is a reference, an ARN or CDK's own.
    const text = JSON.stringify(template);
    expect(text).not.toMatch(/"(bearerToken|password)":"[^{]/);
    expect(text).not.toMatch(/hooks\.slack\.com\/services/);
    expect(text).not.toMatch(/[?&](token|api_?key)=/i);
  });
});
