/**
 * The Gloo weight rules both routers share (the UpstreamGroup's `spec.destinations` and a route's
 * `routeAction.multi.destinations` have the same shape): reading the primary/canary weights,
 * rewriting the list, route promotion's weight-0 canary, Gloo's Rejected status, and the guarded
 * write with its conflict policy.
 */
import { ConflictError } from '../../core/errors.ts';
import { glooState } from '../../core/gloo-schema.ts';
import type { ResourceRef, WeightedDestination } from '../../core/gloo-schema.ts';
import type { Weights } from '../../core/records.ts';
import type { RouterSpec } from '../../core/spec.ts';
import { retryOnConflict, sleep } from '../kube/client.ts';
import type { ConflictRetry } from '../kube/client.ts';

/**
 * The annotation naming the execution whose weights an object holds (set with every weight write):
 * `kubectl get -o yaml` shows which rollout moved traffic, and two executions of one target can be
 * told apart in an audit log — the token is the same for both.
 */
export const WRITER_ANNOTATION = 'sluice.dev/weights-written-by';

/** The metadata of a weight write: the read's resourceVersion (a stale write gets 409) and, when known, the writer. */
export function writeMetadata(resourceVersion: string, writer: string | undefined): Record<string, unknown> {
  return { resourceVersion, ...(writer ? { annotations: { [WRITER_ANNOTATION]: writer } } : {}) };
}

export function formatRef(ref: { name: string; namespace?: string | undefined }, defaultNamespace = ''): string {
  return `${ref.namespace || defaultNamespace}/${ref.name}`;
}

/** Gloo refs may omit the namespace: it then means the referring object's namespace. */
export function sameRef(ref: ResourceRef | undefined, target: { name: string; namespace: string }, ownerNamespace: string): boolean {
  return !!ref && ref.name === target.name && (ref.namespace || ownerNamespace) === target.namespace;
}

export function describeWeights(weights: Weights): string {
  return `primary ${weights.primary} / canary ${weights.canary}`;
}

/** Refuses, before any API call, weights Sluice must never write (never all-zero). */
export function assertWritableWeights(next: Weights, scale: number, what: string): void {
  const { primary, canary } = next;
  if (![primary, canary].every((w) => Number.isInteger(w) && w >= 0)) {
    throw new Error(`refusing to write ${describeWeights(next)} to ${what}: weights must be non-negative integers`);
  }
  if (primary + canary === 0) throw new Error(`refusing to write ${describeWeights(next)} to ${what}: Gloo rejects an all-zero total`);
  if (primary + canary !== scale)
    throw new Error(`refusing to write ${describeWeights(next)} to ${what}: the weights must add up to the weight scale ${scale}`);
}

/** The weights of the primary and canary upstreams, or why the list is not exactly those two. */
export function readWeights(
  destinations: readonly WeightedDestination[],
  router: RouterSpec,
  ownerNamespace: string,
): { weights: Weights } | { problem: string } {
  const primary = destinations.filter((d) => sameRef(d.destination.upstream, router.primary.upstream, ownerNamespace));
  const canary = destinations.filter((d) => sameRef(d.destination.upstream, router.canary.upstream, ownerNamespace));
  if (destinations.length === 2 && primary.length === 1 && canary.length === 1) {
    return { weights: { primary: primary[0]?.weight ?? 0, canary: canary[0]?.weight ?? 0 } };
  }
  const listed = destinations
    .map((d) => (d.destination.upstream ? formatRef(d.destination.upstream, ownerNamespace) : '(not an upstream)'))
    .join(', ');
  return {
    problem: `lists ${listed || 'no destinations'}; expected exactly the primary ${formatRef(router.primary.upstream)} and the canary ${formatRef(router.canary.upstream)}`,
  };
}

/**
 * The destination list with new weights. The whole list is rewritten (a merge patch replaces the
 * array whole), keeping every other field of each entry as read.
 */
export function withWeights(
  destinations: readonly WeightedDestination[],
  next: Weights,
  router: RouterSpec,
  ownerNamespace: string,
): WeightedDestination[] {
  return destinations.map((d) => {
    if (sameRef(d.destination.upstream, router.primary.upstream, ownerNamespace)) return { ...d, weight: next.primary };
    if (sameRef(d.destination.upstream, router.canary.upstream, ownerNamespace)) return { ...d, weight: next.canary };
    return d;
  });
}

/**
 * Route promotion (version-named upstreams): the list with the new canary at weight 0 in place
 * of the retired one. Undefined when the list already fits; a problem when replacing would move
 * traffic (the retired upstream still has weight) or the primary is missing.
 */
