/**
 * The gateway's routing table, as Envoy holds what Gloo translated: the served VirtualService and
 * every UpstreamGroup and RouteTable. A request takes the first route whose matcher fits its path,
 * headers and query parameters (Gloo's semantics: lambdas/core/match.ts) (following `delegateAction` into the RouteTables it selects) and goes to one
 * destination picked at random by the current weights (`routeAction.upstreamGroup`, `multi` or
 * `single`); `options.shadowing` names a mirror. Weight changes are recorded as the gateway
 * applies them, and waiters wake on each.
 */
import type { GlooRoute, ResourceRef, UpstreamGroup, VirtualService, WeightedDestination } from '../../../lambdas/core/gloo-schema.ts';
import { delegatesTo, isDelegating } from '../../../lambdas/core/gloo-delegation.ts';
import type { RouteTableIdentity } from '../../../lambdas/core/gloo-delegation.ts';
import type { Random } from '../random.ts';
import { glooRouteFits } from '../../../lambdas/core/match.ts';
import type { GlooRequestMatcher, MatchableRequest } from '../../../lambdas/core/match.ts';

export interface GatewayUpstream {
  name: string;
  namespace: string;
  /** host:port of the process serving it (a Gloo Upstream's spec.static.hosts[0]). */
  address: string;
}

/** An upstream with its Envoy cluster name and parsed address. */
export interface Target {
  upstream: GatewayUpstream;
  cluster: string;
  host: string;
  port: number;
}

/** The weights of the served route as the gateway saw them change through the watch. */
export interface WeightChange {
  /** Epoch ms the gateway applied it. */
  at: number;
  /** Upstream name → weight (the route's destinations; a `single` route is { name: 1 }). */
  weights: Record<string, number>;
  /** The route's mirroring at that moment, if any. */
  shadow?: { upstream: string; percentage: number };
}

/** A header the route adds to the user's answer (Gloo's `headerManipulation.responseHeadersToAdd`). */
export interface ResponseHeader {
  key: string;
  value: string;
  /** Envoy's `append` (default true): beside the upstream's own values; false replaces them. */
  append: boolean;
}

type Destination = {
  target: Target | undefined;
  name: string;
  weight: number;
  /** The destination's `options.headerManipulation.responseHeadersToAdd` (session affinity's Set-Cookie). */
  responseHeaders?: ResponseHeader[];
};

/** A weighted destination's response headers as Envoy adds them (entries without a key are skipped; `append` defaults to true). */
function responseHeadersOf(d: WeightedDestination): ResponseHeader[] {
  return (d.options?.headerManipulation?.responseHeadersToAdd ?? []).flatMap((o) =>
    o.header?.key ? [{ key: o.header.key, value: o.header.value ?? '', append: o.append ?? true }] : [],
  );
}

export interface Resolved {
  destinations: Destination[];
  shadow?: { target: Target | undefined; name: string; percentage: number };
}

/** The static upstreams by `namespace/name`; throws on a repeated name or an address that is not host:port. */
export function targetsOf(upstreams: readonly GatewayUpstream[], clusterName: (upstream: GatewayUpstream) => string): Map<string, Target> {
  const targets = new Map<string, Target>();
  for (const upstream of upstreams) {
    const key = `${upstream.namespace}/${upstream.name}`;
    if ([...targets.values()].some((t) => t.upstream.name === upstream.name))
      throw new Error(`gateway: upstream name ${upstream.name} appears twice`);
    const [host = '', port = ''] = upstream.address.split(/:(?=\d+$)/);
    if (!host || !/^\d+$/.test(port)) throw new Error(`gateway: upstream ${key} address "${upstream.address}" is not host:port`);
    targets.set(key, { upstream, cluster: clusterName(upstream), host, port: Number(port) });
  }
  return targets;
}

/**
 * Gloo's matcher semantics (lambdas/core/match.ts): path prefix/exact/regex, then every header and
 * query parameter (exact, or RE2 full match with `regex: true`, or present without a value).
 */
function routeMatches(route: GlooRoute, request: MatchableRequest): boolean {
  return glooRouteFits(route.matchers as GlooRequestMatcher[] | undefined, request);
}

/** A bare path is a request without headers or query (how the gateway reads the weighted route's weights). */
function asRequest(request: string | MatchableRequest): MatchableRequest {
  if (typeof request !== 'string') return request;
  return { path: request, headers: {}, query: new URLSearchParams() };
}

/** One destination by weight; undefined when no destination has weight. */
export function pick(destinations: readonly Destination[], random: Random): Destination | undefined {
  const total = destinations.reduce((sum, d) => sum + d.weight, 0);
  if (total <= 0) return undefined;
  let point = random() * total;
  for (const d of destinations) {
    if (point < d.weight) return d;
    point -= d.weight;
  }
  return destinations[destinations.length - 1];
}

export class RouteTable {
  private virtualService: VirtualService | undefined;
  private readonly groups = new Map<string, UpstreamGroup>();
  private readonly routeTables = new Map<string, RouteTableIdentity & { routes: GlooRoute[] }>();
  private readonly changes: WeightChange[] = [];
  private current: Record<string, number> | undefined;
  private readonly waiters = new Set<() => void>();
  private closed = false;

  private readonly targets: ReadonlyMap<string, Target>;
  /** The namespace of the served VirtualService (its routes' refs default to it). */
  private readonly namespace: string;

  constructor(targets: ReadonlyMap<string, Target>, namespace: string) {
    this.targets = targets;
    this.namespace = namespace;
  }

  private targetOf(ref: ResourceRef, ownerNamespace: string): Target | undefined {
    return this.targets.get(`${ref.namespace || ownerNamespace}/${ref.name}`);
  }

