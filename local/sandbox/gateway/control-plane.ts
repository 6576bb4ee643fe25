/**
 * How routing reaches the gateway: like Gloo, it learns it only from the Kubernetes API, list-
 * watching the served VirtualService's namespace, every RouteTable and every UpstreamGroup (client-node informers),
 * and applies what it sees `xdsDelayMs` later (Gloo translates, Envoy receives the xDS update).
 * An object Gloo would reject leaves the last good configuration in place, as in Envoy.
 */
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { routeTableSchema, upstreamGroupSchema, virtualServiceSchema } from '../../../lambdas/core/gloo-schema.ts';
import type { GlooRoute, UpstreamGroup } from '../../../lambdas/core/gloo-schema.ts';
import type { RouteTableIdentity } from '../../../lambdas/core/gloo-delegation.ts';
import { watchResource } from '../informer.ts';
import type { RouteTable } from './routes.ts';

export interface ControlPlaneOptions {
  kubeConfig: KubeConfig;
  virtualService: { namespace: string; name: string };
  xdsDelayMs: number;
}

export interface ControlPlane {
  /** Resolves once the VirtualService and UpstreamGroups have been listed. */
  synced: Promise<void>;
  /** Watch errors the informers recovered from. */
  errors(): number;
  /** Stops the watches and drops changes not yet applied. */
  stop(): Promise<void>;
}

export function followControlPlane(routes: RouteTable, options: ControlPlaneOptions): ControlPlane {
  const custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
  let watchErrors = 0;

  // Timers of equal delay fire in order, so changes keep their order.
  const pendingXds = new Set<NodeJS.Timeout>();
  const toDataPlane = (apply: () => void) => {
    if (options.xdsDelayMs <= 0) {
      apply();
      return;
    }
    const timer = setTimeout(() => {
      pendingXds.delete(timer);
      apply();
    }, options.xdsDelayMs);
    pendingXds.add(timer);
  };

  const onWatchError = () => {
    watchErrors += 1;
  };
  const vsApi = { group: 'gateway.solo.io', version: 'v1', plural: 'virtualservices' };
  const rtApi = { group: 'gateway.solo.io', version: 'v1', plural: 'routetables' };
  const ugApi = { group: 'gloo.solo.io', version: 'v1', plural: 'upstreamgroups' };
  const watches = [
    watchResource<KubernetesObject>(
      options.kubeConfig,
      `/apis/gateway.solo.io/v1/namespaces/${options.virtualService.namespace}/virtualservices`,
      async () =>
        (await custom.listNamespacedCustomObject({
          ...vsApi,
          namespace: options.virtualService.namespace,
        })) as KubernetesListObject<KubernetesObject>,
      (objects) =>
        toDataPlane(() => {
          const found = objects.find((o) => o.metadata?.name === options.virtualService.name);
          if (!found) {
            routes.setVirtualService(undefined);
            return;
          }
          // An invalid object changes nothing: the table keeps the last good one.
          const parsed = virtualServiceSchema.safeParse(found);
          if (parsed.success) routes.setVirtualService(parsed.data);
        }),
      { onError: onWatchError },
    ),
    watchResource<KubernetesObject>(
      options.kubeConfig,
      '/apis/gloo.solo.io/v1/upstreamgroups',
      async () => (await custom.listClusterCustomObject(ugApi)) as KubernetesListObject<KubernetesObject>,
      (objects) =>
        toDataPlane(() => {
          const seen = new Set<string>();
          const parsed = new Map<string, UpstreamGroup>();
          for (const object of objects) {
            const key = `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
            seen.add(key);
            const group = upstreamGroupSchema.safeParse(object);
            if (group.success) parsed.set(key, group.data);
          }
          routes.setGroups(parsed, seen);
        }),
      { onError: onWatchError },
    ),
    watchResource<KubernetesObject>(
      options.kubeConfig,
      '/apis/gateway.solo.io/v1/routetables',
      async () => (await custom.listClusterCustomObject(rtApi)) as KubernetesListObject<KubernetesObject>,
      (objects) =>
        toDataPlane(() => {
          const seen = new Set<string>();
          const parsed = new Map<string, RouteTableIdentity & { routes: GlooRoute[] }>();
          for (const object of objects) {
            const key = `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
            seen.add(key);
            const table = routeTableSchema.safeParse(object);
            if (!table.success) continue;
            const {
              name,
              namespace = '',
              labels = {},
            } = table.data.metadata as { name: string; namespace?: string; labels?: Record<string, string> };
            parsed.set(key, { name, namespace, labels, routes: table.data.spec.routes ?? [] });
          }
          routes.setRouteTables(parsed, seen);
        }),
      { onError: onWatchError },
    ),
  ];

  return {
    synced: Promise.all(watches.map((w) => w.synced)).then(() => undefined),
    errors: () => watchErrors,
    stop: async () => {
      for (const timer of pendingXds) clearTimeout(timer);
      await Promise.all(watches.map((w) => w.stop().catch(() => undefined)));
    },
  };
}
