/**
 * `sluice import flagger`: a Flagger `Canary` (flagger.app/v1beta1, provider gloo) turned into a
 * Sluice rollout spec, with a report of what maps as is, what maps with a changed meaning, and what
 * has no equivalent. Pure: the caller reads the file and prints.
 *
 * Where the Gloo objects come from (looked up in Flagger's source, fluxcd/flagger):
 * - `pkg/router/gloo.go` (Flagger >= 1.6, see docs/gitbook/tutorials/gloo-progressive-delivery.md:
 *   "Prior versions of Flagger used Gloo UpstreamGroups ... newer versions use Gloo RouteTables"):
 *   a RouteTable named after the apex service (`spec.service.name`, else `targetRef.name`) in the
 *   Canary's namespace, one route whose `routeAction.multi.destinations` carry the weights, to two
 *   Upstreams Flagger creates in the Canary's namespace:
 *   `fmt.Sprintf("%s-%s-primaryupstream-%v", canary.Namespace, apexName, canary.Spec.Service.Port)`
 *   and the same with `canaryupstream`.
 * - the same file before 1.6: an UpstreamGroup named after the apex service in the Canary's
 *   namespace, to Upstreams discovered by Gloo: `%s-%s-primary-%v` / `%s-%s-canary-%v` in the
 *   upstream discovery namespace (`gloo-system`, or `<ns>` from a provider written `gloo:<ns>`,
 *   `pkg/router/factory.go`).
 * - `pkg/metrics/observers/gloo.go`: request-success-rate is the non-5xx share of
 *   `envoy_cluster_upstream_rq` in percent; request-duration is the p99 of
 *   `envoy_cluster_upstream_rq_time_bucket` in milliseconds: Sluice's built-ins are the same queries.
 * - `pkg/apis/flagger/v1beta1/canary.go`: defaults (interval 60s and at least 10s, threshold 1,
 *   metric interval 1m, progressDeadlineSeconds 600) and the field list below.
 * - `cmd/flagger/main.go`: `-metrics-server` defaults to http://prometheus:9090.
 */
import { HOOK_BUDGET } from '../../lambdas/core/spec-checks.ts';
import { formatDuration } from '../../lambdas/core/duration.ts';
import { HISTORY_EVENT_BUDGET, HISTORY_EVENTS_PER_LOOK, validateSpec } from '../../lambdas/core/spec.ts';
import { MAX_READY_TIMEOUT_SECONDS } from '../../lambdas/core/limits.ts';
import { DEFAULT_AFFINITY_MAX_AGE } from '../../lambdas/core/affinity.ts';
import type { RolloutSpecInput, SpecProblem } from '../../lambdas/core/spec.ts';
import { ANALYSIS_FIELDS, FlaggerImportError, goDurationMs, metricTemplatesOf, parseCanary, SPEC_FIELDS } from './flagger-canary.ts';
import type { Canary, FlaggerAnalysis, FlaggerMetric, MetricTemplate } from './flagger-canary.ts';

export { FlaggerImportError, goDurationMs };

/** One line of the report: the Flagger field, the Sluice field it became (if any), and what to know. */
export interface ReportLine {
  flagger: string;
  sluice?: string;
  note: string;
}

export interface ImportReport {
  /** Same meaning in Sluice. */
  mapped: ReportLine[];
  /** Carried over, but Sluice does it differently (or a value was assumed): read before running. */
  changed: ReportLine[];
  /** No Sluice equivalent (yet): left out of the spec. */
  unmapped: ReportLine[];
}

/** A part of the spec that maps but that Sluice refuses with "not supported yet": kept aside, printed as a comment. */
export interface DeferredField {
  path: string;
  value: unknown;
  reason: string;
}

export interface FlaggerImport {
  spec: RolloutSpecInput;
  report: ImportReport;
  deferred: DeferredField[];
  /** What validateSpec still finds wrong with the spec (empty for any Canary Flagger itself accepts). */
  problems: SpecProblem[];
}

export interface FlaggerImportOptions {
  /** The cluster the Canary lives in (a Canary does not name it). */
  cluster?: { name: string; region: string } | { kubeconfigContext: string };
  /** The Prometheus Flagger queried (its `-metrics-server` flag is not in the Canary). */
  prometheusAddress?: string;
  /** Flagger's `-mesh-provider` flag: used when the Canary has no `spec.provider`. */
  meshProvider?: string;
  /** The namespace when the Canary file names none (kubectl's `-n`). */
  namespace?: string;
  /** Flagger older than 1.6 drove an UpstreamGroup over Gloo-discovered upstreams. */
  upstreamGroup?: boolean;
  /** MetricTemplate documents (e.g. from the same file) that `templateRef`s resolve against. */
  metricTemplates?: unknown[];
}

const FLAGGER_PROMETHEUS_DEFAULT = 'http://prometheus:9090';
const CHANGE_ME = 'CHANGE-ME';
/** Weights for a Canary that had none (and no iterations): start small. */
const FALLBACK_WEIGHTS = [1, 5, 10, 25, 50];

class Report {
  readonly mapped: ReportLine[] = [];
  readonly changed: ReportLine[] = [];
  readonly unmapped: ReportLine[] = [];
  map(flagger: string, sluice: string, note: string): void {
    this.mapped.push({ flagger, sluice, note });
  }
  change(flagger: string, sluice: string, note: string): void {
    this.changed.push({ flagger, sluice, note });
  }
  drop(flagger: string, note: string): void {
    this.unmapped.push({ flagger, note });
  }
}

