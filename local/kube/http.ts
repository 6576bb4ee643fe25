/**
 * The stand-in's HTTP plumbing: request parsing (paths → resource requests, discovery), JSON
 * answers, bodies within the real server's size limit, and label/field selectors.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiGroup, apiGroupList, apiResourceList, findByPlural, type ResourceType } from './resources.ts';
import { badRequest, KubeApiError } from './status.ts';
import type { KubeObject } from './store.ts';

/** The Kubernetes API verb of a request (what RBAC and the fault rules match on). */
export type ApiVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

export const MAX_BODY_BYTES = 3 * 1024 * 1024; // the real server's request size limit

export interface ResourceRequest {
  type: ResourceType;
  verb: ApiVerb;
  namespace: string | undefined;
  name: string | undefined;
  subresource: 'scale' | 'status' | undefined;
  query: URLSearchParams;
}

export type Parsed = { kind: 'resource'; request: ResourceRequest } | { kind: 'other'; answer: () => unknown };

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new KubeApiError(413, 'RequestEntityTooLarge', 'the request is too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw badRequest(`the request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** `a=b,c!=d,e` → a predicate over labels (the equality-based selector forms). */
export function labelMatcher(selector: string | null): (labels: Record<string, unknown>) => boolean {
  if (!selector) return () => true;
  const terms = selector
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  return (labels) =>
    terms.every((term) => {
      const [key, value] = term.includes('!=') ? term.split('!=') : term.split(/==?/);
      if (value === undefined) return term.startsWith('!') ? !(term.slice(1) in labels) : (key ?? '') in labels;
      return term.includes('!=') ? labels[key ?? ''] !== value : labels[key ?? ''] === value;
    });
}

/** `metadata.name=x,metadata.namespace=y` (the field selectors every resource supports). */
export function fieldMatcher(selector: string | null): { name?: string; test: (o: KubeObject) => boolean } {
  if (!selector) return { test: () => true };
  const terms = selector.split(',').map((term) => {
    const negate = term.includes('!=');
    const [field = '', value = ''] = negate ? term.split('!=') : term.split(/==?/);
    if (field !== 'metadata.name' && field !== 'metadata.namespace') throw badRequest(`field label not supported: ${field}`);
    return { field, value, negate };
  });
  const name = terms.find((t) => t.field === 'metadata.name' && !t.negate)?.value;
  return {
    ...(name !== undefined ? { name } : {}),
    test: (o) => terms.every((t) => ((t.field === 'metadata.name' ? o.metadata.name : o.metadata.namespace) === t.value) !== t.negate),
  };
}

/** Method and path → the resource request (or a discovery answer); 404/405 as the real server. */
export function parse(method: string, url: URL): Parsed {
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const answer = (body: unknown) => ({ kind: 'other' as const, answer: () => body });
  const missing = () => {
    throw new KubeApiError(404, 'NotFound', 'the server could not find the requested resource');
  };
  if (method === 'GET') {
    if (url.pathname === '/version')
      return answer({ major: '1', minor: '33', gitVersion: 'v1.33.0-sluice-stand-in', platform: `${process.platform}/${process.arch}` });
    if (['/healthz', '/readyz', '/livez'].includes(url.pathname)) return answer('ok');
    if (url.pathname === '/api') return answer({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (url.pathname === '/api/v1') return answer({ kind: 'APIResourceList', groupVersion: 'v1', resources: [] });
    if (url.pathname === '/apis') return answer(apiGroupList());
    if (parts[0] === 'apis' && parts.length === 2) return answer(apiGroup(parts[1] ?? '') ?? missing());
    if (parts[0] === 'apis' && parts.length === 3) return answer(apiResourceList(parts[1] ?? '', parts[2] ?? '') ?? missing());
  }
  // /apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/<subresource>]]
  if (parts[0] !== 'apis' || parts.length < 4) missing();
  const [, group = '', version = ''] = parts;
  let rest = parts.slice(3);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural = '', name, sub, ...extra] = rest;
  const type = findByPlural(group, version, plural);
  if (!type || extra.length > 0) return missing();
  let subresource: ResourceRequest['subresource'];
  if (sub !== undefined) {
    if ((sub === 'scale' && type.scale) || (sub === 'status' && type.statusSubresource)) subresource = sub;
    else return missing();
  }
  const watch = url.searchParams.get('watch');
  const verbs: Record<string, ApiVerb | undefined> = {
    GET: name === undefined ? (watch === 'true' || watch === '1' ? 'watch' : 'list') : 'get',
    POST: name === undefined ? 'create' : undefined,
    PUT: name !== undefined ? 'update' : undefined,
    PATCH: name !== undefined ? 'patch' : undefined,
    DELETE: name !== undefined ? 'delete' : undefined,
  };
  const verb = verbs[method];
  if (!verb) throw new KubeApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
  if (namespace === undefined && verb !== 'list' && verb !== 'watch') missing();
  return { kind: 'resource', request: { type, verb, namespace, name, subresource, query: url.searchParams } };
}
