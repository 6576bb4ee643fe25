/**
 * The Deployments behind the two upstreams (template promotion, Flagger's model): readiness,
 * a fingerprint of the pod template (to notice someone else editing the primary), copying the
 * canary's template into the primary, and scaling through the `scale` subresource.
 */
import { createHash } from 'node:crypto';
import type { AppsV1Api, AutoscalingV2Api, KubeConfig, V1Deployment, V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import { formatDuration } from '../../core/duration.ts';
import { TransientError } from '../../core/errors.ts';
import type { Side } from '../../core/records.ts';
import type { PodTemplateCopy, Workload } from '../../core/ports.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  describeRef,
  honourRetryAfter,
  isApiStatus,
  kubeClients,
  kubeError,
  requestOptions,
  sleep,
} from './client.ts';
import type { ObjectRef } from './client.ts';

type WorkloadSpec = NonNullable<RolloutSpec['spec']['workload']>;

export interface DeploymentWorkloadOptions {
  kubeConfig: KubeConfig;
  spec: RolloutSpec;
  requestTimeoutMs?: number;
  /** Where "HPA owns it, not scaling" goes; the handlers pass their logger. */
  log?: (message: string) => void;
}

/** Where a Deployment's rollout stands, in words a person can act on. */
export interface Readiness {
  ready: boolean;
  summary: string;
}

