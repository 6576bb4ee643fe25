/** Everything a handler that talks to the cluster and the metrics needs, in AWS. */
import { once } from '../core/once.ts';
import type { HandlerDeps } from '../app/deps.ts';
import { awsStoreDeps } from './aws-store.ts';
import { kubeConfigFor } from '../adapters/kube/eks-auth.ts';
import { clusterDeps, metricDeps } from './seams.ts';

export const awsHandlerDeps = once(
  async (): Promise<HandlerDeps> => ({
    ...(await awsStoreDeps()),
    // Fresh per call: the EKS adapter caches DescribeCluster and refreshes the token before it expires.
    ...clusterDeps((spec) => kubeConfigFor(spec.spec.cluster)),
    ...metricDeps(),
  }),
);