export function adoptCanary(
  destinations: readonly WeightedDestination[],
  router: RouterSpec,
  ownerNamespace: string,
): { destinations: WeightedDestination[]; retired?: string } | { problem: string } | undefined {
  const current = readWeights(destinations, router, ownerNamespace);
  if ('weights' in current) return undefined;
  const primaries = destinations.filter((d) => sameRef(d.destination.upstream, router.primary.upstream, ownerNamespace));
  const others = destinations.filter((d) => !sameRef(d.destination.upstream, router.primary.upstream, ownerNamespace));
  if (primaries.length !== 1 || others.length > 1) return { problem: current.problem };
  const fresh: WeightedDestination = {
    destination: { upstream: { name: router.canary.upstream.name, namespace: router.canary.upstream.namespace } },
    weight: 0,
  };
  const retired = others[0];
  if (!retired) return { destinations: [...destinations, fresh] };
  const retiredName = retired.destination.upstream ? formatRef(retired.destination.upstream, ownerNamespace) : '(not an upstream)';
  if ((retired.weight ?? 0) > 0) {
    return {
      problem: `still sends weight ${retired.weight} to ${retiredName}: finish the previous rollout before naming the canary ${formatRef(router.canary.upstream)}`,
    };
  }
  return { destinations: destinations.map((d) => (d === retired ? fresh : d)), retired: retiredName };
}

/**
 * Route promotion's view of a destination list: when the new canary is not listed yet and can
 * take the retired upstream's place (adoptCanary), the list with it there at weight 0 — what
 * carries traffic now, and what the first weight write puts in place. Otherwise the list as read.
 * Prepare only reads (the read-only group); the writers adopt the canary with their first write.
 */
export function routePromotionView(
  destinations: WeightedDestination[],
  router: RouterSpec,
  ownerNamespace: string,
  mode: 'template' | 'route',
): WeightedDestination[] {
  if (mode !== 'route') return destinations;
  const adopted = adoptCanary(destinations, router, ownerNamespace);
  return adopted && !('problem' in adopted) ? adopted.destinations : destinations;
}

/** Gloo's reason when any reporter marked the object Rejected (solo-kit writes `status` or `namespacedStatuses`). */
export function glooRejection(object: unknown): string | undefined {
  if (!object || typeof object !== 'object') return undefined;
  for (const field of ['status', 'namespacedStatuses'] as const) {
    const status = (object as Record<string, unknown>)[field];
    const statuses = status && typeof status === 'object' ? (status as { statuses?: unknown }).statuses : undefined;
    if (!statuses || typeof statuses !== 'object') continue;
    for (const reporter of Object.keys(statuses)) {
      const state = glooState(status, reporter);
      if (state?.state === 'Rejected') return state.reason ?? 'no reason given';
    }
  }
  return undefined;
}

/** An object that can carry Gloo's verdict on a write: the written object, and the routes that use it. */
export interface VerdictSource {
  /** "VirtualService gloo-system/podinfo", for messages. */
  what: string;
  /** The object as it is now (its `status` is what counts). */
  read(): Promise<unknown>;
  /** A route that uses the written object: left out when it cannot be read (RBAC, deleted). */
  optional?: boolean;
}

/** Waits for Gloo's verdict on a write; returns where and why it was rejected, or undefined. */
export type VerdictWaiter = () => Promise<{ what: string; reason: string } | undefined>;

function statusText(object: unknown): string {
  const record = object && typeof object === 'object' ? (object as Record<string, unknown>) : {};
  return JSON.stringify([record.status ?? null, record.namespacedStatuses ?? null]);
}

const VERDICT_POLL_MS = 100;

/**
 * Called just before a write: notes each source's status, and returns the wait for the verdict on
 * the write. Gloo's status carries no generation and Gloo writes statuses asynchronously,
 * at most about once a second, only when they change — so a status counts only once it changed
 * after the write, or once `settleMs` (longer than Gloo's report interval) has passed: then an
 * unchanged status is Gloo's verdict on the new object too. A `Rejected` written after the write
 * ends the wait at once; so does a fresh status on every source.
 */
