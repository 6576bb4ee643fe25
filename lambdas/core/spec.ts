/**
 * The rollout spec: the schema (spec-schema.ts, re-exported here) and the rules across fields that
 * a shape cannot say. Pure: no I/O here.
 *
 * The schema knows every field of the design. Fields whose feature is not built yet are
 * accepted by the shape but refused by `unsupportedFeatures()` with "not supported yet", so a
 * spec that turns one on never runs with it silently ignored.
 */
import { formatFieldPath } from './field-path.ts';
import { parseDuration } from './duration.ts';
import { windowProblems } from './windows.ts';
import { sequentialProblems } from './sequential/metrics.ts';
import {
  fleetProblems,
  HISTORY_EVENTS_PER_PROMOTION_LOOK,
  promotionBudget,
  promotionStepProblems,
  strategyModeProblems,
  templateProblems,
  webhookBudgetProblems,
} from './spec-checks.ts';
import { fleetMemberDocument } from './fleet-member.ts';
import { affinityProblems } from './affinity.ts';
import {
  EXECUTION_TIMEOUT_SECONDS,
  HISTORY_EVENTS_FOR_LOOKS,
  HISTORY_EVENTS_PER_GATE_CALL,
  MAX_DEADLINE_SECONDS,
  MAX_HISTORY_EVENTS,
  MAX_READY_TIMEOUT_SECONDS,
  RECOVERY_WINDOW_MAX_SECONDS,
  TASK_SLACK_SECONDS,
} from './limits.ts';
import {
  bakeSeconds,
  BUILT_IN_METRICS,
  HISTORY_EVENT_BUDGET,
  HISTORY_EVENTS_PER_LOOK,
  plannedWeights,
  rolloutSpecSchema,
  routerSchema,
  strategySchema,
} from './spec-schema.ts';
import type { MetricSpec, RolloutSpec, RouterSpec, SpecProblem, StrategySpec } from './spec-schema.ts';

export * from './spec-schema.ts';

type AddProblem = (path: string, message: string) => void;

/** Rules inside spec.strategy, given the router's weight scale. */
function strategyProblems(strategy: StrategySpec, scale: number, add: AddProblem): void {
  if (strategy.stepWeights && (strategy.stepWeight !== undefined || strategy.maxWeight !== undefined)) {
    add('spec.strategy.stepWeights', 'use either stepWeights or stepWeight with maxWeight, not both');
  }
  if (strategy.stepWeights) {
    strategy.stepWeights.forEach((weight, i) => {
      if (weight > scale) add(`spec.strategy.stepWeights[${i}]`, `must be at most the weight scale ${scale}`);
      const previous = strategy.stepWeights?.[i - 1];
      if (previous !== undefined && weight <= previous)
        add(`spec.strategy.stepWeights[${i}]`, `must be greater than the step before it (${previous}): step weights strictly increase`);
    });
  } else {
    const step = strategy.stepWeight ?? 10;
    const max = strategy.maxWeight ?? 50;
    if (max > scale) add('spec.strategy.maxWeight', `must be at most the weight scale ${scale}`);
    if (step > max) add('spec.strategy.stepWeight', `must be at most maxWeight (${max})`);
    else if (max % step !== 0) add('spec.strategy.maxWeight', `is not reachable by steps of ${step}: expected a multiple of stepWeight`);
  }
  if (strategy.stepWeightPromotion > scale) add('spec.strategy.stepWeightPromotion', `must be at most the weight scale ${scale}`);
  if (parseDuration(strategy.lookInterval) > parseDuration(strategy.interval)) {
    add('spec.strategy.lookInterval', `must be at most interval (${strategy.interval})`);
  }
}

