/**
 * Marker routes: a route Sluice inserts just ahead of the weighted route (the route whose weights,
 * or whose UpstreamGroup's weights, the rollout moves), with matchers built on the weighted route's
 * own path matchers and one destination, and named by `markerRouteName(purpose, target)`. Gloo
 * evaluates a route list in order and the first match wins, so requests the marker route matches
 * go to its destination and all others fall through to the weighted route. A/B testing
 * (`strategy.match`) is the first purpose; the marker name is the only thing that ever removes a
 * route, so a route a person added is never touched.
 *
 * Written like every route change: the whole list with the read's resourceVersion (a concurrent
 * edit anywhere in the object answers 409, and the change is recomputed from a fresh read), then
 * Gloo's verdict on the object is awaited.
 */
import { RefusedError } from '../../core/errors.ts';
import type { GlooRoute, ResourceRef } from '../../core/gloo-schema.ts';
import { routeAheadTaking } from '../../core/match.ts';
import type { GlooRequestMatcher } from '../../core/match.ts';
import { retryOnConflict } from '../kube/client.ts';
import type { ConflictRetry } from '../kube/client.ts';
import { watchVerdict } from './gloo-weights.ts';
import type { VerdictSource, VerdictWaiter } from './gloo-weights.ts';

/** The route-list object a marker route goes into (gloo-route.ts GlooRouteObject; structural, so neither file imports the other's writer). */
export interface RouteListObject {
  readonly what: string;
  read(notFound?: 'refused' | 'error'): Promise<{ routes: GlooRoute[]; resourceVersion: string }>;
  locate(routes: readonly GlooRoute[], fallback: (route: GlooRoute) => boolean, fallbackWhat: string): { index: number; route: GlooRoute };
  routeLabel(index: number, route: GlooRoute | undefined): string;
  writeRoutes(routes: GlooRoute[], resourceVersion: string): Promise<void>;
  verdictSource(optional?: boolean): VerdictSource;
}

/** What a marker route is: its name, how its matchers derive from the weighted route, where it sends. */
export interface MarkerRoute {
  name: string;
  matchers: (weighted: GlooRoute) => GlooRequestMatcher[];
  upstream: ResourceRef;
  /** Route options (e.g. header manipulation) the purpose needs; none by default. */
  options?: Record<string, unknown>;
}

/** How the weighted route is found when the spec names neither its name nor its index. */
export interface WeightedRouteLocator {
  fallback: (route: GlooRoute) => boolean;
  what: string;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Puts the marker route `name` just ahead of the weighted route (replacing an older copy of it), or
 * with `route: null` removes it. A no-op when the list already says so. Refuses when a route ahead
 * of the weighted route takes all of its requests (the marker route would never see them).
 */
export async function setMarkerRoute(
  object: RouteListObject,
  locator: WeightedRouteLocator,
  name: string,
  route: MarkerRoute | null,
  tuning: { retry: ConflictRetry; settleMs: number },
): Promise<void> {
  const waiter = await retryOnConflict(
    `${object.what} patch`,
    async (): Promise<VerdictWaiter | undefined> => {
      const snapshot = await object.read();
      const others = snapshot.routes.filter((r) => r.name !== name);
      let next: GlooRoute[];
      if (!route) {
        if (others.length === snapshot.routes.length) return undefined;
        next = others;
      } else {
        const { index, route: weighted } = object.locate(others, locator.fallback, locator.what);
        assertReachable(object, others, index);
        const marker: GlooRoute = {
          name,
          matchers: route.matchers(weighted),
          routeAction: { single: { upstream: { name: route.upstream.name, namespace: route.upstream.namespace } } },
          ...(route.options ? { options: route.options } : {}),
        };
        next = [...others.slice(0, index), marker, ...others.slice(index)];
        if (sameJson(next, snapshot.routes)) return undefined;
      }
      const wait = await watchVerdict([object.verdictSource()], tuning.settleMs);
      await object.writeRoutes(next, snapshot.resourceVersion);
      return wait;
    },
    tuning.retry,
  );
  if (!waiter) return;
  const rejected = await waiter();
  if (rejected !== undefined)
    throw new Error(
      `${object.what} was rejected by Gloo after Sluice ${route ? 'added' : 'removed'} the route '${name}': ${rejected.reason}`,
    );
}

/** Refuses when a route ahead of the weighted route takes every request it would see. */
function assertReachable(object: RouteListObject, routes: readonly GlooRoute[], index: number): void {
  const ahead = routeAheadTaking(routes, index);
  if (ahead === undefined) return;
  throw new RefusedError(
    `${object.routeLabel(ahead, routes[ahead])} comes before ${object.routeLabel(index, routes[index])} and takes all of its requests (Gloo uses the first route that matches): a route ahead of it would never see them`,
  );
}

/** Preflight: the route order Gloo will evaluate lets the marker route (placed just ahead of the weighted route) see its requests. */
export async function assertMarkerRouteOrder(object: RouteListObject, locator: WeightedRouteLocator): Promise<void> {
  const snapshot = await object.read('refused');
  const { index } = object.locate(snapshot.routes, locator.fallback, locator.what);
  assertReachable(object, snapshot.routes, index);
}