/** JSON with object keys sorted and undefined dropped: equal templates give equal text. */
export function canonicalJson(value: unknown): string {
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export class DeploymentWorkload implements Workload {
  readonly #workload: WorkloadSpec;
  readonly #apps: AppsV1Api;
  readonly #autoscaling: AutoscalingV2Api;
  readonly #timeoutMs: number;
  readonly #log: (message: string) => void;

  constructor(options: DeploymentWorkloadOptions) {
    const workload = options.spec.spec.workload;
    if (!workload)
      throw new Error(`rollout ${options.spec.metadata.name} names no spec.workload: template promotion needs the two Deployments`);
    this.#workload = workload;
    const clients = kubeClients(options.kubeConfig);
    this.#apps = clients.apps;
    this.#autoscaling = clients.autoscaling;
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#log = options.log ?? ((message) => console.log(message));
  }

  #ref(side: Side, resource = 'deployments'): ObjectRef {
    return { kind: 'Deployment', resource, namespace: this.#workload.namespace, name: this.#workload[side] };
  }

  async #read(side: Side): Promise<V1Deployment> {
    try {
      return await honourRetryAfter(() =>
        this.#apps.readNamespacedDeployment(
          { name: this.#workload[side], namespace: this.#workload.namespace },
          requestOptions(this.#timeoutMs),
        ),
      );
    } catch (error) {
      throw kubeError(error, 'get', this.#ref(side), { hint: `spec.workload.${side}` });
    }
  }

  /** kubectl rollout status semantics: the controller saw the latest spec, and every replica is new and available. */
  async readiness(side: Side): Promise<Readiness> {
    const deployment = await this.#read(side);
    const generation = deployment.metadata?.generation ?? 0;
    const status = deployment.status ?? {};
    const observed = status.observedGeneration ?? 0;
    const desired = deployment.spec?.replicas ?? 1;
    const updated = status.updatedReplicas ?? 0;
    const available = status.availableReplicas ?? 0;
    const total = status.replicas ?? 0;
    const ready = observed >= generation && updated === desired && total === desired && available === desired;
    const summary = `observedGeneration ${observed}/${generation}, updated ${updated}/${desired}, available ${available}/${desired}, replicas ${total}/${desired}`;
    return { ready, summary };
  }

  async isReady(side: Side): Promise<boolean> {
    return (await this.readiness(side)).ready;
  }

  /**
   * Polls until `side` is ready. Transient API failures while polling are waited out; at the
   * deadline the error names the Deployment and where its rollout stood.
   */
  async waitReady(side: Side, timeoutMs: number, pollMs = 1000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let last: string;
      try {
        const state = await this.readiness(side);
        if (state.ready) return;
        last = state.summary;
      } catch (error) {
        if (!(error instanceof TransientError)) throw error;
        last = error.message;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${describeRef(this.#ref(side))} did not become ready within ${formatDuration(timeoutMs)}: ${last}`);
      await sleep(Math.min(pollMs, left));
    }
  }

  async templateFingerprint(side: Side): Promise<string> {
    const deployment = await this.#read(side);
    return createHash('sha256').update(canonicalJson(deployment.spec?.template)).digest('hex');
  }

  /**
   * Copies the canary's pod spec and template annotations into the primary. The primary keeps
   * its own template labels: its selector matches them, and its Service (hence its upstream)
   * selects its pods by them. One JSON-patch `add` replaces the template whole, so fields the
   * canary lacks do not linger on the primary (a merge patch would keep them).
   */
  async promoteTemplate(): Promise<void> {
    const [canary, primary] = [await this.#read('canary'), await this.#read('primary')];
    const source = canary.spec?.template;
    if (!source?.spec) throw new Error(`${describeRef(this.#ref('canary'))} has no pod template to promote`);
    const metadata = { ...primary.spec?.template.metadata, annotations: source.metadata?.annotations ?? {} };
    const patch = [{ op: 'add', path: '/spec/template', value: { metadata, spec: source.spec } }];
    try {
      await honourRetryAfter(() =>
        this.#apps.patchNamespacedDeployment(
          { name: this.#workload.primary, namespace: this.#workload.namespace, body: patch },
          requestOptions(this.#timeoutMs, 'json'),
        ),
      );
    } catch (error) {
      throw kubeError(error, 'patch', this.#ref('primary'));
    }
  }

  async podTemplate(side: Side): Promise<PodTemplateCopy> {
    const template = (await this.#read(side)).spec?.template;
    if (!template?.spec) throw new Error(`${describeRef(this.#ref(side))} has no pod template`);
    // Plain JSON (the client's model classes carry no methods a JSON copy would lose).
    return {
      annotations: template.metadata?.annotations ?? {},
      spec: JSON.parse(JSON.stringify(template.spec)) as Record<string, unknown>,
    };
  }

  /** Puts a kept template on a side, keeping that side's own labels; one JSON-patch `add` as in promoteTemplate. */
  async setPodTemplate(side: Side, copy: PodTemplateCopy): Promise<void> {
    const current = await this.#read(side);
    const metadata = { ...current.spec?.template.metadata, annotations: copy.annotations };
    const patch = [{ op: 'add', path: '/spec/template', value: { metadata, spec: copy.spec } }];
    try {
      await honourRetryAfter(() =>
        this.#apps.patchNamespacedDeployment(
          { name: this.#workload[side], namespace: this.#workload.namespace, body: patch },
          requestOptions(this.#timeoutMs, 'json'),
        ),
      );
    } catch (error) {
      throw kubeError(error, 'patch', this.#ref(side));
    }
  }

  /** Whether a HorizontalPodAutoscaler targets that side's Deployment (then Sluice leaves its replicas alone). */
  async hasHpa(side: Side): Promise<boolean> {
    return (await this.#hpaOf(side)) !== undefined;
  }

  async servingReplicas(side: Side): Promise<number> {
    const hpa = await this.#hpaOf(side);
    // An HPA's minReplicas defaults to 1 (autoscaling/v2 HorizontalPodAutoscalerSpec); what it runs now
    // (status.currentReplicas) when more: a side about to take all traffic at once (route promotion,
    // blue/green) must carry today's load, not the autoscaler's floor.
    if (hpa) return Math.max(hpa.spec?.minReplicas ?? 1, hpa.status?.currentReplicas ?? 0);
    return (await this.#read(side)).spec?.replicas ?? 1;
  }

  /** Compares pod specs only: the primary keeps its own template labels (promoteTemplate). */
  async primaryRunsCanaryTemplate(): Promise<boolean> {
    const [canary, primary] = [await this.#read('canary'), await this.#read('primary')];
    return canonicalJson(canary.spec?.template.spec) === canonicalJson(primary.spec?.template.spec);
  }

  async #hpaOf(side: Side): Promise<V2HorizontalPodAutoscaler | undefined> {
    const { namespace } = this.#workload;
    let items;
    try {
      items = (await this.#autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace }, requestOptions(this.#timeoutMs))).items;
    } catch (error) {
      // A server that does not serve autoscaling/v2 has no HPAs to fight with.
      if (isApiStatus(error, 404)) return undefined;
      throw kubeError(error, 'list', { kind: 'HorizontalPodAutoscaler', resource: 'horizontalpodautoscalers', namespace });
    }
    return items.find((hpa) => {
      const target = hpa.spec?.scaleTargetRef;
      return target?.kind === 'Deployment' && target.name === this.#workload[side] && (target.apiVersion ?? 'apps/v1').startsWith('apps/');
    });
  }

  async scale(side: Side, replicas: number): Promise<void> {
    if (!Number.isInteger(replicas) || replicas < 0)
      throw new Error(`cannot scale ${describeRef(this.#ref(side))} to ${replicas} replicas`);
    if (await this.hasHpa(side)) {
      this.#log(
        `${describeRef(this.#ref(side))} is managed by a HorizontalPodAutoscaler: leaving its replicas alone (not scaling to ${replicas})`,
      );
      return;
    }
    try {
      await honourRetryAfter(() =>
        this.#apps.patchNamespacedDeploymentScale(
          { name: this.#workload[side], namespace: this.#workload.namespace, body: { spec: { replicas } } },
          requestOptions(this.#timeoutMs, 'merge'),
        ),
      );
    } catch (error) {
      throw kubeError(error, 'patch', this.#ref(side, 'deployments/scale'));
    }
  }
}
