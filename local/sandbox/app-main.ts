/**
 * One sandbox app process (started by app.ts, never by hand): an HTTP service whose behaviour comes
 * from its Deployment's pod template in the Kubernetes API, read through a watch as a kubelet
 * would. The first container's env sets it: VERSION (the body's `version`), ERROR_RATE (fraction of
 * requests answered 500, 0..1) and LATENCY_MS (added to the healthy 10–30 ms). A changed template
 * takes effect once the Deployment's rollout completes (the new pods are ready), so promotion
 * really changes what the primary serves. Scaled to zero, it answers 503 like an upstream with no
 * endpoints.
 *
 * Configuration: env SLUICE_APP_KUBECONFIG (file), SLUICE_APP_NAMESPACE, SLUICE_APP_DEPLOYMENT,
 * SLUICE_APP_SEED. Talks to its parent over the IPC channel: `{ type: 'ready', port }` once it
 * serves, `{ type: 'behaviour', behaviour }` on every change. It exits when the channel closes, so
 * it never outlives the process that started it.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import type { KubernetesListObject, V1Deployment } from '@kubernetes/client-node';
import { watchResource } from './informer.ts';
import { seededRandom } from './random.ts';

export interface AppBehaviour {
  version: string;
  errorRate: number;
  latencyMs: number;
  /** spec.replicas of the Deployment: 0 means no pods, every request answers 503. */
  replicas: number;
  /** The Deployment generation this behaviour comes from. */
  generation: number;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`sandbox app: env ${name} is required`);
  return value;
}

function number(value: string | undefined, what: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) throw new Error(`sandbox app: ${what} "${value}" is not a non-negative number`);
  return parsed;
}

/** The behaviour a Deployment's template describes. */
export function behaviourOf(deployment: V1Deployment): AppBehaviour {
  const env = deployment.spec?.template.spec?.containers[0]?.env ?? [];
  const get = (name: string) => env.find((e) => e.name === name)?.value;
  return {
    version: get('VERSION') ?? 'unknown',
    errorRate: Math.min(1, number(get('ERROR_RATE'), 'ERROR_RATE', 0)),
    latencyMs: number(get('LATENCY_MS'), 'LATENCY_MS', 0),
    replicas: deployment.spec?.replicas ?? 1,
    generation: deployment.metadata?.generation ?? 0,
  };
}

/** The Deployment controller finished rolling out its latest template. */
function rolledOut(deployment: V1Deployment): boolean {
  const status = deployment.status ?? {};
  const replicas = deployment.spec?.replicas ?? 1;
  return (
    (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0) &&
    (replicas === 0 || (status.updatedReplicas ?? 0) >= replicas)
  );
}

function main(): void {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(required('SLUICE_APP_KUBECONFIG'));
  const namespace = required('SLUICE_APP_NAMESPACE');
  const name = required('SLUICE_APP_DEPLOYMENT');
  const random = seededRandom(number(process.env.SLUICE_APP_SEED, 'SLUICE_APP_SEED', 1));
  const send = (message: unknown) => {
    if (process.connected) process.send?.(message);
  };

  let behaviour: AppBehaviour | undefined;
  const adopt = (next: AppBehaviour) => {
    if (behaviour && JSON.stringify(behaviour) === JSON.stringify(next)) return;
    behaviour = next;
    send({ type: 'behaviour', behaviour });
  };
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const watch = watchResource<V1Deployment>(
    kubeConfig,
    `/apis/apps/v1/namespaces/${namespace}/deployments`,
    async () => (await apps.listNamespacedDeployment({ namespace })) as KubernetesListObject<V1Deployment>,
    (objects) => {
      const deployment = objects.find((d) => d.metadata?.name === name);
      if (!deployment) return;
      const next = behaviourOf(deployment);
      // Replicas change at once (pods go away); a new template only once its pods are ready.
      if (!behaviour || rolledOut(deployment)) adopt(next);
      else if (next.replicas !== behaviour.replicas) adopt({ ...behaviour, replicas: next.replicas });
    },
  );

  // The service's own business counters (Prometheus text format at /metrics): every request is an
  // order, every injected failure a failed one. A metric of `counters` judges them sequentially.
  const orders = { placed: 0, failed: 0 };
  const server = createServer((req, res) => {
    req.resume();
    if (req.url === '/metrics') {
      const app = JSON.stringify(name);
      res
        .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        .end(
          `# TYPE orders_total counter\norders_total{app=${app}} ${orders.placed}\n# TYPE orders_failed_total counter\norders_failed_total{app=${app}} ${orders.failed}\n`,
        );
      return;
    }
    const current = behaviour;
    if (!current || current.replicas === 0) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('no healthy upstream');
      return;
    }
    const delay = 10 + random() * 20 + current.latencyMs;
    const fail = random() < current.errorRate;
    setTimeout(() => {
      orders.placed += 1;
      if (fail) orders.failed += 1;
      const body = JSON.stringify(fail ? { version: current.version, error: 'injected failure' } : { version: current.version });
      res.writeHead(fail ? 500 : 200, { 'content-type': 'application/json', 'x-sandbox-deployment': name }).end(body);
    }, delay);
  });
  server.keepAliveTimeout = 30_000;

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.closeAllConnections();
    server.close();
    void watch.stop().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    void watch.synced.then(() => send({ type: 'ready', port }));
  });
}

// Imported for its types and behaviourOf (app.ts, tests), it does nothing; run, it serves.
if (import.meta.main) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
}
