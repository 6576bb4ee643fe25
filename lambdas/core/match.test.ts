/**
 * A/B matching: validation with RE2's grammar, the translation to Gloo matchers, and the Gloo
 * matcher semantics the sandbox gateway routes by (gloo.solo.io HeaderMatcher: `regex: false` is
 * Envoy's exact match, `regex: true` Envoy's RE2 safe_regex matching the whole value, no value is
 * "present"; solo-io/gloo docs "Header Matching").
 */
import { describe, expect, it } from 'vitest';
import {
  AB_NOTE_PREFIX,
  abNoteOf,
  describeMatch,
  glooMatchersFor,
  glooRouteFits,
  isMarkerRouteName,
  markerRouteName,
  re2Problem,
  routeAheadTaking,
} from './match.ts';
import type { MatchableRequest, MatchRule } from './match.ts';
import { plannedWeights, validateSpec } from './spec.ts';
import type { SpecProblem } from './spec.ts';
import { initialRun } from './rollout.ts';

const request = (path: string, headers: Record<string, string> = {}, query = ''): MatchableRequest => ({
  path,
  headers,
  query: new URLSearchParams(query),
});

function abSpec(strategy: Record<string, unknown>, extra: { router?: Record<string, unknown>; analysis?: Record<string, unknown> } = {}) {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'web' },
    spec: {
      cluster: { kubeconfigContext: 'kind' },
      router: {
        kind: 'UpstreamGroup',
        name: 'web',
        namespace: 'gloo-system',
        route: { virtualService: 'web', namespace: 'gloo-system' },
        primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
        canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
        ...extra.router,
      },
      strategy: { interval: '1m', ...strategy },
      analysis: {
        judge: 'threshold',
        prometheus: { address: 'http://prometheus:9090' },
        metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 } }],
        ...extra.analysis,
      },
    },
  };
}

const ORDERS = {
  canary: { events: 'orders_failed_total{app="web-canary"}', trials: 'orders_total{app="web-canary"}' },
  primary: { events: 'orders_failed_total{app="web-primary"}', trials: 'orders_total{app="web-primary"}' },
};

function problemsOf(document: unknown): SpecProblem[] {
  const result = validateSpec(document);
  return result.ok ? [] : result.problems;
}

describe('strategy.match validation', () => {
  it("accepts Flagger's A/B shape: iterations and a cookie regex, planning one stage of iterations looks", () => {
    // Prepare
    const document = abSpec({ iterations: 10, match: [{ headers: { cookie: { regex: '^(.*?;)?(canary=always)(;.*)?$' } } }] });
    // Act
    const result = validateSpec(document);
    // Assess
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(plannedWeights(result.spec.spec.strategy)).toEqual([0]);
    const run = initialRun(result.spec, new Date('2026-12-07T00:00:00Z'));
    expect(run.weights).toEqual([0]);
    expect(run.looksPerStep).toBe(10);
  });

  it('refuses what RE2 refuses (lookarounds, backreferences), naming the field', () => {
    expect(re2Problem('(?=insider).*')).toMatch(/invalid or unsupported Perl syntax/);
    expect(re2Problem('(a)\\1')).toBeDefined();
    expect(re2Problem('.*insider.*')).toBeUndefined();
    const problems = problemsOf(abSpec({ iterations: 3, match: [{ headers: { 'x-user': { regex: '(?!bot).*' } } }] }));
    expect(problems).toEqual([
      expect.objectContaining({
        path: 'spec.strategy.match[0].headers.x-user.regex',
        message: expect.stringMatching(/not an RE2 regular expression/),
      }),
    ]);
  });

  it('refuses a matcher with two kinds or none, and a rule with nothing to match', () => {
    const problems = problemsOf(abSpec({ iterations: 3, match: [{ headers: { a: { exact: 'x', prefix: 'y' } } }, {}] }));
    expect(problems.map((p) => p.path)).toEqual(['spec.strategy.match[0].headers.a', 'spec.strategy.match[1]']);
    expect(problems[0]?.message).toMatch(/exactly one of exact, prefix, suffix, regex; got exact, prefix/);
  });

  it('says what A/B needs: iterations, a route for an UpstreamGroup, no weight steps', () => {
    // Prepare
    const document = abSpec({ match: [{ queryParams: { beta: { exact: '1' } } }], stepWeights: [10] }, { router: { route: undefined } });
    // Act
    const problems = problemsOf(document);
    // Assess
    expect(problems.map((p) => p.path).sort()).toEqual(['spec.router.route', 'spec.strategy.iterations', 'spec.strategy.stepWeights']);
  });

  it("runs the sequential judge on each metric's threshold under A/B (two-arm test off), so every metric needs one unless compareArms opts in", () => {
    // Prepare: the duration metric has no thresholdRange the canary could be held against.
    const metrics = [
      { name: 'request-success-rate', thresholdRange: { min: 99 } },
      { name: 'orders', counters: ORDERS },
    ];
    const ab = { iterations: 2, match: [{ queryParams: { beta: { exact: '1' } } }] };
    // Act
    const off = problemsOf(abSpec(ab, { analysis: { judge: 'sequential', metrics } }));
    const optedIn = problemsOf(abSpec(ab, { analysis: { judge: 'sequential', metrics, compareArms: true } }));
    const withThresholds = problemsOf(
      abSpec(ab, { analysis: { judge: 'sequential', metrics: [metrics[0], { ...metrics[1], thresholdRange: { max: 2 } }] } }),
    );
    const thresholdJudge = problemsOf(abSpec(ab, { analysis: { compareArms: true } }));
    // Assess
    expect(off).toEqual([
      {
        path: 'spec.analysis.metrics[1].thresholdRange',
        message: expect.stringMatching(/two-arm test is off .* or opt in to the two-arm test with analysis.compareArms: true/),
      },
    ]);
    expect(optedIn).toEqual([]);
    expect(withThresholds).toEqual([]);
    expect(thresholdJudge.map((p) => p.path)).toEqual(['spec.analysis.compareArms']);
  });

  it('refuses iterations without match or blueGreen, and both modes at once', () => {
    expect(problemsOf(abSpec({ iterations: 3 })).map((p) => p.path)).toEqual(['spec.strategy.iterations']);
    const both = abSpec({ iterations: 3, blueGreen: {}, match: [{ headers: { a: { exact: 'b' } } }] });
    expect(problemsOf(both).map((p) => p.path)).toEqual(['spec.strategy.blueGreen']);
    expect(problemsOf(abSpec({ iterations: 3, blueGreen: {} }))).toEqual([]);
  });
});

