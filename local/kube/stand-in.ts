/**
 * A Kubernetes API stand-in for tests and the demo (DESIGN §4): no real API server installs
 * here, so this serves the slice of the API Sluice and the demo gateway use — discovery, and
 * namespaced GET/LIST/CREATE/PUT/PATCH/DELETE/WATCH for Gloo's UpstreamGroup, Upstream,
 * VirtualService, RouteTable, apps/v1 Deployments (with `scale` and `status`) and autoscaling/v2
 * HPAs — with the real server's answers where Sluice's behaviour depends on them:
 * resourceVersion preconditions (409), field validation (422), RBAC refusals (403), 415 for
 * strategic merge on custom resources, and metav1.Status bodies. A Gloo status reporter and a
 * Deployment simulator play the cluster's part; fault knobs break any of it on purpose.
 *
 * Plain HTTP on loopback, not HTTPS: a TLS server needs a certificate, and generating one needs
 * openssl or an extra package at run time for no gain on 127.0.0.1. @kubernetes/client-node
 * talks to an `http://` server when the cluster entry sets skipTLSVerify (kubeConfig() does);
 * authentication is the same bearer token a cluster takes.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { forbiddenMessage, isAllowed, type PolicyRule, type RequestAttributes } from './auth.ts';
import { DeploymentSimulator, GlooStatusReporter } from './controllers.ts';
import { clone, jsonPatch, mergePatch, parseJsonPatch, PatchError, type Json } from './patch.ts';
import { apiGroup, apiGroupList, apiResourceList, apiVersionOf, findByKind, findByPlural, type ResourceType } from './resources.ts';
import { alreadyExists, badRequest, conflict, failureStatus, invalid, KubeApiError, notFound, reasonForCode } from './status.ts';
import { pruneObject, type StructuralSchema } from './prune.ts';
import { ObjectStore, type KubeObject, type StoreEvent } from './store.ts';

export type { KubeObject } from './store.ts';
export type { PolicyRule } from './auth.ts';
export { policyRulesForGroup } from './auth.ts';

export type FaultVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

export interface FaultRule {
  verb?: FaultVerb;
  /** Plural, e.g. 'upstreamgroups', 'deployments', or with a subresource: 'deployments/scale'. */
  resource?: string;
  name?: string;
  /** Answer with this status code and a Status body (e.g. 503). */
  status?: number;
  /** Wait this long before answering (or before the other effects). */
  delayMs?: number;
  /** Destroy the connection without an answer. */
  drop?: boolean;
  /** How many matching requests the fault hits; default: all of them. */
  times?: number;
  /**
   * With `status: 429`: the `Retry-After` header (seconds) the API server's priority-and-fairness
   * filter sends with a throttled request (Kubernetes docs, "API Priority and Fairness": a rejected
   * request gets HTTP 429 Too Many Requests with a Retry-After header).
   */
  retryAfterSeconds?: number;
  /**
   * Refuse the write the way Gloo's validating admission webhook does on a strict-validation
   * install: 403 with `admission webhook "gloo.gloo-system.svc" denied the request: <reason>` and
   * an empty reason field (k8s.io/apiserver webhook/errors/statuserror.go; kgateway-dev/kgateway#6932).
   */
  admissionDenial?: string;
}

/** One mutating request the server carried out (or refused), in arrival order: who wrote what. */
export interface AuditEntry {
  at: number;
  /** The user the bearer token belongs to (`admin`, or the name given to addToken). */
  user: string;
  verb: FaultVerb;
  /** Plural, with `/<subresource>` when there is one. */
  resource: string;
  namespace: string | undefined;
  name: string | undefined;
  /** The HTTP status code answered. */
  code: number;
}

export interface ChangeEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
}