/** Rules inside spec.router. */
function routerProblems(router: RouterSpec, add: AddProblem): void {
  const primary = router.primary.upstream;
  const canary = router.canary.upstream;
  if (primary.name === canary.name && primary.namespace === canary.namespace)
    add('spec.router.canary.upstream', 'must differ from the primary upstream');
  if (router.kind !== 'UpstreamGroup' && !router.route) add('spec.router.route', `is required for router kind ${router.kind}`);
  if (router.route && !router.route.virtualService && !router.route.routeTable)
    add('spec.router.route', 'expected virtualService or routeTable');
}

function crossFieldProblems(spec: RolloutSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const { router, strategy, analysis, workload } = spec.spec;
  const add: AddProblem = (path, message) => problems.push({ path, message });
  strategyProblems(strategy, router.weightScale, add);
  routerProblems(router, add);
  problems.push(...windowProblems(strategy.windows));
  problems.push(...sequentialProblems(spec));
  problems.push(...templateProblems(spec), ...webhookBudgetProblems(spec));
  problems.push(...strategyModeProblems(spec));
  problems.push(...affinityProblems(spec.spec));
  const looks = Math.ceil(parseDuration(strategy.deadline) / (bakeSeconds(spec) * 1000));
  const perLook = historyEventsPerLook(spec.spec.analysis.webhooks);
  const promotion = promotionBudget(spec, Math.max(0, ...plannedWeights(strategy)));
  const events = looks * perLook + promotion.looks * HISTORY_EVENTS_PER_PROMOTION_LOOK;
  // Both bounds: half the limit, and what the readiness loops and Rollback's retries leave (limits.ts).
  if (events > Math.min(HISTORY_EVENT_BUDGET, HISTORY_EVENTS_FOR_LOOKS)) {
    const stepped = promotion.looks ? ` and ${promotion.looks} promotion looks (stepWeightPromotion ${strategy.stepWeightPromotion})` : '';
    add(
      'spec.strategy.deadline',
      `allows ${looks} looks${stepped} (${events} history events); Step Functions keeps at most ${MAX_HISTORY_EVENTS}: shorten the deadline or lengthen the look interval${stepped ? ', or raise stepWeightPromotion' : ''}`,
    );
  }
  problems.push(...promotionStepProblems(spec, promotionMode(spec)));
  lifetimeProblems(spec, add, promotion.seconds);
  if (spec.spec.promotion === 'template' && !workload) add('spec.workload', "is required when promotion is 'template'");
  if (workload && workload.primary === workload.canary) add('spec.workload.canary', 'must differ from the primary Deployment');
  if (strategy.shadow && !router.route)
    add('spec.router.route', 'is required for a shadowing stage: shadowing is set on the route that sends traffic to the group');

  const names = new Set<string>();
  analysis.metrics.forEach((metric, i) => {
    const at = `spec.analysis.metrics[${i}]`;
    if (names.has(metric.name)) add(`${at}.name`, `duplicates another metric's name "${metric.name}"`);
    names.add(metric.name);
    const builtIn = (BUILT_IN_METRICS as readonly string[]).includes(metric.name);
    const type = metric.provider?.type ?? 'prometheus';
    if (type === 'prometheus' || type === 'amp') {
      if (!builtIn && !metric.query && !metric.counters)
        add(`${at}.query`, `is required: "${metric.name}" is not a built-in metric (${BUILT_IN_METRICS.join(', ')})`);
      // Counters (the sequential judge) test the canary against the primary even without a range.
      if (!metric.thresholdRange && !metric.counters) add(`${at}.thresholdRange`, 'is required for a Prometheus metric');
    }
    if (type === 'prometheus') {
      const address = metric.provider?.type === 'prometheus' ? metric.provider.address : undefined;
      if (!address && !analysis.prometheus) add(`${at}.provider.address`, 'is required unless spec.analysis.prometheus names a server');
    }
    metricProviderProblems(metric, at, add);
  });
  return problems;
}

