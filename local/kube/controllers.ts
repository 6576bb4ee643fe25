/**
 * The two pieces of cluster behaviour Sluice depends on:
 * - Gloo's status reporter: marks Gloo objects Accepted, Warning or Rejected `lagMs` after a
 *   change (default 1 s: Gloo translates and writes statuses asynchronously, about once a second,
 *   as read in Gloo's source), writing `status.statuses.gloo-system` only when the
 *   verdict changes — so, as on a cluster, an `Accepted` read right after a write still describes
 *   the previous version. Gloo's own rules (an empty or all-zero weighted list, several route
 *   actions) are judged here, not by the API server; an error caused by an UpstreamGroup's
 *   weights is reported on the VirtualService/RouteTable whose route uses the group (Gloo
 *   translates the group into the route's weighted clusters), not on the group.
 * - the Deployment controller: observedGeneration catches up at once, but the new pods become
 *   ready only after a delay (or never), while the old pods keep counting as available.
 */
import { GLOO_REPORTER_NAMESPACE, isGlooKind, totalWeight, type GlooState } from '../../lambdas/core/gloo-schema.ts';
import type { KubeObject, ObjectStore, StoreEvent } from './store.ts';
import { findByKind, type ResourceType } from './resources.ts';

type Timer = ReturnType<typeof setTimeout>;

/** Writes a new `status` for an object (bypasses validation; the controllers are the cluster). */
export type StatusWriter = (type: ResourceType, namespace: string, name: string, status: Record<string, unknown>) => void;

function kindType(apiVersion: string, kind: string): ResourceType {
  const type = findByKind(apiVersion, kind);
  if (!type) throw new Error(`no resource type for ${apiVersion} ${kind}`);
  return type;
}

const UPSTREAM = kindType('gloo.solo.io/v1', 'Upstream');
const UPSTREAM_GROUP = kindType('gloo.solo.io/v1', 'UpstreamGroup');
const GLOO_TYPES = [
  UPSTREAM,
  UPSTREAM_GROUP,
  kindType('gateway.solo.io/v1', 'VirtualService'),
  kindType('gateway.solo.io/v1', 'RouteTable'),
];
/** Gloo's status lag by default: it reports asynchronously, at most about once a second. */
export const DEFAULT_GLOO_STATUS_LAG_MS = 1000;

type Ref = { name?: unknown; namespace?: unknown } | undefined;
type Verdict = { state: GlooState; reason?: string };

function objectKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export class GlooStatusReporter {
  readonly #store: ObjectStore;
  readonly #write: StatusWriter;
  readonly #overrides = new Map<string, string>();
  #timer: Timer | undefined;
  #closed = false;
  lagMs: number;

  constructor(store: ObjectStore, write: StatusWriter, lagMs = DEFAULT_GLOO_STATUS_LAG_MS) {
    this.#store = store;
    this.#write = write;
    this.lagMs = lagMs;
  }

  /** Called for every store event except the reporter's own status writes. */
  changed(event: StoreEvent): void {
    if (isGlooKind(event.object.kind)) this.schedule();
  }

  reject(kind: string, namespace: string, name: string, reason: string): void {
    this.#overrides.set(objectKey(kind, namespace, name), reason);
    this.schedule();
  }

  accept(kind: string, namespace: string, name: string): void {
    this.#overrides.delete(objectKey(kind, namespace, name));
    this.schedule();
  }

  /** One pass `lagMs` after the first change since the last pass: changes in between are batched, as Gloo batches snapshots. */
  schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.evaluate();
    }, this.lagMs);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** Re-judges every Gloo object (Gloo translates the whole snapshot, not one object). */
  evaluate(): void {
    for (const type of GLOO_TYPES) {
      for (const object of this.#store.list(type)) {
        const namespace = object.metadata.namespace ?? '';
        const verdict = this.#judge(object);
        const status = asRecord(object.status);
        const statuses = asRecord(status.statuses);
        const current = asRecord(statuses[GLOO_REPORTER_NAMESPACE]);
        if (current.state === verdict.state && current.reason === verdict.reason) continue;
        const entry: Record<string, unknown> = { state: verdict.state, reportedBy: 'gloo' };
        if (verdict.reason !== undefined) entry.reason = verdict.reason;
        this.#write(type, namespace, object.metadata.name, { ...status, statuses: { ...statuses, [GLOO_REPORTER_NAMESPACE]: entry } });
      }
    }
  }

  #exists(type: ResourceType, ref: Ref, ownNamespace: string): boolean {
    if (typeof ref?.name !== 'string') return false;
    const namespace = typeof ref.namespace === 'string' && ref.namespace !== '' ? ref.namespace : ownNamespace;
    return this.#store.get(type, namespace, ref.name) !== undefined;
  }

  #judge(object: KubeObject): Verdict {
    const namespace = object.metadata.namespace ?? '';
    const override = this.#overrides.get(objectKey(object.kind, namespace, object.metadata.name));
    if (override !== undefined) return { state: 'Rejected', reason: override };
    const spec = asRecord(object.spec);
    if (object.kind === 'UpstreamGroup') {
      // Gloo refuses a group whose destinations name an Upstream it does not know.
      const missing = asArray(spec.destinations).flatMap((d, i) => {
        const ref = asRecord(asRecord(asRecord(d).destination).upstream) as Ref;
        return ref?.name !== undefined && !this.#exists(UPSTREAM, ref, namespace)
          ? [`destination # ${i + 1}: upstream ${String(ref.name)}.${String(ref.namespace ?? namespace)} not found`]
          : [];
      });
      if (missing.length > 0) return { state: 'Rejected', reason: missing.join('; ') };
    }
    if (object.kind === 'VirtualService' || object.kind === 'RouteTable') {
      const routes = object.kind === 'VirtualService' ? asArray(asRecord(spec.virtualHost).routes) : asArray(spec.routes);
      const errors = routes.flatMap((r, i) => this.#routeErrors(asRecord(r), namespace).map((e) => `route ${i}: ${e}`));
      if (errors.length > 0) return { state: 'Rejected', reason: errors.join('; ') };
      const warnings = routes.flatMap((r, i) => this.#routeWarnings(asRecord(r), namespace).map((w) => `route ${i}: ${w}`));
      // Gloo reports dangling destinations of a route as a Warning, not a rejection.
      if (warnings.length > 0) return { state: 'Warning', reason: warnings.join('; ') };
    }
    return { state: 'Accepted' };
  }

  /** Gloo's translation errors of one route: the API server accepted all of these. */
  #routeErrors(route: Record<string, unknown>, namespace: string): string[] {
    const action = asRecord(route.routeAction);
    const kinds = (['single', 'multi', 'upstreamGroup'] as const).filter((key) => action[key] !== undefined);
    // A protobuf oneof: JSON naming two of its fields does not convert (Gloo reports the route).
    if (kinds.length > 1) return [`several route actions (${kinds.join(', ')}); expected one`];
    const weighted = (destinations: unknown[], what: string): string[] => {
      if (destinations.length === 0) return [`${what} has no destinations`];
      const total = totalWeight(
        destinations.map((d) => ({ weight: typeof asRecord(d).weight === 'number' ? (asRecord(d).weight as number) : 0 })),
      );
      return total < 1 ? [`${what}: weighted destinations need a total weight greater than 0`] : [];
    };
    if (action.multi !== undefined) return weighted(asArray(asRecord(action.multi).destinations), 'multi destination');
    if (action.upstreamGroup !== undefined) {
      const ref = asRecord(action.upstreamGroup) as Ref;
      const groupNamespace = typeof ref?.namespace === 'string' && ref.namespace !== '' ? ref.namespace : namespace;
      const group = typeof ref?.name === 'string' ? this.#store.get(UPSTREAM_GROUP, groupNamespace, ref.name) : undefined;
      // The group's weights become this route's weighted clusters: their error is this route's.
      if (group) return weighted(asArray(asRecord(group.spec).destinations), `upstream group ${groupNamespace}/${String(ref?.name)}`);
    }
    return [];
  }

  #routeWarnings(route: Record<string, unknown>, namespace: string): string[] {
    const action = asRecord(route.routeAction);
    const out: string[] = [];
    const upstream = (ref: Ref) => {
      if (ref?.name !== undefined && !this.#exists(UPSTREAM, ref, namespace)) out.push(`upstream ${String(ref.name)} not found`);
    };
    if (action.single) upstream(asRecord(asRecord(action.single).upstream) as Ref);
    for (const d of asArray(asRecord(action.multi).destinations)) upstream(asRecord(asRecord(asRecord(d).destination).upstream) as Ref);
    if (action.upstreamGroup && !this.#exists(UPSTREAM_GROUP, asRecord(action.upstreamGroup) as Ref, namespace)) {
      out.push(`upstream group ${String(asRecord(action.upstreamGroup).name)} not found`);
    }
    const shadowing = asRecord(asRecord(route.options).shadowing);
    if (shadowing.upstream) upstream(asRecord(shadowing.upstream) as Ref);
    return out;
  }
}

