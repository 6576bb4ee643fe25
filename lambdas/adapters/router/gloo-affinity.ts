/**
 * Session affinity on Gloo (core/affinity.ts): the Set-Cookie of each side on the weighted
 * destinations (`options.headerManipulation.responseHeadersToAdd` of the UpstreamGroup's
 * `spec.destinations[]` or the route's `routeAction.multi.destinations[]`; Gloo's
 * WeightedDestinationOptions, install/helm/gloo/crds), and the cookie route: a marker route
 * (gloo-marker-route.ts) just ahead of the weighted route, matching the `cookie` header, to the canary.
 *
 * Sluice's Set-Cookie entries are told apart by the cookie name and the shape it writes
 * (isAffinitySetCookie), so removing them never touches a header someone else put there, and the
 * marker name is the only thing that removes the cookie route. Putting affinity on writes the
 * headers first, then the route; taking it off removes the route first (holders fall back to the
 * weights), then the headers. Both are idempotent.
 */
import { affinityCookiePattern, canarySetCookie, isAffinitySetCookie, primarySetCookie } from '../../core/affinity.ts';
import type { AffinityCookie } from '../../core/affinity.ts';
import type { GlooRoute, WeightedDestination } from '../../core/gloo-schema.ts';
import { markerRouteName } from '../../core/match.ts';
import type { GlooRequestMatcher } from '../../core/match.ts';
import type { RolloutSpec, RouterSpec } from '../../core/spec.ts';
import { retryOnConflict } from '../kube/client.ts';
import type { ConflictRetry } from '../kube/client.ts';
import { setMarkerRoute } from './gloo-marker-route.ts';
import type { RouteListObject, WeightedRouteLocator } from './gloo-marker-route.ts';
import { describeWeights, readWeights, sameRef } from './gloo-weights.ts';
import { ConflictError } from '../../core/errors.ts';
import type { AffinityWrite } from '../../core/ports.ts';
import type { Weights } from '../../core/records.ts';
import type { VerdictWaiter } from './gloo-weights.ts';

type HeaderOption = NonNullable<
  NonNullable<NonNullable<WeightedDestination['options']>['headerManipulation']>['responseHeadersToAdd']
>[number];

/** The marker name of a rollout's cookie route. */
export function affinityRouteName(spec: RolloutSpec): string {
  return markerRouteName('affinity', spec.metadata.name);
}

function isOurs(option: HeaderOption, cookieName: string): boolean {
  return option.header?.key?.toLowerCase() === 'set-cookie' && isAffinitySetCookie(option.header.value, cookieName);
}

/** A destination without Sluice's Set-Cookie; the objects it emptied go too (a person's own headers stay). */
function withoutOurs(destination: WeightedDestination, cookieName: string): WeightedDestination {
  const added = destination.options?.headerManipulation?.responseHeadersToAdd;
  if (!added?.some((option) => isOurs(option, cookieName))) return destination;
  const kept = added.filter((option) => !isOurs(option, cookieName));
  const { responseHeadersToAdd: _old, ...manipulation } = destination.options?.headerManipulation ?? {};
  const headerManipulation = kept.length ? { ...manipulation, responseHeadersToAdd: kept } : manipulation;
  const { headerManipulation: _previous, ...options } = destination.options ?? {};
  const nextOptions = Object.keys(headerManipulation).length ? { ...options, headerManipulation } : options;
  const { options: _options, ...bare } = destination;
  return Object.keys(nextOptions).length ? { ...bare, options: nextOptions } : bare;
}

function withSetCookie(destination: WeightedDestination, value: string): WeightedDestination {
  const options = destination.options ?? {};
  const manipulation = options.headerManipulation ?? {};
  // append: true adds beside the app's own Set-Cookie headers instead of replacing them.
  const option: HeaderOption = { header: { key: 'Set-Cookie', value }, append: true };
  return {
    ...destination,
    options: {
      ...options,
      headerManipulation: { ...manipulation, responseHeadersToAdd: [...(manipulation.responseHeadersToAdd ?? []), option] },
    },
  };
}

/**
 * The destination list with each side's Set-Cookie (cookie) or with none of Sluice's (null, any
 * destination: nothing is left behind). Weights and every other field stay as read.
 */