export interface KubeStandIn {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** A bearer token allowed everything. */
  adminToken: string;
  /**
   * Registers (or replaces) a token with RBAC-like rules: anything they do not allow is refused
   * with 403. `user` names it in the audit log (default `token:<first 8 characters>`).
   */
  addToken(token: string, rules: PolicyRule[], user?: string): void;
  /** A ready-to-use KubeConfig for this server (context 'stand-in'), with `token` or the admin token. */
  kubeConfig(token?: string): KubeConfig;
  /** The same as a kubeconfig YAML file (for `sluice run` and the demo). */
  writeKubeconfigFile(path: string, token?: string): void;
  /** Creates or replaces an object directly (seeding): no auth, no faults, no preconditions, still validated. */
  apply(object: KubeObject): KubeObject;
  get(apiVersion: string, kind: string, namespace: string, name: string): KubeObject | undefined;
  /** `add` returns a function that heals that one fault (a sustained outage ends). */
  faults: { add(rule: FaultRule): () => void; clear(): void };
  /** Every create/update/patch/delete request with its user and answer, oldest first. */
  audit(): AuditEntry[];
  /** Overrides Gloo's verdict for one object (Rejected with `reason`) or removes the override. */
  gloo: {
    reject(kind: string, namespace: string, name: string, reason: string): void;
    accept(kind: string, namespace: string, name: string): void;
    /** Changes the status lag from now on. */
    setStatusLagMs(ms: number): void;
  };
  deployments: { setReadyDelayMs(ms: number): void; neverReady(namespace: string, name: string, on?: boolean): void };
  /** Every stored change, including the controllers' status writes. Returns an unsubscribe function. */
  onChange(listener: (event: ChangeEvent) => void): () => void;
  close(): Promise<void>;
}

export interface KubeStandInOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Default 127.0.0.1: loopback only. */
  host?: string;
  /** How long a Deployment's new pods take to become ready. Default 200. */
  deploymentReadyDelayMs?: number;
  /** BOOKMARK interval for watches that ask for bookmarks. Default 10 s (client-node gives up on a silent watch after 30 s). */
  bookmarkIntervalMs?: number;
  /**
   * How long Gloo's status reporter takes to judge a change (and at most how often it writes).
   * Default 1000 ms, as Gloo does; tests pair a small lag with a small `statusSettleMs` for Sluice.
   */
  glooStatusLagMs?: number;
  /**
   * The CRDs' structural schemas by kind (loadCrdSchemas): fields they do not specify are pruned
   * on every write, as a cluster does. Without them nothing is pruned.
   */
  crdSchemas?: Record<string, StructuralSchema>;
  /** How many events a watch can resume across before it gets 410 Expired. Default 10,000. */
  watchHistoryLimit?: number;
}

const MAX_BODY_BYTES = 3 * 1024 * 1024; // the real server's request size limit
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const ADMIN = '*';

interface ResourceRequest {
  type: ResourceType;
  verb: FaultVerb;
  namespace: string | undefined;
  name: string | undefined;
  subresource: 'scale' | 'status' | undefined;
  query: URLSearchParams;
}

type Parsed = { kind: 'resource'; request: ResourceRequest } | { kind: 'other'; answer: () => unknown };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
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
function labelMatcher(selector: string | null): (labels: Record<string, unknown>) => boolean {
  if (!selector) return () => true;
  const terms = selector.split(',').map((t) => t.trim()).filter(Boolean);
  return (labels) =>
    terms.every((term) => {
      const [key, value] = term.includes('!=') ? term.split('!=') : term.split(/==?/);
      if (value === undefined) return term.startsWith('!') ? !(term.slice(1) in labels) : (key ?? '') in labels;
      return term.includes('!=') ? labels[key ?? ''] !== value : labels[key ?? ''] === value;
    });
}