const DEPLOYMENT = kindType('apps/v1', 'Deployment');
/** The controller notices a new generation almost at once; pods take `readyDelayMs`. */
const OBSERVE_DELAY_MS = 5;

export class DeploymentSimulator {
  readonly #store: ObjectStore;
  readonly #write: StatusWriter;
  readonly #neverReady = new Set<string>();
  readonly #timers = new Map<string, Timer[]>();
  #readyDelayMs: number;
  #closed = false;

  constructor(store: ObjectStore, write: StatusWriter, readyDelayMs: number) {
    this.#store = store;
    this.#write = write;
    this.#readyDelayMs = readyDelayMs;
  }

  set readyDelayMs(ms: number) {
    this.#readyDelayMs = ms;
  }

  setNeverReady(namespace: string, name: string, on: boolean): void {
    const key = `${namespace}/${name}`;
    if (on) this.#neverReady.add(key);
    else this.#neverReady.delete(key);
    if (this.#store.get(DEPLOYMENT, namespace, name)) this.#roll(namespace, name);
  }

  /** Called for every store event except the simulator's own status writes. */
  changed(event: StoreEvent): void {
    if (event.object.kind !== 'Deployment' || event.type === 'DELETED') return;
    const generation = event.object.metadata.generation;
    if (event.previous && event.previous.metadata.generation === generation) return;
    // A seeded Deployment whose status already describes its generation needs no rollout.
    if (!event.previous && asRecord(event.object.status).observedGeneration === generation) return;
    this.#roll(event.object.metadata.namespace ?? '', event.object.metadata.name);
  }

  close(): void {
    this.#closed = true;
    for (const timers of this.#timers.values()) timers.forEach(clearTimeout);
    this.#timers.clear();
  }

  #roll(namespace: string, name: string): void {
    if (this.#closed) return;
    const key = `${namespace}/${name}`;
    this.#timers.get(key)?.forEach(clearTimeout);
    const observe = Math.min(OBSERVE_DELAY_MS, this.#readyDelayMs);
    this.#timers.set(key, [
      setTimeout(() => this.#update(namespace, name, 'observed'), observe),
      setTimeout(() => {
        this.#timers.delete(key);
        this.#update(namespace, name, this.#neverReady.has(key) ? 'stuck' : 'ready');
      }, this.#readyDelayMs),
    ]);
  }

  #update(namespace: string, name: string, phase: 'observed' | 'ready' | 'stuck'): void {
    const object = this.#store.get(DEPLOYMENT, namespace, name);
    if (!object) return;
    const spec = asRecord(object.spec);
    const old = asRecord(object.status);
    const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
    const generation = object.metadata.generation ?? 1;
    const oldAvailable = typeof old.availableReplicas === 'number' ? old.availableReplicas : 0;
    const condition = (type: string, status: boolean, reason: string) => ({ type, status: status ? 'True' : 'False', reason });
    let status: Record<string, unknown>;
    if (phase === 'observed') {
      // Rolling update under way: the new ReplicaSet exists, its pods are not ready, and the old
      // pods still count as available — a readiness check must look at updatedReplicas too.
      const available = Math.min(oldAvailable, replicas);
      status = {
        observedGeneration: generation,
        replicas: Math.max(replicas, typeof old.replicas === 'number' ? old.replicas : 0),
        updatedReplicas: 0,
        readyReplicas: available,
        availableReplicas: available,
        unavailableReplicas: replicas - available,
        conditions: [
          condition('Available', available >= replicas, 'MinimumReplicasAvailable'),
          condition('Progressing', true, 'ReplicaSetUpdated'),
        ],
      };
      if (replicas === 0) status = this.#readyStatus(generation, 0);
    } else if (phase === 'stuck') {
      status = {
        observedGeneration: generation,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: 0,
        availableReplicas: 0,
        unavailableReplicas: replicas,
        conditions: [
          condition('Available', replicas === 0, 'MinimumReplicasUnavailable'),
          condition('Progressing', true, 'ReplicaSetUpdated'),
        ],
      };
    } else {
      status = this.#readyStatus(generation, replicas);
    }
    this.#write(DEPLOYMENT, namespace, name, status);
  }

  #readyStatus(generation: number, replicas: number): Record<string, unknown> {
    return {
      observedGeneration: generation,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
      conditions: [
        { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
      ],
    };
  }
}
