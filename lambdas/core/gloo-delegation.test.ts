/** Gloo's delegation rules (refs, selectors by labels and expressions, namespaces), case by case. */
import { describe, expect, it } from 'vitest';
import { delegatesTo, isDelegating } from './gloo-delegation.ts';

const table = { name: 'routes', namespace: 'apps', labels: { app: 'podinfo', tier: 'web', rank: '3' } };
const via = (delegateAction: unknown) => ({ matchers: [{ prefix: '/' }], delegateAction });

describe('delegatesTo', () => {
  it.each([
    ['a ref in the same namespace', via({ ref: { name: 'routes', namespace: 'apps' } }), 'gloo-system', true],
    ['a ref without namespace (the owner namespace)', via({ ref: { name: 'routes' } }), 'apps', true],
    ['a ref without namespace from elsewhere', via({ ref: { name: 'routes' } }), 'gloo-system', false],
    ['a ref to another table', via({ ref: { name: 'other', namespace: 'apps' } }), 'apps', false],
    ['the older name/namespace', via({ name: 'routes', namespace: 'apps' }), 'gloo-system', true],
    ['the older name wins over ref', via({ name: 'other', ref: { name: 'routes', namespace: 'apps' } }), 'apps', false],
    ['no delegateAction', { routeAction: { single: {} } }, 'apps', false],
    ['labels in the owner namespace', via({ selector: { labels: { app: 'podinfo' } } }), 'apps', true],
    ['labels, table elsewhere', via({ selector: { labels: { app: 'podinfo' } } }), 'gloo-system', false],
    ['labels with namespaces listed', via({ selector: { labels: { app: 'podinfo' }, namespaces: ['apps'] } }), 'gloo-system', true],
    ["labels with namespaces '*'", via({ selector: { labels: { app: 'podinfo' }, namespaces: ['*'] } }), 'gloo-system', true],
    ['labels that differ', via({ selector: { labels: { app: 'checkout' } } }), 'apps', false],
    ['an empty selector (every table in the namespace)', via({ selector: {} }), 'apps', true],
    [
      'labels and expressions together (Gloo selects nothing)',
      via({ selector: { labels: { app: 'podinfo' }, expressions: [{ key: 'tier', operator: 'Exists' }] } }),
      'apps',
      false,
    ],
    ['In', via({ selector: { expressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] } }), 'apps', true],
    ['NotIn', via({ selector: { expressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] } }), 'apps', false],
    ['NotIn, label absent', via({ selector: { expressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] } }), 'apps', true],
    ['Equals by enum number 0', via({ selector: { expressions: [{ key: 'app', operator: 0, values: ['podinfo'] }] } }), 'apps', true],
    ['operator omitted (Equals)', via({ selector: { expressions: [{ key: 'app', values: ['podinfo'] }] } }), 'apps', true],
    ['NotEquals', via({ selector: { expressions: [{ key: 'app', operator: 'NotEquals', values: ['podinfo'] }] } }), 'apps', false],
    ['DoesNotExist', via({ selector: { expressions: [{ key: 'zone', operator: 'DoesNotExist' }] } }), 'apps', true],
    ['GreaterThan', via({ selector: { expressions: [{ key: 'rank', operator: 'GreaterThan', values: ['2'] }] } }), 'apps', true],
    ['LessThan', via({ selector: { expressions: [{ key: 'rank', operator: 'LessThan', values: ['2'] }] } }), 'apps', false],
    ['an unknown operator', via({ selector: { expressions: [{ key: 'app', operator: 'Like', values: ['pod'] }] } }), 'apps', false],
  ])('%s', (_what, route, owner, expected) => {
    expect(delegatesTo(route, owner, table)).toBe(expected);
  });
});

describe('isDelegating', () => {
  it('tells a delegating route from one that acts', () => {
    expect(isDelegating(via({ ref: { name: 'routes' } }))).toBe(true);
    expect(isDelegating({ routeAction: { single: {} } })).toBe(false);
    expect(isDelegating(null)).toBe(false);
  });
});
