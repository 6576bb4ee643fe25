/**
 * VPC placement of the rollout Lambdas: which VPC endpoints to create, the
 * cluster security group's ingress from the Lambdas, and the `-c` context that builds the VPC from
 * IDs with `Vpc.fromVpcAttributes` (never `Vpc.fromLookup`: synth stays offline and needs no
 * credentials; which endpoints a VPC already has is the user's input, not something we discover).
 *
 * Endpoints are per service and opt-in. What the in-VPC Lambdas call, and so what may need one:
 * - `eks`: DescribeCluster (endpoint and CA of the cluster); the EKS token itself is a presigned
 *   sts:GetCallerIdentity URL that the cluster (not the Lambda) sends to STS: no `sts` endpoint.
 * - `events`: PutEvents of Sluice's events. `dynamodb` (a gateway endpoint, free): the store.
 * - `monitoring`: only when a target reads CloudWatch metrics or alarms.
 * - `aps-workspaces`: only when a target reads Amazon Managed Prometheus.
 * - `secretsmanager`: only when a target references a secret (resolved inside the Lambda).
 * No `states` (no in-VPC function calls Step Functions) and no `logs` (Lambda ships the functions'
 * logs outside their network interfaces). A VPC that already has an endpoint for a service with
 * private DNS refuses a second one: leave that service out of `vpcEndpoints`.
 */
