/**
 * A loopback webhook receiver for the webhook tests: records every call (path and JSON body) and
 * answers with the status a per-path script gives for the n-th call on that path (default 200).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookCall {
  path: string;
  body: unknown;
}

/** Status for the n-th call (0-based) on a path; `hang` never answers (a timeout). */
export type Answer = (call: number) => number | 'hang';

export interface WebhookServer {
  url(path: string): string;
  calls: WebhookCall[];
  callsTo(path: string): WebhookCall[];
  answer(path: string, script: Answer): void;
  close(): Promise<void>;
}

export async function startWebhookServer(): Promise<WebhookServer> {
  const calls: WebhookCall[] = [];
  const scripts = new Map<string, Answer>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      const n = calls.filter((c) => c.path === path).length;
      const text = Buffer.concat(chunks).toString('utf8');
      calls.push({ path, body: text ? (JSON.parse(text) as unknown) : undefined });
      const status = (scripts.get(path) ?? (() => 200))(n);
      if (status === 'hang') return;
      response.writeHead(status, { 'content-type': 'text/plain' }).end(String(status));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    calls,
    callsTo: (path) => calls.filter((c) => c.path === path),
    answer: (path, script) => void scripts.set(path, script),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
