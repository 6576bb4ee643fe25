/**
 * Gloo routes: the `RouteRouter` for `router.kind: VirtualService | RouteTable` (weights on a
 * route's `routeAction.multi.destinations`, the way Flagger drives Gloo), and the route handling
 * the UpstreamGroup router shares (shadowing on `router.route`, finding the route that sends
 * traffic to the group).
 *
 * Writes are a merge patch of the whole route list (`spec.virtualHost.routes` of a VirtualService,
 * `spec.routes` of a RouteTable) carrying `metadata.resourceVersion`, rather than a JSON patch
 * `test` + `replace` on one route's destinations: the list is written back exactly as read except
 * for the one field Sluice changes, any concurrent write anywhere in the object turns ours into a
 * 409 (the same concurrency rule as the UpstreamGroup, handled by the same code), while a failed
 * JSON-patch `test` comes back as a 422 that cannot be told from a validation error, and index
 * paths would silently hit another route if someone inserted one.
 */
import type { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { RefusedError } from '../../core/errors.ts';
import { GLOO_KINDS, routeTableSchema, virtualServiceSchema } from '../../core/gloo-schema.ts';
import { delegatesTo } from '../../core/gloo-delegation.ts';
import { glooMatchersFor, isMarkerRouteName, markerRouteName } from '../../core/match.ts';
import type { MatchRule } from '../../core/match.ts';
import type { AffinityCookie } from '../../core/affinity.ts';
import { setAffinity } from './gloo-affinity.ts';
import { assertMarkerRouteOrder, setMarkerRoute } from './gloo-marker-route.ts';
import type { WeightedRouteLocator } from './gloo-marker-route.ts';
import type { RouteTableIdentity } from '../../core/gloo-delegation.ts';
import type { GlooRoute, ResourceRef, WeightedDestination } from '../../core/gloo-schema.ts';
import type { AffinityWrite, TrafficRouter } from '../../core/ports.ts';
import type { Weights } from '../../core/records.ts';
import type { RolloutSpec, RouterSpec } from '../../core/spec.ts';
import { promotionMode } from '../../core/spec.ts';
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
import type { VerdictSource, VerdictWaiter } from './gloo-weights.ts';
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
  retryOnConflict,
  sleep,
} from '../kube/client.ts';
import type { ConflictRetry, ObjectRef } from '../kube/client.ts';

export type RouteKind = 'VirtualService' | 'RouteTable';

/** A route inside a VirtualService or RouteTable: by its `name`, else by its index. */
export interface RouteTarget {
  kind: RouteKind;
  namespace: string;
  name: string;
  routeName?: string | undefined;
  index?: number | undefined;
}

/** Knobs shared by the Gloo routers (tests shorten them). */
export interface GlooRouterOptions {
  kubeConfig: KubeConfig;
  spec: RolloutSpec;
  requestTimeoutMs?: number;
  conflictRetry?: ConflictRetry;
  /**
   * The longest wait for Gloo's verdict on a write (watchVerdict): longer than Gloo's status
   * report interval (about 1 s). Tests against a stand-in with a short status lag shorten it.
   */
  statusSettleMs?: number;
  /** The execution writing (annotated on every weight write, WRITER_ANNOTATION); absent for reads-only uses. */
  writer?: string;
}

/** `router.route` as a target, for the UpstreamGroup router (shadowing, route reference). */
export function namedRoute(router: RouterSpec): RouteTarget | undefined {
  const ref = router.route;
  if (!ref) return undefined;
  const common = { namespace: ref.namespace, routeName: ref.name, index: ref.index };
  if (ref.virtualService) return { kind: 'VirtualService', name: ref.virtualService, ...common };
  if (ref.routeTable) return { kind: 'RouteTable', name: ref.routeTable, ...common };
  return undefined;
}

export interface RouteSnapshot {
  object: Record<string, unknown>;
  routes: GlooRoute[];
  resourceVersion: string;
}