/** Resolves the provider: the Canary's, else Flagger's -mesh-provider flag as the user states it. */
function glooDiscoveryNamespace(canary: Canary, options: FlaggerImportOptions, report: Report): string {
  const own = canary.spec.provider;
  const provider = own ?? options.meshProvider;
  if (provider === undefined) {
    throw new FlaggerImportError(
      'spec.provider is not set, so Flagger used its -mesh-provider flag (istio unless set otherwise); if your Flagger runs with meshProvider=gloo, say so with --mesh-provider gloo',
    );
  }
  // Flagger's factory matches the prefix "gloo" (gloo, gloo:<ns>); "gloo-mesh" is another router.
  if (provider !== 'gloo' && !provider.startsWith('gloo:')) {
    throw new FlaggerImportError(`provider "${provider}" is not supported: Sluice drives Gloo Edge only (a Canary with provider gloo)`);
  }
  const namespace = provider.startsWith('gloo:') ? provider.slice('gloo:'.length) : 'gloo-system';
  if (own) report.map('spec.provider', 'spec.router', `${own}: Sluice drives the same Gloo objects Flagger's gloo router made`);
  else
    report.change(
      '(Flagger -mesh-provider flag)',
      'spec.router',
      `the Canary names no provider; taken as ${provider} as you said (--mesh-provider)`,
    );
  return namespace;
}

interface Names {
  namespace: string;
  apex: string;
  port: number;
}

function routerFor(
  names: Names,
  discoveryNamespace: string,
  options: FlaggerImportOptions,
  report: Report,
): RolloutSpecInput['spec']['router'] {
  const { namespace, apex, port } = names;
  if (options.upstreamGroup) {
    const upstream = (side: string) => ({ name: `${namespace}-${apex}-${side}-${port}`, namespace: discoveryNamespace });
    report.map(
      'spec.service.port',
      'spec.router',
      `UpstreamGroup ${namespace}/${apex} over the Gloo-discovered upstreams ${upstream('primary').name} and ${upstream('canary').name} (${discoveryNamespace}), as Flagger before 1.6 set them up`,
    );
    return {
      kind: 'UpstreamGroup',
      name: apex,
      namespace,
      weightScale: 100,
      primary: { upstream: upstream('primary') },
      canary: { upstream: upstream('canary') },
    };
  }
  const upstream = (side: string) => ({ name: `${namespace}-${apex}-${side}upstream-${port}`, namespace });
  report.map(
    'spec.service.port',
    'spec.router',
    `RouteTable ${namespace}/${apex} (its one route, #0) with upstreams ${upstream('primary').name} and ${upstream('canary').name}, the objects Flagger's gloo router created (Flagger >= 1.6; for older Flagger pass --upstream-group)`,
  );
  return {
    kind: 'RouteTable',
    name: apex,
    namespace,
    route: { routeTable: apex, namespace, index: 0 },
    weightScale: 100,
    primary: { upstream: upstream('primary') },
    canary: { upstream: upstream('canary') },
  };
}

/** The step weights: Flagger's nextStepWeight (stepWeight wins over stepWeights) and maxWeight (default 100, last step capped). */
function weightsFor(
  analysis: FlaggerAnalysis,
  at: string,
  report: Report,
): Pick<NonNullable<RolloutSpecInput['spec']['strategy']>, 'stepWeights' | 'stepWeight' | 'maxWeight'> {
  const { stepWeight, stepWeights, maxWeight, iterations } = analysis;
  if (iterations && iterations > 0) {
    // Flagger runs an A/B test or Blue/Green whenever iterations is set: step weights play no part.
    const ignored = [stepWeight ? 'stepWeight' : '', stepWeights?.length ? 'stepWeights' : '', maxWeight ? 'maxWeight' : ''].filter(
      Boolean,
    );
    if (ignored.length)
      report.drop(`${at}.{${ignored.join(', ')}}`, 'ignored by Flagger when iterations is set (A/B or Blue/Green): left out');
    return {};
  }
  if (stepWeight && stepWeight > 0) {
    const max = stepWeights?.length ? Math.min(100, stepWeights.at(-1) ?? 100) : maxWeight && maxWeight > 0 ? maxWeight : 100;
    if (stepWeights?.length)
      report.change(
        `${at}.stepWeights`,
        'spec.strategy',
        'both stepWeight and stepWeights are set: Flagger steps by stepWeight up to the last of stepWeights, and so does the spec',
      );
    if (max % stepWeight === 0) {
      report.map(`${at}.stepWeight`, 'spec.strategy.stepWeight', `${stepWeight}: step, 2×step, … (percent)`);
      report.map(maxWeight ? `${at}.maxWeight` : `${at}.maxWeight (default 100)`, 'spec.strategy.maxWeight', `${max}`);
      return { stepWeight, maxWeight: max };
    }
    const weights: number[] = [];
    for (let weight = stepWeight; weight < max; weight += stepWeight) weights.push(weight);
    weights.push(max);
    report.change(
      `${at}.stepWeight, ${at}.maxWeight`,
      'spec.strategy.stepWeights',
      `${max} is not a multiple of ${stepWeight}: Flagger caps the last step at maxWeight, written out as stepWeights [${weights.join(', ')}]`,
    );
    return { stepWeights: weights };
  }
  if (stepWeights?.length) {
    report.map(`${at}.stepWeights`, 'spec.strategy.stepWeights', `[${stepWeights.join(', ')}] (percent)`);
    if (maxWeight)
      report.change(
        `${at}.maxWeight`,
        'spec.strategy.stepWeights',
        'ignored by Flagger when stepWeights is set (the last step is the maximum): left out',
      );
    return { stepWeights: [...stepWeights] };
  }
  report.change(
    `${at}.stepWeight (absent)`,
    'spec.strategy.stepWeights',
    `the Canary has no step weights: Sluice shifts a share of all requests, starting small: [${FALLBACK_WEIGHTS.join(', ')}]; review`,
  );
  return { stepWeights: [...FALLBACK_WEIGHTS] };
}

