/**
 * The stand-in, driven through the real @kubernetes/client-node 2 the way Sluice and the demo
 * gateway drive a cluster: CustomObjectsApi, AppsV1Api, AutoscalingV2Api and Watch.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ApiException,
  AppsV1Api,
  AutoscalingV2Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import { startKubeStandIn, type KubeObject, type KubeStandIn } from './stand-in.ts';
import { loadCrdSchemas } from './prune.ts';

const G = 'gloo.solo.io';
const NS = 'gloo-system';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
const strategicPatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

function upstream(name: string): KubeObject {
  return {
    apiVersion: 'gloo.solo.io/v1',
    kind: 'Upstream',
    metadata: { name, namespace: NS },
    spec: { kube: { serviceName: name, serviceNamespace: 'default', servicePort: 9898 } },
  };
}

function group(weights: Record<string, number>, name = 'podinfo'): KubeObject {
  return {
    apiVersion: 'gloo.solo.io/v1',
    kind: 'UpstreamGroup',
    metadata: { name, namespace: NS },
    spec: {
      destinations: Object.entries(weights).map(([up, weight]) => ({ destination: { upstream: { name: up, namespace: NS } }, weight })),
    },
  };
}

function virtualService(name: string, routes: unknown[]): KubeObject {
  return {
    apiVersion: 'gateway.solo.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace: NS },
    spec: { virtualHost: { domains: ['*'], routes } },
  };
}

const toGroup = (name = 'podinfo') => ({
  name: 'main',
  matchers: [{ prefix: '/' }],
  routeAction: { upstreamGroup: { name, namespace: NS } },
});

function deployment(name: string, replicas = 2, image = 'podinfo:6.0.0'): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
    },
  };
}

type Group = KubeObject & {
  spec: { destinations: Array<{ destination: { upstream: { name: string } }; weight: number }> };
  status?: { statuses?: Record<string, { state?: string; reason?: string }> };
};

/** The error client-node threw, with the server's Status body parsed. */
async function failure(
  promise: Promise<unknown>,
): Promise<{ code: number; status: { reason: string; message: string; code: number; details?: { causes?: Array<{ field?: string }> } } }> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof ApiException)) throw error;
    const body = typeof error.body === 'string' ? JSON.parse(error.body) : error.body;
    return { code: error.code, status: body };
  }
  throw new Error('expected the call to fail');
}

/** Polls until `check` returns a value; fails after 2 s (the functional bound the issues name). */
async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let api: KubeStandIn;
let custom: CustomObjectsApi;
let apps: AppsV1Api;

beforeEach(async () => {
  api = await startKubeStandIn({ deploymentReadyDelayMs: 100, glooStatusLagMs: 10 });
  custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
  apps = api.kubeConfig().makeApiClient(AppsV1Api);
  api.apply(upstream('podinfo-primary'));
  api.apply(upstream('podinfo-canary'));
});

afterEach(async () => {
  await api.close();
});

