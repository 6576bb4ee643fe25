/**
 * The default TrafficRouter: a Gloo `UpstreamGroup` whose two destinations (primary and canary
 * upstreams) carry the weights, as the seed asks. Weights are written with a JSON merge patch
 * of the whole `spec.destinations` (a merge patch replaces arrays whole) carrying
 * `metadata.resourceVersion`, so a stale write gets 409 instead of overwriting someone else.
 */
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { RefusedError } from '../../core/errors.ts';
import { GLOO_KINDS, upstreamGroupSchema } from '../../core/gloo-schema.ts';
import type { GlooRoute, WeightedDestination } from '../../core/gloo-schema.ts';
import type { AffinityWrite, TrafficRouter } from '../../core/ports.ts';
import type { Weights } from '../../core/records.ts';
import type { RolloutSpec, RouterSpec } from '../../core/spec.ts';
import { promotionMode } from '../../core/spec.ts';
import { GlooRouteObject, assertUpstreamsExist, namedRoute, setMatchRoute, setRouteShadow } from './gloo-route.ts';
import { assertMarkerRouteOrder } from './gloo-marker-route.ts';
import type { MatchRule } from '../../core/match.ts';
import type { AffinityCookie } from '../../core/affinity.ts';
import { setAffinity } from './gloo-affinity.ts';
import type { GlooRouterOptions } from './gloo-route.ts';
import {
  adoptCanary,
  glooRejection,
  guardedSetWeights,
  readWeights,
  routePromotionView,
  sameRef,
  watchVerdict,
  writeMetadata,
} from './gloo-weights.ts';
import type { VerdictSource } from './gloo-weights.ts';
import {
  DEFAULT_CONFLICT_RETRY,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_STATUS_SETTLE_MS,
  describeRef,
  honourRetryAfter,
  isApiStatus,
  kubeClients,
  kubeError,
  requestOptions,
  resourceVersionOf,
  sleep,
} from '../kube/client.ts';
import type { ConflictRetry, ObjectRef } from '../kube/client.ts';

interface GroupSnapshot {
  object: Record<string, unknown>;
  destinations: WeightedDestination[];
  ownerNamespace: string;
  resourceVersion: string;
}

export class UpstreamGroupRouter implements TrafficRouter {
  readonly #spec: RolloutSpec;
  readonly #custom: CustomObjectsApi;
  readonly #ref: ObjectRef;
  readonly #timeoutMs: number;
  readonly #retry: ConflictRetry;
  readonly #settleMs: number;
  readonly #writer: string | undefined;

  constructor(options: GlooRouterOptions) {
    this.#spec = options.spec;
    this.#custom = kubeClients(options.kubeConfig).custom;
    const { name, namespace } = options.spec.spec.router;
    this.#ref = { kind: 'UpstreamGroup', resource: GLOO_KINDS.UpstreamGroup.plural, namespace, name };
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#retry = options.conflictRetry ?? DEFAULT_CONFLICT_RETRY;
    this.#settleMs = options.statusSettleMs ?? DEFAULT_STATUS_SETTLE_MS;
    this.#writer = options.writer;
  }