export function withAffinityHeaders(
  destinations: readonly WeightedDestination[],
  router: RouterSpec,
  ownerNamespace: string,
  cookieName: string,
  cookie: AffinityCookie | null,
): WeightedDestination[] {
  return destinations.map((read) => {
    const bare = withoutOurs(read, cookieName);
    if (!cookie) return bare;
    if (sameRef(bare.destination.upstream, router.canary.upstream, ownerNamespace)) return withSetCookie(bare, canarySetCookie(cookie));
    if (sameRef(bare.destination.upstream, router.primary.upstream, ownerNamespace)) return withSetCookie(bare, primarySetCookie(cookie));
    return bare;
  });
}

/** The matchers of the cookie route: the weighted route's own path matchers, each also requiring the cookie. */
export function cookieRouteMatchers(weighted: GlooRoute, cookie: AffinityCookie): GlooRequestMatcher[] {
  const paths: GlooRequestMatcher[] = (weighted.matchers as GlooRequestMatcher[] | undefined)?.length
    ? (weighted.matchers as GlooRequestMatcher[])
    : [{ prefix: '/' }];
  return paths.map((path) => ({
    ...path,
    headers: [...(path.headers ?? []), { name: 'cookie', value: affinityCookiePattern(cookie), regex: true }],
  }));
}

/** An object holding weighted destinations, read and written whole (the UpstreamGroup, or the route's `multi`). */
export interface DestinationsObject<S> {
  what: string;
  read(): Promise<S & { destinations: WeightedDestination[]; ownerNamespace: string }>;
  /** Writes the list with the snapshot's resourceVersion; lets a 409 through for the retry. */
  write(snapshot: S, destinations: WeightedDestination[]): Promise<void>;
  /** Called right before the write: the wait for Gloo's verdict (watchVerdict). */
  verdict(): Promise<VerdictWaiter>;
}

/** Writes each side's Set-Cookie (or removes Sluice's); a no-op when the list already says so. */
export async function setAffinityHeaders<S>(
  object: DestinationsObject<S>,
  router: RouterSpec,
  cookieName: string,
  cookie: AffinityCookie | null,
  retry: ConflictRetry,
  expected?: Weights,
): Promise<void> {
  const waiter = await retryOnConflict(
    `${object.what} patch`,
    async (): Promise<VerdictWaiter | undefined> => {
      const snapshot = await object.read();
      if (expected) {
        // As a weight write: only over the weights Sluice last wrote, never over someone else's.
        const found = readWeights(snapshot.destinations, router, snapshot.ownerNamespace);
        if ('problem' in found || found.weights.primary !== expected.primary || found.weights.canary !== expected.canary)
          throw new ConflictError(
            `${object.what} ${'problem' in found ? found.problem : `holds ${describeWeights(found.weights)}`}, but Sluice last wrote ${describeWeights(expected)}: someone else is steering; its session-affinity headers are left alone`,
          );
      }
      const next = withAffinityHeaders(snapshot.destinations, router, snapshot.ownerNamespace, cookieName, cookie);
      if (JSON.stringify(next) === JSON.stringify(snapshot.destinations)) return undefined;
      const wait = await object.verdict();
      await object.write(snapshot, next);
      return wait;
    },
    retry,
  );
  if (!waiter) return;
  const rejected = await waiter();
  if (rejected !== undefined)
    throw new Error(
      `${object.what} was rejected by Gloo after Sluice ${cookie ? 'added' : 'removed'} the session-affinity Set-Cookie headers: ${rejected.reason}`,
    );
}

/** Puts session affinity on (cookie) or takes it off (null): the headers and the cookie route, in the order the file header says. */
export async function setAffinity<S>(
  spec: RolloutSpec,
  destinations: DestinationsObject<S>,
  routes: RouteListObject,
  locator: WeightedRouteLocator,
  cookie: AffinityCookie | null,
  tuning: { retry: ConflictRetry; settleMs: number },
  options: AffinityWrite = {},
): Promise<void> {
  const { scope = 'all', expected } = options;
  const cookieName = cookie?.cookieName ?? spec.spec.strategy.sessionAffinity?.cookieName;
  if (!cookieName) return;
  const name = affinityRouteName(spec);
  if (cookie) {
    await setAffinityHeaders(destinations, spec.spec.router, cookieName, cookie, tuning.retry, expected);
    await setMarkerRoute(
      routes,
      locator,
      name,
      { name, matchers: (weighted) => cookieRouteMatchers(weighted, cookie), upstream: spec.spec.router.canary.upstream },
      tuning,
    );
  } else {
    await setMarkerRoute(routes, locator, name, null, tuning);
    if (scope === 'route') return;
    await setAffinityHeaders(destinations, spec.spec.router, cookieName, null, tuning.retry, expected);
  }
}