describe('Gloo matchers for the A/B route', () => {
  const rules: MatchRule[] = [
    { headers: { 'X-Canary': { exact: 'insider' } } },
    { headers: { cookie: { regex: '^(.*?;)?(canary=always)(;.*)?$' } } },
    { headers: { 'x-plan': { prefix: 'beta.' } }, queryParams: { region: { suffix: '-eu' } } },
  ];

  it('puts each rule on each path matcher of the weighted route; prefix and suffix become quoted full-match regexes', () => {
    const matchers = glooMatchersFor(rules, [{ prefix: '/api' }]);
    expect(matchers).toEqual([
      { prefix: '/api', headers: [{ name: 'x-canary', value: 'insider' }] },
      { prefix: '/api', headers: [{ name: 'cookie', value: '^(.*?;)?(canary=always)(;.*)?$', regex: true }] },
      {
        prefix: '/api',
        headers: [{ name: 'x-plan', value: 'beta\\..*', regex: true }],
        queryParameters: [{ name: 'region', value: '.*-eu', regex: true }],
      },
    ]);
  });

  it('routes as Gloo does: exact is whole-value, regex is an RE2 full match, all headers of a matcher must hold', () => {
    const matchers = glooMatchersFor(rules, []);
    expect(glooRouteFits(matchers, request('/', { 'x-canary': 'insider' }))).toBe(true);
    expect(glooRouteFits(matchers, request('/', { 'x-canary': 'insiders' }))).toBe(false);
    expect(glooRouteFits(matchers, request('/', { cookie: 'canary=always; a=1' }))).toBe(true);
    // Flagger's documented cookie regex allows no space after the ';' browsers send: RE2 full match says no.
    expect(glooRouteFits(matchers, request('/', { cookie: 'a=1; canary=always' }))).toBe(false);
    expect(glooRouteFits(matchers, request('/', { cookie: 'canary=never' }))).toBe(false);
    // Full match: a regex that would find "beta" inside the value does not match the whole value.
    expect(glooRouteFits(glooMatchersFor([{ headers: { x: { regex: 'beta' } } }], []), request('/', { x: 'xbetax' }))).toBe(false);
    // The prefix is quoted: "beta." does not match "betaX".
    expect(glooRouteFits(matchers, request('/', { 'x-plan': 'betaX1' }, 'region=de-eu'))).toBe(false);
    expect(glooRouteFits(matchers, request('/', { 'x-plan': 'beta.1' }, 'region=de-eu'))).toBe(true);
    expect(glooRouteFits(matchers, request('/', { 'x-plan': 'beta.1' }, 'region=us'))).toBe(false);
    expect(glooRouteFits(undefined, request('/anything'))).toBe(true);
  });

  it('describes the rules in one line and finds the A/B stage note in a history', () => {
    const line = describeMatch(rules);
    expect(line).toBe(
      'header X-Canary = "insider" or header cookie ~ /^(.*?;)?(canary=always)(;.*)?$/ or header x-plan starts with "beta." and query region ends with "-eu"',
    );
    const steps = [
      { kind: 'weight' },
      { kind: 'note', detail: 'shadowing 100% of requests' },
      { kind: 'note', detail: `${AB_NOTE_PREFIX} requests where ${line} go to the canary` },
    ];
    expect(abNoteOf(steps)).toBe(`A/B: requests where ${line} go to the canary`);
    expect(abNoteOf(steps.slice(0, 2))).toBeUndefined();
  });

  it('finds a route ahead of the weighted one that takes all of its requests, passing over routes that let some through', () => {
    const weighted = { name: 'main', matchers: [{ prefix: '/api' }] };
    const withHeader = { name: 'qa', matchers: [{ prefix: '/', headers: [{ name: 'x-team', value: 'qa' }] }] };
    const other = { name: 'health', matchers: [{ exact: '/healthz' }] };
    const byRegex = { name: 'regex', matchers: [{ regex: '/.*' }] };
    const marker = { name: 'sluice-ab-web', matchers: [{ prefix: '/' }] };
    expect(routeAheadTaking([withHeader, other, byRegex, marker, weighted], 4)).toBeUndefined();
    expect(routeAheadTaking([other, { name: 'all', matchers: [] }, weighted], 2)).toBe(1);
    expect(routeAheadTaking([{ name: 'api', matchers: [{ prefix: '/ap' }] }, weighted], 1)).toBe(0);
    expect(routeAheadTaking([other, { name: 'exact', matchers: [{ exact: '/healthz' }] }], 1)).toBe(0);
  });

  it('names marker routes by purpose and target, and knows them', () => {
    expect(markerRouteName('ab', 'web')).toBe('sluice-ab-web');
    expect(isMarkerRouteName('sluice-ab-web')).toBe(true);
    expect(isMarkerRouteName('main')).toBe(false);
    expect(isMarkerRouteName('sluice-like-but-mine')).toBe(false);
    expect(isMarkerRouteName(undefined)).toBe(false);
  });
});
