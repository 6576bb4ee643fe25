/**
 * One small stack per cluster region: `AWS::EKS::AccessEntry` is a regional resource created in
 * its cluster's region, while the orchestrator (state machines, Lambdas, table) stays in one. The
 * app (infra/app.ts) synthesizes one of these for every region of this account where a fleet's
 * clusters are and the orchestrator is not; the Lambdas' roles are named by a generated physical
 * name (iam.PhysicalName.GENERATE_IF_NEEDED), so the reference crosses regions without exports.
 */
import { CfnOutput, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { WiredCluster } from './registry.ts';
import { KUBERNETES_GROUP, KUBERNETES_READ_GROUP } from './sluice-orchestrator.ts';

export interface SluiceAccessStackProps extends StackProps {
  /** The clusters of this stack's region. */
  clusters: ReadonlyArray<WiredCluster>;
  /** The orchestrator's roles: the writers' (sluice:orchestrator) and Prepare/Analyze's (sluice:reader). */
  kubernetesRole: iam.IRole;
  analysisRole: iam.IRole;
}

export class SluiceAccessStack extends Stack {
  readonly accessEntries: eks.CfnAccessEntry[] = [];

  constructor(scope: Construct, id: string, props: SluiceAccessStackProps) {
    super(scope, id, props);
    for (const cluster of props.clusters) {
      if (cluster.region !== this.region)
        throw new Error(
          `EKS cluster ${cluster.name} is in ${cluster.region}: its access entry belongs in that region's stack, not ${this.region}'s`,
        );
      const safe = cluster.name.replace(/[^A-Za-z0-9]/g, '');
      for (const [role, group, kind] of [
        [props.kubernetesRole, KUBERNETES_GROUP, 'Orchestrator'],
        [props.analysisRole, KUBERNETES_READ_GROUP, 'Reader'],
      ] as const) {
        this.accessEntries.push(
          new eks.CfnAccessEntry(this, `${safe}${kind}Access`, {
            clusterName: cluster.name,
            principalArn: role.roleArn,
            type: 'STANDARD',
            kubernetesGroups: [group],
          }),
        );
      }
    }
    new CfnOutput(this, 'ClusterWiring', {
      value: props.clusters
        .map((c) => `access entries for ${c.name} (${c.region}) -> ${KUBERNETES_GROUP}, ${KUBERNETES_READ_GROUP}`)
        .join('; '),
      description: 'The EKS clusters of this region the Sluice Lambdas are wired to (apply infra/k8s/rbac.yaml in each)',
    });
  }
}

/** What to run where a cluster is in another account: the access entries there, then the RBAC. */
export function foreignAccessInstructions(
  clusters: ReadonlyArray<WiredCluster>,
  kubernetesRoleArn: string,
  analysisRoleArn: string,
): string {
  return clusters
    .map((c) =>
      [
        `In account ${c.account ?? '?'} (${c.region}), cluster ${c.name}:`,
        `aws eks create-access-entry --region ${c.region} --cluster-name ${c.name} --principal-arn ${kubernetesRoleArn} --kubernetes-groups ${KUBERNETES_GROUP};`,
        `aws eks create-access-entry --region ${c.region} --cluster-name ${c.name} --principal-arn ${analysisRoleArn} --kubernetes-groups ${KUBERNETES_READ_GROUP};`,
        'kubectl apply -f infra/k8s/rbac.yaml.',
      ].join(' '),
    )
    .join(' ');
}