describe('custom objects (CRUD)', () => {
  it('creates, reads, lists, replaces and deletes an UpstreamGroup', async () => {
    const created = (await custom.createNamespacedCustomObject({
      group: G,
      version: 'v1',
      namespace: NS,
      plural: 'upstreamgroups',
      body: group({ 'podinfo-primary': 100, 'podinfo-canary': 0 }),
    })) as Group;
    expect(created.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(created.metadata.generation).toBe(1);
    // Gloo's status write bumps the resourceVersion a few ms later: read after it.
    await eventually(() => (api.get('gloo.solo.io/v1', 'UpstreamGroup', NS, 'podinfo') as Group).status?.statuses?.[NS], 'the Gloo status');

    const read = (await custom.getNamespacedCustomObject({
      group: G,
      version: 'v1',
      namespace: NS,
      plural: 'upstreamgroups',
      name: 'podinfo',
    })) as Group;
    expect(read.spec.destinations.map((d) => d.weight)).toEqual([100, 0]);

    const list = (await custom.listNamespacedCustomObject({ group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups' })) as {
      items: Group[];
      metadata: { resourceVersion: string };
    };
    expect(list.items.map((i) => i.metadata.name)).toEqual(['podinfo']);
    expect(Number(list.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(created.metadata.resourceVersion));

    read.spec.destinations[1]!.weight = 10;
    read.spec.destinations[0]!.weight = 90;
    const replaced = (await custom.replaceNamespacedCustomObject({
      group: G,
      version: 'v1',
      namespace: NS,
      plural: 'upstreamgroups',
      name: 'podinfo',
      body: read,
    })) as Group;
    expect(replaced.spec.destinations.map((d) => d.weight)).toEqual([90, 10]);
    expect(replaced.metadata.generation).toBe(2);
    expect(Number(replaced.metadata.resourceVersion)).toBeGreaterThan(Number(read.metadata.resourceVersion));

    await custom.deleteNamespacedCustomObject({ group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo' });
    const gone = await failure(
      custom.getNamespacedCustomObject({ group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo' }),
    );
    expect(gone.code).toBe(404);
  });

  it('answers a missing object with a NotFound Status like the real server', async () => {
    const { code, status } = await failure(
      custom.getNamespacedCustomObject({ group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'nope' }),
    );
    expect(code).toBe(404);
    expect(status).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'NotFound',
      code: 404,
      message: 'upstreamgroups.gloo.solo.io "nope" not found',
      details: { name: 'nope', group: G, kind: 'upstreamgroups' },
    });
  });

  it('lists across namespaces, and stores nothing on a dry run', async () => {
    api.apply({ ...upstream('elsewhere'), metadata: { name: 'elsewhere', namespace: 'other' } });
    const all = (await custom.listClusterCustomObject({ group: G, version: 'v1', plural: 'upstreams' })) as { items: KubeObject[] };
    expect(all.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual([
      'gloo-system/podinfo-canary',
      'gloo-system/podinfo-primary',
      'other/elsewhere',
    ]);

    const dry = (await custom.createNamespacedCustomObject({
      group: G,
      version: 'v1',
      namespace: NS,
      plural: 'upstreamgroups',
      body: group({ 'podinfo-primary': 1 }),
      dryRun: 'All',
    })) as KubeObject;
    expect(dry.metadata.name).toBe('podinfo');
    expect(api.get('gloo.solo.io/v1', 'UpstreamGroup', NS, 'podinfo')).toBeUndefined();
  });

  it('refuses to create an object that exists with AlreadyExists', async () => {
    const { code, status } = await failure(
      custom.createNamespacedCustomObject({
        group: G,
        version: 'v1',
        namespace: NS,
        plural: 'upstreams',
        body: upstream('podinfo-primary'),
      }),
    );
    expect(code).toBe(409);
    expect(status.reason).toBe('AlreadyExists');
  });

  it('refuses a PUT of a custom resource without resourceVersion (CRDs allow no unconditional update)', async () => {
    api.apply(group({ 'podinfo-primary': 100 }));
    const { code, status } = await failure(
      custom.replaceNamespacedCustomObject({
        group: G,
        version: 'v1',
        namespace: NS,
        plural: 'upstreamgroups',
        name: 'podinfo',
        body: group({ 'podinfo-primary': 50 }),
      }),
    );
    expect(code).toBe(422);
    expect(status.details?.causes?.[0]?.field).toBe('metadata.resourceVersion');
  });
});

describe('patch', () => {
  beforeEach(() => {
    api.apply(group({ 'podinfo-primary': 100, 'podinfo-canary': 0 }));
  });

  it('replaces the whole destinations array on a merge patch (RFC 7386)', async () => {
    const body = { spec: { destinations: [{ destination: { upstream: { name: 'podinfo-canary', namespace: NS } }, weight: 100 }] } };
    const patched = (await custom.patchNamespacedCustomObject(
      { group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo', body },
      mergePatch,
    )) as Group;
    expect(patched.spec.destinations).toEqual([{ destination: { upstream: { name: 'podinfo-canary', namespace: NS } }, weight: 100 }]);
  });

  it('applies a JSON patch (RFC 6902), and refuses one whose test fails', async () => {
    const body = [
      { op: 'test', path: '/spec/destinations/1/weight', value: 0 },
      { op: 'replace', path: '/spec/destinations/0/weight', value: 95 },
      { op: 'replace', path: '/spec/destinations/1/weight', value: 5 },
    ];
    const patched = (await custom.patchNamespacedCustomObject(
      { group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo', body },
      jsonPatch,
    )) as Group;
    expect(patched.spec.destinations.map((d) => d.weight)).toEqual([95, 5]);

    const stale = await failure(
      custom.patchNamespacedCustomObject(
        { group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo', body },
        jsonPatch,
      ),
    );
    expect(stale.code).toBe(422);
    expect(api.get('gloo.solo.io/v1', 'UpstreamGroup', NS, 'podinfo')?.spec).toEqual(patched.spec);
  });

  it('answers a strategic merge patch of a custom resource with 415, as the real server does', async () => {
    const { code, status } = await failure(
      custom.patchNamespacedCustomObject(
        { group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo', body: { spec: {} } },
        strategicPatch,
      ),
    );
    expect(code).toBe(415);
    expect(status.reason).toBe('UnsupportedMediaType');
  });

  it('answers 409 Conflict to a patch carrying a stale resourceVersion, and keeps the weights', async () => {
    // Gloo's status write also bumps the resourceVersion: read after it has settled.
    await eventually(() => (api.get('gloo.solo.io/v1', 'UpstreamGroup', NS, 'podinfo') as Group).status?.statuses?.[NS], 'the Gloo status');
    const read = (await custom.getNamespacedCustomObject({
      group: G,
      version: 'v1',
      namespace: NS,
      plural: 'upstreamgroups',
      name: 'podinfo',
    })) as Group;
    const patch = (canary: number) => ({
      metadata: { resourceVersion: read.metadata.resourceVersion },
      spec: {
        destinations: [
          { destination: { upstream: { name: 'podinfo-primary', namespace: NS } }, weight: 100 - canary },
          { destination: { upstream: { name: 'podinfo-canary', namespace: NS } }, weight: canary },
        ],
      },
    });
    await custom.patchNamespacedCustomObject(
      { group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo', body: patch(5) },
      mergePatch,
    );

    const { code, status } = await failure(
      custom.patchNamespacedCustomObject(
        { group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo', body: patch(50) },
        mergePatch,
      ),
    );
    expect(code).toBe(409);
    expect(status).toMatchObject({ reason: 'Conflict', details: { name: 'podinfo', kind: 'upstreamgroups' } });
    expect((api.get('gloo.solo.io/v1', 'UpstreamGroup', NS, 'podinfo') as Group).spec.destinations.map((d) => d.weight)).toEqual([95, 5]);
  });
});

describe('validation with the project Gloo schema', () => {
  beforeEach(() => {
    api.apply(group({ 'podinfo-primary': 100, 'podinfo-canary': 0 }));
  });

  it('refuses a weight that is not a uint32 with 422 naming the field', async () => {
    const body = {
      spec: {
        destinations: [
          { destination: { upstream: { name: 'podinfo-primary', namespace: NS } }, weight: -1 },
          { destination: { upstream: { name: 'podinfo-canary', namespace: NS } }, weight: 'ten' },
        ],
      },
    };
    const { code, status } = await failure(
      custom.patchNamespacedCustomObject(
        { group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo', body },
        mergePatch,
      ),
    );
    expect(code).toBe(422);
    expect(status.reason).toBe('Invalid');
    expect(status.details?.causes?.map((c) => c.field)).toEqual(['spec.destinations[0].weight', 'spec.destinations[1].weight']);
  });

  it('accepts what the API server accepts: an all-zero total, an empty list, several route actions', async () => {
    // The CRDs' structural schemas (solo-io/gloo install/helm/gloo/crds, generated by solo-kit) type
    // the fields but carry no minItems or oneOf: the API server stores these, Gloo rejects them later.
    const zero = [{ op: 'replace', path: '/spec/destinations/0/weight', value: 0 }];
    await expect(
      custom.patchNamespacedCustomObject(
        { group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo', body: zero },
        jsonPatch,
      ),
    ).resolves.toBeDefined();
    expect(() => api.apply({ ...group({}), metadata: { name: 'empty', namespace: NS } })).not.toThrow();
    const both = { upstreamGroup: { name: 'podinfo', namespace: NS }, single: { upstream: { name: 'podinfo-primary', namespace: NS } } };
    expect(() => api.apply(virtualService('both', [{ name: 'main', matchers: [{ prefix: '/' }], routeAction: both }]))).not.toThrow();
  });

  it('lets unknown fields through untouched', () => {
    const stored = api.apply({
      ...upstream('extra'),
      spec: { kube: { serviceName: 'x', servicePort: 80, selector: { app: 'x' } }, healthChecks: [{ timeout: '1s' }] },
    });
    expect(stored.spec).toEqual({ kube: { serviceName: 'x', servicePort: 80, selector: { app: 'x' } }, healthChecks: [{ timeout: '1s' }] });
  });

  it("prunes fields the CRD's structural schema does not specify, as the API server does", async () => {
    // Kubernetes docs, "Extend the Kubernetes API with CustomResourceDefinitions" → "Field pruning".
    // Gloo's own CRD (solo-io/gloo install/helm/gloo/crds) when the reference folder is there (CI);
    // else the same shape, inline.
    const reference = process.env.SLUICE_REFERENCE_DIR;
    const schemas = reference
      ? loadCrdSchemas(join(reference, 'gloo-crds'), ['gloo.solo.io_v1_UpstreamGroup.yaml'])
      : {
          UpstreamGroup: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                properties: {
                  destinations: {
                    type: 'array',
                    items: {
                      type: 'object',
                      properties: {
                        destination: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                        options: {
                          type: 'object',
                          properties: { headerManipulation: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
                        },
                        weight: { type: 'integer' },
                      },
                    },
                  },
                },
              },
              status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        };
    const pruning = await startKubeStandIn({ glooStatusLagMs: 10, crdSchemas: schemas });
    try {
      const stored = pruning.apply({
        apiVersion: 'gloo.solo.io/v1',
        kind: 'UpstreamGroup',
        metadata: { name: 'podinfo', namespace: NS, labels: { team: 'a' } },
        spec: {
          destinations: [
            {
              destination: { upstream: { name: 'a', namespace: NS } },
              weight: 100,
              wieght: 5,
              options: { headerManipulation: { requestHeadersToRemove: ['x'] } },
            },
          ],
          typo: true,
        },
      });
      expect(stored.spec).toEqual({
        destinations: [
          {
            destination: { upstream: { name: 'a', namespace: NS } },
            weight: 100,
            options: { headerManipulation: { requestHeadersToRemove: ['x'] } },
          },
        ],
      });
      expect(stored.metadata.labels).toEqual({ team: 'a' });
    } finally {
      await pruning.close();
    }
  });

  it('makes apply() throw on an invalid object too', () => {
    expect(() => api.apply(group({ 'podinfo-primary': -1 }))).toThrow(/spec\.destinations\[0\]\.weight/);
  });
});

describe('RBAC', () => {
  it('refuses with 403 what a restricted token is not allowed, and allows what it is', async () => {
    api.apply(group({ 'podinfo-primary': 100, 'podinfo-canary': 0 }));
    api.apply(group({ 'podinfo-primary': 100 }, 'other'));
    api.addToken('sluice', [
      { verbs: ['get', 'patch'], apiGroups: [G], resources: ['upstreamgroups'], resourceNames: ['podinfo'], namespaces: [NS] },
    ]);
    const restricted = api.kubeConfig('sluice').makeApiClient(CustomObjectsApi);

    await expect(
      restricted.getNamespacedCustomObject({ group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo' }),
    ).resolves.toMatchObject({ metadata: { name: 'podinfo' } });
    const other = await failure(
      restricted.getNamespacedCustomObject({ group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'other' }),
    );
    expect(other.code).toBe(403);
    expect(other.status).toMatchObject({ reason: 'Forbidden', code: 403 });
    expect(other.status.message).toContain(
      'cannot get resource "upstreamgroups" in API group "gloo.solo.io" in the namespace "gloo-system"',
    );
    const remove = await failure(
      restricted.deleteNamespacedCustomObject({ group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo' }),
    );
    expect(remove.code).toBe(403);
    expect(api.get('gloo.solo.io/v1', 'UpstreamGroup', NS, 'podinfo')).toBeDefined();
  });

  it('refuses an unknown token with 401', async () => {
    const stranger = api.kubeConfig('who-is-this').makeApiClient(CustomObjectsApi);
    const { code } = await failure(stranger.listNamespacedCustomObject({ group: G, version: 'v1', namespace: NS, plural: 'upstreams' }));
    expect(code).toBe(401);
  });
});

describe('watch', () => {
  it('streams ADDED, MODIFIED and DELETED events, and resumes from a resourceVersion', async () => {
    const events: Array<{ type: string; name: string; weights: number[] }> = [];
    const watch = new Watch(api.kubeConfig());
    const controller = await watch.watch(
      `/apis/${G}/v1/namespaces/${NS}/upstreamgroups`,
      {},
      (type, object: Group) => events.push({ type, name: object.metadata.name, weights: object.spec.destinations.map((d) => d.weight) }),
      () => {},
    );
    const created = api.apply(group({ 'podinfo-primary': 100, 'podinfo-canary': 0 }));
    await custom.patchNamespacedCustomObject(
      {
        group: G,
        version: 'v1',
        namespace: NS,
        plural: 'upstreamgroups',
        name: 'podinfo',
        body: [{ op: 'replace', path: '/spec/destinations/1/weight', value: 1 }],
      },
      jsonPatch,
    );
    await custom.deleteNamespacedCustomObject({ group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo' });
    await eventually(() => (events.some((e) => e.type === 'DELETED') ? true : undefined), 'the DELETED event');
    controller.abort();
    // Status writes by the Gloo reporter also arrive as MODIFIED; the weights tell the story.
    expect(events[0]).toEqual({ type: 'ADDED', name: 'podinfo', weights: [100, 0] });
    expect(events.filter((e) => e.type === 'MODIFIED').map((e) => e.weights)).toContainEqual([100, 1]);
    expect(events.at(-1)?.type).toBe('DELETED');

    const resumed: string[] = [];
    const again = await watch.watch(
      `/apis/${G}/v1/namespaces/${NS}/upstreamgroups`,
      { resourceVersion: created.metadata.resourceVersion },
      (type) => resumed.push(type),
      () => {},
    );
    await eventually(() => (resumed.includes('DELETED') ? true : undefined), 'the replayed DELETED event');
    again.abort();
    expect(resumed[0]).toBe('MODIFIED');
  });

  it('starts a watch without resourceVersion with the current objects', async () => {
    const seen: string[] = [];
    const controller = await new Watch(api.kubeConfig()).watch(
      `/apis/${G}/v1/namespaces/${NS}/upstreams`,
      {},
      (type, object: KubeObject) => seen.push(`${type} ${object.metadata.name}`),
      () => {},
    );
    await eventually(() => (seen.length >= 2 ? true : undefined), 'the synthetic ADDED events');
    controller.abort();
    expect(seen.slice(0, 2)).toEqual(['ADDED podinfo-canary', 'ADDED podinfo-primary']);
  });

  it('answers a watch from a compacted resourceVersion with a 410 Expired ERROR event', async () => {
    // Kubernetes API concepts, "Efficient detection of changes": a watch from a resourceVersion
    // older than the server keeps gets "410 Gone"; the Status reason is Expired
    // (apierrors.NewResourceExpired in k8s.io/apiserver's watch cache), and clients re-list.
    await api.close();
    api = await startKubeStandIn({ watchHistoryLimit: 3 });
    const first = api.apply(upstream('one'));
    for (const name of ['two', 'three', 'four', 'five']) api.apply(upstream(name));
    const errors: Array<{ code: number; reason: string; message: string }> = [];
    const controller = await new Watch(api.kubeConfig()).watch(
      `/apis/${G}/v1/namespaces/${NS}/upstreams`,
      { resourceVersion: first.metadata.resourceVersion },
      (type, object: { code: number; reason: string; message: string }) => {
        if (type === 'ERROR') errors.push(object);
      },
      () => {},
    );
    await eventually(() => (errors.length > 0 ? true : undefined), 'the ERROR event');
    controller.abort();
    expect(errors[0]).toMatchObject({ code: 410, reason: 'Expired' });
    expect(errors[0]?.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
  });

  it('ends the watch when the stand-in closes, so watchers notice', async () => {
    let ended = false;
    await new Watch(api.kubeConfig()).watch(
      `/apis/${G}/v1/namespaces/${NS}/upstreams`,
      {},
      () => {},
      () => {
        ended = true;
      },
    );
    await api.close();
    await eventually(() => (ended ? true : undefined), 'the watch to end');
    api = await startKubeStandIn(); // for afterEach
  });
});

describe('Gloo status reporter', () => {
  const state = (name = 'podinfo') => (api.get('gloo.solo.io/v1', 'UpstreamGroup', NS, name) as Group | undefined)?.status?.statuses?.[NS];

  it('marks a valid group Accepted shortly after it is written', async () => {
    await custom.createNamespacedCustomObject({
      group: G,
      version: 'v1',
      namespace: NS,
      plural: 'upstreamgroups',
      body: group({ 'podinfo-primary': 100, 'podinfo-canary': 0 }),
    });
    const status = await eventually(() => state(), 'a status');
    expect(status).toEqual({ state: 'Accepted', reportedBy: 'gloo' });
  });

  it('rejects a group naming an Upstream that does not exist', async () => {
    api.apply(group({ 'podinfo-primary': 100, 'podinfo-ghost': 0 }));
    const status = await eventually(() => state(), 'a status');
    expect(status.state).toBe('Rejected');
    expect(status.reason).toContain('podinfo-ghost');
  });

  it('reports late, as Gloo does: nothing for about a second after a change, then the verdict', async () => {
    // Gloo translates and writes statuses asynchronously, about once a second (read
    // in Gloo's source); the stand-in's default lag models that.
    const realistic = await startKubeStandIn();
    try {
      const written = Date.now();
      realistic.apply(upstream('podinfo-primary'));
      realistic.apply(group({ 'podinfo-primary': 100 }));
      const read = () => (realistic.get('gloo.solo.io/v1', 'UpstreamGroup', NS, 'podinfo') as Group | undefined)?.status?.statuses?.[NS];
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(read()).toBeUndefined();
      const deadline = Date.now() + 3000;
      while (!read() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(read()?.state).toBe('Accepted');
      expect(Date.now() - written).toBeGreaterThanOrEqual(1000);
    } finally {
      await realistic.close();
    }
  });

  it("reports an error caused by the group's weights on the VirtualService that uses it, not on the group", async () => {
    // Gloo turns the group into the route's weighted clusters: the route's owner carries the error.
    api.apply(group({ 'podinfo-primary': 0, 'podinfo-canary': 0 }));
    api.apply(virtualService('podinfo', [toGroup()]));
    const vsState = () => (api.get('gateway.solo.io/v1', 'VirtualService', NS, 'podinfo') as Group | undefined)?.status?.statuses?.[NS];
    const rejected = await eventually(() => (vsState()?.state === 'Rejected' ? vsState() : undefined), 'the VirtualService Rejected');
    expect(rejected.reason).toBe('route 0: upstream group gloo-system/podinfo: weighted destinations need a total weight greater than 0');
    expect(state()?.state).toBe('Accepted');
  });

  it('rejects a route naming several route actions (a protobuf oneof) in its VirtualService status', async () => {
    api.apply(group({ 'podinfo-primary': 100, 'podinfo-canary': 0 }));
    api.apply(
      virtualService('both', [
        { ...toGroup(), routeAction: { ...toGroup().routeAction, single: { upstream: { name: 'podinfo-primary', namespace: NS } } } },
      ]),
    );
    const vsState = () => (api.get('gateway.solo.io/v1', 'VirtualService', NS, 'both') as Group | undefined)?.status?.statuses?.[NS];
    const rejected = await eventually(() => (vsState()?.state === 'Rejected' ? vsState() : undefined), 'Rejected');
    expect(rejected.reason).toBe('route 0: several route actions (single, upstreamGroup); expected one');
  });

  it('reports Rejected while an override is set, and Accepted again after it is lifted', async () => {
    api.apply(group({ 'podinfo-primary': 100, 'podinfo-canary': 0 }));
    await eventually(() => (state()?.state === 'Accepted' ? true : undefined), 'Accepted');
    api.gloo.reject('UpstreamGroup', NS, 'podinfo', 'injected: envoy refused the cluster');
    const rejected = await eventually(() => (state()?.state === 'Rejected' ? state() : undefined), 'Rejected');
    expect(rejected.reason).toBe('injected: envoy refused the cluster');
    api.gloo.accept('UpstreamGroup', NS, 'podinfo');
    await eventually(() => (state()?.state === 'Accepted' ? true : undefined), 'Accepted again');
  });
});

describe('Deployment simulator', () => {
  type Deployment = {
    metadata: { generation?: number };
    spec?: { replicas?: number };
    status?: { observedGeneration?: number; updatedReplicas?: number; availableReplicas?: number; readyReplicas?: number };
  };
  const ready = (d: Deployment) =>
    d.status?.observedGeneration === d.metadata.generation &&
    d.status?.updatedReplicas === d.spec?.replicas &&
    d.status?.availableReplicas === d.spec?.replicas;

  it('brings a changed Deployment to ready after the delay, not before', async () => {
    await apps.createNamespacedDeployment({ namespace: 'default', body: deployment('podinfo-primary', 2) as never });
    const first = await eventually(async () => {
      const d = (await apps.readNamespacedDeployment({ namespace: 'default', name: 'podinfo-primary' })) as Deployment;
      return ready(d) ? d : undefined;
    }, 'the first rollout');
    expect(first.status?.readyReplicas).toBe(2);

    await apps.patchNamespacedDeployment(
      {
        namespace: 'default',
        name: 'podinfo-primary',
        body: { spec: { template: { spec: { containers: [{ name: 'app', image: 'podinfo:6.1.0' }] } } } },
      },
      strategicPatch,
    );
    const during = (await apps.readNamespacedDeployment({ namespace: 'default', name: 'podinfo-primary' })) as Deployment;
    expect(during.metadata.generation).toBe(2);
    expect(ready(during)).toBe(false);
    await eventually(
      async () =>
        ready((await apps.readNamespacedDeployment({ namespace: 'default', name: 'podinfo-primary' })) as Deployment) ? true : undefined,
      'the second rollout',
    );
  });

  it('keeps a never-ready Deployment unready: updated pods never become available', async () => {
    api.apply(deployment('podinfo-primary', 3));
    await eventually(
      () => (ready(api.get('apps/v1', 'Deployment', 'default', 'podinfo-primary') as Deployment) ? true : undefined),
      'first rollout',
    );
    api.deployments.neverReady('default', 'podinfo-primary');
    await apps.patchNamespacedDeployment(
      {
        namespace: 'default',
        name: 'podinfo-primary',
        body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'podinfo:bad' }],
      },
      jsonPatch,
    );
    const stuck = await eventually(() => {
      const d = api.get('apps/v1', 'Deployment', 'default', 'podinfo-primary') as Deployment;
      return d.status?.observedGeneration === 2 && d.status.updatedReplicas === 3 ? d : undefined;
    }, 'the stuck rollout');
    expect(stuck.status?.availableReplicas).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 300)); // three ready delays
    expect(ready(api.get('apps/v1', 'Deployment', 'default', 'podinfo-primary') as Deployment)).toBe(false);
  });

  it('serves the scale subresource: reading and setting replicas', async () => {
    api.apply(deployment('podinfo-canary', 2));
    const scale = await apps.readNamespacedDeploymentScale({ namespace: 'default', name: 'podinfo-canary' });
    expect(scale.spec?.replicas).toBe(2);
    expect(scale.kind).toBe('Scale');

    await apps.patchNamespacedDeploymentScale(
      { namespace: 'default', name: 'podinfo-canary', body: { spec: { replicas: 0 } } },
      mergePatch,
    );
    expect((api.get('apps/v1', 'Deployment', 'default', 'podinfo-canary') as Deployment).spec?.replicas).toBe(0);
    // The controller's status writes bump the resourceVersion too: read once it has settled.
    await eventually(
      () => (ready(api.get('apps/v1', 'Deployment', 'default', 'podinfo-canary') as Deployment) ? true : undefined),
      'scaled to 0',
    );

    const current = await apps.readNamespacedDeploymentScale({ namespace: 'default', name: 'podinfo-canary' });
    const replaced = await apps.replaceNamespacedDeploymentScale({
      namespace: 'default',
      name: 'podinfo-canary',
      body: { ...current, spec: { replicas: 4 } },
    });
    expect(replaced.spec?.replicas).toBe(4);
    await eventually(
      () => (ready(api.get('apps/v1', 'Deployment', 'default', 'podinfo-canary') as Deployment) ? true : undefined),
      'scaled to 4',
    );

    const stale = await failure(
      apps.replaceNamespacedDeploymentScale({ namespace: 'default', name: 'podinfo-canary', body: { ...current, spec: { replicas: 1 } } }),
    );
    expect(stale.code).toBe(409);
  });

  it('keeps status out of reach of writes to the main resource', async () => {
    api.apply({
      ...deployment('podinfo-primary', 1),
      status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 },
    });
    const d = await apps.readNamespacedDeployment({ namespace: 'default', name: 'podinfo-primary' });
    const replaced = await apps.replaceNamespacedDeployment({
      namespace: 'default',
      name: 'podinfo-primary',
      body: { ...d, status: { availableReplicas: 99 } },
    });
    expect(replaced.status?.availableReplicas).toBe(1);
  });

  it('lets preflight see an HPA through AutoscalingV2Api', async () => {
    api.apply({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'podinfo', namespace: 'default' },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo-canary' }, minReplicas: 1, maxReplicas: 4 },
    });
    const hpas = await api.kubeConfig().makeApiClient(AutoscalingV2Api).listNamespacedHorizontalPodAutoscaler({ namespace: 'default' });
    expect(hpas.items.map((h) => h.spec?.scaleTargetRef.name)).toEqual(['podinfo-canary']);
  });
});

describe('faults', () => {
  const getGroup = () =>
    custom.getNamespacedCustomObject({ group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo' });

  beforeEach(() => {
    api.apply(group({ 'podinfo-primary': 100, 'podinfo-canary': 0 }));
  });

  it('answers 5xx with a Status body for the matching requests, `times` times', async () => {
    api.faults.add({ verb: 'patch', resource: 'upstreamgroups', name: 'podinfo', status: 503, times: 2 });
    const patch = () =>
      custom.patchNamespacedCustomObject(
        {
          group: G,
          version: 'v1',
          namespace: NS,
          plural: 'upstreamgroups',
          name: 'podinfo',
          body: [{ op: 'replace', path: '/spec/destinations/1/weight', value: 5 }],
        },
        jsonPatch,
      );
    await expect(getGroup()).resolves.toBeDefined(); // other verbs are unaffected
    const first = await failure(patch());
    expect(first.code).toBe(503);
    expect(first.status.reason).toBe('ServiceUnavailable');
    expect((await failure(patch())).code).toBe(503);
    await expect(patch()).resolves.toBeDefined();
  });

  it('drops the connection', async () => {
    api.faults.add({ verb: 'get', resource: 'upstreamgroups', drop: true, times: 1 });
    await expect(getGroup()).rejects.toThrow();
    await expect(getGroup()).resolves.toBeDefined();
  });

  it('delays the answer: a slow read arrives after a later fast one', async () => {
    api.faults.add({ resource: 'upstreamgroups', delayMs: 300, times: 1 });
    const order: string[] = [];
    const slow = getGroup().then(() => order.push('slow'));
    await new Promise((resolve) => setTimeout(resolve, 20)); // the slow request is in the server first
    await getGroup().then(() => order.push('fast'));
    await slow;
    expect(order).toEqual(['fast', 'slow']);
  });

  it('throttles with 429 and a Retry-After header, as API Priority and Fairness does', async () => {
    // Kubernetes docs, "API Priority and Fairness": a request the server rejects for lack of
    // capacity gets HTTP 429 Too Many Requests, with a Retry-After header.
    api.faults.add({ verb: 'get', resource: 'upstreamgroups', status: 429, retryAfterSeconds: 2, times: 1 });
    const response = await fetch(`${api.url}/apis/${G}/v1/namespaces/${NS}/upstreamgroups/podinfo`, {
      headers: { authorization: `Bearer ${api.adminToken}` },
    });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('2');
    expect(((await response.json()) as { reason: string }).reason).toBe('TooManyRequests');
  });

  it("refuses a write as Gloo's strict validation webhook does: 403 with the webhook's name and reason", async () => {
    // k8s.io/apiserver admission/plugin/webhook/errors/statuserror.go: a denial without a code
    // becomes 403 'admission webhook "<name>" denied the request: <reason>' (message shape as in
    // kgateway-dev/kgateway#6932: an empty Status reason, details naming the object).
    api.faults.add({
      verb: 'patch',
      resource: 'upstreamgroups',
      admissionDenial: 'resource incompatible with current Gloo snapshot: [weights]',
    });
    const patch = custom.patchNamespacedCustomObject(
      {
        group: G,
        version: 'v1',
        namespace: NS,
        plural: 'upstreamgroups',
        name: 'podinfo',
        body: [{ op: 'replace', path: '/spec/destinations/1/weight', value: 5 }],
      },
      jsonPatch,
    );
    const { code, status } = await failure(patch);
    expect(code).toBe(403);
    expect(status.reason).toBe('');
    expect(status.message).toBe(
      'admission webhook "gloo.gloo-system.svc" denied the request: resource incompatible with current Gloo snapshot: [weights]',
    );
  });

  it('heals one sustained fault with the function add() returns, leaving the others', async () => {
    const heal = api.faults.add({ verb: 'get', resource: 'upstreamgroups', status: 503 });
    api.faults.add({ verb: 'list', status: 500 });
    expect((await failure(getGroup())).code).toBe(503);
    heal();
    await expect(getGroup()).resolves.toBeDefined();
    expect((await failure(custom.listNamespacedCustomObject({ group: G, version: 'v1', namespace: NS, plural: 'upstreams' }))).code).toBe(
      500,
    );
  });

  it('records who wrote what, with the answer, in the audit log', async () => {
    api.addToken('gitops', [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }], 'argocd');
    const asGitops = api.kubeConfig('gitops').makeApiClient(CustomObjectsApi);
    const body = [{ op: 'replace', path: '/spec/destinations/1/weight', value: 5 }];
    await asGitops.patchNamespacedCustomObject(
      { group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo', body },
      jsonPatch,
    );
    api.faults.add({ verb: 'patch', status: 503, times: 1 });
    await failure(
      custom.patchNamespacedCustomObject(
        { group: G, version: 'v1', namespace: NS, plural: 'upstreamgroups', name: 'podinfo', body },
        jsonPatch,
      ),
    );
    await getGroup(); // reads are not audited
    expect(api.audit().map(({ user, verb, resource, name, code }) => ({ user, verb, resource, name, code }))).toEqual([
      { user: 'argocd', verb: 'patch', resource: 'upstreamgroups', name: 'podinfo', code: 200 },
      { user: 'admin', verb: 'patch', resource: 'upstreamgroups', name: 'podinfo', code: 503 },
    ]);
  });

  it('stops injecting after clear()', async () => {
    api.faults.add({ status: 500 });
    expect((await failure(getGroup())).status.reason).toBe('InternalError');
    api.faults.clear();
    await expect(getGroup()).resolves.toBeDefined();
  });
});

describe('discovery and kubeconfig', () => {
  it('lists the served groups and resources', async () => {
    const config = api.kubeConfig();
    const get = async (path: string) =>
      (await fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${api.adminToken}` } })).json();
    expect(((await get('/apis')) as { groups: Array<{ name: string }> }).groups.map((g) => g.name)).toEqual([
      'gloo.solo.io',
      'gateway.solo.io',
      'apps',
      'autoscaling',
    ]);
    const apps = (await get('/apis/apps/v1')) as { resources: Array<{ name: string }> };
    expect(apps.resources.map((r) => r.name)).toEqual(['deployments', 'deployments/status', 'deployments/scale']);
    expect(config.getCurrentContext()).toBe('stand-in');
  });

  it('writes a kubeconfig file that client-node loads and uses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stand-in-'));
    try {
      const path = join(dir, 'kubeconfig');
      api.writeKubeconfigFile(path);
      expect(readFileSync(path, 'utf8')).toContain('insecure-skip-tls-verify: true');
      const config = new KubeConfig();
      config.loadFromFile(path);
      const list = (await config
        .makeApiClient(CustomObjectsApi)
        .listNamespacedCustomObject({ group: G, version: 'v1', namespace: NS, plural: 'upstreams' })) as { items: KubeObject[] };
      expect(list.items).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports every change to onChange listeners', async () => {
    const seen: string[] = [];
    const stop = api.onChange((event) => seen.push(`${event.type} ${event.object.kind} ${event.object.metadata.name}`));
    api.apply(upstream('third'));
    stop();
    api.apply(upstream('fourth'));
    expect(seen).toEqual(['ADDED Upstream third']);
  });
});
