/**
 * Which population each arm serves, for every judge and every step that describes a verdict: kept out
 * of the judges' own modules so that handlers (Finish's reason) need not import a judge to say it.
 */
import type { RolloutSpec } from './spec-schema.ts';

/** The strategy's word for a stage whose arms serve different requests, or undefined for a canary (both arms see the same users). */
export function splitPopulation(spec: RolloutSpec): 'A/B testing' | 'blue/green' | undefined {
  const { strategy } = spec.spec;
  return strategy.match ? 'A/B testing' : strategy.blueGreen ? 'blue/green' : undefined;
}

/**
 * Whether the two-arm tests (canary against primary) count. Always for a canary. Under A/B testing
 * the canary serves the matched users and the primary everyone else; under blue/green green serves
 * test traffic only: a difference between the arms may be the population's, so only
 * `analysis.compareArms: true` turns them on. The canary's own threshold tests stay valid either way.
 */
export function compareArms(spec: RolloutSpec): boolean {
  return splitPopulation(spec) === undefined || spec.spec.analysis.compareArms === true;
}