/** Flagger's `{{ target }}` is targetRef.name and `{{ name }}` the Canary's; Sluice's `{{target}}` is metadata.name: write the values in. */
function translateQuery(
  query: string,
  values: { name: string; target: string; service: string; variables: Record<string, unknown> },
): { query: string; unknown: string[] } {
  const unknown: string[] = [];
  const rendered = query.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}/g, (match, variable: string) => {
    if (variable === 'namespace' || variable === 'interval') return `{{${variable}}}`;
    if (variable === 'target') return values.target;
    if (variable === 'name') return values.name;
    if (variable === 'service') return values.service;
    if (variable.startsWith('variables.')) {
      const value = values.variables[variable.slice('variables.'.length)];
      if (value !== undefined) return String(value);
    }
    unknown.push(variable);
    return match;
  });
  return { query: rendered, unknown };
}

interface MetricContext {
  at: string;
  canary: Canary;
  names: Names;
  templates: MetricTemplate[];
  prometheusAddress: string;
  report: Report;
  index: number;
}

type SluiceMetric = NonNullable<NonNullable<RolloutSpecInput['spec']['analysis']>['metrics']>[number];

function thresholdRangeOf(metric: FlaggerMetric, at: string, sluiceAt: string, report: Report): { min?: number; max?: number } | undefined {
  const range: { min?: number; max?: number } = {};
  if (metric.thresholdRange?.min !== undefined) range.min = metric.thresholdRange.min;
  if (metric.thresholdRange?.max !== undefined) range.max = metric.thresholdRange.max;
  if (range.min !== undefined || range.max !== undefined) return range;
  if (metric.threshold === undefined) return undefined;
  // The deprecated `threshold`: a minimum for the success rate, a maximum for everything else.
  const side = metric.name === 'request-success-rate' ? 'min' : 'max';
  report.change(
    `${at}.threshold`,
    `${sluiceAt}.thresholdRange.${side}`,
    `the deprecated threshold ${metric.threshold} read as thresholdRange.${side}`,
  );
  return { [side]: metric.threshold };
}

function metricFor(metric: FlaggerMetric, context: MetricContext): SluiceMetric | undefined {
  const { at, canary, names, report } = context;
  const sluiceAt = `spec.analysis.metrics[${context.index}]`;
  const range = thresholdRangeOf(metric, at, sluiceAt, report);
  if (!range) {
    report.drop(at, `metric "${metric.name}" has no thresholdRange: Sluice judges every metric against a range; left out`);
    return undefined;
  }
  const interval = metric.interval ? goDurationMs(metric.interval) : 60_000;
  if (interval === undefined) throw new FlaggerImportError(`${at}.interval: "${metric.interval}" is not a duration`);
  const out: SluiceMetric = { name: metric.name, interval: formatDuration(interval), thresholdRange: range };
  if (!metric.interval)
    report.map(`${at}.interval (default 1m)`, `${sluiceAt}.interval`, "1m, written out: Sluice's default would be strategy.interval");

  if (!metric.templateRef && !metric.query) {
    if (metric.name === 'request-success-rate')
      report.map(
        at,
        sluiceAt,
        "built-in: percent of non-5xx canary requests from Envoy counters, the same query as Flagger's gloo observer",
      );
    else if (metric.name === 'request-duration')
      report.map(at, sluiceAt, "built-in: canary p99 in milliseconds from Envoy's upstream_rq_time histogram, as in Flagger");
    else {
      report.drop(at, `metric "${metric.name}" is neither built in nor has a templateRef or query: left out`);
      return undefined;
    }
    return out;
  }
  const values = {
    name: canary.metadata.name,
    target: canary.spec.targetRef.name,
    service: names.apex,
    variables: metric.templateVariables ?? {},
  };
  if (metric.query) {
    const { query, unknown } = translateQuery(metric.query, values);
    out.query = query;
    if (unknown.length)
      report.change(
        `${at}.query`,
        `${sluiceAt}.query`,
        `variables ${unknown.map((v) => `{{ ${v} }}`).join(', ')} have no Sluice value: edit the query`,
      );
    else
      report.map(`${at}.query`, `${sluiceAt}.query`, 'the deprecated inline query, with {{ target }}/{{ name }}/{{ service }} written in');
    return out;
  }
  const templateRef = metric.templateRef;
  if (!templateRef) return out;
  const namespace = templateRef.namespace ?? names.namespace;
  const where = `MetricTemplate ${namespace}/${templateRef.name}`;
  const template = context.templates.find(
    (t) => t.metadata.name === templateRef.name && (t.metadata.namespace ?? names.namespace) === namespace,
  );
  const type = template?.spec.provider?.type ?? 'prometheus';
  if (!template || !template.spec.query || type !== 'prometheus') {
    // A query that names an unknown variable fails at the first look with that name in the error:
    // a placeholder that returned a number could pass a threshold without measuring anything.
    out.query = `{{ paste_the_query_of_MetricTemplate_${`${namespace}_${templateRef.name}`.replace(/[^A-Za-z0-9_]/g, '_')} }}`;
    const why = !template
      ? `${where} is not in the file: paste its spec.query into ${sluiceAt}.query (or import it along: put it in the same file)`
      : type !== 'prometheus'
        ? `${where} reads ${type}: Sluice reads Prometheus (CloudWatch later); write a PromQL query into ${sluiceAt}.query`
        : `${where} has no query: write one into ${sluiceAt}.query`;
    report.change(`${at}.templateRef`, `${sluiceAt}.query`, `${why}; until then the placeholder query fails the rollout's first look`);
    return out;
  }
  const { query, unknown } = translateQuery(template.spec.query, values);
  out.query = query;
  const address = template.spec.provider?.address;
  if (address && address !== context.prometheusAddress) out.provider = { type: 'prometheus', address };
  const notes = [`the query of ${where}, with {{ target }}/{{ name }}/{{ service }}/{{ variables.* }} written in`];
  if (template.spec.provider?.secretRef)
    notes.push('its provider.secretRef holds credentials Sluice cannot read from a Secret: set provider.bearerToken or basicAuth');
  if (unknown.length) notes.push(`variables ${unknown.map((v) => `{{ ${v} }}`).join(', ')} have no Sluice value: edit the query`);
  if (notes.length > 1) report.change(`${at}.templateRef`, `${sluiceAt}.query`, notes.join('; '));
  else report.map(`${at}.templateRef`, `${sluiceAt}.query`, notes[0] ?? '');
  return out;
}

