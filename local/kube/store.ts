/**
 * The stand-in's etcd: objects by resource type, one global resourceVersion counter (a string
 * on the wire, like the real server's), and a bounded event history so a watch can resume
 * from a resourceVersion — or get 410 Gone when it is too old, as on a cluster.
 */
import { clone } from './patch.ts';
import type { ResourceType } from './resources.ts';

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; generation?: number; [k: string]: unknown };
  [k: string]: unknown;
};

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  resource: ResourceType;
  object: KubeObject;
  /** The resourceVersion the event produced. */
  rv: number;
  /** The object this write replaced (MODIFIED only). */
  previous?: KubeObject;
  /** Who wrote: an API client (or seeding), or the stand-in's controllers (status only). */
  origin: 'user' | 'controller';
}

const HISTORY_LIMIT = 10_000;

function typeKey(type: ResourceType): string {
  return `${type.group}/${type.plural}`;
}

export class ObjectStore {
  #rv = 0;
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  readonly #history: StoreEvent[] = [];
  readonly #listeners = new Set<(event: StoreEvent) => void>();
  readonly #historyLimit: number;

  /** `historyLimit`: how many events a watch can resume across (etcd compaction, in miniature). */
  constructor(historyLimit = HISTORY_LIMIT) {
    this.#historyLimit = historyLimit;
  }

  /** The latest resourceVersion (what a list reports). */
  get resourceVersion(): number {
    return this.#rv;
  }

  #bucket(type: ResourceType): Map<string, KubeObject> {
    let bucket = this.#objects.get(typeKey(type));
    if (!bucket) {
      bucket = new Map();
      this.#objects.set(typeKey(type), bucket);
    }
    return bucket;
  }

  get(type: ResourceType, namespace: string, name: string): KubeObject | undefined {
    const found = this.#bucket(type).get(`${namespace}/${name}`);
    return found ? clone(found) : undefined;
  }

  /** Objects of a type, in one namespace or (undefined) all, ordered by namespace and name. */
  list(type: ResourceType, namespace?: string): KubeObject[] {
    return [...this.#bucket(type).entries()]
      .filter(([, object]) => namespace === undefined || object.metadata.namespace === namespace)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, object]) => clone(object));
  }

  /** Stores `object` under a new resourceVersion and tells watchers. Returns the stored copy. */
  put(type: ResourceType, object: KubeObject, origin: 'user' | 'controller' = 'user'): KubeObject {
    const key = `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
    const bucket = this.#bucket(type);
    const previous = bucket.get(key);
    const stored = clone(object);
    stored.metadata.resourceVersion = String(++this.#rv);
    bucket.set(key, stored);
    this.#emit({
      type: previous ? 'MODIFIED' : 'ADDED',
      resource: type,
      object: clone(stored),
      rv: this.#rv,
      origin,
      ...(previous ? { previous } : {}),
    });
    return clone(stored);
  }

  delete(type: ResourceType, namespace: string, name: string): KubeObject | undefined {
    const bucket = this.#bucket(type);
    const found = bucket.get(`${namespace}/${name}`);
    if (!found) return undefined;
    bucket.delete(`${namespace}/${name}`);
    const deleted = clone(found);
    // The DELETED event carries a fresh resourceVersion, so watchers resuming after it skip it.
    deleted.metadata.resourceVersion = String(++this.#rv);
    this.#emit({ type: 'DELETED', resource: type, object: clone(deleted), rv: this.#rv, origin: 'user' });
    return deleted;
  }

  /** Events after `rv`, or 'expired' when the history no longer reaches back that far. */
  eventsSince(rv: number): StoreEvent[] | 'expired' {
    const oldest = this.#history[0];
    if (oldest && rv < oldest.rv - 1) return 'expired';
    return this.#history.filter((event) => event.rv > rv).map((event) => ({ ...event, object: clone(event.object) }));
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(event: StoreEvent): void {
    this.#history.push(event);
    if (this.#history.length > this.#historyLimit) this.#history.splice(0, this.#history.length - this.#historyLimit);
    for (const listener of [...this.#listeners]) {
      try {
        listener({ ...event, object: clone(event.object), ...(event.previous ? { previous: clone(event.previous) } : {}) });
      } catch {
        // A failing listener (a test's onChange callback) must not break the write that caused it.
      }
    }
  }
}
