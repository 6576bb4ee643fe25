/** The TrafficRouter a rollout spec names (`spec.router.kind`). */
import type { KubeConfig } from '@kubernetes/client-node';
import type { TrafficRouter } from '../../core/ports.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import { RouteRouter } from './gloo-route.ts';
import type { GlooRouterOptions } from './gloo-route.ts';
import { UpstreamGroupRouter } from './gloo-upstream-group.ts';

/** Tuning knobs passed through to the router (tests shorten timeouts and waits). */
export type RouterTuning = Omit<GlooRouterOptions, 'kubeConfig' | 'spec'>;

export function routerFor(spec: RolloutSpec, kubeConfig: KubeConfig, tuning: RouterTuning = {}): TrafficRouter {
  const kind = spec.spec.router.kind;
  switch (kind) {
    case 'UpstreamGroup':
      return new UpstreamGroupRouter({ ...tuning, kubeConfig, spec });
    case 'VirtualService':
    case 'RouteTable':
      return new RouteRouter({ ...tuning, kubeConfig, spec });
    default: {
      const unknown: never = kind;
      throw new Error(`unknown router kind ${String(unknown)}: expected UpstreamGroup, VirtualService or RouteTable`);
    }
  }
}