/**
 * The state machine's TimeoutSeconds (limits.ts) backstops every execution: a spec whose longest
 * life could outlast it is refused. Its longest life: the effective deadline (which also bounds
 * the approval gates, and with change windows may grow by held time up to MAX_DEADLINE_SECONDS),
 * both promotion readiness loops, a progressive promotion's steps, the longest recovery window, and the Tasks' slack.
 */
function lifetimeProblems(spec: RolloutSpec, add: AddProblem, promotionSeconds: number): void {
  const { strategy, workload } = spec.spec;
  const deadline = parseDuration(strategy.deadline) / 1000;
  const ready = workload ? parseDuration(workload.readyTimeout) / 1000 : 0;
  if (deadline > MAX_DEADLINE_SECONDS)
    add(
      'spec.strategy.deadline',
      `must be at most ${MAX_DEADLINE_SECONDS / 3600}h: the state machine stops every execution after ${EXECUTION_TIMEOUT_SECONDS / 3600}h, rollback included`,
    );
  if (ready > MAX_READY_TIMEOUT_SECONDS)
    add(
      'spec.workload.readyTimeout',
      `must be at most ${MAX_READY_TIMEOUT_SECONDS / 60}m: the promotion's readiness loops are bounded by the state machine's TimeoutSeconds and history`,
    );
  // The progressive promotion's steps come after the deadline's analysis (its looks are not held by it).
  const longest =
    (strategy.windows?.length ? MAX_DEADLINE_SECONDS : deadline) +
    2 * ready +
    promotionSeconds +
    RECOVERY_WINDOW_MAX_SECONDS +
    TASK_SLACK_SECONDS;
  if (deadline <= MAX_DEADLINE_SECONDS && ready <= MAX_READY_TIMEOUT_SECONDS && longest > EXECUTION_TIMEOUT_SECONDS) {
    add(
      'spec.strategy.deadline',
      `lets the execution run ${Math.ceil(longest / 3600)}h${promotionSeconds ? ` (${Math.ceil(promotionSeconds / 60)}m of them promotion steps)` : ''}, longer than the state machine's TimeoutSeconds (${EXECUTION_TIMEOUT_SECONDS / 3600}h)`,
    );
  }
}

/** Rules of the non-Prometheus providers; fields of another provider are refused, not ignored. */
function metricProviderProblems(metric: MetricSpec, at: string, add: AddProblem): void {
  const provider = metric.provider;
  const type = provider?.type ?? 'prometheus';
  if (provider?.type === 'cloudwatch') {
    if (!metric.metricDataQueries?.length && !metric.counters)
      add(`${at}.metricDataQueries`, 'is required for a CloudWatch metric: GetMetricData queries, exactly one with ReturnData');
    if (!metric.thresholdRange && !metric.counters) add(`${at}.thresholdRange`, 'is required for a CloudWatch metric');
    if (metric.query) add(`${at}.query`, 'is not used by a CloudWatch metric: use metricDataQueries');
    const period = parseDuration(provider.period) / 1000;
    if (!(Number.isInteger(period) && ([1, 5, 10, 30].includes(period) || period % 60 === 0)))
      add(`${at}.provider.period`, 'expected 1s, 5s, 10s, 30s or whole minutes (CloudWatch periods)');
  } else if (metric.metricDataQueries) {
    add(`${at}.metricDataQueries`, `is only for a cloudwatch provider, not ${type}`);
  }
  if (type === 'cloudwatch-alarm') {
    if (!metric.alarms?.length) add(`${at}.alarms`, 'is required for a cloudwatch-alarm metric: alarm names or ARNs');
    if (metric.query) add(`${at}.query`, 'is not used by a cloudwatch-alarm metric: name the alarms in alarms');
  } else if (metric.alarms) {
    add(`${at}.alarms`, `is only for a cloudwatch-alarm provider, not ${type}`);
  }
  if (type === 'web') {
    if (!metric.thresholdRange) add(`${at}.thresholdRange`, 'is required for a web metric');
    if (metric.query) add(`${at}.query`, 'is not used by a web metric: the provider url and jsonPath are its query');
  }
}