import { Annotations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';

/** Services an endpoint can be created for, by the name `-c vpcEndpoints=` takes (AWS's own service names). */
export const VPC_ENDPOINT_SERVICES = ['eks', 'events', 'dynamodb', 'monitoring', 'aps-workspaces', 'secretsmanager'] as const;
export type VpcEndpointService = (typeof VPC_ENDPOINT_SERVICES)[number];

/** Created when `endpoints` is not given; plus what the registry's targets use (see defaultEndpoints). */
export const DEFAULT_VPC_ENDPOINTS: readonly VpcEndpointService[] = ['eks', 'events', 'dynamodb'];

export interface SluiceVpcPlacement {
  vpc: ec2.IVpc;
  /** Default: the VPC's private subnets with egress. */
  subnets?: ec2.SubnetSelection;
  /** Default: one security group created here, all outbound allowed, no inbound. */
  securityGroups?: ec2.ISecurityGroup[];
  /**
   * The endpoints to create; each service at most once. Default: eks, events and dynamodb, plus
   * monitoring / aps-workspaces / secretsmanager when a target reads CloudWatch / AMP / a secret.
   * `[]` creates none (the subnets reach AWS through a NAT gateway, or the VPC has them all).
   */
  endpoints?: readonly VpcEndpointService[];
  /**
   * The EKS cluster security group (`aws eks describe-cluster --query
   * cluster.resourcesVpcConfig.clusterSecurityGroupId`): an ingress rule on 443 from the Lambdas'
   * security group is added to it, the network path to a private API endpoint.
   */
  clusterSecurityGroupId?: string;
}

/** What the registry's targets call, beyond the defaults. */
export interface EndpointNeeds {
  monitoring: boolean;
  amp: boolean;
  secrets: boolean;
}

export function defaultEndpoints(needs: EndpointNeeds): VpcEndpointService[] {
  return [
    ...DEFAULT_VPC_ENDPOINTS,
    ...(needs.monitoring ? (['monitoring'] as const) : []),
    ...(needs.amp ? (['aps-workspaces'] as const) : []),
    ...(needs.secrets ? (['secretsmanager'] as const) : []),
  ];
}

const INTERFACE_SERVICES: Record<Exclude<VpcEndpointService, 'dynamodb'>, { id: string; service: ec2.InterfaceVpcEndpointAwsService }> = {
  eks: { id: 'Eks', service: ec2.InterfaceVpcEndpointAwsService.EKS },
  events: { id: 'EventBridge', service: ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE },
  monitoring: { id: 'Monitoring', service: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING },
  'aps-workspaces': { id: 'ApsWorkspaces', service: ec2.InterfaceVpcEndpointAwsService.PROMETHEUS_WORKSPACES },
  secretsmanager: { id: 'SecretsManager', service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER },
};

/**
 * Creates the security group (unless given), the endpoints and the cluster ingress rule; warns for
 * each service the targets use that has no endpoint here (the subnets must reach it otherwise).
 */
export function placeInVpc(scope: Construct, placement: SluiceVpcPlacement, needs: EndpointNeeds): ec2.ISecurityGroup[] {
  const securityGroups = placement.securityGroups ?? [
    new ec2.SecurityGroup(scope, 'FunctionSecurityGroup', {
      vpc: placement.vpc,
      description: 'Sluice Lambdas: no inbound; outbound to the EKS API, Prometheus and AWS endpoints',
      allowAllOutbound: true,
    }),
  ];
  const endpoints = placement.endpoints ?? defaultEndpoints(needs);
  const seen = new Set<VpcEndpointService>();
  for (const name of endpoints) {
    if (!(VPC_ENDPOINT_SERVICES as readonly string[]).includes(name))
      throw new Error(`vpc endpoints: unknown service "${String(name)}"; expected some of ${VPC_ENDPOINT_SERVICES.join(', ')}`);
    if (seen.has(name)) throw new Error(`vpc endpoints: "${name}" is named twice; each endpoint is created at most once`);
    seen.add(name);
  }
  const subnets = placement.subnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
  for (const name of seen) {
    if (name === 'dynamodb') {
      new ec2.GatewayVpcEndpoint(scope, 'DynamoDbEndpoint', {
        vpc: placement.vpc,
        service: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
        subnets: [subnets],
      });
      continue;
    }
    const { id, service } = INTERFACE_SERVICES[name];
    // open: false — only the Lambdas' security groups may reach the endpoint, not the whole VPC.
    const endpoint = new ec2.InterfaceVpcEndpoint(scope, `${id}Endpoint`, {
      vpc: placement.vpc,
      service,
      subnets,
      privateDnsEnabled: true,
      open: false,
    });
    for (const group of securityGroups) endpoint.connections.allowDefaultPortFrom(group, 'Sluice Lambdas');
  }
  const missing = defaultEndpoints(needs).filter((name) => !seen.has(name));
  if (missing.length) {
    Annotations.of(scope).addWarningV2(
      'sluice:vpc-endpoints',
      `VPC placement without endpoints for ${missing.join(', ')}: the Lambdas' subnets must reach these services another way (a NAT gateway, or endpoints the VPC already has), or their calls time out.`,
    );
  }
  if (placement.clusterSecurityGroupId) {
    // mutable: the rule is a separate AWS::EC2::SecurityGroupIngress in this stack; the group itself stays EKS's.
    const clusterGroup = ec2.SecurityGroup.fromSecurityGroupId(scope, 'ClusterSecurityGroup', placement.clusterSecurityGroupId, {
      mutable: true,
    });
    for (const group of securityGroups) clusterGroup.addIngressRule(group, ec2.Port.tcp(443), 'Sluice Lambdas to the EKS API endpoint');
  }
  return securityGroups;
}

const ID = {
  vpc: /^vpc-[0-9a-f]{8,17}$/,
  subnet: /^subnet-[0-9a-f]{8,17}$/,
  routeTable: /^rtb-[0-9a-f]{8,17}$/,
  securityGroup: /^sg-[0-9a-f]{8,17}$/,
  az: /^[a-z]{2}(-[a-z]+)+-\d[a-z]$/,
};

/** A VPC placement by IDs, as `-c` context gives it (SluiceStack builds the constructs from it). */
export interface VpcIds {
  vpcId: string;
  subnetIds: string[];
  /** Each subnet's route table, in the same order (the DynamoDB gateway endpoint is attached to them). */
  subnetRouteTableIds: string[];
  availabilityZones: string[];
  clusterSecurityGroupId?: string;
  /** Existing security groups for the Lambdas instead of one created here. */
  securityGroupIds?: string[];
  endpoints?: VpcEndpointService[];
}

/**
 * The VPC placement given by `-c` context, or undefined without `-c vpcId`. Takes IDs only:
 * vpcId, subnetIds and subnetRouteTableIds (same order), availabilityZones, and optionally
 * clusterSecurityGroupId, securityGroupIds (instead of a created group) and vpcEndpoints (comma
 * list, or `none`). Every value is checked here, so a typo fails synth naming the `-c` key.
 */
export function vpcIdsFromContext(context: (key: string) => string | undefined): VpcIds | undefined {
  const keys = [
    'vpcId',
    'subnetIds',
    'subnetRouteTableIds',
    'availabilityZones',
    'clusterSecurityGroupId',
    'securityGroupIds',
    'vpcEndpoints',
  ];
  const vpcId = context('vpcId');
  if (!vpcId) {
    const stray = keys.filter((key) => context(key) !== undefined);
    if (stray.length) throw new Error(`${stray.map((k) => `-c ${k}`).join(', ')} given without -c vpcId`);
    return undefined;
  }
  const list = (key: string, pattern: RegExp, what: string): string[] => {
    const value = context(key);
    if (!value) throw new Error(`VPC placement needs -c ${key}=… (comma-separated, each ${what})`);
    const items = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = items.filter((item) => !pattern.test(item));
    if (bad.length || !items.length) throw new Error(`-c ${key}: ${bad.map((b) => `"${b}"`).join(', ') || 'empty'} is not ${what}`);
    return items;
  };
  if (!ID.vpc.test(vpcId)) throw new Error(`-c vpcId: "${vpcId}" is not a VPC ID (vpc-…)`);
  const subnetIds = list('subnetIds', ID.subnet, 'a subnet ID (subnet-…)');
  const subnetRouteTableIds = list('subnetRouteTableIds', ID.routeTable, 'a route table ID (rtb-…)');
  const availabilityZones = list('availabilityZones', ID.az, 'an availability zone name (us-east-1a)');
  if (subnetRouteTableIds.length !== subnetIds.length) {
    throw new Error(
      `-c subnetRouteTableIds names ${subnetRouteTableIds.length} route tables for ${subnetIds.length} subnets: give each subnet's route table, in the same order`,
    );
  }
  if (subnetIds.length % availabilityZones.length !== 0) {
    throw new Error(
      `-c subnetIds: ${subnetIds.length} subnets across ${availabilityZones.length} availability zones; give the same number of subnets in each zone, in the zones' order`,
    );
  }
  const clusterSecurityGroupId = context('clusterSecurityGroupId');
  if (clusterSecurityGroupId && !ID.securityGroup.test(clusterSecurityGroupId))
    throw new Error(`-c clusterSecurityGroupId: "${clusterSecurityGroupId}" is not a security group ID (sg-…)`);
  const securityGroupIds = context('securityGroupIds')
    ? list('securityGroupIds', ID.securityGroup, 'a security group ID (sg-…)')
    : undefined;
  const endpointsValue = context('vpcEndpoints');
  let endpoints: VpcEndpointService[] | undefined;
  if (endpointsValue !== undefined) {
    const names =
      endpointsValue === 'none'
        ? []
        : endpointsValue
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean);
    const unknown = names.filter((n) => !(VPC_ENDPOINT_SERVICES as readonly string[]).includes(n));
    if (unknown.length)
      throw new Error(
        `-c vpcEndpoints: unknown ${unknown.map((u) => `"${u}"`).join(', ')}; expected some of ${VPC_ENDPOINT_SERVICES.join(', ')}, or none`,
      );
    endpoints = [...new Set(names as VpcEndpointService[])];
  }
  return {
    vpcId,
    subnetIds,
    subnetRouteTableIds,
    availabilityZones,
    ...(clusterSecurityGroupId ? { clusterSecurityGroupId } : {}),
    ...(securityGroupIds ? { securityGroupIds } : {}),
    ...(endpoints ? { endpoints } : {}),
  };
}

/** Imports the VPC by its attributes (no lookup, no credentials at synth). */
export function vpcPlacementFromIds(scope: Construct, ids: VpcIds): SluiceVpcPlacement {
  const vpc = ec2.Vpc.fromVpcAttributes(scope, 'SluiceVpc', {
    vpcId: ids.vpcId,
    availabilityZones: ids.availabilityZones,
    privateSubnetIds: ids.subnetIds,
    privateSubnetRouteTableIds: ids.subnetRouteTableIds,
  });
  return {
    vpc,
    ...(ids.securityGroupIds
      ? { securityGroups: ids.securityGroupIds.map((id, i) => ec2.SecurityGroup.fromSecurityGroupId(scope, `SluiceSecurityGroup${i}`, id)) }
      : {}),
    ...(ids.clusterSecurityGroupId ? { clusterSecurityGroupId: ids.clusterSecurityGroupId } : {}),
    ...(ids.endpoints ? { endpoints: ids.endpoints } : {}),
  };
}
