import { describe, expect, it } from 'vitest';
import { glooState, totalWeight, validateGlooObject, validateGlooStructure } from './gloo-schema.ts';

const ref = (name: string) => ({ name, namespace: 'gloo-system' });

describe('validateGlooObject', () => {
  it('accepts the documented UpstreamGroup and keeps fields it does not know', () => {
    // Prepare: the shape of Gloo's docs, plus a field outside Sluice's schema.
    const group = {
      apiVersion: 'gloo.solo.io/v1',
      kind: 'UpstreamGroup',
      metadata: { name: 'my-service-group', namespace: 'gloo-system', labels: { team: 'a' } },
      spec: {
        destinations: [
          { destination: { upstream: ref('v1') }, weight: 9 },
          { destination: { upstream: ref('v2') }, weight: 1, options: { x: 1 } },
        ],
      },
    };
    // Act / Assess
    expect(validateGlooObject('UpstreamGroup', group)).toEqual([]);
  });

  it('names the field of a weight that is not a uint32', () => {
    const group = {
      apiVersion: 'gloo.solo.io/v1',
      kind: 'UpstreamGroup',
      metadata: { name: 'g' },
      spec: {
        destinations: [
          { destination: { upstream: ref('a') }, weight: 1.5 },
          { destination: { upstream: ref('b') }, weight: 4_294_967_296 },
        ],
      },
    };
    expect(validateGlooObject('UpstreamGroup', group).map((p) => p.path)).toEqual([
      'spec.destinations[0].weight',
      'spec.destinations[1].weight',
    ]);
  });

  it('refuses an all-zero total (null weights count as 0) and an empty destination list', () => {
    const zero = {
      apiVersion: 'gloo.solo.io/v1',
      kind: 'UpstreamGroup',
      metadata: { name: 'g' },
      spec: {
        destinations: [
          { destination: { upstream: ref('a') }, weight: 0 },
          { destination: { upstream: ref('b') }, weight: null },
        ],
      },
    };
    expect(validateGlooObject('UpstreamGroup', zero)).toEqual([
      { path: 'spec.destinations', message: expect.stringContaining('at least 1') },
    ]);
    const empty = { ...zero, spec: { destinations: [] } };
    expect(validateGlooObject('UpstreamGroup', empty).map((p) => p.path)).toEqual(['spec.destinations']);
  });

  it('checks route actions: one destination kind, weighted multi, shadowing percentage', () => {
    const vs = (route: unknown) => ({
      apiVersion: 'gateway.solo.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'vs' },
      spec: { virtualHost: { domains: ['*'], routes: [route] } },
    });
    expect(
      validateGlooObject(
        'VirtualService',
        vs({
          matchers: [{ prefix: '/' }],
          routeAction: { upstreamGroup: ref('g') },
          options: { shadowing: { upstream: ref('c'), percentage: 12.5 } },
        }),
      ),
    ).toEqual([]);
    expect(
      validateGlooObject('VirtualService', vs({ routeAction: { upstreamGroup: ref('g'), single: { upstream: ref('a') } } }))[0]?.message,
    ).toContain('only one of');
    expect(
      validateGlooObject(
        'VirtualService',
        vs({ routeAction: { multi: { destinations: [{ destination: { upstream: ref('a') }, weight: 0 }] } } }),
      )[0]?.path,
    ).toBe('spec.virtualHost.routes[0].routeAction.multi.destinations');
    expect(validateGlooObject('VirtualService', vs({ options: { shadowing: { upstream: ref('c'), percentage: 150 } } }))[0]?.path).toBe(
      'spec.virtualHost.routes[0].options.shadowing.percentage',
    );
  });

  it('type-checks a kube Upstream and passes other upstream types through', () => {
    const upstream = (spec: unknown) => ({ apiVersion: 'gloo.solo.io/v1', kind: 'Upstream', metadata: { name: 'u' }, spec });
    expect(
      validateGlooObject('Upstream', upstream({ kube: { serviceName: 'podinfo', serviceNamespace: 'default', servicePort: 9898 } })),
    ).toEqual([]);
    expect(validateGlooObject('Upstream', upstream({ aws: { region: 'us-east-1' } }))).toEqual([]);
    expect(validateGlooObject('Upstream', upstream({ kube: { serviceName: 'podinfo', servicePort: '9898' } }))[0]?.path).toBe(
      'spec.kube.servicePort',
    );
  });
});

describe('glooState', () => {
  it('reads the gloo-system reporter entry, string or integer state', () => {
    expect(glooState({ statuses: { 'gloo-system': { state: 'Rejected', reason: 'bad', reportedBy: 'gloo' } } })).toEqual({
      state: 'Rejected',
      reason: 'bad',
    });
    expect(glooState({ statuses: { 'gloo-system': { state: 1 } } })).toEqual({ state: 'Accepted' });
    expect(glooState({ statuses: { other: { state: 'Accepted' } } })).toBeUndefined();
    expect(glooState(undefined)).toBeUndefined();
  });
});

describe('totalWeight', () => {
  it('sums weights, counting missing ones as 0', () => {
    expect(totalWeight([{ weight: 3 }, {}, { weight: null }, { weight: 7 }])).toBe(10);
  });
});

describe('validateGlooStructure (what the API server checks)', () => {
  it('accepts what only Gloo refuses: an all-zero total, an empty list, several route actions', () => {
    // The CRDs' structural schemas type the fields but carry no minItems and no oneOf; Gloo rejects
    // these later in a status.
    const zero = {
      apiVersion: 'gloo.solo.io/v1',
      kind: 'UpstreamGroup',
      metadata: { name: 'g' },
      spec: { destinations: [{ destination: { upstream: ref('a') }, weight: 0 }] },
    };
    expect(validateGlooStructure('UpstreamGroup', zero)).toEqual([]);
    expect(validateGlooStructure('UpstreamGroup', { ...zero, spec: { destinations: [] } })).toEqual([]);
    const vs = {
      apiVersion: 'gateway.solo.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'v' },
      spec: { virtualHost: { routes: [{ routeAction: { upstreamGroup: ref('g'), single: { upstream: ref('a') } } }] } },
    };
    expect(validateGlooStructure('VirtualService', vs)).toEqual([]);
    // …while Sluice's own reading still refuses them.
    expect(validateGlooObject('VirtualService', vs)).toHaveLength(1);
  });

  it('still refuses what the structural schema types: a weight that is not a uint32', () => {
    const group = {
      apiVersion: 'gloo.solo.io/v1',
      kind: 'UpstreamGroup',
      metadata: { name: 'g' },
      spec: { destinations: [{ destination: { upstream: ref('a') }, weight: -1 }] },
    };
    expect(validateGlooStructure('UpstreamGroup', group).map((p) => p.path)).toEqual(['spec.destinations[0].weight']);
  });
});
