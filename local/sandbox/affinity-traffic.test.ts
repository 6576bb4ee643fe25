/**
 * Session affinity in the sandbox: the gateway adds a weighted destination's response headers
 * (Gloo's `headerManipulation.responseHeadersToAdd`; Envoy's `append` defaults to true, so a
 * Set-Cookie goes beside the app's own), and the load's simulated users each keep their cookies.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { affinityCookie, affinityCookiePattern, canarySetCookie, primarySetCookie } from '../../lambdas/core/affinity.ts';
import { keepCookie, startLoad } from './load.ts';
import { withResponseHeaders } from './gateway/proxy.ts';
import { RouteTable, targetsOf } from './gateway/routes.ts';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((done) => s.close(done))));
});

const COOKIE = affinityCookie({ cookieName: 'sticky', maxAge: 60 }, 'exec-1');

describe('the gateway honours session affinity', () => {
  it('routes a cookie holder by the cookie route and adds each side’s Set-Cookie beside the app’s own', () => {
    // Prepare: the objects Sluice writes (a cookie route ahead of a weighted route with header manipulation).
    const ns = 'gloo-system';
    const side = (name: string, weight: number, setCookie: string) => ({
      destination: { upstream: { name, namespace: ns } },
      weight,
      options: { headerManipulation: { responseHeadersToAdd: [{ header: { key: 'Set-Cookie', value: setCookie }, append: true }] } },
    });
    const table = new RouteTable(
      targetsOf(
        ['primary', 'canary'].map((name, i) => ({ name, namespace: ns, address: `127.0.0.1:${1000 + i}` })),
        (u) => u.name,
      ),
      ns,
    );
    table.setVirtualService({
      apiVersion: 'gateway.solo.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'web', namespace: ns },
      spec: {
        virtualHost: {
          routes: [
            {
              name: 'sluice-affinity-web',
              matchers: [{ prefix: '/', headers: [{ name: 'cookie', value: affinityCookiePattern(COOKIE), regex: true }] }],
              routeAction: { single: { upstream: { name: 'canary', namespace: ns } } },
            },
            {
              name: 'main',
              matchers: [{ prefix: '/' }],
              routeAction: {
                multi: { destinations: [side('primary', 90, primarySetCookie(COOKIE)), side('canary', 10, canarySetCookie(COOKIE))] },
              },
            },
          ],
        },
      },
    });
    const resolve = (cookie?: string) =>
      table.resolve({ path: '/', headers: cookie ? { cookie } : {}, query: new URLSearchParams() })?.resolved.destinations;
    // Act
    const holder = resolve(`a=1; sticky=${COOKIE.value}`);
    const anonymous = resolve();
    // Assess
    expect(holder).toEqual([expect.objectContaining({ name: 'canary', weight: 1 })]);
    expect(holder?.[0]?.responseHeaders).toBeUndefined();
    expect(anonymous?.map((d) => [d.name, d.responseHeaders?.map((h) => h.value)])).toEqual([
      ['primary', ['sticky=; Max-Age=0; Path=/']],
      ['canary', [`sticky=${COOKIE.value}; Max-Age=60; Path=/`]],
    ]);
    const added = anonymous?.[1]?.responseHeaders ?? [];
    expect(withResponseHeaders({ 'set-cookie': ['session=abc'], 'content-type': 'application/json' }, added)).toEqual({
      'set-cookie': ['session=abc', `sticky=${COOKIE.value}; Max-Age=60; Path=/`],
      'content-type': 'application/json',
    });
    expect(withResponseHeaders({ 'x-a': '1' }, [{ key: 'X-A', value: '2', append: false }])).toEqual({ 'x-a': ['2'] });
  });
});

describe('the load’s simulated users', () => {
  it('keep a cookie jar each: a set cookie is sent back, Max-Age=0 deletes it', () => {
    const jar = new Map<string, string>();
    expect(keepCookie(jar, `sticky=${COOKIE.value}; Max-Age=60; Path=/`)).toBe('set');
    expect([...jar]).toEqual([['sticky', COOKIE.value]]);
    expect(keepCookie(jar, 'sticky=; Max-Age=0; Path=/')).toBe('deleted');
    expect(jar.size).toBe(0);
    expect(keepCookie(jar, 'garbage')).toBe('ignored');
  });

  it('stay on the version that gave them the cookie, and count the users who got it', async () => {
    // Prepare: a server that answers v2 with the cookie to every 4th anonymous request, and v2 to any holder.
    let anonymous = 0;
    const server = createServer((req, res) => {
      const holds = req.headers.cookie?.includes('sticky=yes') ?? false;
      const canary = holds || ++anonymous % 4 === 0;
      res.writeHead(200, {
        'content-type': 'application/json',
        ...(canary && !holds ? { 'set-cookie': 'sticky=yes; Max-Age=60; Path=/' } : {}),
      });
      res.end(JSON.stringify({ version: canary ? 'v2' : 'v1' }));
    });
    servers.push(server);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as { port: number };
    // Act: 5 users, 40 requests (8 each).
    const stats = await startLoad({ url: `http://127.0.0.1:${port}/`, rps: 400, maxRequests: 40, maxInFlight: 1, users: 5 }).done;
    // Assess
    expect(stats.users?.total).toBe(5);
    expect(stats.users?.holding).toBeGreaterThan(0);
    expect(stats.users?.switchedWhileHolding).toBe(0);
    expect(stats.users?.byVersion.v2).toBe(stats.users?.holding);
  });
});
