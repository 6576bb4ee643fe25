/**
 * GitOps notifications over HTTPS (a Lambda Function URL, auth NONE: the request is authenticated
 * here, on the raw body, before anything is parsed):
 *
 *   POST /flux    Flux notification-controller, Provider type `generic-hmac`:
 *                 `X-Signature: <sha224|sha256|sha384|sha512>=<hex HMAC of the body>`
 *   POST /argocd  Argo CD notifications webhook service: `Authorization: Bearer <token>`
 *
 * The payload names the target and version (docs/deploy-events.md has the exact templates); the
 * GitOps revision is the idempotency key, so Flux's and Argo CD's re-sends start nothing twice.
 * Secrets come from Secrets Manager (one JSON secret `{ "flux": …, "argocd": … }`, cached per warm
 * Lambda) or, locally, from SLUICE_FLUX_HMAC_KEY / SLUICE_ARGOCD_TOKEN.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { argoToStart, fluxToStart } from '../core/deploy-events.ts';
import type { GitopsParse } from '../core/deploy-events.ts';
import { awsGitopsDeps } from '../wiring/aws-start.ts';
import type { GitopsDeps } from '../app/deps.ts';
import { logger } from '../adapters/logging/logger.ts';
import { requestStart } from '../adapters/control/start-path.ts';

/** Flux and Argo CD notifications are a few KiB; anything far larger is not one of them. */
export const MAX_BODY_BYTES = 64 * 1024;

export const HMAC_ALGORITHMS = ['sha224', 'sha256', 'sha384', 'sha512'] as const;
const HEX_LENGTH: Record<(typeof HMAC_ALGORITHMS)[number], number> = { sha224: 56, sha256: 64, sha384: 96, sha512: 128 };

/** Verifies `X-Signature: <fn>=<hex>` over the raw body, in constant time; sha1 and unknown functions are refused. */
export function verifyHmacSignature(
  rawBody: Buffer,
  header: string | undefined,
  key: string,
): { ok: true } | { ok: false; reason: string } {
  if (!header) return { ok: false, reason: 'X-Signature header missing' };
  const separator = header.indexOf('=');
  const fn = header.slice(0, separator).trim().toLowerCase();
  const hex = header
    .slice(separator + 1)
    .trim()
    .toLowerCase();
  if (separator < 0 || !(HMAC_ALGORITHMS as readonly string[]).includes(fn)) {
    return { ok: false, reason: `X-Signature must be <${HMAC_ALGORITHMS.join('|')}>=<hex>` };
  }
  const algorithm = fn as (typeof HMAC_ALGORITHMS)[number];
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[0-9a-f]+$/.test(hex)) return { ok: false, reason: 'signature mismatch' };
  const expected = createHmac(algorithm, key).update(rawBody).digest();
  return timingSafeEqual(expected, Buffer.from(hex, 'hex')) ? { ok: true } : { ok: false, reason: 'signature mismatch' };
}

/** `Authorization: Bearer <token>`, compared in constant time (hashes of equal length). */
export function verifyBearer(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header?.trim() ?? '');
  if (!match) return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(match[1] ?? ''), digest(token));
}

function json(statusCode: number, body: Record<string, unknown>): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const wanted = name.toLowerCase();
  const entry = Object.entries(event.headers ?? {}).find(([key]) => key.toLowerCase() === wanted);
  return entry?.[1];
}

/** One webhook request -> at most one start. Never throws for a bad request; a failing dependency throws (500: the sender retries). */
export async function handleGitopsRequest(event: APIGatewayProxyEventV2, deps: GitopsDeps): Promise<APIGatewayProxyStructuredResultV2> {
  const method = event.requestContext?.http?.method ?? 'POST';
  if (method !== 'POST') return json(405, { error: 'POST only' });
  const path = (event.rawPath ?? '/').replace(/\/+$/, '');
  const kind = path === '/flux' ? 'flux' : path === '/argocd' ? 'argocd' : undefined;
  if (!kind) return json(404, { error: 'POST to /flux (generic-hmac) or /argocd (bearer token)' });

  const declared = Number(header(event, 'content-length') ?? 0);
  if (
    declared > MAX_BODY_BYTES ||
    (event.body?.length ?? 0) > (event.isBase64Encoded ? Math.ceil((MAX_BODY_BYTES * 4) / 3) + 4 : MAX_BODY_BYTES)
  ) {
    return json(413, { error: `body larger than ${MAX_BODY_BYTES} bytes` });
  }
  // The Function URL base64-encodes bodies it does not take for text: the signature is over the bytes sent.
  const raw = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
  if (raw.length > MAX_BODY_BYTES) return json(413, { error: `body larger than ${MAX_BODY_BYTES} bytes` });

  const secrets = await deps.secrets();
  const secret = secrets[kind];
  if (!secret) return json(401, { error: `no ${kind} secret is configured: refusing every ${kind} request` });
  if (kind === 'flux') {
    const verified = verifyHmacSignature(raw, header(event, 'x-signature'), secret);
    if (!verified.ok) return json(401, { error: verified.reason });
  } else if (!verifyBearer(header(event, 'authorization'), secret)) {
    return json(401, { error: 'bearer token missing or wrong' });
  }

  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return json(400, { error: 'body is not JSON' });
  }
  const parsed: GitopsParse = kind === 'flux' ? fluxToStart(body, 'flux generic-hmac key') : argoToStart(body, 'argocd bearer token');
  if (!parsed.ok)
    return 'ignored' in parsed ? json(200, { outcome: 'ignored', reason: parsed.ignored }) : json(400, { error: parsed.invalid });
  const answer = await requestStart(deps.start, parsed.request);
  logger.info(answer.message, { outcome: answer.outcome, target: answer.target, version: answer.version, source: kind });
  // Refusals and duplicates are final answers: a 2xx keeps Flux and Argo CD from retrying them.
  return json(answer.outcome === 'started' ? 202 : 200, { ...answer });
}

export function createGitopsHandler(deps: () => Promise<GitopsDeps>) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context>()
    .use(injectLambdaContext(logger))
    .handler(async (event) => handleGitopsRequest(event, await deps()));
}

/** The Lambda entry point. */
export const handler = createGitopsHandler(awsGitopsDeps);
