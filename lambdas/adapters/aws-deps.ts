/** Everything a handler that talks to the cluster and the metrics needs, in AWS. */
import { once } from '../core/once.ts';
import type { HandlerDeps } from '../handlers/deps.ts';
import { awsStoreDeps } from './aws-store-deps.ts';
import { kubeConfigFor } from './eks-auth.ts';
import { clusterDeps, metricDeps } from './wiring.ts';

export const awsHandlerDeps = once(
  async (): Promise<HandlerDeps> => ({
    ...(await awsStoreDeps()),
    // Fresh per call: the EKS adapter caches DescribeCluster and refreshes the token before it expires.
    ...clusterDeps((spec) => kubeConfigFor(spec.spec.cluster)),
    ...metricDeps(),
  }),
);
