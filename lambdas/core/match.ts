/**
 * Request matching for A/B testing (`spec.strategy.match`, Flagger's names) and the marker routes
 * Sluice puts ahead of the weighted route. Pure: the schema, the translation to Gloo route matchers,
 * and an evaluator of Gloo matchers (the sandbox gateway routes with it; tests check the translation
 * against it).
 *
 * Semantics modelled (Gloo API reference, gloo.solo.io `HeaderMatcher` / `QueryParameterMatcher`;
 * solo-io/gloo docs "Header Matching", docs/content/gloo_routing/virtual_services/routes/matching_rules/
 * header_matching): a matcher holds `name`, `value` and `regex` (bool). `regex: false` is Envoy's
 * exact match; `regex: true` is Envoy's `safe_regex` with the RE2 engine, which must match the
 * WHOLE value (Envoy RegexMatcher: "the regex must match the entire string"); no `value` means
 * "present". Gloo has no prefix/suffix header matcher, so those become anchored RE2 regexes (as
 * Flagger's Gloo router writes them). All headers and query parameters of one matcher must hold
 * (AND); the matchers of a route are alternatives (OR).
 */
import { RE2JS } from 're2js';
import * as z from 'zod';
import { noteStartingWith } from './records.ts';

/** Why RE2 refuses a pattern (lookarounds, backreferences, possessive quantifiers…), or undefined when it compiles. */
export function re2Problem(pattern: string): string | undefined {
  try {
    RE2JS.compile(pattern);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** RE2 full match, as Envoy's safe_regex matches a header or query value. */
export function re2FullMatch(pattern: string, value: string): boolean {
  return RE2JS.compile(pattern).matches(value);
}

/** Quotes text for use inside an RE2 pattern. */
export function re2Quote(text: string): string {
  return RE2JS.quote(text);
}

const KINDS = ['exact', 'prefix', 'suffix', 'regex'] as const;

/** Flagger's StringMatch: exactly one of exact, prefix, suffix, regex. */
export const stringMatchSchema = z
  .strictObject({
    exact: z.string().optional(),
    prefix: z.string().min(1).optional(),
    suffix: z.string().min(1).optional(),
    regex: z.string().min(1).optional(),
  })
  .superRefine((match, ctx) => {
    const set = KINDS.filter((kind) => match[kind] !== undefined);
    if (set.length !== 1)
      ctx.addIssue({ code: 'custom', message: `expected exactly one of ${KINDS.join(', ')}; got ${set.length ? set.join(', ') : 'none'}` });
    if (match.regex !== undefined) {
      const problem = re2Problem(match.regex);
      if (problem)
        ctx.addIssue({
          code: 'custom',
          path: ['regex'],
          message: `is not an RE2 regular expression (Envoy matches with RE2: no lookarounds or backreferences): ${problem}`,
        });
    }
  });

const headerName = z.string().regex(/^:?[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, { message: 'expected an HTTP header name' });

/** One alternative: every header and query parameter listed must match (Flagger's HTTPMatchRequest, headers and queryParams). */
export const matchRuleSchema = z
  .strictObject({
    headers: z.record(headerName, stringMatchSchema).optional(),
    queryParams: z.record(z.string().min(1), stringMatchSchema).optional(),
  })
  .refine((rule) => Object.keys(rule.headers ?? {}).length + Object.keys(rule.queryParams ?? {}).length > 0, {
    message: 'expected at least one header or query parameter to match',
  });

export type StringMatch = z.infer<typeof stringMatchSchema>;
export type MatchRule = z.infer<typeof matchRuleSchema>;

/** A Gloo header or query-parameter matcher. */
export type GlooValueMatcher = {
  name: string;
  value?: string;
  regex?: boolean;
  invertMatch?: boolean;
};

/** A Gloo route matcher (path plus headers and query parameters); a type, so it fits the loose route schema's index signature. */
export type GlooRequestMatcher = {
  prefix?: string;
  exact?: string;
  regex?: string;
  headers?: GlooValueMatcher[];
  queryParameters?: GlooValueMatcher[];
};

function glooValueMatcher(name: string, match: StringMatch): GlooValueMatcher {
  if (match.exact !== undefined) return { name, value: match.exact };
  if (match.prefix !== undefined) return { name, value: `${re2Quote(match.prefix)}.*`, regex: true };
  if (match.suffix !== undefined) return { name, value: `.*${re2Quote(match.suffix)}`, regex: true };
  return { name, value: match.regex ?? '', regex: true };
}

/**
 * The matchers of the marker route: each rule on each path matcher of the weighted route (so the
 * marker route takes only requests the weighted route would have served).
 */
export function glooMatchersFor(rules: readonly MatchRule[], pathMatchers: readonly GlooRequestMatcher[]): GlooRequestMatcher[] {
  const paths = pathMatchers.length ? pathMatchers : [{ prefix: '/' }];
  return rules.flatMap((rule) =>
    paths.map((path) => {
      const { headers: _h, queryParameters: _q, ...bare } = path;
      const headers = [
        ...(path.headers ?? []),
        ...Object.entries(rule.headers ?? {}).map(([name, match]) => glooValueMatcher(name.toLowerCase(), match)),
      ];
      const queryParameters = [
        ...(path.queryParameters ?? []),
        ...Object.entries(rule.queryParams ?? {}).map(([name, match]) => glooValueMatcher(name, match)),
      ];
      return { ...bare, ...(headers.length ? { headers } : {}), ...(queryParameters.length ? { queryParameters } : {}) };
    }),
  );
}

/** A request as a matcher sees it: path without the query, headers by lower-case name, query parameters. */
export interface MatchableRequest {
  path: string;
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  query: URLSearchParams;
}

function valueFits(matcher: GlooValueMatcher, value: string | undefined): boolean {
  let fits: boolean;
  if (value === undefined) fits = false;
  else if (matcher.value === undefined || matcher.value === '') fits = true;
  else fits = matcher.regex ? re2FullMatch(matcher.value, value) : value === matcher.value;
  return matcher.invertMatch ? !fits : fits;
}

function headerValue(request: MatchableRequest, name: string): string | undefined {
  const raw = request.headers[name.toLowerCase()];
  // Envoy matches a repeated header against its values joined by a comma.
  return Array.isArray(raw) ? raw.join(',') : (raw as string | undefined);
}

/** Whether a Gloo route matcher fits the request: the path, then every header and query parameter (AND). */
export function glooMatcherFits(matcher: GlooRequestMatcher, request: MatchableRequest): boolean {
  const { path } = request;
  let pathFits: boolean;
  if (matcher.exact !== undefined) pathFits = path === matcher.exact;
  else if (matcher.regex !== undefined) pathFits = re2FullMatch(matcher.regex, path);
  else pathFits = path.startsWith(matcher.prefix ?? '/');
  if (!pathFits) return false;
  if (!(matcher.headers ?? []).every((h) => valueFits(h, headerValue(request, h.name)))) return false;
  return (matcher.queryParameters ?? []).every((q) => valueFits(q, request.query.get(q.name) ?? undefined));
}

/** A route's matchers are alternatives; none means Gloo's default, prefix `/`. */
export function glooRouteFits(matchers: readonly GlooRequestMatcher[] | undefined, request: MatchableRequest): boolean {
  const list = matchers?.length ? matchers : [{ prefix: '/' }];
  return list.some((m) => glooMatcherFits(m, request));
}

/**
 * Marker routes: routes Sluice inserts ahead of the weighted route, named so that only they are ever
 * removed. The purpose names what the route is for (`ab` for strategy.match; later uses, such as
 * session affinity, add their own), the target the rollout it belongs to.
 */
const MARKER_ROUTE_PREFIX = 'sluice-';
/** The purposes of marker routes; a new use adds its word here. */
const MARKER_PURPOSES = ['ab', 'affinity'] as const;
export type MarkerPurpose = (typeof MARKER_PURPOSES)[number];

export function markerRouteName(purpose: MarkerPurpose, target: string): string {
  return `${MARKER_ROUTE_PREFIX}${purpose}-${target}`;
}

/** Whether a route name is a Sluice marker route (any purpose, any target). */
export function isMarkerRouteName(name: string | undefined): boolean {
  return name !== undefined && MARKER_PURPOSES.some((purpose) => name.startsWith(`${MARKER_ROUTE_PREFIX}${purpose}-`));
}

/** The detail of blue/green's one switch of all traffic to green (a `weight` step Promote records, not SetWeight). */
export const GREEN_SWITCH_DETAIL = 'blue/green: all traffic switched to green';

/** How the A/B stage's note begins (Rollback reads such a note as "traffic moved", the report as who got what). */
export const AB_NOTE_PREFIX = 'A/B:';

/** The A/B stage's note in a rollout's history, if any: status lines show it next to the weights, which stay 100/0. */
export function abNoteOf(steps: ReadonlyArray<{ kind: string; detail?: string | undefined }>): string | undefined {
  return noteStartingWith(steps, AB_NOTE_PREFIX);
}

/** A one-line description of the rules, for notes, the summary and the report. */
export function describeMatch(rules: readonly MatchRule[]): string {
  const one = (rule: MatchRule) =>
    [
      ...Object.entries(rule.headers ?? {}).map(([name, m]) => `header ${name} ${describeString(m)}`),
      ...Object.entries(rule.queryParams ?? {}).map(([name, m]) => `query ${name} ${describeString(m)}`),
    ].join(' and ');
  return rules.map(one).join(' or ');
}

function describeString(match: StringMatch): string {
  if (match.exact !== undefined) return `= "${match.exact}"`;
  if (match.prefix !== undefined) return `starts with "${match.prefix}"`;
  if (match.suffix !== undefined) return `ends with "${match.suffix}"`;
  return `~ /${match.regex ?? ''}/`;
}

/**
 * The first route ahead of `index` (marker routes aside) that takes every request the route at
 * `index` would see, whatever its headers: Gloo evaluates routes in order and the first match wins,
 * so a route placed just ahead of the weighted route would never see them. A route with headers,
 * query parameters or methods, or a regex path, is not counted (it may let some through).
 */
export function routeAheadTaking(
  routes: ReadonlyArray<{ name?: string | undefined; matchers?: ReadonlyArray<GlooRequestMatcher & { methods?: unknown }> | undefined }>,
  index: number,
): number | undefined {
  const target = routes[index]?.matchers?.length ? (routes[index]?.matchers ?? []) : [{ prefix: '/' }];
  const takesAll = (earlier: GlooRequestMatcher & { methods?: unknown }, later: GlooRequestMatcher) => {
    if (earlier.headers?.length || earlier.queryParameters?.length || (Array.isArray(earlier.methods) && earlier.methods.length))
      return false;
    if (earlier.regex !== undefined || later.regex !== undefined) return false;
    if (earlier.exact !== undefined) return later.exact === earlier.exact;
    const prefix = earlier.prefix ?? '/';
    return (later.exact ?? later.prefix ?? '/').startsWith(prefix);
  };
  for (let i = 0; i < index; i++) {
    const route = routes[i];
    if (!route || isMarkerRouteName(route.name)) continue;
    const matchers = route.matchers?.length ? route.matchers : [{ prefix: '/' }];
    if (target.some((later) => matchers.some((earlier) => takesAll(earlier, later)))) return i;
  }
  return undefined;
}

/** The strategy fields status lines read from a stored spec (older or newer records may carry more or less). */
const storedStrategySchema = z.object({
  spec: z.object({
    strategy: z.object({
      interval: z.string().optional(),
      iterations: z.number().optional(),
      match: z.array(matchRuleSchema).optional(),
      blueGreen: z.object({}).passthrough().optional(),
      shadow: z.object({ percentage: z.number().optional(), duration: z.string().optional() }).passthrough().optional(),
    }),
  }),
});

/**
 * The strategy as `sluice status` and the Slack status say it, from the spec a rollout record keeps:
 * A/B testing with its match rule, or blue/green with its phases; undefined for a weighted canary
 * (its weights say it) or a spec without a readable strategy.
 */
export function describeStrategy(spec: unknown): string | undefined {
  const parsed = storedStrategySchema.safeParse(spec);
  if (!parsed.success) return undefined;
  const { interval, iterations, match, blueGreen, shadow } = parsed.data.spec.strategy;
  const looks = iterations !== undefined ? `${iterations} looks${interval ? ` of ${interval}` : ''}` : 'its looks';
  if (match)
    return `A/B testing: requests where ${describeMatch(match)} go to the canary, all others to the primary (${looks}, then promotion)`;
  if (!blueGreen) return undefined;
  const mirror = shadow
    ? `${shadow.percentage ?? 100}% of live requests mirrored to green${shadow.duration ? ` for ${shadow.duration}` : ''}, then `
    : '';
  return `blue/green: ${mirror}users stay on blue while green is judged on its own traffic (${looks}), then one switch of all traffic to green`;
}