  /** The served VirtualService changed (undefined: it is gone). */
  setVirtualService(vs: VirtualService | undefined): void {
    this.virtualService = vs;
    this.observeWeights();
  }

  /** The UpstreamGroups now: `parsed` by `namespace/name`; keys in `seen` but not parsed keep their last good spec. */
  setGroups(parsed: ReadonlyMap<string, UpstreamGroup>, seen: ReadonlySet<string>): void {
    for (const [key, group] of parsed) this.groups.set(key, group);
    for (const key of [...this.groups.keys()]) if (!seen.has(key)) this.groups.delete(key);
    this.observeWeights();
  }

  /** The RouteTables now, by `namespace/name` (a table Gloo would reject keeps its last good routes). */
  setRouteTables(parsed: ReadonlyMap<string, RouteTableIdentity & { routes: GlooRoute[] }>, seen: ReadonlySet<string>): void {
    for (const [key, table] of parsed) this.routeTables.set(key, table);
    for (const key of [...this.routeTables.keys()]) if (!seen.has(key)) this.routeTables.delete(key);
    this.observeWeights();
  }

  /**
   * The route that serves `path`: the first matching route; a route with `delegateAction` continues in
   * the RouteTables it delegates to (Gloo's ref/selector rules, core/gloo-delegation.ts; tables in name
   * order, a few levels deep), whose first matching route serves.
   */
  private findRoute(
    routes: readonly GlooRoute[],
    owner: string,
    request: MatchableRequest,
    depth = 0,
  ): { route: GlooRoute; owner: string } | undefined {
    const route = routes.find((r) => routeMatches(r, request));
    if (!route || !isDelegating(route)) return route ? { route, owner } : undefined;
    if (depth >= 4) return undefined;
    const tables = [...this.routeTables.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
    for (const table of tables) {
      if (!delegatesTo(route, owner, table)) continue;
      const found = this.findRoute(table.routes, table.namespace, request, depth + 1);
      if (found) return found;
    }
    return undefined;
  }

  resolve(request: string | MatchableRequest): { route: GlooRoute; resolved: Resolved } | undefined {
    const vs = this.virtualService;
    if (!vs) return undefined;
    const found = this.findRoute(vs.spec.virtualHost.routes ?? [], vs.metadata.namespace ?? this.namespace, asRequest(request));
    if (!found) return undefined;
    const { route, owner } = found;
    const action = route.routeAction;
    let destinations: WeightedDestination[] = [];
    let destinationOwner = owner;
    if (action?.upstreamGroup) {
      const ref = action.upstreamGroup;
      const group = this.groups.get(`${ref.namespace || owner}/${ref.name}`);
      destinations = group?.spec.destinations ?? [];
      destinationOwner = ref.namespace || owner;
    } else if (action?.multi) {
      destinations = action.multi.destinations;
    } else if (action?.single?.upstream) {
      destinations = [{ destination: { upstream: action.single.upstream }, weight: 1 }];
    }
    const resolved: Resolved = {
      destinations: destinations
        .filter((d) => d.destination.upstream)
        .map((d) => {
          const ref = d.destination.upstream as ResourceRef;
          const headers = responseHeadersOf(d);
          return {
            target: this.targetOf(ref, destinationOwner),
            name: ref.name,
            weight: d.weight ?? 0,
            ...(headers.length ? { responseHeaders: headers } : {}),
          };
        }),
    };
    const shadowing = route.options?.shadowing;
    if (shadowing)
      resolved.shadow = {
        target: this.targetOf(shadowing.upstream, owner),
        name: shadowing.upstream.name,
        percentage: shadowing.percentage,
      };
    return { route, resolved };
  }

  private observeWeights(): void {
    const found = this.resolve('/')?.resolved;
    if (!found) return;
    const weights = Object.fromEntries(found.destinations.map((d) => [d.name, d.weight]));
    const change: WeightChange = { at: Date.now(), weights };
    if (found.shadow) change.shadow = { upstream: found.shadow.name, percentage: found.shadow.percentage };
    const last = this.changes[this.changes.length - 1];
    if (last && JSON.stringify([last.weights, last.shadow]) === JSON.stringify([change.weights, change.shadow])) return;
    this.current = weights;
    this.changes.push(change);
    for (const wake of [...this.waiters]) wake();
  }

  /** The weights of the served route now (undefined until the route resolves). */
  weights(): Record<string, number> | undefined {
    return this.current ? { ...this.current } : undefined;
  }

  /** The shadow target of the served route now, if any. */
  shadowing(): { upstream: string; percentage: number } | undefined {
    const shadow = this.resolve('/')?.resolved.shadow;
    return shadow ? { upstream: shadow.name, percentage: shadow.percentage } : undefined;
  }

  /** A copy of every weight change so far. */
  weightChanges(): WeightChange[] {
    return this.changes.map((c) => ({ ...c, weights: { ...c.weights }, ...(c.shadow ? { shadow: { ...c.shadow } } : {}) }));
  }

  waitForWeights(accept: (weights: Record<string, number>) => boolean, waitMs: number): Promise<Record<string, number>> {
    return new Promise((resolveWait, reject) => {
      const check = () => {
        if (this.current && accept(this.current)) {
          cleanup();
          resolveWait({ ...this.current });
        } else if (this.closed) {
          cleanup();
          reject(new Error('gateway closed while waiting for weights'));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`gateway: weights never matched within ${waitMs} ms (now ${JSON.stringify(this.current)})`));
      }, waitMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Rejects every waiter: the gateway is closing. */
  close(): void {
    this.closed = true;
    for (const wake of [...this.waiters]) wake();
  }
}
