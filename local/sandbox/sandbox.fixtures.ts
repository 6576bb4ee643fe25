/** Test helpers for the sandbox suites: dummy upstreams, Gloo objects, a burst of requests. */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'node:http';
import type { KubeObject } from '../kube/stand-in.ts';

export interface DummyUpstream {
  address: string;
  /** The Host header of every request it received, in order. */
  hosts: string[];
  close(): Promise<void>;
}

/** Answers `{ version }`; every `failEvery`-th request answers 500 instead (deterministic errors). */
export async function startDummy(version: string, options: { failEvery?: number } = {}): Promise<DummyUpstream> {
  const hosts: string[] = [];
  const server: Server = createServer((req, res) => {
    hosts.push(req.headers.host ?? '');
    req.resume();
    const fail = options.failEvery !== undefined && hosts.length % options.failEvery === 0;
    res.writeHead(fail ? 500 : 200, { 'content-type': 'application/json' }).end(JSON.stringify({ version }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    hosts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function upstreamGroup(name: string, weights: Record<string, number>, namespace = 'gloo-system'): KubeObject {
  return {
    apiVersion: 'gloo.solo.io/v1',
    kind: 'UpstreamGroup',
    metadata: { name, namespace },
    spec: {
      destinations: Object.entries(weights).map(([upstream, weight]) => ({
        destination: { upstream: { name: upstream, namespace } },
        weight,
      })),
    },
  };
}

export function virtualService(
  name: string,
  group: string,
  shadow?: { upstream: string; percentage: number },
  namespace = 'gloo-system',
): KubeObject {
  return {
    apiVersion: 'gateway.solo.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace },
    spec: {
      virtualHost: {
        domains: ['*'],
        routes: [
          {
            name: 'main',
            matchers: [{ prefix: '/' }],
            routeAction: { upstreamGroup: { name: group, namespace } },
            ...(shadow
              ? { options: { shadowing: { upstream: { name: shadow.upstream, namespace }, percentage: shadow.percentage } } }
              : {}),
          },
        ],
      },
    },
  };
}

export interface Burst {
  codes: Record<number, number>;
  versions: Record<string, number>;
}

/** Sends `count` GETs to `url`, `concurrency` at a time, and tallies status codes and answered versions. */
export async function burst(url: string, count: number, concurrency = 10): Promise<Burst> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const out: Burst = { codes: {}, versions: {} };
  let next = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request(url, { agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          out.codes[res.statusCode ?? 0] = (out.codes[res.statusCode ?? 0] ?? 0) + 1;
          try {
            const { version } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { version?: string };
            if (version) out.versions[version] = (out.versions[version] ?? 0) + 1;
          } catch {
            // a text answer (the gateway's own 503/404)
          }
          resolve();
        });
      });
      req.on('error', () => {
        out.codes[0] = (out.codes[0] ?? 0) + 1;
        resolve();
      });
      req.end();
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next += 1;
        await one();
      }
    }),
  );
  agent.destroy();
  return out;
}

/** Polls until `check` holds; fails after `timeoutMs` naming `what`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
