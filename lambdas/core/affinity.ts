/**
 * Session affinity (`spec.strategy.sessionAffinity`, Flagger's names: `cookieName`, `maxAge` in
 * seconds, default 86400): a user whose request reached the canary keeps reaching it. Pure: the
 * schema, the rules, the cookie, the Set-Cookie header values and the cookie matcher.
 *
 * Modelled on Flagger's Istio router (pkg/router/istio.go, SetRoutes): the canary's weighted
 * destination adds `Set-Cookie: <name>=<value>; Max-Age=<maxAge>` to its responses, and a route ahead
 * of the weighted one matches the `cookie` request header against the name and value and sends its
 * holders to the canary; a fresh value per rollout, so an old cookie never matches a later rollout.
 * Flagger expires a previous run's cookie with Max-Age=-1 on a route of its own; Sluice's primary
 * destination expires the cookie on every primary response instead (`Max-Age=0`, RFC 6265 §5.2.2:
 * a Max-Age of zero or less expires the cookie at once), so a user who reaches the primary holds no
 * stale affinity. On Gloo both are `options.headerManipulation.responseHeadersToAdd` on the weighted
 * destinations (gloo.solo.io WeightedDestinationOptions / HeaderManipulation; the CRDs in
 * install/helm/gloo/crds), removed with the marker route when the rollout ends.
 */
import * as z from 'zod';
import { noteStartingWith } from './records.ts';
import { re2Quote } from './match.ts';

/** A cookie name: an RFC 6265 token (RFC 7230 tchar). */
const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Flagger's default maxAge (its SessionAffinity docs): one day. */
export const DEFAULT_AFFINITY_MAX_AGE = 86_400;

export const sessionAffinitySchema = z.strictObject({
  cookieName: z.string().min(1).max(64).regex(COOKIE_NAME, {
    message: 'expected a cookie name (letters, digits and !#$%&\'*+-.^_`|~; no spaces, "=", ";" or ",")',
  }),
  /** Seconds the canary's cookie lives in the browser. */
  maxAge: z.number().int().min(1).max(31_536_000).default(DEFAULT_AFFINITY_MAX_AGE),
});

export type SessionAffinity = z.infer<typeof sessionAffinitySchema>;

/** What a router writes: the spec's cookie and this rollout's value. */
export interface AffinityCookie {
  cookieName: string;
  maxAge: number;
  value: string;
}

/** 32-bit FNV-1a, for a short stable cookie value (not a secret: anyone may set the cookie, as with Flagger's). */
function fnv1a(text: string, seed: number): string {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/** This rollout's cookie value: stable across its tasks and retries (derived from the execution), new for every rollout. */
export function affinityCookieValue(execution: string): string {
  return `${fnv1a(execution, 0x811c9dc5)}${fnv1a(execution, 0x9e3779b9)}`;
}

export function affinityCookie(affinity: SessionAffinity, execution: string): AffinityCookie {
  return { cookieName: affinity.cookieName, maxAge: affinity.maxAge, value: affinityCookieValue(execution) };
}

/** The canary side's Set-Cookie: the holder keeps reaching the canary for maxAge seconds. */
export function canarySetCookie(cookie: AffinityCookie): string {
  return `${cookie.cookieName}=${cookie.value}; Max-Age=${cookie.maxAge}; Path=/`;
}

/** The primary side's Set-Cookie: expires the cookie (a stale one from an earlier rollout, or none). */
export function primarySetCookie(cookie: Pick<AffinityCookie, 'cookieName'>): string {
  return `${cookie.cookieName}=; Max-Age=0; Path=/`;
}

/** Whether a Set-Cookie value is one Sluice writes for this cookie name (either side, any rollout). */
export function isAffinitySetCookie(value: string | undefined, cookieName: string): boolean {
  return value !== undefined && value.startsWith(`${cookieName}=`) && /; Max-Age=-?\d+; Path=\/$/.test(value);
}

/**
 * The RE2 pattern (full match, as Envoy's safe_regex) of a `cookie` request header that carries this
 * rollout's cookie among any others: `a=1; <name>=<value>; b=2`. Cookie pairs are separated by `; `
 * (RFC 6265 §4.2.1); a `,` is allowed too, as a proxy joining repeated headers writes it.
 */
export function affinityCookiePattern(cookie: Pick<AffinityCookie, 'cookieName' | 'value'>): string {
  return `(?:.*[;,]\\s*)?${re2Quote(`${cookie.cookieName}=${cookie.value}`)}(?:\\s*[;,].*)?`;
}

/** One line for notes, status and the report. */
export function describeAffinity(cookie: AffinityCookie): string {
  return `cookie ${cookie.cookieName}=${cookie.value} (Max-Age ${cookie.maxAge} s): users who reached the canary keep reaching it`;
}

/** How the affinity stage's note begins (status and the report find it by this). */
export const AFFINITY_NOTE_PREFIX = 'affinity:';

/** The affinity note in a rollout's history, if any. */
export function affinityNoteOf(steps: ReadonlyArray<{ kind: string; detail?: string | undefined }>): string | undefined {
  return noteStartingWith(steps, AFFINITY_NOTE_PREFIX);
}

/** The spec fields the rules read (structural, so this file imports no spec module). */
interface AffinitySpecView {
  strategy: { sessionAffinity?: SessionAffinity | undefined; match?: readonly unknown[] | undefined; blueGreen?: unknown };
  router: { kind: string; route?: unknown };
  analysis: { judge: string; compareArms?: boolean | undefined };
}

/**
 * The rules across fields: affinity needs a weighted share (not A/B or blue/green), a route object
 * for its cookie route (as A/B does), and, since a sticky user's requests are no longer assigned
 * to an arm at random one by one, the two-arm test only when opted into.
 */
export function affinityProblems(spec: AffinitySpecView): Array<{ path: string; message: string }> {
  const { strategy, router, analysis } = spec;
  if (!strategy.sessionAffinity) return [];
  const problems: Array<{ path: string; message: string }> = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  if (strategy.match || strategy.blueGreen)
    add(
      'spec.strategy.sessionAffinity',
      `is for a weighted canary; ${strategy.match ? 'A/B testing (match)' : 'blue/green'} already decides who gets the canary`,
    );
  if (router.kind === 'UpstreamGroup' && !router.route)
    add(
      'spec.router.route',
      'is required for session affinity (strategy.sessionAffinity) with router kind UpstreamGroup: the cookie route goes into the VirtualService or RouteTable, ahead of the route that sends traffic to the group',
    );
  if (analysis.judge === 'sequential' && !analysis.compareArms)
    add(
      'spec.analysis.judge',
      'is sequential, a test of canary against primary that assumes each request picks an arm at random; with strategy.sessionAffinity a user who reached the canary stays there, so the arms see correlated requests: use judge: threshold (each arm against its thresholds) or opt in with analysis.compareArms: true (its bound is then approximate)',
    );
  return problems;
}
