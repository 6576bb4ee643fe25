/**
 * `sluice doctor`: the preflight alone, from where the rollout would run, with
 * no lock taken, no record written and no weight moved. Two halves, because the deployed Lambdas
 * run with two roles:
 * - readChecks (Prepare's role, the read-only Kubernetes group): secrets resolvable, the cluster
 *   reachable with a token it accepts, the Gloo objects there and fitting, the canary ready, the
 *   weights at the start state, each metrics server online, each query runs (the primary's
 *   returns data; the canary's may be empty before any traffic), each `event` webhook reachable;
 * - writeChecks (the writers' role): every patch a rollout makes, as a server-side dry run
 *   (`dryRun=All`): the API server authorizes it (RBAC) and admits it, and persists nothing.
 * One line per check; each failure carries a fix. A rollout would start only when none failed.
 */
import { ApiException } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { RefusedError, describeError } from '../core/errors.ts';
import { describeSecretRef, secretRefs } from '../core/secrets.ts';
import { promotionMode } from '../core/spec.ts';
import { memberSpec } from '../core/fleet.ts';
import type { RolloutSpec } from '../core/spec.ts';
import type { ClusterDeps, MetricDeps } from './deps.ts';
import { preflightGloo } from '../adapters/router/gloo-preflight.ts';
import { kubeClients, requestOptions } from '../adapters/kube/client.ts';
import { resolveSecret } from '../adapters/secrets/resolver.ts';
import { eventHookChecks } from '../adapters/webhooks/notify-probe.ts';
import type { NotifyProbeOptions } from '../adapters/webhooks/notify-probe.ts';

export interface DoctorCheck {
  name: string;
  status: 'ok' | 'note' | 'failed';
  message: string;
  /** What to do about a failure. */
  fix?: string;
}

export const KUBERNETES_FIXES = {
  unreachable:
    "the cluster endpoint is not reachable from here: for a private endpoint place the Lambdas in the cluster VPC (-c vpcId …) with -c clusterSecurityGroupId; for a public endpoint with CIDR restrictions add the NAT gateway's address (docs/deploy-aws.md)",
  unauthorized:
    "the cluster refused the token: check the cluster's authentication mode allows access entries (API or API_AND_CONFIG_MAP) and that the access entry for this role exists",
  forbidden:
    "RBAC refused the call: apply infra/k8s/rbac.yaml with the target's object names in resourceNames, bound to the group the access entry maps this role to",
  notFound: 'create the object, or correct its name and namespace in the spec',
} as const;

/**
 * A fleet is checked cluster by cluster: `run` gets each cluster's own spec (its cluster, region,
 * object names, Prometheus) and each check is named `<cluster>: <check>`. A single-cluster spec runs once, unnamed.
 */
export async function perCluster(spec: RolloutSpec, run: (member: RolloutSpec) => Promise<DoctorCheck[]>): Promise<DoctorCheck[]> {
  const fleet = spec.spec.fleet;
  if (!fleet) return run(spec);
  const checks: DoctorCheck[] = [];
  for (const cluster of fleet.clusters) {
    for (const check of await run(memberSpec(spec, cluster.name))) checks.push({ ...check, name: `${cluster.name}: ${check.name}` });
  }
  return checks;
}

/** The Kubernetes status code behind an error, if any (client-node's ApiException, possibly as a cause). */
function apiCode(error: unknown): number | undefined {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (current instanceof ApiException) return current.code;
  }
  return undefined;
}

function kubernetesFix(error: unknown): string {
  const code = apiCode(error);
  if (code === 401) return KUBERNETES_FIXES.unauthorized;
  if (code === 403) return KUBERNETES_FIXES.forbidden;
  if (code === 404 || /not found/.test(describeError(error))) return KUBERNETES_FIXES.notFound;
  if (error instanceof RefusedError) return 'make the objects fit the spec (see the message), then run sluice doctor again';
  return KUBERNETES_FIXES.unreachable;
}

async function check(
  checks: DoctorCheck[],
  name: string,
  run: () => Promise<{ status?: DoctorCheck['status']; message: string }>,
  fix: (error: unknown) => string,
): Promise<boolean> {
  try {
    const result = await run();
    checks.push({ name, status: result.status ?? 'ok', message: result.message });
    return true;
  } catch (error) {
    // The message alone: errors here name what failed; their causes (raw API bodies) would bury it.
    checks.push({ name, status: 'failed', message: error instanceof Error ? error.message : String(error), fix: fix(error) });
    return false;
  }
}

export interface ReadCheckDeps {
  cluster: ClusterDeps;
  metrics: MetricDeps;
  /** How the event webhooks are probed (tests point Slack detection at a stand-in). */
  probe?: NotifyProbeOptions;
}

