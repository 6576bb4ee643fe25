/**
 * The resource verbs as the real API server answers them: server-owned metadata, defaults,
 * structural validation (and pruning with the CRD schemas), resourceVersion preconditions (409),
 * merge / JSON patches (415 for strategic merge on custom resources), the scale and status
 * subresources, dry runs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { clone, jsonPatch, mergePatch, parseJsonPatch, PatchError, type Json } from './patch.ts';
import { isRecord, readBody, sameJson, send, type ResourceRequest } from './http.ts';
import { pruneObject, type StructuralSchema } from './prune.ts';
import { apiVersionOf, type ResourceType } from './resources.ts';
import { alreadyExists, badRequest, conflict, invalid, KubeApiError, notFound } from './status.ts';
import type { KubeObject } from './store.ts';
import { list, watch, type WatchContext } from './watch.ts';

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface ResourceHandlers {
  commit(type: ResourceType, next: KubeObject, current: KubeObject | undefined, dryRun: boolean, statusWrite?: boolean): KubeObject;
  handleResource(req: IncomingMessage, res: ServerResponse, request: ResourceRequest): Promise<void>;
}

/** The verbs over one store; `crdSchemas` prune unknown fields as a cluster's CRDs do. */
export function resourceHandlers(
  context: WatchContext & {
    crdSchemas?: Record<string, StructuralSchema> | undefined;
    /** Called with the object a request's write stored (the audit log's "response object"). */
    onWrite?: (res: ServerResponse, object: KubeObject) => void;
  },
): ResourceHandlers {
  const { store } = context;

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
    const crd = context.crdSchemas?.[type.kind];
    if (crd) {
      const pruned = pruneObject(object, crd).object;
      for (const key of Object.keys(object)) if (!(key in pruned)) delete object[key];
      Object.assign(object, pruned);
    }
    const problems = [
      ...(NAME.test(metadata.name) && metadata.name.length <= 253
        ? []
        : [
            {
              path: 'metadata.name',
              message: `"${metadata.name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
            },
          ]),
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
    if (
      resourceVersion !== undefined &&
      resourceVersion !== null &&
      resourceVersion !== '' &&
      resourceVersion !== current.metadata.resourceVersion
    ) {
      throw conflict(type.plural, type.group, current.metadata.name);
    }
  }

  function checkIdentity(type: ResourceType, body: unknown, namespace: string, name: string | undefined): KubeObject {
    if (!isRecord(body) || !isRecord(body.metadata)) throw badRequest('the request body must be an object with metadata');
    const object = body as KubeObject;
    const expected = apiVersionOf(type);
    if (object.apiVersion === undefined) object.apiVersion = expected;
    if (object.kind === undefined) object.kind = type.kind;
    if (object.apiVersion !== expected)
      throw badRequest(`the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${expected})`);
    if (object.kind !== type.kind)
      throw badRequest(`the kind in the data (${String(object.kind)}) does not match the expected kind (${type.kind})`);
    if (object.metadata.namespace !== undefined && object.metadata.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    object.metadata.namespace = namespace;
    if (name !== undefined && object.metadata.name !== name)
      throw badRequest(`the name of the object (${String(object.metadata.name)}) does not match the name on the URL (${name})`);
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
      status: {
        replicas: status.replicas ?? 0,
        selector: Object.entries(labels)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(','),
      },
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
    if (!isRecord(result) || !isRecord(result.metadata))
      throw new KubeApiError(422, 'Invalid', 'the patched object must be an object with metadata');
    return result as unknown as KubeObject;
  }

  function unsupportedPatch(contentType: string): KubeApiError {
    return new KubeApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format (${contentType || 'none'}) - accepted media types include: application/json-patch+json, application/merge-patch+json`,
    );
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
    const written = (object: KubeObject): KubeObject => {
      if (!dryRun) context.onWrite?.(res, object);
      return object;
    };
    switch (verb) {
      case 'list':
        return send(res, 200, list(store, request));
      case 'watch':
        return watch(context, req, res, request);
      case 'get':
        return answer(200, existing());
      case 'create': {
        const object = checkIdentity(type, await readBody(req), namespace, undefined);
        if (!object.metadata.name && typeof object.metadata.generateName === 'string')
          object.metadata.name = `${object.metadata.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`;
        if (typeof object.metadata.name !== 'string' || object.metadata.name === '')
          throw invalid(type.kind, type.group, '', [{ path: 'metadata.name', message: 'name or generateName is required' }]);
        if (store.get(type, namespace, object.metadata.name)) throw alreadyExists(type.plural, type.group, object.metadata.name);
        delete object.metadata.resourceVersion;
        return send(res, 201, written(commit(type, object, undefined, dryRun)));
      }
      case 'update': {
        const body = await readBody(req);
        const stored = existing();
        if (subresource === 'scale') {
          if (!isRecord(body) || !isRecord(body.metadata)) throw badRequest('the request body must be a Scale');
          checkPrecondition(type, stored, body.metadata.resourceVersion);
          return answer(200, written(commit(type, withReplicas(stored, body), stored, dryRun)));
        }
        const object = checkIdentity(type, body, namespace, name);
        const rv = object.metadata.resourceVersion;
        if (type.custom && (rv === undefined || rv === '')) {
          // CRDs do not allow unconditional updates (the real server answers exactly this).
          throw invalid(type.kind, type.group, stored.metadata.name, [
            { path: 'metadata.resourceVersion', message: '0x0: must be specified for an update' },
          ]);
        }
        checkPrecondition(type, stored, rv);
        if (subresource === 'status') return answer(200, written(commit(type, { ...stored, status: object.status }, stored, dryRun, true)));
        return answer(200, written(commit(type, object, stored, dryRun)));
      }
      case 'patch': {
        const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
        const body = await readBody(req);
        const stored = existing();
        if (subresource === 'scale') {
          const patched = applyPatch(type, contentType, toScale(type, stored), body);
          checkPrecondition(type, stored, patched.metadata.resourceVersion);
          return answer(200, written(commit(type, withReplicas(stored, patched), stored, dryRun)));
        }
        const patched = applyPatch(type, contentType, stored, body);
        checkPrecondition(type, stored, patched.metadata.resourceVersion);
        if (patched.metadata.name !== stored.metadata.name || patched.metadata.namespace !== stored.metadata.namespace) {
          throw invalid(type.kind, type.group, stored.metadata.name, [{ path: 'metadata.name', message: 'field is immutable' }]);
        }
        if (patched.apiVersion !== stored.apiVersion || patched.kind !== stored.kind)
          throw badRequest('a patch cannot change apiVersion or kind');
        if (subresource === 'status')
          return answer(200, written(commit(type, { ...stored, status: patched.status }, stored, dryRun, true)));
        return answer(200, written(commit(type, patched, stored, dryRun)));
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
      throw invalid('Scale', 'autoscaling', deployment.metadata.name, [
        { path: 'spec.replicas', message: `${String(replicas)}: must be a whole number >= 0` },
      ]);
    }
    return { ...deployment, spec: { ...(isRecord(deployment.spec) ? deployment.spec : {}), replicas } };
  }

  return { commit, handleResource };
}
