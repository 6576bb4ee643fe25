/**
 * Session affinity in the soak: every third target rolls out with `strategy.sessionAffinity`, so
 * the faults also land on its cookie route (VirtualService writes) and its Set-Cookie headers
 * (UpstreamGroup writes); every sixth is also progressive. Once a rollout has ended (promoted,
 * rolled back, held, refused or failed and recovered), nothing of its affinity may be left: no
 * route with its marker name, no Set-Cookie of its cookie on any destination of its group.
 */
import { isAffinitySetCookie } from '../../lambdas/core/affinity.ts';
import { markerRouteName } from '../../lambdas/core/match.ts';
import type { KubeStandIn } from '../../local/kube/stand-in.ts';
import type { FaultKind } from './faults.ts';

/** The soak target fields read here (structural: targets.ts imports this file for the spec). */
interface Target {
  name: string;
}

/** Where the soak's Gloo objects live (targets.ts GLOO_NS). */
const GLOO_NS = 'gloo-system';

/** The cookie every affinity target uses. */
const COOKIE_NAME = 'soak-canary';

/** Whether a target's rollout uses session affinity. */
export function withAffinity(t: Target, _kinds: readonly FaultKind[]): boolean {
  return Number(t.name.slice(-2)) % 3 === 0;
}

/** The strategy fields of an affinity target (none for the others). */
export function affinityStrategy(t: Target, kinds: readonly FaultKind[]): { sessionAffinity?: { cookieName: string; maxAge: number } } {
  return withAffinity(t, kinds) ? { sessionAffinity: { cookieName: COOKIE_NAME, maxAge: 600 } } : {};
}

/** What an ended rollout left of its affinity on the API server: one message per leftover (empty when clean). */
export function affinityLeftovers(kube: KubeStandIn, t: Target, takenOver: boolean): string[] {
  const found: string[] = [];
  const marker = markerRouteName('affinity', t.name);
  const routes =
    (kube.get('gateway.solo.io/v1', 'VirtualService', GLOO_NS, t.name)?.spec as { virtualHost?: { routes?: Array<{ name?: string }> } })
      ?.virtualHost?.routes ?? [];
  if (routes.some((route) => route.name === marker))
    found.push(`VirtualService ${GLOO_NS}/${t.name} still has the cookie route '${marker}' after the rollout ended`);
  const destinations =
    (
      kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, t.name)?.spec as {
        destinations?: Array<{
          destination?: { upstream?: { name?: string } };
          options?: { headerManipulation?: { responseHeadersToAdd?: Array<{ header?: { key?: string; value?: string } }> } };
        }>;
      }
    )?.destinations ?? [];
  // A group someone else took over is theirs: Sluice leaves it, its own Set-Cookie entries too.
  if (takenOver) return found;
  for (const d of destinations) {
    const left = (d.options?.headerManipulation?.responseHeadersToAdd ?? []).filter(
      (o) => o.header?.key?.toLowerCase() === 'set-cookie' && isAffinitySetCookie(o.header.value, COOKIE_NAME),
    );
    if (left.length)
      found.push(
        `UpstreamGroup ${GLOO_NS}/${t.name} destination ${d.destination?.upstream?.name ?? '?'} still sets ${left.map((o) => o.header?.value).join(', ')} after the rollout ended`,
      );
  }
  return found;
}