/** Reads and writes the route list of one VirtualService or RouteTable. */
export class GlooRouteObject {
  readonly target: RouteTarget;
  readonly ref: ObjectRef;
  readonly #custom: CustomObjectsApi;
  readonly #timeoutMs: number;
  readonly #writer: string | undefined;

  constructor(custom: CustomObjectsApi, target: RouteTarget, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS, writer?: string) {
    this.#writer = writer;
    this.target = target;
    this.ref = { kind: target.kind, resource: GLOO_KINDS[target.kind].plural, namespace: target.namespace, name: target.name };
    this.#custom = custom;
    this.#timeoutMs = timeoutMs;
  }

  get what(): string {
    return describeRef(this.ref);
  }

  routeLabel(index: number, route: GlooRoute | undefined): string {
    return `${this.what} route ${route?.name ? `'${route.name}'` : `#${index}`}`;
  }

  async read(notFound: 'refused' | 'error' = 'error'): Promise<RouteSnapshot> {
    const { group, version, plural } = GLOO_KINDS[this.target.kind];
    let raw: unknown;
    try {
      raw = await honourRetryAfter(() =>
        this.#custom.getNamespacedCustomObject(
          { group, version, plural, namespace: this.target.namespace, name: this.target.name },
          requestOptions(this.#timeoutMs),
        ),
      );
    } catch (error) {
      throw kubeError(error, 'get', this.ref, { notFound, hint: 'spec.router.route' });
    }
    const parsed = this.target.kind === 'VirtualService' ? virtualServiceSchema.safeParse(raw) : routeTableSchema.safeParse(raw);
    if (!parsed.success)
      throw new Error(
        `${this.what} is not a Gloo ${this.target.kind} Sluice can read: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    const object: Record<string, unknown> = parsed.data;
    const spec = parsed.data.spec as { virtualHost?: { routes?: GlooRoute[] }; routes?: GlooRoute[] };
    const routes = (this.target.kind === 'VirtualService' ? spec.virtualHost?.routes : spec.routes) ?? [];
    return { object, routes, resourceVersion: resourceVersionOf(raw, this.what) };
  }

  /**
   * The route by name, else by index, else the only one `fallback` accepts. Sluice's own marker
   * routes (match.ts) are never the weighted route and do not count for the index: inserting one
   * ahead of the weighted route does not move `spec.router.route.index` onto it.
   */
  locate(routes: readonly GlooRoute[], fallback: (route: GlooRoute) => boolean, fallbackWhat: string): { index: number; route: GlooRoute } {
    const { routeName, index } = this.target;
    const own = routes.flatMap((route, i) => (isMarkerRouteName(route.name) ? [] : [i]));
    let at: number;
    if (routeName !== undefined) {
      at = routes.findIndex((route) => route.name === routeName);
      if (at < 0) throw new RefusedError(`${this.what} has no route named '${routeName}' (spec.router.route.name)`);
    } else if (index !== undefined) {
      at = own[index] ?? -1;
      if (at < 0) throw new RefusedError(`${this.what} has ${own.length} routes; spec.router.route.index ${index} is outside them`);
    } else {
      const matches = own.filter((i) => routes[i] !== undefined && fallback(routes[i]));
      if (matches.length !== 1)
        throw new RefusedError(`${this.what} has ${matches.length} routes that ${fallbackWhat}: name the route in spec.router.route.name`);
      at = matches[0] ?? 0;
    }
    const route = routes[at];
    if (!route) throw new RefusedError(`${this.what} has no route #${at}`);
    return { index: at, route };
  }

  /** Writes the whole route list back with the read's resourceVersion; a 409 passes through unmapped. */
  async writeRoutes(routes: GlooRoute[], resourceVersion: string): Promise<void> {
    const { group, version, plural } = GLOO_KINDS[this.target.kind];
    const spec = this.target.kind === 'VirtualService' ? { virtualHost: { routes } } : { routes };
    try {
      await honourRetryAfter(() =>
        this.#custom.patchNamespacedCustomObject(
          {
            group,
            version,
            plural,
            namespace: this.target.namespace,
            name: this.target.name,
            body: { metadata: writeMetadata(resourceVersion, this.#writer), spec },
          },
          requestOptions(this.#timeoutMs, 'merge'),
        ),
      );
    } catch (error) {
      if (isApiStatus(error, 409)) throw error;
      throw kubeError(error, 'patch', this.ref);
    }
  }

  /** This object as a source of Gloo's verdict (its status); `optional` when it only uses the written object. */
  verdictSource(optional = false): VerdictSource {
    return { what: this.what, read: async () => (await this.read()).object, optional };
  }

  /** Gloo's rejection reason on the object now (after the settle time), if any. */
  async rejection(settleMs: number): Promise<string | undefined> {
    if (settleMs > 0) await sleep(settleMs);
    return glooRejection((await this.read()).object);
  }
}

/**
 * Sets (or removes) `options.shadowing { upstream: canary, percentage }` on the located route.
 * Touches nothing else of the route; a no-op when the route already says the same.
 */
export async function setRouteShadow(
  object: GlooRouteObject,
  fallback: (route: GlooRoute) => boolean,
  fallbackWhat: string,
  canary: ResourceRef,
  shadow: { percentage: number } | null,
  tuning: { retry: ConflictRetry; settleMs: number },
): Promise<void> {
  if (shadow && !(shadow.percentage > 0 && shadow.percentage <= 100))
    throw new Error(`shadow percentage ${shadow.percentage} is outside (0, 100]`);
  let label = object.what;
  const waiter = await retryOnConflict(
    `${object.what} patch`,
    async (): Promise<VerdictWaiter | undefined> => {
      const snapshot = await object.read();
      const { index, route } = object.locate(snapshot.routes, fallback, fallbackWhat);
      label = object.routeLabel(index, route);
      const current = route.options?.shadowing;
      const unchanged = shadow
        ? current?.percentage === shadow.percentage &&
          sameRef(current.upstream, { name: canary.name, namespace: canary.namespace ?? '' }, object.target.namespace)
        : current === undefined;
      if (unchanged) return undefined;
      const { shadowing: _old, ...rest } = route.options ?? {};
      const options = shadow
        ? { ...rest, shadowing: { upstream: { name: canary.name, namespace: canary.namespace }, percentage: shadow.percentage } }
        : rest;
      const { options: _previous, ...bare } = route;
      const updated: GlooRoute = Object.keys(options).length ? { ...bare, options } : bare;
      const wait = await watchVerdict([object.verdictSource()], tuning.settleMs);
      await object.writeRoutes(
        snapshot.routes.map((r, i) => (i === index ? updated : r)),
        snapshot.resourceVersion,
      );
      return wait;
    },
    tuning.retry,
  );
  if (!waiter) return;
  const rejected = await waiter();
  if (rejected !== undefined)
    throw new Error(`${label} was rejected by Gloo after Sluice ${shadow ? 'set' : 'removed'} shadowing: ${rejected.reason}`);
}

/** The marker name of a rollout's A/B route (strategy.match). */
export function abRouteName(spec: RolloutSpec): string {
  return markerRouteName('ab', spec.metadata.name);
}

/** A/B testing: the route sending requests that match `rules` to the canary, ahead of the weighted route (null removes it). */
export async function setMatchRoute(
  object: GlooRouteObject,
  locator: WeightedRouteLocator,
  spec: RolloutSpec,
  rules: readonly MatchRule[] | null,
  tuning: { retry: ConflictRetry; settleMs: number },
): Promise<void> {
  const canary = spec.spec.router.canary.upstream;
  const route = rules
    ? { name: abRouteName(spec), matchers: (weighted: GlooRoute) => glooMatchersFor(rules, weighted.matchers ?? []), upstream: canary }
    : null;
  await setMarkerRoute(object, locator, abRouteName(spec), route, tuning);
}

/** Refuses unless both Upstream objects exist (preflight: nothing is written). */
export async function assertUpstreamsExist(custom: CustomObjectsApi, router: RouterSpec, timeoutMs: number): Promise<void> {
  const { group, version, plural } = GLOO_KINDS.Upstream;
  for (const side of ['primary', 'canary'] as const) {
    const { name, namespace } = router[side].upstream;
    try {
      await custom.getNamespacedCustomObject({ group, version, plural, namespace, name }, requestOptions(timeoutMs));
    } catch (error) {
      throw kubeError(
        error,
        'get',
        { kind: 'Upstream', resource: plural, namespace, name },
        { notFound: 'refused', hint: `spec.router.${side}.upstream` },
      );
    }
  }
}

function routeTarget(router: RouterSpec): RouteTarget {
  if (router.kind === 'UpstreamGroup') throw new Error('RouteRouter drives VirtualService and RouteTable routes, not an UpstreamGroup');
  const ref = router.route;
  const named = router.kind === 'VirtualService' ? ref?.virtualService : ref?.routeTable;
  return named && ref
    ? { kind: router.kind, namespace: ref.namespace, name: named, routeName: ref.name, index: ref.index }
    : { kind: router.kind, namespace: router.namespace, name: router.name, routeName: ref?.name, index: ref?.index };
}

interface LocatedRoute {
  snapshot: RouteSnapshot;
  index: number;
  route: GlooRoute;
  label: string;
  destinations: WeightedDestination[];
}

/** Weights on a VirtualService or RouteTable route's `routeAction.multi.destinations`. */
export class RouteRouter implements TrafficRouter {
  readonly #spec: RolloutSpec;
  readonly #custom: CustomObjectsApi;
  readonly #object: GlooRouteObject;
  readonly #timeoutMs: number;
  readonly #retry: ConflictRetry;
  readonly #settleMs: number;

  constructor(options: GlooRouterOptions) {
    this.#spec = options.spec;
    this.#custom = kubeClients(options.kubeConfig).custom;
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#retry = options.conflictRetry ?? DEFAULT_CONFLICT_RETRY;
    this.#settleMs = options.statusSettleMs ?? DEFAULT_STATUS_SETTLE_MS;
    this.#object = new GlooRouteObject(this.#custom, routeTarget(options.spec.spec.router), this.#timeoutMs, options.writer);
  }

  get #router(): RouterSpec {
    return this.#spec.spec.router;
  }

  /** Without a route name or index, the route is the only one whose `multi` lists the primary upstream. */
  #carriesPrimary = (route: GlooRoute): boolean =>
    (route.routeAction?.multi?.destinations ?? []).some((d) =>
      sameRef(d.destination.upstream, this.#router.primary.upstream, this.#object.target.namespace),
    );

  async #readRoute(notFound: 'refused' | 'error' = 'error'): Promise<LocatedRoute> {
    const snapshot = await this.#object.read(notFound);
    const { index, route } = this.#object.locate(
      snapshot.routes,
      this.#carriesPrimary,
      'send weighted (multi) traffic to the primary upstream',
    );
    const label = this.#object.routeLabel(index, route);
    const destinations = route.routeAction?.multi?.destinations;
    if (!destinations)
      throw new RefusedError(`${label} has no routeAction.multi destinations: Sluice sets the weights of a multi-destination route`);
    return { snapshot, index, route, label, destinations };
  }

  async #writeDestinations(snapshot: RouteSnapshot, index: number, route: GlooRoute, destinations: WeightedDestination[]): Promise<void> {
    const updated: GlooRoute = { ...route, routeAction: { ...route.routeAction, multi: { ...route.routeAction?.multi, destinations } } };
    await this.#object.writeRoutes(
      snapshot.routes.map((r, i) => (i === index ? updated : r)),
      snapshot.resourceVersion,
    );
  }

  /** Refuses unless the route lists the primary and canary, or (route promotion) can adopt the new canary in the retired one's place. */
  #assertFits(read: LocatedRoute): void {
    const found = readWeights(read.destinations, this.#router, this.#object.target.namespace);
    if (!('problem' in found)) return;
    const adopted =
      promotionMode(this.#spec) === 'route' ? adoptCanary(read.destinations, this.#router, this.#object.target.namespace) : undefined;
    if (!adopted || 'problem' in adopted) throw new RefusedError(`${read.label} ${adopted?.problem ?? found.problem}`);
  }

  /** The route as it carries traffic: with route promotion's not-yet-adopted canary in place at weight 0 (the first write adopts it). */
  async #readView(): Promise<LocatedRoute> {
    const read = await this.#readRoute();
    const mode = promotionMode(this.#spec);
    return { ...read, destinations: routePromotionView(read.destinations, this.#router, this.#object.target.namespace, mode) };
  }

  /** Reads only: Prepare runs it in the read-only Kubernetes group. */
  async reconcile(): Promise<void> {
    const located = await this.#readRoute('refused');
    this.#assertFits(located);
    await assertUpstreamsExist(this.#custom, this.#router, this.#timeoutMs);
    // Checked last: the more specific reasons above (a missing Upstream) also make Gloo reject the object.
    const rejected = glooRejection(located.snapshot.object);
    if (rejected !== undefined) throw new RefusedError(`${this.#object.what} is Rejected by Gloo: ${rejected}`);
    await this.#assertDelegated(located.snapshot.object);
    if (this.#spec.spec.strategy.match || this.#spec.spec.strategy.sessionAffinity)
      await assertMarkerRouteOrder(this.#object, this.#locator());
  }

  /**
   * A RouteTable carries traffic only when a VirtualService delegates to it, directly or through
   * other RouteTables (Gloo's `delegateAction`: a ref or a selector, rules in core/gloo-delegation.ts).
   * When the spec names the VirtualService (`router.route.virtualService`, same namespace), preflight
   * reads it by name; otherwise it lists VirtualServices in every namespace (and, when none
   * delegates directly, RouteTables, to follow a chain), which RBAC must allow — a 403 refuses,
   * asking for the VirtualService's name instead.
   */
  async #assertDelegated(table: Record<string, unknown>): Promise<void> {
    if (this.#router.kind !== 'RouteTable') return;
    const ref = this.#router.route;
    const { name, namespace } = this.#object.target;
    const identity = { name, namespace, labels: (table.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {} };
    if (ref?.virtualService) {
      const vs = new GlooRouteObject(
        this.#custom,
        { kind: 'VirtualService', name: ref.virtualService, namespace: ref.namespace },
        this.#timeoutMs,
      );
      const { routes } = await vs.read('refused');
      if (!routes.some((route) => delegatesTo(route, ref.namespace, identity)))
        throw new RefusedError(
          `${vs.what} has no route delegating to ${this.#object.what} (delegateAction): traffic would not reach the table's weights`,
        );
      return;
    }
    const services = await this.#listAll('VirtualService');
    if (services.some((vs) => vs.routes.some((route) => delegatesTo(route, vs.namespace, identity)))) return;
    // A chain VirtualService -> RouteTable -> … -> this table: walk up from the table.
    const tables = await this.#listAll('RouteTable');
    const reached = new Set<string>([`${namespace}/${name}`]);
    let frontier: RouteTableIdentity[] = [identity];
    for (let depth = 0; depth < tables.length && frontier.length; depth++) {
      const parents = tables.filter(
        (t) =>
          !reached.has(`${t.namespace}/${t.name}`) && t.routes.some((route) => frontier.some((f) => delegatesTo(route, t.namespace, f))),
      );
      if (services.some((vs) => vs.routes.some((route) => parents.some((p) => delegatesTo(route, vs.namespace, p))))) return;
      for (const p of parents) reached.add(`${p.namespace}/${p.name}`);
      frontier = parents;
    }
    throw new RefusedError(
      `no VirtualService delegates to ${this.#object.what} (delegateAction ref or selector, directly or through other RouteTables): traffic would not reach the table's weights`,
    );
  }

  /** Every VirtualService or RouteTable in the cluster with its routes (a cluster-wide list). */
  async #listAll(kind: RouteKind): Promise<Array<RouteTableIdentity & { routes: GlooRoute[] }>> {
    const { group, version, plural } = GLOO_KINDS[kind];
    let list: unknown;
    try {
      list = await honourRetryAfter(() =>
        this.#custom.listCustomObjectForAllNamespaces({ group, version, resourcePlural: plural }, requestOptions(this.#timeoutMs)),
      );
    } catch (error) {
      const mapped = kubeError(error, 'list', { kind, resource: plural, namespace: '*' });
      if (isApiStatus(error, 403))
        throw new RefusedError(`${mapped.message}; or name the delegating VirtualService in spec.router.route.virtualService`, {
          cause: error,
        });
      throw mapped;
    }
    return ((list as { items?: unknown[] } | undefined)?.items ?? []).flatMap((item) => {
      const owner = item as {
        metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
        spec?: { virtualHost?: { routes?: GlooRoute[] }; routes?: GlooRoute[] };
      };
      if (!owner.metadata?.name) return [];
      const routes = (kind === 'VirtualService' ? owner.spec?.virtualHost?.routes : owner.spec?.routes) ?? [];
      return [{ name: owner.metadata.name, namespace: owner.metadata.namespace ?? '', labels: owner.metadata.labels ?? {}, routes }];
    });
  }

  async getWeights(): Promise<Weights> {
    const { label, destinations } = await this.#readView();
    const found = readWeights(destinations, this.#router, this.#object.target.namespace);
    if ('problem' in found) throw new RefusedError(`${label} ${found.problem}`);
    return found.weights;
  }

  async setWeights(next: Weights, expected: Weights): Promise<void> {
    await guardedSetWeights({
      what: this.#object.what,
      router: this.#router,
      next,
      expected,
      retry: this.#retry,
      read: async () => ({ ...(await this.#readView()), ownerNamespace: this.#object.target.namespace }),
      write: (read, destinations) => this.#writeDestinations(read.snapshot, read.index, read.route, destinations),
      verdict: () => watchVerdict([this.#object.verdictSource()], this.#settleMs),
    });
  }

  /** Gloo's rejection reason on the route's object now (after the settle time), if any. */
  async rejection(): Promise<string | undefined> {
    return this.#object.rejection(this.#settleMs);
  }

  #locator(): WeightedRouteLocator {
    return { fallback: this.#carriesPrimary, what: 'send weighted (multi) traffic to the primary upstream' };
  }

  async setMatch(rules: readonly MatchRule[] | null): Promise<void> {
    await setMatchRoute(this.#object, this.#locator(), this.#spec, rules, { retry: this.#retry, settleMs: this.#settleMs });
  }

  async setAffinity(cookie: AffinityCookie | null, options: AffinityWrite = {}): Promise<void> {
    await setAffinity(
      this.#spec,
      {
        what: this.#object.what,
        read: async () => ({ ...(await this.#readRoute()), ownerNamespace: this.#object.target.namespace }),
        write: (read, destinations) => this.#writeDestinations(read.snapshot, read.index, read.route, destinations),
        verdict: () => watchVerdict([this.#object.verdictSource()], this.#settleMs),
      },
      this.#object,
      this.#locator(),
      cookie,
      { retry: this.#retry, settleMs: this.#settleMs },
      options,
    );
  }

  async setShadow(shadow: { percentage: number } | null): Promise<void> {
    await setRouteShadow(
      this.#object,
      this.#carriesPrimary,
      'send weighted (multi) traffic to the primary upstream',
      this.#router.canary.upstream,
      shadow,
      {
        retry: this.#retry,
        settleMs: this.#settleMs,
      },
    );
  }
}
