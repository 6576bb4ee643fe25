import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ampProvider, ampRegion } from './amp.ts';

const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'session-token-1',
};
const NOW = new Date('2026-01-02T03:04:05.678Z');

/** What AMP does on its side: recompute the signature from the request as received. */
async function expectedAuthorization(req: IncomingMessage): Promise<string> {
  const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) query[name] = value;
  const date = String(req.headers['x-amz-date']);
  const signingDate = new Date(
    `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
  );
  const signer = new SignatureV4({ service: 'aps', region: 'eu-west-1', sha256: Sha256, credentials: CREDENTIALS });
  const signed = await signer.sign(
    new HttpRequest({
      method: 'GET',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query,
      headers: { host: String(req.headers.host) },
    }),
    { signingDate },
  );
  return String(signed.headers.authorization);
}

describe('ampProvider (SigV4-signed Prometheus API)', () => {
  let server: Server;
  let workspaceUrl: string;
  const seen: Array<{ url: string; headers: IncomingMessage['headers']; expected: string }> = [];

  beforeAll(async () => {
    // Prepare: a loopback stand-in for a workspace that answers only correctly signed requests.
    server = createServer((req, res) => {
      void expectedAuthorization(req).then((expected) => {
        seen.push({ url: req.url ?? '', headers: req.headers, expected });
        if (req.headers.authorization !== expected) {
          res
            .writeHead(403, { 'Content-Type': 'application/json' })
            .end(JSON.stringify({ message: 'The request signature we calculated does not match the signature you provided.' }));
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(
          JSON.stringify({
            status: 'success',
            data: { resultType: 'vector', result: [{ metric: { envoy_response_code: '200' }, value: [1767323045, '42'] }] },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    workspaceUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/workspaces/ws-0123abcd`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('signs each query for service aps with the given credentials, and the workspace accepts it', async () => {
    const provider = ampProvider({ workspaceUrl, region: 'eu-west-1', credentials: CREDENTIALS, now: () => NOW });
    const query =
      'sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name="podinfo-canary_gloo-system",envoy_response_code!~"5.."}[1m])) * 100';

    // Act
    const value = await provider.runQuery(query);

    // Assess
    expect(value).toBe(42);
    const request = seen.at(-1)!;
    expect(request.url.startsWith('/workspaces/ws-0123abcd/api/v1/query?query=sum%28rate%28envoy_cluster_upstream_rq%7B')).toBe(true);
    expect(request.headers['x-amz-date']).toBe('20260102T030405Z');
    expect(request.headers['x-amz-security-token']).toBe('session-token-1');
    expect(request.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20260102\/eu-west-1\/aps\/aws4_request, SignedHeaders=[a-z0-9;-]*host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
    );
    expect(request.headers.authorization).toBe(request.expected);
  });

  it('reads raw counter series through the same signed path', async () => {
    const provider = ampProvider({ workspaceUrl, region: 'eu-west-1', credentials: CREDENTIALS });

    const series = await provider.series('envoy_cluster_upstream_rq{envoy_cluster_name="c"}', NOW);

    expect(series).toEqual([{ labels: { envoy_response_code: '200' }, value: 42 }]);
    expect(seen.at(-1)?.url).toContain('&time=1767323045.678');
  });

  it('reports a signature the workspace refuses as refused credentials, naming AMP', async () => {
    const provider = ampProvider({ workspaceUrl, region: 'us-east-1', credentials: CREDENTIALS }); // signed for the wrong region

    await expect(provider.runQuery('vector(1)')).rejects.toThrow(
      `Amazon Managed Prometheus at ${workspaceUrl} refused the credentials (403`,
    );
  });

  it('takes the region from the workspace URL, and asks for it when the URL does not tell', () => {
    expect(ampRegion('https://aps-workspaces.ap-southeast-2.amazonaws.com/workspaces/ws-1')).toBe('ap-southeast-2');
    expect(() => ampProvider({ workspaceUrl: 'https://vpce-1.example.internal/workspaces/ws-1', credentials: CREDENTIALS })).toThrow(
      'set region',
    );
  });
});