export async function watchVerdict(all: readonly VerdictSource[], settleMs: number): Promise<VerdictWaiter> {
  const read = await Promise.all(
    all.map(async (source) => {
      try {
        return { source, status: statusText(await source.read()) };
      } catch (error) {
        if (source.optional) return undefined;
        throw error;
      }
    }),
  );
  const kept = read.filter((entry) => entry !== undefined);
  const sources = kept.map((entry) => entry.source);
  const before = kept.map((entry) => entry.status);
  return async () => {
    const deadline = Date.now() + settleMs;
    for (;;) {
      const objects = await Promise.all(sources.map((source) => (source.optional ? source.read().catch(() => undefined) : source.read())));
      const changed = objects.map((object, i) => statusText(object) !== before[i]);
      const settled = Date.now() >= deadline || changed.every(Boolean);
      for (const [i, object] of objects.entries()) {
        const reason = glooRejection(object);
        if (reason !== undefined && (changed[i] || settled)) return { what: sources[i]?.what ?? '', reason };
      }
      if (settled) return undefined;
      await sleep(Math.min(VERDICT_POLL_MS, Math.max(0, deadline - Date.now())));
    }
  };
}

/** One read of an object holding weighted destinations (an UpstreamGroup, or a route's `multi`). */
export interface WeightedSnapshot {
  destinations: WeightedDestination[];
  /** The namespace Gloo resolves namespace-less refs against. */
  ownerNamespace: string;
}

export interface GuardedWrite<S extends WeightedSnapshot> {
  /** "UpstreamGroup gloo-system/podinfo", for messages. */
  what: string;
  router: RouterSpec;
  next: Weights;
  expected: Weights;
  retry: ConflictRetry;
  read(): Promise<S>;
  /** Writes the destinations with the snapshot's resourceVersion; lets a 409 ApiException through. */
  write(snapshot: S, destinations: WeightedDestination[]): Promise<void>;
  /** Called right before the write: the wait for Gloo's verdict on it (watchVerdict). */
  verdict(): Promise<VerdictWaiter>;
}

/** Gloo marked the object Rejected after Sluice's write: the weights are written, Gloo does not serve them. Keeps the name `Error` (not retried by the ASL). */
export class GlooRejectedError extends Error {
  readonly reason: string;
  constructor(message: string, reason: string) {
    super(message);
    this.reason = reason;
  }
}

/**
 * The weight write both routers share: refuse unwritable weights before any call;
 * write only while the object holds `expected` (else someone else is steering: ConflictError);
 * retry a 409 on a fresh read; treat an object already at `next` as done (a retried write that
 * landed). Gloo's verdict is read from statuses written after the write, on the object and on
 * every route that uses it (watchVerdict): a `Rejected` there is a failure. A rejected intermediate step is reverted to `expected`, so the object is where the
 * store says it is; a rejected all-on-one-side write (rollback, promotion) is left in place:
 * reverting it would leave the object half-shifted, the one state Sluice must never leave.
 */
export async function guardedSetWeights<S extends WeightedSnapshot>(write: GuardedWrite<S>): Promise<void> {
  const { what, router, next, expected } = write;
  assertWritableWeights(next, router.weightScale, what);
  const waiter = await retryOnConflict(
    `${what} patch`,
    async (): Promise<VerdictWaiter | undefined> => {
      const snapshot = await write.read();
      const found = readWeights(snapshot.destinations, router, snapshot.ownerNamespace);
      if ('problem' in found)
        throw new ConflictError(`${what} ${found.problem}: someone else changed it mid-rollout; stopping instead of fighting it`);
      if (sameWeights(found.weights, next)) return undefined;
      if (!sameWeights(found.weights, expected)) {
        throw new ConflictError(
          `${what} holds ${describeWeights(found.weights)}, but Sluice last wrote ${describeWeights(expected)}: someone else is steering; stopping instead of fighting it`,
        );
      }
      const wait = await write.verdict();
      await write.write(snapshot, withWeights(snapshot.destinations, next, router, snapshot.ownerNamespace));
      return wait;
    },
    write.retry,
  );
  if (!waiter) return;
  const rejected = await waiter();
  if (rejected === undefined) return;
  const { reason } = rejected;
  const where = rejected.what && rejected.what !== what ? ` (reported on ${rejected.what})` : '';
  let outcome: string;
  if (next.primary === 0 || next.canary === 0) {
    outcome = `left at ${describeWeights(next)} (all traffic on one side)`;
  } else {
    try {
      await guardedSetWeights({ ...write, next: expected, expected: next, verdict: async () => async () => undefined });
      outcome = `reverted to ${describeWeights(expected)}`;
    } catch (error) {
      outcome = `reverting to ${describeWeights(expected)} failed too (${error instanceof Error ? error.message : String(error)})`;
    }
  }
  throw new GlooRejectedError(
    `${what} was rejected by Gloo after Sluice wrote ${describeWeights(next)}${where}: ${reason}; ${outcome}`,
    reason,
  );
}

function sameWeights(a: Weights, b: Weights): boolean {
  return a.primary === b.primary && a.canary === b.canary;
}