const WEBHOOK_TYPES = ['pre-rollout', 'rollout', 'confirm-rollout', 'confirm-promotion', 'post-rollout', 'rollback', 'event'] as const;
type SluiceWebhook = NonNullable<NonNullable<RolloutSpecInput['spec']['analysis']>['webhooks']>[number];

function webhooksFor(analysis: FlaggerAnalysis, at: string, report: Report): SluiceWebhook[] {
  const out: SluiceWebhook[] = [];
  (analysis.webhooks ?? []).forEach((hook, i) => {
    const hookAt = `${at}.webhooks[${i}]`;
    const type = hook.type ?? 'rollout';
    const known = WEBHOOK_TYPES.find((t) => t === type);
    if (!known) {
      report.drop(hookAt, `webhook "${hook.name}" of type ${type}: Sluice has no such webhook type`);
      return;
    }
    const webhook: SluiceWebhook = { name: hook.name, type: known, url: hook.url };
    if (hook.timeout) {
      const ms = goDurationMs(hook.timeout);
      if (ms === undefined) throw new FlaggerImportError(`${hookAt}.timeout: "${hook.timeout}" is not a duration`);
      // A hook runs inside a Lambda: at most HOOK_BUDGET.perHookSeconds (Flagger's load tester allows longer).
      const capped = Math.min(Math.max(1000, ms), HOOK_BUDGET.perHookSeconds * 1000);
      webhook.timeout = formatDuration(capped);
      if (capped < ms)
        report.change(
          `${hookAt}.timeout`,
          `spec.analysis.webhooks[${out.length}].timeout`,
          `${hook.timeout} is capped at ${HOOK_BUDGET.perHookSeconds}s: each hook runs inside a Lambda`,
        );
    }
    if (hook.metadata)
      webhook.metadata = Object.fromEntries(
        Object.entries(hook.metadata).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]),
      );
    const load =
      known === 'rollout' && webhook.metadata?.cmd
        ? "; Flagger's load tester made the canary's traffic through it: without it the canary is judged on real traffic only"
        : '';
    report.map(
      hookAt,
      `spec.analysis.webhooks[${out.length}]`,
      `${known} webhook "${hook.name}" maps 1:1 (type, URL, timeout, metadata; Flagger's payload)${load}`,
    );
    if (hook.muteAlert) report.drop(`${hookAt}.muteAlert`, 'Sluice sends no alerts of its own from webhooks yet');
    out.push(webhook);
  });
  return out;
}

