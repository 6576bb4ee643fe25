/**
 * A Kubernetes API stand-in for tests and the demo: no real API server installs
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
 *
 * This file holds the server, authentication and the public handle; the rest is split by concern:
 * http.ts (parsing, answers, selectors), handlers.ts (the verbs), watch.ts (LIST and WATCH),
 * faults.ts (fault knobs, audit log), controllers.ts (Gloo's reporter, the Deployment controller),
 * prune.ts (CRD field pruning), store.ts, status.ts, auth.ts, resources.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { forbiddenMessage, isAllowed, type PolicyRule, type RequestAttributes } from './auth.ts';
import { DeploymentSimulator, GlooStatusReporter } from './controllers.ts';
import { answerFault, FaultBook, type AuditEntry, type FaultRule } from './faults.ts';
import { resourceHandlers } from './handlers.ts';
import { fieldMatcher, parse, sameJson, send, type Parsed, type ResourceRequest } from './http.ts';
import { clone } from './patch.ts';
import type { StructuralSchema } from './prune.ts';
import { findByKind, type ResourceType } from './resources.ts';
import { failureStatus, KubeApiError } from './status.ts';
import { ObjectStore, type StoreEvent } from './store.ts';
import type { KubeObject } from './store.ts';

export type { KubeObject } from './store.ts';
export type { AuditEntry, FaultRule } from './faults.ts';
export type { PolicyRule } from './auth.ts';
export { policyRulesForGroup } from './auth.ts';

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

const ADMIN = '*';

export async function startKubeStandIn(options: KubeStandInOptions = {}): Promise<KubeStandIn> {
  const store = new ObjectStore(options.watchHistoryLimit);
  const tokens = new Map<string, PolicyRule[] | typeof ADMIN>();
  const users = new Map<string, string>();
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  tokens.set(adminToken, ADMIN);
  users.set(adminToken, 'admin');
  const auditLog: AuditEntry[] = [];
  const faults = new FaultBook();
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

  // What each request stored, until its audit entry is written (the response's `finish`).
  const writes = new WeakMap<ServerResponse, KubeObject>();
  const { commit, handleResource } = resourceHandlers({
    store,
    watches,
    bookmarkIntervalMs,
    crdSchemas: options.crdSchemas,
    onWrite: (res, object) => writes.set(res, object),
  });

  function authorize(req: IncomingMessage, request: ResourceRequest | undefined): void {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    const rules = tokens.get(token);
    if (rules === undefined) throw new KubeApiError(401, 'Unauthorized', 'Unauthorized');
    if (rules === ADMIN || !request) return; // discovery and /version: every authenticated user
    const name =
      request.name ??
      (request.verb === 'list' || request.verb === 'watch' ? fieldMatcher(request.query.get('fieldSelector')).name : undefined);
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
    const fault = faults.match(request, method);
    if (fault?.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault?.drop) {
      req.socket.destroy();
      return;
    }
    if (fault && answerFault(res, fault, request, method, url.pathname)) return;
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
    const annotations = (writes.get(res)?.metadata as { annotations?: Record<string, string> } | undefined)?.annotations;
    auditLog.push({
      at: Date.now(),
      user: users.get(token) ?? 'anonymous',
      verb: request.verb,
      resource: request.subresource ? `${request.type.plural}/${request.subresource}` : request.type.plural,
      namespace: request.namespace,
      name: request.name,
      code: res.statusCode,
      ...(annotations ? { annotations: { ...annotations } } : {}),
    });
  }

  const server = createServer((req, res) => {
    res.on('finish', () => recordWriter(req, res));
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const status =
        error instanceof KubeApiError
          ? error.toStatus()
          : failureStatus(500, 'InternalError', `stand-in error: ${(error as Error).message}`);
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
        if (error instanceof KubeApiError)
          throw new Error(`stand-in apply ${object.kind} ${namespace}/${object.metadata.name}: ${error.message}`, { cause: error });
        throw error;
      }
    },
    get(apiVersion, kind, namespace, name) {
      return store.get(resourceOf(apiVersion, kind), namespace, name);
    },
    faults: {
      add: (rule) => faults.add(rule),
      clear: () => faults.clear(),
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
