import { describe, expect, it } from 'vitest';
import {
  affinityCookie,
  affinityCookiePattern,
  affinityCookieValue,
  canarySetCookie,
  isAffinitySetCookie,
  primarySetCookie,
} from './affinity.ts';
import { re2FullMatch } from './match.ts';
import { validateSpec } from './spec.ts';

const base = {
  apiVersion: 'sluice.dev/v1',
  kind: 'Rollout',
  metadata: { name: 'web' },
  spec: {
    cluster: { kubeconfigContext: 'dev' },
    router: {
      name: 'web',
      namespace: 'gloo-system',
      route: { virtualService: 'web', namespace: 'gloo-system', name: 'main' },
      primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
      canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
    },
    workload: { namespace: 'apps', primary: 'web-primary', canary: 'web' },
    analysis: { judge: 'threshold', prometheus: { address: 'http://prometheus:9090' } },
    strategy: { sessionAffinity: { cookieName: 'canary' } },
  },
};

function problems(patch: (doc: typeof base) => unknown) {
  const doc = structuredClone(base);
  const result = validateSpec(patch(doc) ?? doc);
  return result.ok ? [] : result.problems;
}

describe('strategy.sessionAffinity validation', () => {
  it('accepts Flagger’s fields and defaults maxAge to a day', () => {
    const result = validateSpec(base);
    expect(result.ok && result.spec.spec.strategy.sessionAffinity).toEqual({ cookieName: 'canary', maxAge: 86_400 });
  });

  it('names the field of a bad cookie name or maxAge', () => {
    const found = problems((doc) => {
      doc.spec.strategy.sessionAffinity = { cookieName: 'a b;c', maxAge: 0 } as never;
    });
    expect(found.map((p) => p.path)).toEqual(['spec.strategy.sessionAffinity.cookieName', 'spec.strategy.sessionAffinity.maxAge']);
    expect(found[0]?.message).toMatch(/expected a cookie name/);
  });

  it('requires a route with an UpstreamGroup, as A/B does, and says why', () => {
    const found = problems((doc) => {
      delete (doc.spec.router as { route?: unknown }).route;
    });
    expect(found).toEqual([
      { path: 'spec.router.route', message: expect.stringMatching(/required for session affinity \(strategy\.sessionAffinity\)/) },
    ]);
  });

  it('turns the two-arm test off unless analysis.compareArms opts in', () => {
    const sequential = problems((doc) => {
      doc.spec.analysis = { ...doc.spec.analysis, judge: 'sequential' } as never;
    });
    expect(sequential).toEqual([{ path: 'spec.analysis.judge', message: expect.stringMatching(/compareArms: true/) }]);
    expect(problems((doc) => void (doc.spec.analysis = { ...doc.spec.analysis, judge: 'sequential', compareArms: true } as never))).toEqual(
      [],
    );
  });

  it('refuses affinity with A/B testing or blue/green', () => {
    const found = problems((doc) => {
      doc.spec.strategy = { ...doc.spec.strategy, iterations: 2, blueGreen: {} } as never;
    });
    expect(found.map((p) => p.path)).toContain('spec.strategy.sessionAffinity');
  });
});

describe('the affinity cookie', () => {
  const cookie = affinityCookie({ cookieName: 'canary', maxAge: 600 }, 'arn:aws:states:eu-west-1:1:execution:sluice:web-v2');

  it('is stable for one rollout and differs between rollouts', () => {
    expect(affinityCookieValue('exec-a')).toBe(affinityCookieValue('exec-a'));
    expect(affinityCookieValue('exec-a')).not.toBe(affinityCookieValue('exec-b'));
    expect(cookie.value).toMatch(/^[0-9a-f]{16}$/);
  });

  it('is set by the canary side and expired by the primary side; both are recognised as Sluice’s', () => {
    expect(canarySetCookie(cookie)).toBe(`canary=${cookie.value}; Max-Age=600; Path=/`);
    expect(primarySetCookie(cookie)).toBe('canary=; Max-Age=0; Path=/');
    expect([canarySetCookie(cookie), primarySetCookie(cookie)].every((v) => isAffinitySetCookie(v, 'canary'))).toBe(true);
    expect(isAffinitySetCookie('canary=1; HttpOnly', 'canary')).toBe(false);
    expect(isAffinitySetCookie(canarySetCookie(cookie), 'other')).toBe(false);
  });

  it('is matched in a Cookie header among others, never by a longer name or another value (RE2 full match)', () => {
    const pattern = affinityCookiePattern(cookie);
    const fits = (header: string) => re2FullMatch(pattern, header);
    expect(fits(`canary=${cookie.value}`)).toBe(true);
    expect(fits(`a=1; canary=${cookie.value}; b=2`)).toBe(true);
    expect(fits(`a=1,canary=${cookie.value}`)).toBe(true);
    expect(fits(`xcanary=${cookie.value}`)).toBe(false);
    expect(fits(`canary=${cookie.value}0`)).toBe(false);
    expect(fits('canary=')).toBe(false);
  });
});