/** Fields of the Canary the importer reports as having no equivalent (service shaping, HPA, …). */
function unmappedFields(canary: Canary, analysis: FlaggerAnalysis, at: string, report: Report): void {
  const { spec } = canary;
  const service = spec.service as Record<string, unknown>;
  const shaping = Object.keys(service).filter((key) => key !== 'name' && key !== 'port');
  if (shaping.length) {
    report.drop(
      `spec.service.{${shaping.join(', ')}}`,
      'shape the Services Flagger generates; Sluice creates no Services: the ones Flagger made stay as they are',
    );
  }
  if (spec.autoscalerRef) {
    report.drop(
      'spec.autoscalerRef',
      `Sluice does not manage autoscalers: the ${spec.autoscalerRef.name}-primary HPA Flagger made keeps scaling the primary; make sure ${spec.autoscalerRef.name} does not scale the canary back up after Sluice scales it to zero`,
    );
  }
  if (spec.upstreamRef)
    report.drop(
      'spec.upstreamRef',
      "Flagger copied this Upstream's settings into the upstreams it made; they keep them, Sluice creates no upstreams",
    );
  if (spec.ingressRef) report.drop('spec.ingressRef', "not used by Flagger's gloo router");
  if (spec.routeRef) report.drop('spec.routeRef', "not used by Flagger's gloo router");
  if (spec.skipAnalysis) report.drop('spec.skipAnalysis', 'Sluice always analyses the canary; there is no switch to promote without it');
  if (spec.suspend) report.drop('spec.suspend', 'nothing to suspend: Sluice runs a rollout only when one is started');
  if (spec.revertOnDeletion)
    report.drop(
      'spec.revertOnDeletion',
      'with it, deleting the Canary makes Flagger undo its objects: set it to false before deleting the Canary',
    );
  if (analysis.alerts?.length) {
    const providers = analysis.alerts.map((alert) => alert.providerRef?.name ?? alert.name ?? '?').join(', ');
    report.drop(
      `${at}.alerts`,
      `alerts go through AlertProvider objects (${providers}) Sluice cannot read: set spec.notifications (a Slack channel ID) once notifications are supported`,
    );
  }
  for (const [field, flaggerDefault] of [
    ['primaryReadyThreshold', 100],
    ['canaryReadyThreshold', 100],
  ] as const) {
    const value = analysis[field];
    if (value === undefined) continue;
    if (value === flaggerDefault) report.map(`${at}.${field}`, 'spec.workload', `${value}%: Sluice waits for every replica too`);
    else report.drop(`${at}.${field}`, `${value}%: Sluice waits for every replica to be ready`);
  }
  const unknownSpec = Object.keys(spec).filter((key) => !(SPEC_FIELDS as readonly string[]).includes(key));
  const unknownAnalysis = Object.keys(analysis).filter((key) => !(ANALYSIS_FIELDS as readonly string[]).includes(key));
  for (const key of unknownSpec) report.drop(`spec.${key}`, 'not a field the importer knows (Flagger v1beta1): left out');
  for (const key of unknownAnalysis) report.drop(`${at}.${key}`, 'not a field the importer knows (Flagger v1beta1): left out');
}

/** Flagger's StringMatch keys Sluice maps (Istio's HTTPMatchRequest, which Flagger's `match` is). */
const STRING_MATCH_KEYS = ['exact', 'prefix', 'suffix', 'regex'] as const;

/** One Flagger StringMatch as Sluice's, or why not. */
function stringMatchOf(value: unknown): { match: Record<string, string> } | { problem: string } {
  const object = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  const set = STRING_MATCH_KEYS.filter((key) => typeof object[key] === 'string');
  const other = Object.keys(object).filter((key) => !(STRING_MATCH_KEYS as readonly string[]).includes(key));
  const [kind] = set;
  if (set.length !== 1 || other.length || !kind)
    return { problem: `expected exactly one of ${STRING_MATCH_KEYS.join(', ')}; got ${[...set, ...other].join(', ') || 'none'}` };
  return { match: { [kind]: object[kind] as string } };
}

/**
 * Flagger's sessionAffinity (cookieName, maxAge; Flagger's default maxAge is 86400 s) as
 * strategy.sessionAffinity, a field, never a comment. Left out where Sluice cannot route by it: with
 * A/B testing or Blue/Green (no weighted share; Flagger's Istio router ignores it there too), or an
 * UpstreamGroup the Canary names no route for (the cookie route goes into a route object).
 */
function affinityFor(
  analysis: FlaggerAnalysis,
  at: string,
  router: { kind?: string | undefined; route?: unknown },
  report: Report,
): { sessionAffinity?: { cookieName: string; maxAge: number } } {
  const affinity = analysis.sessionAffinity;
  if (!affinity) return {};
  const field = `${at}.sessionAffinity`;
  if (analysis.match?.length || (analysis.iterations ?? 0) > 0) {
    report.drop(field, 'A/B testing and Blue/Green decide who gets the canary themselves; session affinity is for a weighted canary');
    return {};
  }
  if (!affinity.cookieName) {
    report.drop(field, 'no cookieName: Flagger requires one, and so does Sluice (strategy.sessionAffinity.cookieName)');
    return {};
  }
  if ((router.kind ?? 'UpstreamGroup') === 'UpstreamGroup' && !router.route) {
    report.drop(
      field,
      'the cookie route goes into the route that sends traffic to the group, which the Canary does not name: add spec.router.route and spec.strategy.sessionAffinity by hand',
    );
    return {};
  }
  const maxAge = affinity.maxAge && affinity.maxAge > 0 ? Math.round(affinity.maxAge) : DEFAULT_AFFINITY_MAX_AGE;
  report.change(
    field,
    'spec.strategy.sessionAffinity',
    `cookie ${affinity.cookieName}, Max-Age ${maxAge} s: a user who reached the canary keeps reaching it, as in Flagger; Sluice's primary side also expires the cookie, and the judge's bound is approximate under it (docs/spec.md#session-affinity)`,
  );
  return { sessionAffinity: { cookieName: affinity.cookieName, maxAge } };
}

