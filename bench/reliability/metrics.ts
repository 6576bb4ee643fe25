/**
 * The soak's metrics, per target, with Prometheus faults injected at the adapter boundary: a
 * 5xx becomes the TransientError the Prometheus adapter throws for a 5xx answer, slow is a delay
 * before the answer, empty is "no data" (a null value), NaN is the value Prometheus returns for
 * 0/0. Healthy otherwise (99.9% success), so an unfaulted rollout promotes.
 */
import { TransientError } from '../../lambdas/core/errors.ts';
import type { MetricProvider } from '../../lambdas/core/ports.ts';
import type { MetricReading } from '../../lambdas/core/verdict.ts';
import type { MetricDeps } from '../../lambdas/app/deps.ts';

export type MetricFault = 'prometheus-5xx' | 'prometheus-slow' | 'prometheus-empty' | 'prometheus-nan';

const reading = (value: number | null): MetricReading => ({
  name: 'request-success-rate',
  value,
  primaryValue: 99.9,
  thresholdRange: { min: 99 },
});

const provider: MetricProvider = { isOnline: async () => {}, runQuery: async () => null };

/**
 * Looks a fault affects once injected: 5xx for three calls in a row (inside the ASL's four retries),
 * one empty or NaN look (below the threshold of two failed checks), one slow answer.
 */
export const METRIC_FAULT_LOOKS: Record<MetricFault, number> = {
  'prometheus-5xx': 3,
  'prometheus-slow': 1,
  'prometheus-empty': 1,
  'prometheus-nan': 1,
};
export const SLOW_ANSWER_MS = 1500;

export class SoakMetrics {
  readonly #active = new Map<string, Array<{ fault: MetricFault; left: number }>>();

  inject(target: string, fault: MetricFault): void {
    const list = this.#active.get(target) ?? [];
    list.push({ fault, left: METRIC_FAULT_LOOKS[fault] });
    this.#active.set(target, list);
  }

  deps(): MetricDeps {
    return {
      providersFor: () => [provider],
      readMetrics: async (spec) => this.#read(spec.metadata.name),
    };
  }

  async #read(target: string): Promise<MetricReading[]> {
    const active = (this.#active.get(target) ?? []).filter((a) => a.left > 0);
    this.#active.set(target, active);
    let value: number | null = 99.9;
    for (const entry of active) {
      entry.left -= 1;
      switch (entry.fault) {
        case 'prometheus-5xx':
          throw new TransientError('Prometheus query failed: 503 Service Unavailable');
        case 'prometheus-slow':
          await new Promise((resolve) => setTimeout(resolve, SLOW_ANSWER_MS));
          break;
        case 'prometheus-empty':
          value = null;
          break;
        case 'prometheus-nan':
          value = Number.NaN;
          break;
        default: {
          const never: never = entry.fault;
          throw new Error(`unknown metric fault ${String(never)}`);
        }
      }
    }
    return [reading(value)];
  }
}

export function healthyMetrics(): MetricDeps {
  return new SoakMetrics().deps();
}
