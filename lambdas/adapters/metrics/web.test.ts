import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransientError } from '../../core/errors.ts';
import { WebProvider } from './web.ts';

describe('WebProvider against a loopback server', () => {
  let server: Server;
  let base: string;
  const seen: IncomingMessage['headers'][] = [];

  beforeAll(async () => {
    // Prepare: one JSON document per path, plus failure modes.
    const routes: Record<string, (res: ServerResponse) => void> = {
      '/stats': (res) =>
        res
          .writeHead(200, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ data: { canary: { errorRate: 0.25, p99: null, version: 'v2' } }, items: [{ v: 1 }, { v: 2 }] })),
      '/empty': (res) => res.writeHead(200).end('{}'),
      '/html': (res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>login</html>'),
      '/down': (res) => res.writeHead(503).end('maintenance'),
      '/denied': (res) => res.writeHead(401).end('no token'),
      '/slow': (res) => setTimeout(() => res.writeHead(200).end('{}'), 2000),
    };
    server = createServer((req, res) => {
      seen.push(req.headers);
      const route = routes[new URL(req.url ?? '/', 'http://x').pathname];
      if (route) route(res);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('reads the number at the JSONPath, sending the configured headers', async () => {
    const provider = new WebProvider({
      url: `${base}/stats`,
      jsonPath: '$.data.canary.errorRate',
      headers: { Authorization: 'Bearer t0k' },
    });

    await expect(provider.isOnline()).resolves.toBeUndefined();
    expect(await provider.runQuery(`${base}/stats?target=podinfo`)).toBe(0.25);
    expect(seen.at(-1)?.authorization).toBe('Bearer t0k');
  });

  it('reads no data when the path is missing or null', async () => {
    expect(await new WebProvider({ url: `${base}/empty`, jsonPath: '$.data.canary.errorRate' }).runQuery(`${base}/empty`)).toBeNull();
    expect(await new WebProvider({ url: `${base}/stats`, jsonPath: '$.data.canary.p99' }).runQuery(`${base}/stats`)).toBeNull();
  });

  it('refuses a value that is not a number, or several values, naming the path', async () => {
    await expect(new WebProvider({ url: `${base}/stats`, jsonPath: '$.data.canary.version' }).runQuery(`${base}/stats`)).rejects.toThrow(
      `web metric ${base}/stats: JSONPath $.data.canary.version is "v2", not a number`,
    );
    await expect(new WebProvider({ url: `${base}/stats`, jsonPath: '$.items[*].v' }).runQuery(`${base}/stats`)).rejects.toThrow(
      'matched 2 values, expected one',
    );
  });

  it('tells a body that is not JSON, a refusal, an outage and a timeout apart', async () => {
    const provider = new WebProvider({ url: `${base}/stats`, jsonPath: '$.x', timeout: 200 });

    await expect(provider.runQuery(`${base}/html`)).rejects.toThrow('with a body that is not JSON (<html>login</html>)');
    const denied = await provider.runQuery(`${base}/denied`).catch((e: unknown) => e);
    expect(denied).not.toBeInstanceOf(TransientError);
    expect((denied as Error).message).toBe(`web metric ${base}/denied answered 401: no token`);
    await expect(provider.runQuery(`${base}/down`)).rejects.toBeInstanceOf(TransientError);
    await expect(provider.runQuery(`${base}/slow`)).rejects.toThrow(`web metric ${base}/slow did not answer within 200 ms`);
  });

  it('calls an unreachable server transient', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/stats`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const error = await new WebProvider({ url, jsonPath: '$.x' }).isOnline().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toBe(`web metric ${url} is unreachable (ECONNREFUSED)`);
  });
});