/** When the whole spec does not parse, the sections that do still get their own rules checked, so every problem shows at once. */
function sectionProblems(document: unknown): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const add: AddProblem = (path, message) => problems.push({ path, message });
  const spec = (document as { spec?: { router?: unknown; strategy?: unknown } } | null)?.spec;
  const router = routerSchema.safeParse(spec?.router);
  if (router.success) routerProblems(router.data, add);
  const strategy = strategySchema.safeParse(spec?.strategy ?? {});
  if (strategy.success) strategyProblems(strategy.data, router.success ? router.data.weightScale : 1000, add);
  return problems;
}

/**
 * Fields the schema knows but Sluice does not run yet. Each later capability deletes its line here;
 * until then a spec that turns one on is refused rather than run with the field ignored.
 */
export function unsupportedFeatures(_spec: RolloutSpec): SpecProblem[] {
  // Nothing is refused as not built: progressive promotion (stepWeightPromotion) was the last.
  return [];
}

export type SpecResult = { ok: true; spec: RolloutSpec } | { ok: false; problems: SpecProblem[] };

/** Validates a parsed document: shape, cross-field rules, then features not built yet. Reports every problem. */
export function validateSpec(document: unknown): SpecResult {
  const parsed = rolloutSpecSchema.safeParse(document);
  if (!parsed.success) {
    const shape = parsed.error.issues.map((issue) => ({ path: formatFieldPath(issue.path), message: issue.message }));
    return { ok: false, problems: [...shape, ...sectionProblems(document)] };
  }
  const own = [...crossFieldProblems(parsed.data), ...unsupportedFeatures(parsed.data), ...fleetProblems(parsed.data)];
  // Each fleet member is checked once the fleet spec itself is sound (else every member repeats its problems).
  const problems = own.length ? own : fleetMemberProblems(parsed.data);
  return problems.length ? { ok: false, problems } : { ok: true, spec: parsed.data };
}

/** Each fleet cluster's resolved spec (its overrides and wave strategy), named by cluster. */
function fleetMemberProblems(spec: RolloutSpec): SpecProblem[] {
  const fleet = spec.spec.fleet;
  if (!fleet) return [];
  return fleet.clusters.flatMap((cluster, i) => {
    const member = validateSpec(fleetMemberDocument(spec, cluster.name));
    return member.ok
      ? []
      : member.problems.map((p) => ({
          path: `spec.fleet.clusters[${i}]`,
          message: `cluster ${cluster.name} resolves to an invalid spec: ${p.path}: ${p.message}`,
        }));
  });
}

/** The promotion mode in force: template when a workload is named, else route. */
export function promotionMode(spec: RolloutSpec): 'template' | 'route' {
  return spec.spec.promotion ?? (spec.spec.workload ? 'template' : 'route');
}

export class SpecError extends Error {
  readonly problems: SpecProblem[];
  constructor(problems: SpecProblem[], source = 'spec') {
    super(`${source} is invalid:\n${problems.map((p) => `${p.path}: ${p.message}`).join('\n')}`);
    this.name = 'SpecError';
    this.problems = problems;
  }
}

/** Like validateSpec, but throws a SpecError naming every problem. */
export function parseSpec(document: unknown, source?: string): RolloutSpec {
  const result = validateSpec(document);
  if (!result.ok) throw new SpecError(result.problems, source);
  return result.spec;
}

/** History events one look costs: a look held by a confirm-promotion gate also calls the gate (ConfirmPromotion, PromotionConfirmed). */
function historyEventsPerLook(webhooks: ReadonlyArray<{ type: string }> | undefined): number {
  return HISTORY_EVENTS_PER_LOOK + ((webhooks ?? []).some((hook) => hook.type === 'confirm-promotion') ? HISTORY_EVENTS_PER_GATE_CALL : 0);
}