/**
 * Flagger's iterations and match: with match an A/B test (strategy.iterations + strategy.match),
 * without it Blue/Green (strategy.iterations + strategy.blueGreen). Both as fields, never comments;
 * the report says where the meaning shifts.
 */
function strategyModeFor(
  analysis: FlaggerAnalysis,
  at: string,
  shadowing: boolean,
  report: Report,
): Pick<NonNullable<RolloutSpecInput['spec']['strategy']>, 'iterations' | 'match' | 'blueGreen'> {
  const iterations = analysis.iterations && analysis.iterations > 0 ? analysis.iterations : undefined;
  if (!iterations) {
    if (analysis.match?.length)
      report.drop(
        `${at}.match`,
        'Flagger uses match only with iterations (an A/B test); this Canary steps weights, so it never matched: left out',
      );
    return {};
  }
  if (!analysis.match?.length) {
    // With mirroring, Flagger mirrors during all the iterations; Sluice's shadow stage takes that time, then one more look.
    const looks = shadowing ? 1 : iterations;
    report.change(
      `${at}.iterations`,
      'spec.strategy.iterations, spec.strategy.blueGreen',
      `${iterations} iterations without match is Flagger's Blue/Green: ${shadowing ? `the mirrored iterations became the shadow stage, then ${looks} look` : `${looks} looks of interval`} with green (the canary) judged on its own traffic, then green is scaled to the primary's size and one switch moves all traffic to it before the template copy. Green is judged on what reaches it through Gloo (mirrored or test traffic through the gateway): a load test that calls the canary Service directly bypasses Envoy's metrics`,
    );
    return { iterations: looks, blueGreen: {} };
  }
  const rules: Array<Record<string, Record<string, Record<string, string>>>> = [];
  analysis.match.forEach((item, i) => {
    const itemAt = `${at}.match[${i}]`;
    const object = (item && typeof item === 'object' ? item : {}) as Record<string, unknown>;
    const rule: Record<string, Record<string, Record<string, string>>> = {};
    for (const [field, sluiceField] of [
      ['headers', 'headers'],
      ['queryParams', 'queryParams'],
    ] as const) {
      const entries = Object.entries((object[field] ?? {}) as Record<string, unknown>);
      for (const [name, value] of entries) {
        const found = stringMatchOf(value);
        if ('problem' in found) {
          report.drop(`${itemAt}.${field}.${name}`, `${found.problem}: left out`);
          continue;
        }
        rule[sluiceField] = { ...rule[sluiceField], [field === 'headers' ? name.toLowerCase() : name]: found.match };
      }
    }
    for (const key of Object.keys(object).filter((k) => k !== 'headers' && k !== 'queryParams'))
      report.drop(
        `${itemAt}.${key}`,
        "Sluice matches headers and query parameters only (the way Flagger's gloo router used them): left out",
      );
    if (Object.keys(rule).length) rules.push(rule);
  });
  if (!rules.length) {
    report.drop(`${at}.match`, 'no header or query parameter Sluice can match: an A/B test without a match is not imported as one');
    return {};
  }
  report.map(`${at}.iterations`, 'spec.strategy.iterations', `${iterations} looks of interval at the A/B stage, then promotion`);
  report.change(
    `${at}.match`,
    'spec.strategy.match',
    "requests matching any rule go to the canary, all others to the primary, through a route Sluice puts ahead of the weighted route and removes on promotion and rollback (Flagger rewrote its RouteTable instead). Header names are lower-cased; a regex must match the whole value with RE2's grammar, as Envoy matched it under Flagger — validation now refuses lookarounds and backreferences Gloo would have rejected. The canary and primary serve different users, so the judge compares each against its thresholds, never the two with each other",
  );
  return { iterations, match: rules };
}

/** Flagger has no whole-rollout deadline: long enough for the schedule twice over, within Step Functions' history budget. */
function deadlineFor(intervalMs: number, steps: number, threshold: number, extraMs: number): string {
  const scheduleMs = (steps + threshold + 1) * intervalMs + extraMs;
  const budgetMs = Math.floor(HISTORY_EVENT_BUDGET / HISTORY_EVENTS_PER_LOOK) * intervalMs;
  const wantedMs = Math.max(2 * 3_600_000, 2 * scheduleMs);
  const minutes = Math.floor(Math.min(wantedMs, budgetMs) / 60_000);
  return formatDuration(minutes * 60_000);
}

const NOT_SUPPORTED = /is not supported yet$/;

/** Takes out the fields validateSpec refuses as "not supported yet", moving their report lines to `unmapped`. */
function deferUnsupported(spec: RolloutSpecInput, report: Report): DeferredField[] {
  const result = validateSpec(spec);
  if (result.ok) return [];
  const deferred: DeferredField[] = [];
  for (const problem of result.problems) {
    if (!NOT_SUPPORTED.test(problem.message)) continue;
    const parts = problem.path.split('.');
    const key = parts.pop();
    let parent: Record<string, unknown> | undefined = spec as unknown as Record<string, unknown>;
    for (const part of parts) parent = parent?.[part] as Record<string, unknown> | undefined;
    if (!key || !parent || !(key in parent)) continue;
    deferred.push({ path: problem.path, value: parent[key], reason: problem.message });
    delete parent[key];
    for (const list of [report.mapped, report.changed]) {
      const moving = list.filter((line) => line.sluice?.startsWith(problem.path));
      for (const line of moving) {
        list.splice(list.indexOf(line), 1);
        report.unmapped.push({
          flagger: line.flagger,
          note: `${line.note} — but ${problem.message}: left out, kept as a comment at the top of the spec`,
        });
      }
    }
  }
  return deferred;
}

