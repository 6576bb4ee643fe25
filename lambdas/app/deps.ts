/**
 * What the handlers need from the outside world, grouped by seam. The composition roots fill them:
 * lambdas/wiring/ in AWS (each handler builds only the adapters it uses, so Kubernetes code stays
 * out of bundles that do not talk to Kubernetes), local/runtime.ts locally (sqlite store,
 * kubeconfig, the same adapters). `S` is the part of the store a consumer uses (core/ports.ts'
 * narrow store ports); the roots pass the whole store, which satisfies every one.
 */
import type { EventPublisher, MetricProvider, ReconcileSchedule, RolloutStore, TrafficRouter, Workload } from '../core/ports.ts';
import type { MetricReading } from '../core/verdict.ts';
import type { RolloutSpec } from '../core/spec.ts';
import type { CounterSnapshot } from '../core/counts.ts';
import type { StartPathDeps } from '../adapters/control/start-path.ts';
import type { GitopsSecrets } from '../adapters/secrets/gitops.ts';

export interface StoreDeps<S = RolloutStore> {
  store: S;
  events: EventPublisher;
  now: () => Date;
  /** The reconciler's schedule (AWS: an EventBridge rule); Prepare turns it on, the reconciler off when nothing is open. */
  reconcileSchedule?: ReconcileSchedule;
}

export interface ClusterDeps {
  /** `writer`: the execution on whose behalf weights are written (annotated on the object it writes). */
  routerFor(spec: RolloutSpec, writer?: string): Promise<TrafficRouter>;
  /** Null when the spec names no workload (route promotion). */
  workloadFor(spec: RolloutSpec): Promise<Workload | null>;
}

export interface MetricDeps {
  /** The providers the spec's metrics use, for preflight. */
  providersFor(spec: RolloutSpec): MetricProvider[];
  /** Runs every metric's query for the canary (and the primary for built-ins). */
  readMetrics(spec: RolloutSpec): Promise<MetricReading[]>;
  /** Raw request counters of both arms at one instant (the sequential judge); absent where no counter source exists. */
  snapshotCounters?(
    spec: RolloutSpec,
    thresholdsMs: readonly number[],
    options?: { historySeconds?: number; baseline?: CounterSnapshot },
  ): Promise<CounterSnapshot>;
}

export type HandlerDeps<S = RolloutStore> = StoreDeps<S> & ClusterDeps & MetricDeps;

/** The GitOps webhook: the start path, and the shared secrets its callers sign or authenticate with. */
export interface GitopsDeps {
  start: StartPathDeps;
  secrets: () => Promise<GitopsSecrets>;
}

/** Deps are built once per warm Lambda (or once per local engine), on first use. */
export type DepsSource<T> = () => Promise<T>;