/** The reads, in Prepare's role. Secrets first: a provider that cannot authenticate fails for that reason. */
export async function readChecks(spec: RolloutSpec, deps: ReadCheckDeps): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  for (const { path, ref } of secretRefs(spec)) {
    await check(
      checks,
      `secret ${path}`,
      async () => {
        await resolveSecret(ref, path);
        return { message: `${describeSecretRef(ref)} resolves` };
      },
      () =>
        `create the secret (or the key in it) and allow this function's role secretsmanager:GetSecretValue on it (the stack grants the ARNs the registry references)`,
    );
  }

  const router = await deps.cluster.routerFor(spec);
  const routerName = `${spec.spec.router.kind} ${spec.spec.router.namespace}/${spec.spec.router.name}`;
  const reached = await check(
    checks,
    'kubernetes',
    async () => {
      await router.getWeights();
      return { message: `the cluster answered with a token it accepts, and ${routerName} can be read` };
    },
    kubernetesFix,
  );
  if (reached) {
    await check(
      checks,
      'gloo',
      async () => {
        const workload = await deps.cluster.workloadFor(spec);
        const results = await preflightGloo({ spec, router, workload });
        return { message: results.map((r) => r.message).join('; ') };
      },
      kubernetesFix,
    );
  }

  let online = true;
  for (const provider of deps.metrics.providersFor(spec)) {
    online =
      (await check(
        checks,
        'metrics server',
        async () => {
          await provider.isOnline();
          return { message: 'answers queries' };
        },
        () =>
          'make the metrics server reachable from where the rollout runs (a public or VPC address, an AMP workspace with aps:QueryMetrics), with credentials it accepts',
      )) && online;
  }
  if (online) {
    await check(
      checks,
      'queries',
      async () => {
        const readings = await deps.metrics.readMetrics(spec);
        const silent = readings.filter((r) => r.primaryValue === null);
        if (silent.length) throw new Error(`no data for the primary from ${silent.map((r) => r.name).join(', ')}`);
        const empty = readings.filter((r) => r.value === null).map((r) => r.name);
        return {
          status: empty.length ? 'note' : 'ok',
          message: `every query runs${empty.length ? `; the canary's ${empty.join(', ')} is empty, as expected before any traffic reaches it` : ''}`,
        };
      },
      () => 'check the query and that the primary serves traffic (the query must return one series for it)',
    );
  }
  // The rollout functions send the `event` webhooks: probed here, delivering nothing (notify-probe.ts).
  checks.push(...(await eventHookChecks(spec, deps.probe)));
  return checks;
}

interface PatchTarget {
  what: string;
  patch: (clients: ReturnType<typeof kubeClients>) => Promise<unknown>;
}

const GLOO_PLURALS = {
  UpstreamGroup: ['gloo.solo.io', 'upstreamgroups'],
  VirtualService: ['gateway.solo.io', 'virtualservices'],
  RouteTable: ['gateway.solo.io', 'routetables'],
} as const;

/** Every object a rollout patches, with a dry-run merge patch that changes nothing. */
function patchTargets(spec: RolloutSpec, timeoutMs: number): PatchTarget[] {
  const targets: PatchTarget[] = [];
  const { router, workload } = spec.spec;
  const custom = (kind: keyof typeof GLOO_PLURALS, namespace: string, name: string): PatchTarget => {
    const [group, plural] = GLOO_PLURALS[kind];
    return {
      what: `patch ${kind} ${namespace}/${name}`,
      patch: (c) =>
        c.custom.patchNamespacedCustomObject(
          { group, version: 'v1', namespace, plural, name, body: {}, dryRun: 'All' },
          requestOptions(timeoutMs, 'merge'),
        ),
    };
  };
  targets.push(custom(router.kind, router.namespace, router.name));
  const route = router.route;
  if (route && router.kind === 'UpstreamGroup') {
    if (route.virtualService) targets.push(custom('VirtualService', route.namespace, route.virtualService));
    if (route.routeTable) targets.push(custom('RouteTable', route.namespace, route.routeTable));
  }
  if (workload && promotionMode(spec) === 'template') {
    targets.push({
      what: `patch Deployment ${workload.namespace}/${workload.primary}`,
      patch: (c) =>
        c.apps.patchNamespacedDeployment(
          { namespace: workload.namespace, name: workload.primary, body: {}, dryRun: 'All' },
          requestOptions(timeoutMs, 'merge'),
        ),
    });
  }
  if (workload?.scaleCanaryToZero) {
    targets.push({
      what: `patch Deployment ${workload.namespace}/${workload.canary}/scale`,
      patch: (c) =>
        c.apps.patchNamespacedDeploymentScale(
          { namespace: workload.namespace, name: workload.canary, body: {}, dryRun: 'All' },
          requestOptions(timeoutMs, 'merge'),
        ),
    });
  }
  return targets;
}

/** The writes, in the writers' role, each a server-side dry run: authorized and admitted, nothing stored. */
export async function writeChecks(spec: RolloutSpec, kubeConfig: KubeConfig, timeoutMs = 10_000): Promise<DoctorCheck[]> {
  const clients = kubeClients(kubeConfig);
  const checks: DoctorCheck[] = [];
  for (const target of patchTargets(spec, timeoutMs)) {
    await check(
      checks,
      'rbac',
      async () => {
        try {
          await target.patch(clients);
        } catch (error) {
          const code = apiCode(error);
          throw new Error(`cannot ${target.what}: ${code ? `the API server answered ${code}` : describeError(error)}`, { cause: error });
        }
        return { message: `may ${target.what} (server-side dry run: authorized, nothing stored)` };
      },
      (error) =>
        apiCode(error) === 403
          ? `RBAC refuses it: add the object's name to the patch rule's resourceNames in infra/k8s/rbac.yaml (group sluice:orchestrator)`
          : kubernetesFix(error),
    );
  }
  return checks;
}

/** A rollout would start: nothing failed. */
export function doctorPasses(checks: readonly DoctorCheck[]): boolean {
  return checks.length > 0 && checks.every((c) => c.status !== 'failed');
}

/** One line per check: `ok    name: message`, failures with their fix. */
export function formatCheck(c: DoctorCheck): string {
  const mark = c.status === 'ok' ? 'ok' : c.status === 'note' ? 'note' : 'FAIL';
  return `${mark.padEnd(4)}  ${c.name}: ${c.message}${c.fix ? `\n      fix: ${c.fix}` : ''}`;
}