/** Turns a Flagger Canary into a Sluice spec and a report of what mapped, what changed and what did not map. */
export function importFlaggerCanary(document: unknown, options: FlaggerImportOptions = {}): FlaggerImport {
  const canary = parseCanary(document);
  const report = new Report();
  const discoveryNamespace = glooDiscoveryNamespace(canary, options, report);
  const { spec } = canary;

  const namespace = canary.metadata.namespace ?? options.namespace ?? 'default';
  if (!canary.metadata.namespace)
    report.change(
      'metadata.namespace',
      'spec.workload.namespace',
      `the Canary names no namespace: ${namespace} ${options.namespace ? '(--namespace)' : 'assumed (pass --namespace)'}`,
    );
  const targetKind = spec.targetRef.kind ?? 'Deployment';
  if (targetKind !== 'Deployment') throw new FlaggerImportError(`spec.targetRef.kind ${targetKind}: Sluice promotes Deployments only`);
  const names: Names = { namespace, apex: spec.service.name ?? spec.targetRef.name, port: spec.service.port };

  const analysisAt = spec.analysis ? 'spec.analysis' : 'spec.canaryAnalysis';
  const analysis: FlaggerAnalysis = spec.analysis ?? spec.canaryAnalysis ?? {};
  if (!spec.analysis && spec.canaryAnalysis) report.map('spec.canaryAnalysis', 'spec.analysis', 'the deprecated name of spec.analysis');
  if (!spec.analysis && !spec.canaryAnalysis)
    report.change('spec.analysis', 'spec.analysis', 'absent, so Flagger skipped the analysis; Sluice always analyses: defaults below');

  report.map('metadata.name', 'metadata.name', `${canary.metadata.name}: the target's name (its lock, history and chat-ops key)`);
  const router = routerFor(names, discoveryNamespace, options, report);
  // The promotion's readiness loops run in the state machine, bounded by it (lambdas/core/limits.ts).
  const deadlineSeconds = Math.min(spec.progressDeadlineSeconds ?? 600, MAX_READY_TIMEOUT_SECONDS);
  const capped =
    (spec.progressDeadlineSeconds ?? 600) > MAX_READY_TIMEOUT_SECONDS
      ? ` (capped from ${spec.progressDeadlineSeconds}s: the most the state machine allows)`
      : '';
  const workload = {
    namespace,
    primary: `${spec.targetRef.name}-primary`,
    canary: spec.targetRef.name,
    scaleCanaryToZero: true,
    readyTimeout: formatDuration(deadlineSeconds * 1000),
  };
  report.map(
    'spec.targetRef',
    'spec.workload',
    `Deployments ${namespace}/${workload.primary} (primary, made by Flagger) and ${namespace}/${workload.canary} (canary); promotion copies the canary's pod template into the primary and scales the canary to zero, as Flagger does`,
  );
  report.change(
    spec.progressDeadlineSeconds ? 'spec.progressDeadlineSeconds' : 'spec.progressDeadlineSeconds (default 600)',
    'spec.workload.readyTimeout',
    `${workload.readyTimeout}${capped}: how long promotion waits for the primary to be ready; Flagger also waited that long for the canary, Sluice's preflight refuses a canary that is not ready`,
  );

  const intervalText = analysis.interval ?? '60s';
  const parsedInterval = goDurationMs(intervalText);
  if (parsedInterval === undefined) throw new FlaggerImportError(`${analysisAt}.interval: "${intervalText}" is not a duration`);
  const intervalMs = Math.max(10_000, parsedInterval);
  const interval = formatDuration(intervalMs);
  report.map(
    analysis.interval ? `${analysisAt}.interval` : `${analysisAt}.interval (default 60s)`,
    'spec.strategy.interval',
    `${interval}: one step and one look per interval${parsedInterval < 10_000 ? ' (Flagger raises anything below 10s to 10s)' : ''}`,
  );
  const threshold = analysis.threshold && analysis.threshold > 0 ? analysis.threshold : 1;
  report.map(
    analysis.threshold ? `${analysisAt}.threshold` : `${analysisAt}.threshold (default 1)`,
    'spec.strategy.threshold',
    `${threshold} failed checks, counted over the whole rollout, before rollback`,
  );
  const weights = weightsFor(analysis, analysisAt, report);

  const strategy: NonNullable<RolloutSpecInput['spec']['strategy']> = {
    ...weights,
    interval,
    lookInterval: formatDuration(Math.min(10_000, intervalMs)),
    threshold,
    stepWeightPromotion: 0,
  };
  const promotionStep = analysis.stepWeightPromotion ?? 0;
  if (promotionStep > 0) {
    strategy.stepWeightPromotion = promotionStep;
    report.map(
      `${analysisAt}.stepWeightPromotion`,
      'spec.strategy.stepWeightPromotion',
      `${promotionStep}: traffic moves back to the promoted primary in steps of ${promotionStep}, one per interval, as in Flagger; Sluice also checks the thresholds and alarms at each step and holds traffic on the canary if they fail (promotion-failed)`,
    );
  } else if (analysis.stepWeightPromotion !== undefined) {
    report.map(
      `${analysisAt}.stepWeightPromotion`,
      'spec.strategy.stepWeightPromotion',
      '0: all traffic to the promoted primary in one step',
    );
  }

  Object.assign(strategy, affinityFor(analysis, analysisAt, router, report));

  let shadowMs = 0;
  const willShadow = !!analysis.mirror && router.kind !== 'UpstreamGroup';
  Object.assign(strategy, strategyModeFor(analysis, analysisAt, willShadow, report));
  if (analysis.mirror) {
    const percentage = analysis.mirrorWeight && analysis.mirrorWeight > 0 ? Math.min(100, analysis.mirrorWeight) : 100;
    shadowMs = (analysis.iterations && analysis.iterations > 0 ? analysis.iterations : 1) * intervalMs;
    if (router.kind === 'UpstreamGroup') {
      report.drop(
        `${analysisAt}.mirror`,
        'shadowing is set on the route that sends traffic to the group, which the Canary does not name: add spec.router.route and spec.strategy.shadow by hand',
      );
    } else {
      strategy.shadow = { percentage, duration: formatDuration(shadowMs) };
      report.change(
        `${analysisAt}.mirror${analysis.mirrorWeight ? ', mirrorWeight' : ''}`,
        'spec.strategy.shadow',
        `${percentage}% of requests copied to the canary for ${formatDuration(shadowMs)} before any live traffic. Flagger's gloo router ignores mirror (only Istio mirrors), so this Canary never mirrored: Sluice really will, and mirrored requests repeat writes — remove spec.strategy.shadow unless the service is read-only or idempotent`,
      );
    }
  }

  const prometheusAddress = options.prometheusAddress ?? spec.metricsServer ?? FLAGGER_PROMETHEUS_DEFAULT;
  if (options.prometheusAddress)
    report.map('(Flagger -metrics-server flag)', 'spec.analysis.prometheus.address', `${prometheusAddress} (--prometheus)`);
  else if (spec.metricsServer) report.map('spec.metricsServer', 'spec.analysis.prometheus.address', prometheusAddress);
  else
    report.change(
      '(Flagger -metrics-server flag)',
      'spec.analysis.prometheus.address',
      `not in the Canary: ${prometheusAddress} assumed (Flagger's default); pass --prometheus URL if yours differs (the Helm chart's is http://flagger-prometheus.<namespace>:9090)`,
    );

  const templates = metricTemplatesOf(options.metricTemplates ?? []);
  const metrics: SluiceMetric[] = [];
  (analysis.metrics ?? []).forEach((metric, i) => {
    const built = metricFor(metric, {
      at: `${analysisAt}.metrics[${i}]`,
      canary,
      names,
      templates,
      prometheusAddress,
      report,
      index: metrics.length,
    });
    if (built) metrics.push(built);
  });
  if (!metrics.length) {
    metrics.push({ name: 'request-success-rate', thresholdRange: { min: 99 } });
    report.change(
      `${analysisAt}.metrics`,
      'spec.analysis.metrics[0]',
      'no metric Sluice can judge: Flagger then judged pod health and webhooks only; Sluice needs a metric: request-success-rate ≥ 99 set',
    );
  }
  report.map(
    '(Flagger analysis)',
    'spec.analysis.judge',
    "threshold: Flagger's semantics (a metric out of range or without data is one failed check)",
  );
  const webhooks = webhooksFor(analysis, analysisAt, report);
  unmappedFields(canary, analysis, analysisAt, report);

  const planned = strategy.iterations ?? weights.stepWeights?.length ?? Math.floor((weights.maxWeight ?? 50) / (weights.stepWeight ?? 10));
  strategy.deadline = deadlineFor(intervalMs, planned, threshold, shadowMs + deadlineSeconds * 1000);
  report.change(
    '(no equivalent in Flagger)',
    'spec.strategy.deadline',
    `${strategy.deadline}: Flagger has no overall limit; Sluice rolls back a rollout still running then (twice the planned schedule, at least 2h)`,
  );

  const cluster = options.cluster ?? { kubeconfigContext: CHANGE_ME };
  if (!options.cluster)
    report.change(
      '(the cluster the Canary is in)',
      'spec.cluster',
      `a Canary does not name its cluster: pass --cluster NAME --region R (EKS) or --kube-context CTX; now ${CHANGE_ME}`,
    );

  const sluiceSpec: RolloutSpecInput = {
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: canary.metadata.name },
    spec: {
      cluster,
      router,
      promotion: 'template',
      workload,
      strategy,
      analysis: {
        judge: 'threshold',
        noData: 'fail',
        prometheus: { address: prometheusAddress },
        metrics,
        ...(webhooks.length ? { webhooks } : {}),
      },
    },
  };
  const deferred = deferUnsupported(sluiceSpec, report);
  const result = validateSpec(sluiceSpec);
  return {
    spec: sluiceSpec,
    report: { mapped: report.mapped, changed: report.changed, unmapped: report.unmapped },
    deferred,
    problems: result.ok ? [] : result.problems,
  };
}
