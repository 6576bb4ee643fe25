/**
 * Rules that close the last validation gaps, run by validateSpec (and so by
 * `sluice validate`, synth and every start path). Pure.
 * - Query templates use only the variables Sluice fills in: an unknown `{{name}}` fails at
 *   validate, naming the field, instead of at preflight.
 * - Webhook timeouts fit the Lambda that calls them: within one type hooks run in parallel, types
 *   run one after another, so a look's worst case is the sum over types of the slowest hook of
 *   each; it must leave Analyze (a 100 s Lambda) time for its metric reads.
 * - specWarnings: worth saying, not refusing (`noData: pass`).
 */
import { parseDuration } from './duration.ts';
import type { RolloutSpec, SpecProblem } from './spec-schema.ts';

/** The variables of a query template (lambdas/core/queries.ts QUERY_VARIABLES; kept equal by a test). */
export const TEMPLATE_VARIABLES = ['namespace', 'target', 'interval', 'primary', 'canary', 'primaryCluster', 'canaryCluster'] as const;
const ENVOY_CLUSTER_VARIABLES = ['upstream', 'namespace'] as const;
const VARIABLE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/**
 * `sluice import flagger` writes `{{ paste_the_query_of_MetricTemplate_… }}` where a template was
 * not in the file: a deliberate hole that fails the first look naming what to paste (and is listed
 * in the import report). It is let through here so the imported file validates.
 */
const IMPORT_PLACEHOLDER = /^paste_the_query_of_/;

function unknownVariables(template: string, known: readonly string[]): string[] {
  return [...template.matchAll(VARIABLE)].map((m) => m[1] ?? '').filter((name) => !known.includes(name) && !IMPORT_PLACEHOLDER.test(name));
}

/**
 * The Lambda budgets the hooks must fit (infra/sluice-orchestrator.ts HANDLERS timeouts, 100 s). A Task
 * calls at most two hook types one after the other (Analyze: `rollback` then `rollout`; ConfirmRollout:
 * `rollback` then `confirm-rollout`; the hooks of one type in parallel), so 2 × 30 s leaves Analyze
 * 40 s for its metric reads; every other gate is a state of its own.
 */
export const HOOK_BUDGET = {
  /** Any one hook. */
  perHookSeconds: 30,
} as const;

export function templateProblems(spec: RolloutSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const known = `known: ${TEMPLATE_VARIABLES.join(', ')}`;
  const check = (path: string, template: string, vars: readonly string[], knownText = known) => {
    const unknown = [...new Set(unknownVariables(template, vars))];
    if (unknown.length)
      problems.push({
        path,
        message: `uses unknown variable${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `{{${u}}}`).join(', ')} (${knownText})`,
      });
  };
  check(
    'spec.router.envoyClusterName',
    spec.spec.router.envoyClusterName,
    ENVOY_CLUSTER_VARIABLES,
    `known: ${ENVOY_CLUSTER_VARIABLES.join(', ')}`,
  );
  spec.spec.analysis.metrics.forEach((metric, i) => {
    const at = `spec.analysis.metrics[${i}]`;
    if (metric.query) check(`${at}.query`, metric.query, TEMPLATE_VARIABLES);
    if (metric.provider?.type === 'web') check(`${at}.provider.url`, metric.provider.url, TEMPLATE_VARIABLES);
    if (metric.metricDataQueries) check(`${at}.metricDataQueries`, JSON.stringify(metric.metricDataQueries), TEMPLATE_VARIABLES);
  });
  return problems;
}

export function webhookBudgetProblems(spec: RolloutSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  (spec.spec.analysis.webhooks ?? []).forEach((hook, i) => {
    if (parseDuration(hook.timeout) / 1000 <= HOOK_BUDGET.perHookSeconds) return;
    problems.push({
      path: `spec.analysis.webhooks[${i}].timeout`,
      message: `is ${hook.timeout}; at most ${HOOK_BUDGET.perHookSeconds}s: each hook runs inside a Lambda (Analyze and the gate states have 100 s)`,
    });
  });
  return problems;
}

/** Worth saying at validate, not a reason to refuse. */
export function specWarnings(spec: RolloutSpec): SpecProblem[] {
  const warnings: SpecProblem[] = [];
  if (spec.spec.analysis.noData === 'pass') {
    warnings.push({
      path: 'spec.analysis.noData',
      message:
        'is pass: a look without metric data counts as passed, so a rollout can promote with no evidence at all (the summary counts such looks); prefer hold or fail',
    });
  }
  return warnings;
}

/**
 * A/B testing (`strategy.match`) and blue/green (`strategy.blueGreen`): one stage of `iterations`
 * looks with no weighted share. The A/B route is a route of its own placed ahead of the weighted
 * route, so it needs a route object to go in. The arms no longer see the same population (matched
 * users only, or test traffic only), so the two-arm test is off unless opted into.
 */
export function strategyModeProblems(spec: RolloutSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  const { strategy, router, analysis } = spec.spec;
  const mode = strategy.match ? 'A/B testing (strategy.match)' : strategy.blueGreen ? 'blue/green (strategy.blueGreen)' : undefined;
  if (strategy.match && strategy.blueGreen) add('spec.strategy.blueGreen', 'use either match (A/B testing) or blueGreen, not both');
  if (!mode) {
    if (strategy.iterations !== undefined)
      add('spec.strategy.iterations', 'is for A/B testing (with match) or blue/green (with blueGreen); a canary steps through its weights');
    return problems;
  }
  if (strategy.iterations === undefined) add('spec.strategy.iterations', `is required for ${mode}: the looks of interval before promotion`);
  for (const field of ['stepWeights', 'stepWeight', 'maxWeight'] as const) {
    if (strategy[field] !== undefined) add(`spec.strategy.${field}`, `is not used by ${mode}: there is no weighted share to step through`);
  }
  if (strategy.match && router.kind === 'UpstreamGroup' && !router.route)
    add(
      'spec.router.route',
      'is required for A/B testing with router kind UpstreamGroup: the match route goes into the VirtualService or RouteTable, ahead of the route that sends traffic to the group',
    );
  if (analysis.compareArms !== undefined && analysis.judge !== 'sequential')
    add(
      'spec.analysis.compareArms',
      'is read by the sequential judge only (its two-arm test): the threshold judge holds each metric of the canary against its thresholdRange',
    );
  return problems;
}

