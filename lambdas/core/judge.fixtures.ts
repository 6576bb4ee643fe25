/** The rollout the judge tests share: `web` behind Gloo in gloo-system, judged on one success-rate metric. */
import { parseSpec } from './spec.ts';
import type { RolloutSpec } from './spec.ts';

const NS = 'gloo-system';

export function judgeTestSpec(options: {
  judge: 'threshold' | 'sequential';
  strategy: { stepWeights: number[]; interval: string; lookInterval: string; deadline: string; threshold?: number };
  prometheusAddress?: string;
  minSuccessRate?: number;
}): RolloutSpec {
  return parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'web' },
    spec: {
      cluster: { kubeconfigContext: 'test' },
      router: {
        name: 'web',
        namespace: NS,
        primary: { upstream: { name: 'web-primary', namespace: NS } },
        canary: { upstream: { name: 'web-canary', namespace: NS } },
      },
      strategy: options.strategy,
      analysis: {
        judge: options.judge,
        noData: 'fail',
        prometheus: { address: options.prometheusAddress ?? 'http://prometheus.invalid' },
        metrics: [{ name: 'request-success-rate', thresholdRange: { min: options.minSuccessRate ?? 99 } }],
      },
    },
  });
}