/** `metadata.name=x,metadata.namespace=y` (the field selectors every resource supports). */
function fieldMatcher(selector: string | null): { name?: string; test: (o: KubeObject) => boolean } {
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

export async function startKubeStandIn(options: KubeStandInOptions = {}): Promise<KubeStandIn> {
  const store = new ObjectStore(options.watchHistoryLimit);
  const tokens = new Map<string, PolicyRule[] | typeof ADMIN>();
  const users = new Map<string, string>();
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  tokens.set(adminToken, ADMIN);
  users.set(adminToken, 'admin');
  const auditLog: AuditEntry[] = [];
  const faults: Array<FaultRule & { left: number }> = [];
  const watches = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  const bookmarkIntervalMs = options.bookmarkIntervalMs ?? 10_000;

  // Status writes from the controllers: not validated, no generation bump, but a new resourceVersion.
  const writeStatus = (type: ResourceType, namespace: string, name: string, status: Record<string, unknown>): void => {
    const current = store.get(type, namespace, name);
    if (current && !sameJson(current.status, status)) store.put(type, { ...current, status }, 'controller');
  };
  const reporter = new GlooStatusReporter(store, writeStatus, options.glooStatusLagMs);
  const simulator = new DeploymentSimulator(store, writeStatus, options.deploymentReadyDelayMs ?? 200);
  store.subscribe((event: StoreEvent) => {
    if (event.origin === 'controller') return;
    reporter.changed(event);
    simulator.changed(event);
  });

  /**
   * Metadata the server owns, defaults, validation, then store: shared by every user write.
   * `statusWrite`: the caller sets `status` on purpose (the /status subresource, or seeding);
   * otherwise a kind with a status subresource keeps its stored status, as on a cluster.
   */
  function commit(type: ResourceType, next: KubeObject, current: KubeObject | undefined, dryRun: boolean, statusWrite = false): KubeObject {
    const object = clone(next);
    const metadata = object.metadata;
    const keepStatus = !type.statusSubresource || (statusWrite && object.status !== undefined);
    if (current) {
      metadata.uid = current.metadata.uid;
      metadata.creationTimestamp = current.metadata.creationTimestamp;
      if (!keepStatus) {
        if (current.status === undefined) delete object.status;
        else object.status = clone(current.status);
      }
    } else {
      metadata.uid = randomUUID();
      metadata.creationTimestamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      if (!keepStatus) delete object.status;
    }
    type.defaults?.(object);
    const crd = options.crdSchemas?.[type.kind];
    if (crd) {
      const pruned = pruneObject(object, crd).object;
      for (const key of Object.keys(object)) if (!(key in pruned)) delete object[key];
      Object.assign(object, pruned);
    }
    const problems = [
      ...(NAME.test(metadata.name) && metadata.name.length <= 253 ? [] : [{ path: 'metadata.name', message: `"${metadata.name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'` }]),
      ...type.validate(object),
    ];
    if (problems.length > 0) throw invalid(type.kind, type.group, metadata.name, problems);
    metadata.generation = current ? (current.metadata.generation ?? 1) + (sameJson(current.spec, object.spec) ? 0 : 1) : 1;
    if (current) {
      // A write that changes nothing is a no-op on a real server: same resourceVersion, no event.
      const { resourceVersion: _a, ...before } = current.metadata;
      const { resourceVersion: _b, ...after } = metadata;
      if (sameJson({ ...current, metadata: before }, { ...object, metadata: after })) return current;
    }
    if (dryRun) return { ...object, metadata: { ...metadata, resourceVersion: current?.metadata.resourceVersion ?? '' } };
    return store.put(type, object);
  }

  function checkPrecondition(type: ResourceType, current: KubeObject, resourceVersion: unknown): void {
    if (resourceVersion !== undefined && resourceVersion !== null && resourceVersion !== '' && resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(type.plural, type.group, current.metadata.name);
    }
  }

  function checkIdentity(type: ResourceType, body: unknown, namespace: string, name: string | undefined): KubeObject {
    if (!isRecord(body) || !isRecord(body.metadata)) throw badRequest('the request body must be an object with metadata');
    const object = body as KubeObject;
    const expected = apiVersionOf(type);
    if (object.apiVersion === undefined) object.apiVersion = expected;
    if (object.kind === undefined) object.kind = type.kind;
    if (object.apiVersion !== expected) throw badRequest(`the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${expected})`);
    if (object.kind !== type.kind) throw badRequest(`the kind in the data (${String(object.kind)}) does not match the expected kind (${type.kind})`);
    if (object.metadata.namespace !== undefined && object.metadata.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    object.metadata.namespace = namespace;
    if (name !== undefined && object.metadata.name !== name) throw badRequest(`the name of the object (${String(object.metadata.name)}) does not match the name on the URL (${name})`);
    return object;
  }

  function toScale(type: ResourceType, deployment: KubeObject): KubeObject {
    const spec = isRecord(deployment.spec) ? deployment.spec : {};
    const status = isRecord(deployment.status) ? deployment.status : {};
    const labels = isRecord(spec.selector) && isRecord(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
    const { name, namespace, uid, resourceVersion, creationTimestamp } = deployment.metadata;
    return {
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: { name, namespace, uid, resourceVersion, creationTimestamp },
      spec: { replicas: spec.replicas ?? 1 },
      status: { replicas: status.replicas ?? 0, selector: Object.entries(labels).map(([k, v]) => `${k}=${String(v)}`).join(',') },
    };
  }

  function applyPatch(type: ResourceType, contentType: string, target: KubeObject, body: unknown): KubeObject {
    let result: Json;
    try {
      switch (contentType) {
        case 'application/merge-patch+json':
          result = mergePatch(target as unknown as Json, body as Json);
          break;
        case 'application/json-patch+json':
          result = jsonPatch(target as unknown as Json, parseJsonPatch(body));
          break;
        case 'application/strategic-merge-patch+json':
          if (type.custom) throw unsupportedPatch(contentType);
          // Built-in kinds: treated as a merge patch. Real strategic merge merges some lists by
          // key (containers by name); callers that need that exact behaviour should send a full list.
          result = mergePatch(target as unknown as Json, body as Json);
          break;
        default:
          throw unsupportedPatch(contentType);
      }
    } catch (error) {
      if (error instanceof PatchError) throw new KubeApiError(422, 'Invalid', error.message);
      throw error;
    }
    if (!isRecord(result) || !isRecord(result.metadata)) throw new KubeApiError(422, 'Invalid', 'the patched object must be an object with metadata');
    return result as unknown as KubeObject;
  }

  function unsupportedPatch(contentType: string): KubeApiError {
    return new KubeApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format (${contentType || 'none'}) - accepted media types include: application/json-patch+json, application/merge-patch+json`,
    );
  }

  function parse(method: string, url: URL): Parsed {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const answer = (body: unknown) => ({ kind: 'other' as const, answer: () => body });
    const missing = () => {
      throw new KubeApiError(404, 'NotFound', 'the server could not find the requested resource');
    };
    if (method === 'GET') {
      if (url.pathname === '/version') return answer({ major: '1', minor: '33', gitVersion: 'v1.33.0-sluice-stand-in', platform: `${process.platform}/${process.arch}` });
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
    const verbs: Record<string, FaultVerb | undefined> = {
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

  function authorize(req: IncomingMessage, request: ResourceRequest | undefined): void {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    const rules = tokens.get(token);
    if (rules === undefined) throw new KubeApiError(401, 'Unauthorized', 'Unauthorized');
    if (rules === ADMIN || !request) return; // discovery and /version: every authenticated user
    const name = request.name ?? (request.verb === 'list' || request.verb === 'watch' ? fieldMatcher(request.query.get('fieldSelector')).name : undefined);
    const attributes: RequestAttributes = {
      verb: request.verb,
      group: request.type.group,
      resource: request.subresource ? `${request.type.plural}/${request.subresource}` : request.type.plural,
      namespace: request.namespace,
      name,
    };
    if (!isAllowed(rules, attributes)) {
      throw new KubeApiError(403, 'Forbidden', forbiddenMessage(`token:${token.slice(0, 8)}`, attributes), {
        ...(request.name ? { name: request.name } : {}),
        group: request.type.group,
        kind: request.type.plural,
      });
    }
  }

  function matchFault(request: ResourceRequest | undefined, method: string): (FaultRule & { left: number }) | undefined {
    const verb = request?.verb ?? (method === 'GET' ? 'get' : undefined);
    const resource = request ? (request.subresource ? `${request.type.plural}/${request.subresource}` : request.type.plural) : undefined;
    const rule = faults.find(
      (f) => f.left > 0 && (f.verb === undefined || f.verb === verb) && (f.resource === undefined || f.resource === resource) && (f.name === undefined || f.name === request?.name),
    );
    if (rule) rule.left -= 1;
    return rule;
  }

  function list(request: ResourceRequest): unknown {
    const labels = labelMatcher(request.query.get('labelSelector'));
    const fields = fieldMatcher(request.query.get('fieldSelector'));
    const items = store
      .list(request.type, request.namespace)
      .filter((o) => fields.test(o) && labels(isRecord(o.metadata.labels) ? o.metadata.labels : {}));
    return { apiVersion: apiVersionOf(request.type), kind: `${request.type.kind}List`, metadata: { resourceVersion: String(store.resourceVersion) }, items };
  }

  function watch(req: IncomingMessage, res: ServerResponse, request: ResourceRequest): void {
    const labels = labelMatcher(request.query.get('labelSelector'));
    const fields = fieldMatcher(request.query.get('fieldSelector'));
    const matches = (event: StoreEvent) =>
      event.resource === request.type &&
      (request.namespace === undefined || event.object.metadata.namespace === request.namespace) &&
      fields.test(event.object) &&
      labels(isRecord(event.object.metadata.labels) ? event.object.metadata.labels : {});
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders(); // clients wait for the headers before they start reading events
    const write = (type: string, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`);
    const from = request.query.get('resourceVersion');
    let backlog: StoreEvent[] | 'expired';
    if (from === null || from === '' || from === '0') {
      // No starting point: like the real server, a synthetic ADDED for every current object.
      backlog = store.list(request.type, request.namespace).map((object) => ({ type: 'ADDED', resource: request.type, object, rv: Number(object.metadata.resourceVersion), origin: 'user' }));
    } else {
      const rv = Number(from);
      if (!Number.isInteger(rv) || rv < 0) {
        write('ERROR', failureStatus(400, 'BadRequest', `invalid resourceVersion "${from}"`));
        res.end();
        return;
      }
      backlog = store.eventsSince(rv);
    }
    if (backlog === 'expired') {
      // A watch from a compacted resourceVersion: 410 with reason Expired (apierrors.NewResourceExpired,
      // k8s.io/apiserver storage/cacher: "too old resource version: X (Y)"), which client-node's informer answers by re-listing.
      write('ERROR', failureStatus(410, 'Expired', `too old resource version: ${from} (${store.resourceVersion})`));
      res.end();
      return;
    }
    for (const event of backlog) if (matches(event)) write(event.type, event.object);
    watches.add(res);
    const unsubscribe = store.subscribe((event) => {
      if (matches(event)) write(event.type, event.object);
    });
    const timers: Array<ReturnType<typeof setTimeout>> = [];
    if (request.query.get('allowWatchBookmarks') === 'true') {
      timers.push(
        setInterval(() => write('BOOKMARK', { apiVersion: apiVersionOf(request.type), kind: request.type.kind, metadata: { resourceVersion: String(store.resourceVersion) } }), bookmarkIntervalMs),
      );
    }
    const timeoutSeconds = Number(request.query.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) timers.push(setTimeout(() => res.end(), timeoutSeconds * 1000));
    const stop = () => {
      unsubscribe();
      timers.forEach(clearTimeout);
      watches.delete(res);
    };
    res.on('close', stop);
    req.on('close', stop);
  }

  async function handleResource(req: IncomingMessage, res: ServerResponse, request: ResourceRequest): Promise<void> {
    const { type, verb, name, subresource, query } = request;
    const namespace = request.namespace ?? '';
    const dryRun = query.getAll('dryRun').includes('All');
    const current = name !== undefined ? store.get(type, namespace, name) : undefined;
    const existing = (): KubeObject => {
      if (!current || name === undefined) throw notFound(type.plural, type.group, name ?? '');
      return current;
    };
    const answer = (code: number, object: KubeObject) => send(res, code, subresource === 'scale' ? toScale(type, object) : object);
    switch (verb) {
      case 'list':
        return send(res, 200, list(request));
      case 'watch':
        return watch(req, res, request);
      case 'get':
        return answer(200, existing());
      case 'create': {
        const object = checkIdentity(type, await readBody(req), namespace, undefined);
        if (!object.metadata.name && typeof object.metadata.generateName === 'string') object.metadata.name = `${object.metadata.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`;
        if (typeof object.metadata.name !== 'string' || object.metadata.name === '') throw invalid(type.kind, type.group, '', [{ path: 'metadata.name', message: 'name or generateName is required' }]);
        if (store.get(type, namespace, object.metadata.name)) throw alreadyExists(type.plural, type.group, object.metadata.name);
        delete object.metadata.resourceVersion;
        return send(res, 201, commit(type, object, undefined, dryRun));
      }
      case 'update': {
        const body = await readBody(req);
        const stored = existing();
        if (subresource === 'scale') {
          if (!isRecord(body) || !isRecord(body.metadata)) throw badRequest('the request body must be a Scale');
          checkPrecondition(type, stored, body.metadata.resourceVersion);
          return answer(200, commit(type, withReplicas(stored, body), stored, dryRun));
        }
        const object = checkIdentity(type, body, namespace, name);
        const rv = object.metadata.resourceVersion;
        if (type.custom && (rv === undefined || rv === '')) {
          // CRDs do not allow unconditional updates (the real server answers exactly this).
          throw invalid(type.kind, type.group, stored.metadata.name, [{ path: 'metadata.resourceVersion', message: '0x0: must be specified for an update' }]);
        }
        checkPrecondition(type, stored, rv);
        if (subresource === 'status') return answer(200, commit(type, { ...stored, status: object.status }, stored, dryRun, true));
        return answer(200, commit(type, object, stored, dryRun));
      }
      case 'patch': {
        const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
        const body = await readBody(req);
        const stored = existing();
        if (subresource === 'scale') {
          const patched = applyPatch(type, contentType, toScale(type, stored), body);
          checkPrecondition(type, stored, patched.metadata.resourceVersion);
          return answer(200, commit(type, withReplicas(stored, patched), stored, dryRun));
        }
        const patched = applyPatch(type, contentType, stored, body);
        checkPrecondition(type, stored, patched.metadata.resourceVersion);
        if (patched.metadata.name !== stored.metadata.name || patched.metadata.namespace !== stored.metadata.namespace) {
          throw invalid(type.kind, type.group, stored.metadata.name, [{ path: 'metadata.name', message: 'field is immutable' }]);
        }
        if (patched.apiVersion !== stored.apiVersion || patched.kind !== stored.kind) throw badRequest('a patch cannot change apiVersion or kind');
        if (subresource === 'status') return answer(200, commit(type, { ...stored, status: patched.status }, stored, dryRun, true));
        return answer(200, commit(type, patched, stored, dryRun));
      }
      case 'delete': {
        const stored = existing();
        const body = await readBody(req);
        const preconditions = isRecord(body) && isRecord(body.preconditions) ? body.preconditions : {};
        checkPrecondition(type, stored, preconditions.resourceVersion);
        if (dryRun) return send(res, 200, stored);
        return send(res, 200, store.delete(type, namespace, stored.metadata.name) ?? stored);
      }
      default: {
        const never: never = verb;
        throw new Error(`unhandled verb ${String(never)}`);
      }
    }
  }

  function withReplicas(deployment: KubeObject, scale: Record<string, unknown>): KubeObject {
    const replicas = isRecord(scale.spec) ? scale.spec.replicas : undefined;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw invalid('Scale', 'autoscaling', deployment.metadata.name, [{ path: 'spec.replicas', message: `${String(replicas)}: must be a whole number >= 0` }]);
    }
    return { ...deployment, spec: { ...(isRecord(deployment.spec) ? deployment.spec : {}), replicas } };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://stand-in');
    let parsed: Parsed;
    try {
      parsed = parse(method, url);
    } catch (error) {
      if (!(error instanceof KubeApiError)) throw error;
      // Unknown paths still go through authentication first, as on a cluster.
      authorize(req, undefined);
      throw error;
    }
    const request = parsed.kind === 'resource' ? parsed.request : undefined;
    const fault = matchFault(request, method);
    if (fault?.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault?.drop) {
      req.socket.destroy();
      return;
    }
    if (fault?.admissionDenial !== undefined) {
      const body = failureStatus(403, '', `admission webhook "gloo.gloo-system.svc" denied the request: ${fault.admissionDenial}`, {
        ...(request?.name ? { name: request.name } : {}),
        group: request?.type.group ?? '',
        kind: request?.type.kind ?? '',
      });
      send(res, 403, body);
      return;
    }
    if (fault?.status) {
      const body = failureStatus(fault.status, reasonForCode(fault.status), `injected fault: ${fault.status} for ${method} ${url.pathname}`);
      if (fault.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(fault.retryAfterSeconds));
      send(res, fault.status, body);
      return;
    }
    authorize(req, request);
    if (parsed.kind === 'other') {
      const body = parsed.answer();
      if (typeof body === 'string') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(body);
      } else send(res, 200, body);
      return;
    }
    await handleResource(req, res, parsed.request);
  }

  /** Records who sent a mutating request and what it was answered (after the answer is known). */
  function recordWriter(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    if (method === 'GET') return;
    let request: ResourceRequest | undefined;
    try {
      const parsed = parse(method, new URL(req.url ?? '/', 'http://stand-in'));
      request = parsed.kind === 'resource' ? parsed.request : undefined;
    } catch {
      return;
    }
    if (!request) return;
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    auditLog.push({
      at: Date.now(),
      user: users.get(token) ?? 'anonymous',
      verb: request.verb,
      resource: request.subresource ? `${request.type.plural}/${request.subresource}` : request.type.plural,
      namespace: request.namespace,
      name: request.name,
      code: res.statusCode,
    });
  }

  const server = createServer((req, res) => {
    res.on('finish', () => recordWriter(req, res));
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const status = error instanceof KubeApiError ? error.toStatus() : failureStatus(500, 'InternalError', `stand-in error: ${(error as Error).message}`);
      send(res, status.code, status);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  function resourceOf(apiVersion: string, kind: string): ResourceType {
    const type = findByKind(apiVersion, kind);
    if (!type) throw new Error(`the stand-in does not serve ${apiVersion} ${kind}`);
    return type;
  }

  const kubeconfigOptions = (token: string) => ({
    clusters: [{ name: 'stand-in', server: url, skipTLSVerify: true }],
    users: [{ name: 'stand-in', token }],
    contexts: [{ name: 'stand-in', cluster: 'stand-in', user: 'stand-in' }],
    currentContext: 'stand-in',
  });

  return {
    url,
    adminToken,
    addToken(token, rules, user) {
      tokens.set(token, clone(rules));
      users.set(token, user ?? `token:${token.slice(0, 8)}`);
    },
    kubeConfig(token = adminToken) {
      const config = new KubeConfig();
      config.loadFromOptions(kubeconfigOptions(token));
      return config;
    },
    writeKubeconfigFile(path, token = adminToken) {
      const file = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'stand-in', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'stand-in', user: { token } }],
        contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'stand-in' } }],
        'current-context': 'stand-in',
      };
      writeFileSync(path, stringify(file), { mode: 0o600 });
    },
    apply(object) {
      const type = resourceOf(object.apiVersion, object.kind);
      const namespace = object.metadata.namespace ?? 'default';
      const current = store.get(type, namespace, object.metadata.name);
      const next = clone(object);
      next.metadata.namespace = namespace;
      delete next.metadata.resourceVersion;
      try {
        // Seeding may set status on any kind (e.g. a Deployment that starts out ready).
        return commit(type, next, current, false, true);
      } catch (error) {
        if (error instanceof KubeApiError) throw new Error(`stand-in apply ${object.kind} ${namespace}/${object.metadata.name}: ${error.message}`, { cause: error });
        throw error;
      }
    },
    get(apiVersion, kind, namespace, name) {
      return store.get(resourceOf(apiVersion, kind), namespace, name);
    },
    faults: {
      add(rule) {
        const entry = { ...rule, left: rule.times ?? Number.POSITIVE_INFINITY };
        faults.push(entry);
        return () => {
          const index = faults.indexOf(entry);
          if (index >= 0) faults.splice(index, 1);
        };
      },
      clear() {
        faults.length = 0;
      },
    },
    gloo: {
      reject: (kind, namespace, name, reason) => reporter.reject(kind, namespace, name, reason),
      accept: (kind, namespace, name) => reporter.accept(kind, namespace, name),
      setStatusLagMs: (ms) => {
        reporter.lagMs = ms;
      },
    },
    deployments: {
      setReadyDelayMs(ms) {
        simulator.readyDelayMs = ms;
      },
      neverReady(namespace, name, on = true) {
        simulator.setNeverReady(namespace, name, on);
      },
    },
    audit() {
      return auditLog.map((entry) => ({ ...entry }));
    },
    onChange(listener) {
      return store.subscribe((event) => listener({ type: event.type, object: event.object }));
    },
    async close() {
      reporter.close();
      simulator.close();
      for (const res of [...watches]) res.end();
      watches.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };

}
