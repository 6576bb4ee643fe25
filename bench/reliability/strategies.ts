/**
 * A/B testing and blue/green in the reliability soak: some targets run `strategy.match` (the
 * marker route `sluice-ab-<target>` goes into the VirtualService ahead of the weighted route) or
 * `strategy.blueGreen` (green judged at 0%, then one switch of all traffic) instead of the weighted
 * steps, under the same faults. Their moments are read from the API server like the others': the
 * A/B route appearing, or the switch to green, is the first move. Invariant (g): after every
 * rollout ends (promoted, rolled back, aborted, crashed and recovered), no route carrying a
 * Sluice marker is left on the route object, and (a) already forbids half-shifted weights.
 */
import { isMarkerRouteName } from '../../lambdas/core/match.ts';
import { parseSpec } from '../../lambdas/core/spec.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import type { KubeObject, KubeStandIn } from '../../local/kube/stand-in.ts';
import { OWN_ENGINE } from './faults.ts';
import type { FaultKind, Moment } from './faults.ts';
import { GLOO_NS, SCALE } from './targets.ts';
import type { GroupState, Target } from './targets.ts';

export type SoakStrategy = 'canary' | 'ab' | 'blue-green';

/** The A/B rule of the soak's targets (what users carry is not the soak's concern: the routes are). */
const MATCH = [{ headers: { 'x-canary': { exact: 'insider' } } }];

/** The invariant this file adds to the soak's (a)-(f). */
export const MARKER_INVARIANT =
  'no route carrying a Sluice marker left on the route object after the rollout ended (A/B: match routes never left behind)';

/**
 * Which strategy a target runs: plan-dealt rollouts (round 0) at indices 4 and 5 of every 6, unless
 * someone else writes weights in it (foreign-weights writes 70/30, a split only a weighted canary
 * makes sense of) or it runs in an engine of its own (sigkill-engine, store-busy: their races around
 * Finish are the weighted canary's to pin, docs/reliability-soak.md). A re-dealt rollout stays a
 * weighted canary, so every fault kind also meets the weighted steps.
 */
export function soakStrategy(index: number, faults: ReadonlyArray<{ kind: FaultKind; moment: Moment }>, round: number): SoakStrategy {
  if (round > 0 || faults.some((f) => f.kind === 'foreign-weights' || OWN_ENGINE.has(f.kind))) return 'canary';
  if (index % 6 === 5) return 'ab';
  if (index % 6 === 4) return 'blue-green';
  return 'canary';
}

/** The target's spec with the strategy's fields in place of the weighted steps (validated again). */
export function withStrategy(spec: RolloutSpec, strategy: SoakStrategy): RolloutSpec {
  if (strategy === 'canary') return spec;
  // Session affinity is for a weighted canary (validation refuses it beside match or blueGreen): the target drops it.
  const {
    stepWeights: _steps,
    stepWeight: _step,
    maxWeight: _max,
    stepWeightPromotion: _promotion,
    sessionAffinity: _affinity,
    ...rest
  } = spec.spec.strategy;
  const mode = strategy === 'ab' ? { match: MATCH } : { blueGreen: {} };
  return parseSpec({ ...spec, spec: { ...spec.spec, strategy: { ...rest, iterations: 2, ...mode } } });
}

/**
 * The moments a change on the API server marks for a target of this strategy. A/B: the first move
 * is the marker route appearing in the VirtualService (the matched users reach the canary; the
 * weights stay 100/0). Blue/green: the switch of all traffic to green. Both have one stage, so a
 * fault dealt to the second step fires there too (rather than never, and being re-dealt).
 */
export function strategyMoments(strategy: SoakStrategy, object: KubeObject, weights: GroupState | undefined): Moment[] {
  const moved =
    (strategy === 'ab' && object.kind === 'VirtualService' && markerRoutes(object).length > 0) ||
    (strategy === 'blue-green' && object.kind === 'UpstreamGroup' && weights?.canary === SCALE);
  return moved ? ['first-move', 'second-step'] : [];
}

function markerRoutes(object: KubeObject | undefined): string[] {
  const routes = (object?.spec as { virtualHost?: { routes?: Array<{ name?: string }> } } | undefined)?.virtualHost?.routes ?? [];
  return routes.flatMap((route) => (isMarkerRouteName(route.name) ? [route.name ?? ''] : []));
}

/** Invariant (g), read from the API server: the marker routes left on the target's VirtualService, as violation messages. */
export function markerRouteViolations(kube: KubeStandIn, t: Target): string[] {
  const left = markerRoutes(kube.get('gateway.solo.io/v1', 'VirtualService', GLOO_NS, t.name));
  return left.map((name) => `VirtualService ${GLOO_NS}/${t.name} still carries the route '${name}' after the rollout ended`);
}
