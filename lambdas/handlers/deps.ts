/**
 * What the handlers need from the outside world. In AWS each handler builds its own (only the
 * adapters it uses, so Kubernetes code stays out of bundles that do not talk to Kubernetes);
 * the local engine passes in-process ones (sqlite store, kubeconfig, the same adapters).
 */
import type { EventPublisher, MetricProvider, MetricReading, RolloutStore, TrafficRouter, Workload } from '../core/ports.ts';
import type { RolloutSpec } from '../core/spec.ts';
import type { CounterSnapshot } from '../core/counts.ts';

export interface StoreDeps {
  store: RolloutStore;
  events: EventPublisher;
  now: () => Date;
  /** The reconciler's schedule (AWS: an EventBridge rule); Prepare turns it on, the reconciler off when nothing is open. */
  reconcileSchedule?: { setEnabled(enabled: boolean): Promise<void> };
}

export interface ClusterDeps {
  routerFor(spec: RolloutSpec): Promise<TrafficRouter>;
  /** Null when the spec names no workload (route promotion). */
  workloadFor(spec: RolloutSpec): Promise<Workload | null>;
}

export interface MetricDeps {
  /** The providers the spec's metrics use, for preflight. */
  providersFor(spec: RolloutSpec): MetricProvider[];
  /** Runs every metric's query for the canary (and the primary for built-ins). */
  readMetrics(spec: RolloutSpec): Promise<MetricReading[]>;
  /** Raw request counters of both arms at one instant (the sequential judge); absent where no counter source exists. */
  snapshotCounters?(spec: RolloutSpec, thresholdsMs: readonly number[], options?: { historySeconds?: number }): Promise<CounterSnapshot>;
}

export type HandlerDeps = StoreDeps & ClusterDeps & MetricDeps;

/** Deps are built once per warm Lambda (or once per local engine), on first use. */
export type DepsSource<T> = () => Promise<T>;

export { once } from '../core/once.ts';
