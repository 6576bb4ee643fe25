import { describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { RouteRouter } from './gloo-route.ts';
import { UpstreamGroupRouter } from './gloo-upstream-group.ts';
import { routerFor } from './factory.ts';
import { GLOO_NS, testSpec } from '../kube/cluster.fixtures.ts';

describe('routerFor', () => {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: 'http://127.0.0.1:1' }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });

  it('picks the router that spec.router.kind names', () => {
    const route = { virtualService: 'podinfo', routeTable: 'podinfo', namespace: GLOO_NS, name: 'main' };
    expect(routerFor(testSpec(), kubeConfig)).toBeInstanceOf(UpstreamGroupRouter);
    expect(routerFor(testSpec({ router: { kind: 'VirtualService', route } }), kubeConfig)).toBeInstanceOf(RouteRouter);
    expect(routerFor(testSpec({ router: { kind: 'RouteTable', route } }), kubeConfig)).toBeInstanceOf(RouteRouter);
  });

  it('refuses a kind it does not know', () => {
    const spec = testSpec();
    const bogus = { ...spec, spec: { ...spec.spec, router: { ...spec.spec.router, kind: 'Gateway' } } } as unknown as typeof spec;
    expect(() => routerFor(bogus, kubeConfig)).toThrow(/unknown router kind Gateway/);
  });
});