  get #router(): RouterSpec {
    return this.#spec.spec.router;
  }

  get #what(): string {
    return describeRef(this.#ref);
  }

  async #read(notFound: 'refused' | 'error' = 'error'): Promise<GroupSnapshot> {
    const { group, version, plural } = GLOO_KINDS.UpstreamGroup;
    const { name, namespace } = this.#router;
    let raw: unknown;
    try {
      raw = await honourRetryAfter(() =>
        this.#custom.getNamespacedCustomObject({ group, version, plural, namespace, name }, requestOptions(this.#timeoutMs)),
      );
    } catch (error) {
      throw kubeError(error, 'get', this.#ref, { notFound, hint: 'spec.router.name' });
    }
    const parsed = upstreamGroupSchema.safeParse(raw);
    if (!parsed.success)
      throw new Error(
        `${this.#what} is not an UpstreamGroup Sluice can read: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    return {
      object: parsed.data,
      destinations: parsed.data.spec.destinations,
      ownerNamespace: namespace,
      resourceVersion: resourceVersionOf(raw, this.#what),
    };
  }

  /** Replaces the whole destination list; a 409 passes through unmapped for the retry loop. */
  async #write(snapshot: GroupSnapshot, destinations: WeightedDestination[]): Promise<void> {
    const { group, version, plural } = GLOO_KINDS.UpstreamGroup;
    const { name, namespace } = this.#router;
    const body = { metadata: writeMetadata(snapshot.resourceVersion, this.#writer), spec: { destinations } };
    try {
      await honourRetryAfter(() =>
        this.#custom.patchNamespacedCustomObject(
          { group, version, plural, namespace, name, body },
          requestOptions(this.#timeoutMs, 'merge'),
        ),
      );
    } catch (error) {
      if (isApiStatus(error, 409)) throw error;
      throw kubeError(error, 'patch', this.#ref);
    }
  }

  /** Gloo's rejection reason now (after the settle time), on the group or a route that uses it, if any. */
  async rejection(): Promise<string | undefined> {
    if (this.#settleMs > 0) await sleep(this.#settleMs);
    for (const source of await this.#verdictSources()) {
      let object: unknown;
      try {
        object = await source.read();
      } catch (error) {
        if (source.optional) continue;
        throw error;
      }
      const reason = glooRejection(object);
      if (reason) return reason;
    }
    return undefined;
  }

  /**
   * Where Gloo may report its verdict on a weight write: the group (a missing Upstream), and every
   * VirtualService/RouteTable whose route uses it — an error caused by the group's weights is
   * reported there, not on the group. The named route, or else every route found referencing the
   * group (a cluster-wide list; when RBAC refuses it, the group alone).
   */
  async #verdictSources(): Promise<VerdictSource[]> {
    const group: VerdictSource = { what: this.#what, read: async () => (await this.#read()).object };
    const named = namedRoute(this.#router);
    if (named) return [group, new GlooRouteObject(this.#custom, named, this.#timeoutMs).verdictSource(true)];
    this.#routeSources ??= this.#findRouteSources().catch(() => []);
    return [group, ...(await this.#routeSources)];
  }

  #routeSources: Promise<VerdictSource[]> | undefined;

  async #findRouteSources(): Promise<VerdictSource[]> {
    const found: VerdictSource[] = [];
    for (const kind of ['VirtualService', 'RouteTable'] as const) {
      const { group, version, plural } = GLOO_KINDS[kind];
      const list = await honourRetryAfter(() =>
        this.#custom.listCustomObjectForAllNamespaces({ group, version, resourcePlural: plural }, requestOptions(this.#timeoutMs)),
      );
      for (const item of (list as { items?: unknown[] } | undefined)?.items ?? []) {
        const owner = item as {
          metadata?: { name?: string; namespace?: string };
          spec?: { virtualHost?: { routes?: GlooRoute[] }; routes?: GlooRoute[] };
        };
        const routes = (kind === 'VirtualService' ? owner.spec?.virtualHost?.routes : owner.spec?.routes) ?? [];
        const namespace = owner.metadata?.namespace ?? '';
        if (owner.metadata?.name && routes.some((route) => this.#referencesGroup(route, namespace))) {
          found.push(
            new GlooRouteObject(this.#custom, { kind, namespace, name: owner.metadata.name }, this.#timeoutMs).verdictSource(true),
          );
        }
      }
    }
    return found;
  }

  #referencesGroup = (route: GlooRoute, ownerNamespace: string): boolean =>
    sameRef(route.routeAction?.upstreamGroup, { name: this.#router.name, namespace: this.#router.namespace }, ownerNamespace);

  /**
   * Some route must send traffic to the group, or moving weights changes nothing a user sees.
   * With `router.route` named, that route must reference the group; otherwise any VirtualService
   * or RouteTable route in the cluster may (a cluster-wide list: RBAC must allow it).
   */
  async #assertRouted(): Promise<void> {
    const target = namedRoute(this.#router);
    if (target) {
      const object = new GlooRouteObject(this.#custom, target, this.#timeoutMs);
      const snapshot = await object.read('refused');
      const { index, route } = object.locate(snapshot.routes, (r) => this.#referencesGroup(r, target.namespace), `reference ${this.#what}`);
      if (!this.#referencesGroup(route, target.namespace)) {
        throw new RefusedError(
          `${object.routeLabel(index, route)} (spec.router.route) does not send traffic to ${this.#what} (routeAction.upstreamGroup)`,
        );
      }
      if (this.#spec.spec.strategy.match || this.#spec.spec.strategy.sessionAffinity)
        await assertMarkerRouteOrder(object, {
          fallback: (r) => this.#referencesGroup(r, target.namespace),
          what: `reference ${this.#what}`,
        });
      return;
    }
    for (const kind of ['VirtualService', 'RouteTable'] as const) {
      const { group, version, plural } = GLOO_KINDS[kind];
      let list: unknown;
      try {
        list = await this.#custom.listCustomObjectForAllNamespaces(
          { group, version, resourcePlural: plural },
          requestOptions(this.#timeoutMs),
        );
      } catch (error) {
        const mapped = kubeError(error, 'list', { kind, resource: plural, namespace: '*' });
        if (isApiStatus(error, 403)) throw new RefusedError(`${mapped.message}; or name the route in spec.router.route`, { cause: error });
        throw mapped;
      }
      const items = (list as { items?: unknown[] } | undefined)?.items ?? [];
      for (const item of items) {
        const owner = item as {
          metadata?: { namespace?: string };
          spec?: { virtualHost?: { routes?: GlooRoute[] }; routes?: GlooRoute[] };
        };
        const routes = (kind === 'VirtualService' ? owner.spec?.virtualHost?.routes : owner.spec?.routes) ?? [];
        if (routes.some((route) => this.#referencesGroup(route, owner.metadata?.namespace ?? ''))) return;
      }
    }
    throw new RefusedError(
      `no VirtualService or RouteTable route references ${this.#what} (routeAction.upstreamGroup): traffic would not follow its weights`,
    );
  }

  /** Refuses unless the list is the primary and canary, or (route promotion) can adopt the new canary in the retired one's place. */
  #assertFits(snapshot: GroupSnapshot): void {
    const found = readWeights(snapshot.destinations, this.#router, snapshot.ownerNamespace);
    if (!('problem' in found)) return;
    // Route promotion: the new version's upstream takes the retired one's place at weight 0, with the first weight write.
    const adopted =
      promotionMode(this.#spec) === 'route' ? adoptCanary(snapshot.destinations, this.#router, snapshot.ownerNamespace) : undefined;
    if (!adopted || 'problem' in adopted) throw new RefusedError(`${this.#what} ${adopted?.problem ?? found.problem}`);
  }

  /** The group as it carries traffic: with route promotion's not-yet-adopted canary in place at weight 0. */
  async #readView(): Promise<GroupSnapshot> {
    const snapshot = await this.#read();
    const mode = promotionMode(this.#spec);
    return { ...snapshot, destinations: routePromotionView(snapshot.destinations, this.#router, snapshot.ownerNamespace, mode) };
  }

  /** Reads only: Prepare runs it in the read-only Kubernetes group. */
  async reconcile(): Promise<void> {
    const snapshot = await this.#read('refused');
    this.#assertFits(snapshot);
    await assertUpstreamsExist(this.#custom, this.#router, this.#timeoutMs);
    await this.#assertRouted();
    // Checked last: the more specific reasons above (a missing Upstream) also make Gloo reject the group.
    const rejected = glooRejection(snapshot.object);
    if (rejected !== undefined) throw new RefusedError(`${this.#what} is Rejected by Gloo: ${rejected}`);
  }

  async getWeights(): Promise<Weights> {
    const snapshot = await this.#readView();
    const found = readWeights(snapshot.destinations, this.#router, snapshot.ownerNamespace);
    if ('problem' in found) throw new RefusedError(`${this.#what} ${found.problem}`);
    return found.weights;
  }

  async setWeights(next: Weights, expected: Weights): Promise<void> {
    await guardedSetWeights({
      what: this.#what,
      router: this.#router,
      next,
      expected,
      retry: this.#retry,
      read: () => this.#readView(),
      write: (snapshot, destinations) => this.#write(snapshot, destinations),
      verdict: async () => watchVerdict(await this.#verdictSources(), this.#settleMs),
    });
  }

  async setMatch(rules: readonly MatchRule[] | null): Promise<void> {
    const target = namedRoute(this.#router);
    if (!target) throw new RefusedError(`A/B testing needs the route that sends traffic to ${this.#what}: set spec.router.route`);
    const object = new GlooRouteObject(this.#custom, target, this.#timeoutMs);
    await setMatchRoute(
      object,
      { fallback: (r) => this.#referencesGroup(r, target.namespace), what: `reference ${this.#what}` },
      this.#spec,
      rules,
      { retry: this.#retry, settleMs: this.#settleMs },
    );
  }

  async setAffinity(cookie: AffinityCookie | null, options: AffinityWrite = {}): Promise<void> {
    const target = namedRoute(this.#router);
    if (!target)
      throw new RefusedError(
        `session affinity needs the route that sends traffic to ${this.#what} for its cookie route: set spec.router.route`,
      );
    await setAffinity(
      this.#spec,
      {
        what: this.#what,
        read: () => this.#read(),
        write: (snapshot, destinations) => this.#write(snapshot, destinations),
        verdict: async () => watchVerdict(await this.#verdictSources(), this.#settleMs),
      },
      new GlooRouteObject(this.#custom, target, this.#timeoutMs),
      { fallback: (r) => this.#referencesGroup(r, target.namespace), what: `reference ${this.#what}` },
      cookie,
      { retry: this.#retry, settleMs: this.#settleMs },
      options,
    );
  }

  async setShadow(shadow: { percentage: number } | null): Promise<void> {
    const target = namedRoute(this.#router);
    if (!target) throw new RefusedError(`shadowing needs the route that sends traffic to ${this.#what}: set spec.router.route`);
    const object = new GlooRouteObject(this.#custom, target, this.#timeoutMs);
    await setRouteShadow(
      object,
      (r) => this.#referencesGroup(r, target.namespace),
      `reference ${this.#what}`,
      this.#router.canary.upstream,
      shadow,
      {
        retry: this.#retry,
        settleMs: this.#settleMs,
      },
    );
  }
}