/** History events of one progressive-promotion look: PromotionStep (5), PromotionStepped (2), PromotionBake (6), PromotionLook (5), PromotionDecide (2). */
export const HISTORY_EVENTS_PER_PROMOTION_LOOK = 20;

/** The most looks a progressive promotion takes from a canary weight: one per split short of 100% on the primary, plus threshold − 1 re-looks. */
export function promotionLooks(topCanaryWeight: number, step: number, threshold: number): number {
  if (step <= 0) return 0;
  return Math.max(0, Math.ceil(topCanaryWeight / step) - 1) + Math.max(0, threshold - 1);
}

/** A progressive promotion's looks and seconds at most (0 without one): what validation adds to the history and time budgets. */
export function promotionBudget(spec: RolloutSpec, topCanaryWeight: number): { looks: number; seconds: number } {
  const { strategy } = spec.spec;
  if (strategy.stepWeightPromotion <= 0) return { looks: 0, seconds: 0 };
  const looks = promotionLooks(topCanaryWeight, strategy.stepWeightPromotion, strategy.threshold);
  // Every look bakes one interval, and so does each step that reaches no look (the last goes to Switch).
  return { looks, seconds: (looks + 1) * Math.max(1, parseDuration(strategy.interval) / 1000) };
}

/**
 * Progressive promotion moves traffic back to the primary after the template copy, so it needs one:
 * in route mode the canary upstream takes all traffic in one switch and there is nothing to step back to.
 */
export function promotionStepProblems(spec: RolloutSpec, mode: 'template' | 'route'): SpecProblem[] {
  if (spec.spec.strategy.stepWeightPromotion <= 0 || mode === 'template') return [];
  return [
    {
      path: 'spec.strategy.stepWeightPromotion',
      message:
        'needs template promotion (spec.workload): traffic steps back to the primary after it gets the canary template; in route mode the canary upstream takes all traffic in one switch',
    },
  ];
}

/**
 * The fleet's structure: every wave names at least one cluster, each cluster of the fleet once;
 * every cluster is in a wave (one left out would never be released) and reachable (an EKS cluster
 * needs a region, its own or spec.cluster's). Each member's resolved spec is checked in spec.ts.
 */
export function fleetProblems(spec: RolloutSpec): SpecProblem[] {
  const fleet = spec.spec.fleet;
  if (!fleet) return [];
  const problems: SpecProblem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  if (spec.metadata.name.includes('@')) add('metadata.name', 'is a cluster address (target@cluster): a fleet spec names the target itself');
  const names = new Set<string>();
  const baseHasRegion = 'region' in spec.spec.cluster;
  fleet.clusters.forEach((cluster, i) => {
    const at = `spec.fleet.clusters[${i}]`;
    if (names.has(cluster.name)) add(`${at}.name`, `duplicates another cluster's name "${cluster.name}"`);
    names.add(cluster.name);
    if (cluster.kubeconfigContext && (cluster.region || cluster.eksCluster))
      add(`${at}.kubeconfigContext`, 'use either kubeconfigContext or an EKS cluster (region, eksCluster), not both');
    if (!cluster.kubeconfigContext && !cluster.region && !baseHasRegion)
      add(`${at}.region`, 'is required: spec.cluster names no region to inherit (or give kubeconfigContext)');
  });
  const waveOf = new Map<string, number>();
  fleet.waves.forEach((wave, w) => {
    const at = `spec.fleet.waves[${w}]`;
    if (wave.clusters.length === 0) add(`${at}.clusters`, 'is empty: a wave names at least one cluster');
    wave.clusters.forEach((name, c) => {
      if (!names.has(name)) add(`${at}.clusters[${c}]`, `names unknown cluster "${name}" (known: ${[...names].join(', ')})`);
      const earlier = waveOf.get(name);
      if (earlier !== undefined)
        add(
          `${at}.clusters[${c}]`,
          `"${name}" is already in ${earlier === w ? 'this wave' : `wave ${earlier + 1} (spec.fleet.waves[${earlier}])`}: a cluster is in one wave`,
        );
      else waveOf.set(name, w);
    });
    if (wave.maxParallel !== undefined && wave.maxParallel > wave.clusters.length && wave.clusters.length > 0)
      add(`${at}.maxParallel`, `is ${wave.maxParallel} but the wave has ${wave.clusters.length} cluster(s)`);
  });
  fleet.clusters.forEach((cluster, i) => {
    if (!waveOf.has(cluster.name)) add(`spec.fleet.clusters[${i}].name`, `"${cluster.name}" is in no wave: it would never be released`);
  });
  // Rolling a promoted cluster back puts its kept pod template back: only template promotion keeps one.
  if (fleet.onHalt.promotedWaves !== 'keep' && (!spec.spec.workload || spec.spec.promotion === 'route'))
    add(
      'spec.fleet.onHalt.promotedWaves',
      `is ${fleet.onHalt.promotedWaves}: rolling promoted clusters back needs template promotion (spec.workload names the Deployments)`,
    );
  return problems;
}
