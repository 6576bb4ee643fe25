/**
 * Forwarding one request upstream the way Envoy's router does: a mirrored copy goes with `-shadow`
 * appended to the Host and its answer is thrown away; a request that cannot reach its upstream
 * answers, and counts as, 503 (504 after the upstream timeout); with `retry_on: 5xx` a 5xx answer,
 * a reset or a timeout is retried to the same cluster, each retry counted under upstream_rq_retry
 * and only the final answer under upstream_rq.
 */
import { request as httpRequest } from 'node:http';
import type { Agent, IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { isServerError } from './counters.ts';
import type { GatewayCounters } from './counters.ts';
import type { ResponseHeader, Target } from './routes.ts';

/** Envoy appends `-shadow` to the host part of the authority: `shop.example.com:8080` → `shop.example.com-shadow:8080`. */
export function shadowHost(host: string): string {
  const match = /^(.*?)(:\d+)?$/.exec(host);
  return `${match?.[1] ?? host}-shadow${match?.[2] ?? ''}`;
}

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export interface ProxyOptions {
  agent: Agent;
  counters: GatewayCounters;
  /** Upstream request timeout; a timed-out request answers 504. */
  timeoutMs: number;
}

/**
 * Sends one request upstream; resolves with the status code it counted. With `res` the answer is
 * streamed to the user; without, it is a mirrored copy.
 */
export type Forward = (
  target: Target,
  req: IncomingMessage,
  body: Buffer,
  res: ServerResponse | undefined,
  retriesLeft?: number,
  responseHeaders?: readonly ResponseHeader[],
) => Promise<number>;

/** The upstream's answer headers with the route's added ones (a repeated header, such as Set-Cookie, becomes a list). */
export function withResponseHeaders(headers: IncomingHttpHeaders, added: readonly ResponseHeader[]): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = { ...headers };
  for (const { key, value, append } of added) {
    const name = key.toLowerCase();
    const current = out[name];
    const kept = append && current !== undefined ? (Array.isArray(current) ? current : [String(current)]) : [];
    out[name] = [...kept, value];
  }
  return out;
}

export function forwarder({ agent, counters, timeoutMs }: ProxyOptions): Forward {
  const forward: Forward = (target, req, body, res, retriesLeft = 0, responseHeaders = []) => {
    const headers: IncomingHttpHeaders = { ...req.headers, 'content-length': String(body.length) };
    delete headers.connection;
    delete headers['transfer-encoding'];
    const host = req.headers.host ?? `${target.host}:${target.port}`;
    headers.host = res ? host : shadowHost(host);
    const startedAt = Date.now();
    counters.markFirst(target, !res, startedAt);
    return new Promise((done) => {
      let settled = false;
      const finish = (code: number, answered = true) => {
        if (settled) return;
        settled = true;
        counters.record(target, code, Date.now() - startedAt, !res, answered);
        done(code);
      };
      // A retried attempt counts under upstream_rq_retry only; the next attempt gives the answer.
      const retry = () => {
        if (settled) return;
        settled = true;
        counters.retry(target);
        done(forward(target, req, body, res, retriesLeft - 1, responseHeaders));
      };
      const fail = (code: number, why: string) => {
        if (res && retriesLeft > 0) {
          retry();
          return;
        }
        finish(code, false);
        if (res && !res.headersSent) res.writeHead(code, { 'content-type': 'text/plain' }).end(why);
        else res?.destroy();
      };
      const upstream = httpRequest(
        { host: target.host, port: target.port, method: req.method, path: req.url, headers, agent, timeout: timeoutMs },
        (answer) => {
          const code = answer.statusCode ?? 502;
          if (res && retriesLeft > 0 && isServerError(code)) {
            answer.resume();
            answer.on('end', retry);
            answer.on('error', retry);
            return;
          }
          if (res) {
            res.writeHead(code, responseHeaders.length ? withResponseHeaders(answer.headers, responseHeaders) : answer.headers);
            answer.pipe(res);
          } else answer.resume();
          answer.on('end', () => finish(code));
          answer.on('error', () => fail(503, 'upstream reset'));
        },
      );
      upstream.on('timeout', () => {
        upstream.destroy();
        fail(504, 'upstream request timeout');
      });
      upstream.on('error', () => fail(503, 'upstream connect error or disconnect/reset before headers'));
      upstream.end(body);
    });
  };
  return forward;
}
