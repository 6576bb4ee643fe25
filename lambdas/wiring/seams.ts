/**
 * The adapters behind the handlers' dependency seams, shared by the Lambda entry points and the
 * local engine. Cluster access is passed in as a KubeConfig source so that AWS (EKS token) and a
 * laptop (kubeconfig context) differ in one function only.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { RolloutSpec } from '../core/spec.ts';
import type { ClusterDeps, MetricDeps } from '../app/deps.ts';
import { DeploymentWorkload } from '../adapters/kube/workload.ts';
import { metricProviderFor, readMetrics } from '../adapters/metrics/factory.ts';
import { readCounterSnapshot } from '../adapters/metrics/counters.ts';
import { routerFor } from '../adapters/router/factory.ts';
import type { RouterTuning } from '../adapters/router/factory.ts';

export type KubeConfigSource = (spec: RolloutSpec) => Promise<KubeConfig>;

/** `tuning`: the routers' knobs (tests against a stand-in with a short Gloo status lag shorten the settle time). */
export function clusterDeps(kubeConfigOf: KubeConfigSource, tuning: RouterTuning = {}): ClusterDeps {
  return {
    routerFor: async (spec, writer) => routerFor(spec, await kubeConfigOf(spec), writer === undefined ? tuning : { ...tuning, writer }),
    workloadFor: async (spec) => (spec.spec.workload ? new DeploymentWorkload({ kubeConfig: await kubeConfigOf(spec), spec }) : null),
  };
}

export function metricDeps(): MetricDeps {
  return {
    providersFor: (spec) => spec.spec.analysis.metrics.map((metric) => metricProviderFor(spec, metric)),
    readMetrics: (spec) => readMetrics(spec),
    snapshotCounters: (spec, thresholdsMs, options) => readCounterSnapshot(spec, thresholdsMs, options),
  };
}
