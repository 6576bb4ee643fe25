/**
 * The rollout spec's shape: one zod schema that gives the TypeScript types, the defaults and the
 * published JSON Schema (`schema/rollout.schema.json`). Pure: no I/O here. Cross-field rules live
 * in spec.ts, which re-exports everything here; modules that the rules use (windows, the sequential
 * judge's metrics, queries) import their types from this file, so no import runs in a circle.
 */
import * as z from 'zod';
import { durationField, durationSeconds, parseDuration } from './duration.ts';
import { secretString, secretUrl } from './secrets.ts';
import { MAX_HISTORY_EVENTS, RECOVERY_WINDOW_MAX_SECONDS } from './limits.ts';
import { matchRuleSchema } from './match.ts';
import { sessionAffinitySchema } from './affinity.ts';

const dnsName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { message: 'expected a lowercase DNS label (a-z, 0-9, -), at most 63 characters' });

/** A target (a DNS label), or one cluster's rollout of it in a fleet: `podinfo@eu-1` (set by the fleet, lambdas/core/fleet.ts). */
const targetAddress = z
  .string()
  .min(1)
  .max(127)
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(@[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$/, {
    message: 'expected a lowercase DNS label (a-z, 0-9, -), at most 63 characters',
  });

const k8sName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, { message: 'expected a Kubernetes object name (lowercase a-z, 0-9, - and .)' });

const upstreamRef = z.strictObject({ name: k8sName, namespace: dnsName });

export const clusterSchema = z.union(
  [
    z.strictObject({
      name: z.string().min(1).max(100),
      region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { message: 'expected an AWS region such as us-east-1' }),
    }),
    z.strictObject({ kubeconfigContext: z.string().min(1) }),
  ],
  { error: 'expected { name, region } of an EKS cluster, or { kubeconfigContext } naming a kubeconfig context' },
);

export const routeRefSchema = z.strictObject({
  virtualService: k8sName.optional(),
  routeTable: k8sName.optional(),
  namespace: dnsName,
  /** The route's `name` inside the VirtualService/RouteTable (Gloo route names are optional; index is the fallback). */
  name: z.string().min(1).optional(),
  index: z.number().int().min(0).optional(),
});

export const routerSchema = z.strictObject({
  kind: z.enum(['UpstreamGroup', 'VirtualService', 'RouteTable']).default('UpstreamGroup'),
  name: k8sName,
  namespace: dnsName,
  route: routeRefSchema.optional(),
  weightScale: z.union([z.literal(100), z.literal(1000)]).default(100),
  envoyClusterName: z.string().min(1).default('{{upstream}}_{{namespace}}'),
  primary: z.strictObject({ upstream: upstreamRef }),
  canary: z.strictObject({ upstream: upstreamRef }),
});

export const workloadSchema = z.strictObject({
  namespace: dnsName,
  primary: k8sName,
  canary: k8sName,
  scaleCanaryToZero: z.boolean().default(true),
  /** How long promotion waits for the primary's rollout to complete. */
  readyTimeout: durationField().default('5m'),
});

const windowSchema = z.union([
  z.strictObject({
    kind: z.enum(['allow', 'deny']),
    schedule: z.string().min(9),
    duration: durationField(),
    timeZone: z.string().default('UTC'),
  }),
  z.strictObject({ kind: z.enum(['allow', 'deny']), from: z.iso.datetime({ offset: true }), to: z.iso.datetime({ offset: true }) }),
]);

export const strategySchema = z.strictObject({
  stepWeights: z.array(z.number().int().positive()).min(1).optional(),
  stepWeight: z.number().int().positive().optional(),
  maxWeight: z.number().int().positive().optional(),
  interval: durationField().default('1m'),
  lookInterval: durationField().default('10s'),
  threshold: z.number().int().min(1).default(5),
  stepWeightPromotion: z.number().int().min(0).default(0),
  shadow: z.strictObject({ percentage: z.number().min(0.01).max(100).default(100), duration: durationField() }).optional(),
  /** A/B testing or blue/green (Flagger's name): looks of `interval` at the one stage, then promotion. */
  iterations: z.number().int().min(1).optional(),
  /** A/B testing (Flagger's name): requests matching any rule go to the canary, all others to the primary. */
  match: z.array(matchRuleSchema).min(1).optional(),
  /** Blue/green: green judged on its own traffic for `iterations` looks, then one switch of all traffic (docs/spec.md). */
  blueGreen: z.strictObject({}).optional(),
  /** Session affinity (Flagger's name): a user who reached the canary keeps reaching it, by a cookie (docs/spec.md#session-affinity). */
  sessionAffinity: sessionAffinitySchema.optional(),
  approvals: z
    .strictObject({
      beforeStart: z.boolean().default(false),
      beforePromotion: z.boolean().default(false),
      timeout: durationField().default('4h'),
      onTimeout: z.enum(['abort', 'hold']).default('abort'),
    })
    .optional(),
  windows: z.array(windowSchema).optional(),
  deadline: durationField().default('2h'),
  /** How long Rollback, the safety net and the reconciler keep retrying a live split (default 2h, at most 6h; docs/reliability.md). */
  recoveryWindow: durationField('1m')
    .refine((text) => !/^(\d+)(ms|s|m|h)$/.test(text.trim()) || parseDuration(text) <= RECOVERY_WINDOW_MAX_SECONDS * 1000, {
      message: `must be at most ${RECOVERY_WINDOW_MAX_SECONDS / 3600}h`,
    })
    .optional(),
});

const thresholdRange = z
  .strictObject({ min: z.number().optional(), max: z.number().optional() })
  .refine((range) => range.min !== undefined || range.max !== undefined, { message: 'expected at least one of min or max' });

export const prometheusServerSchema = z.strictObject({
  address: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL such as http://prometheus:9090' }),
  timeout: durationField('100ms').default('5s'),
  /** A value (local use) or a reference (lambdas/core/secrets.ts); a deployed target takes references only. */
  bearerToken: secretString.optional(),
  basicAuth: z.strictObject({ username: z.string().min(1), password: secretString }).optional(),
  /** PEM text of a CA that signs the server's certificate (for a private CA). */
  ca: z.string().min(1).optional(),
});

export const metricProviderSchema = z.discriminatedUnion('type', [
  prometheusServerSchema.partial({ address: true }).extend({ type: z.literal('prometheus') }),
  z.strictObject({
    type: z.literal('cloudwatch'),
    region: z.string().optional(),
    /** The period of the queries (the metric's `metricDataQueries`): 1s, 5s, 10s, 30s or whole minutes. */
    period: durationField().default('1m'),
    /** Only periods that ended at least this long ago are read (CloudWatch data arrives late). */
    delay: durationField('0s').default('3m'),
  }),
  z.strictObject({ type: z.literal('cloudwatch-alarm'), region: z.string().optional() }),
  z.strictObject({
    type: z.literal('web'),
    /** GET this URL (template variables allowed); it answers JSON. */
    url: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }),
    /** JSONPath to one number in the answer, e.g. `$.data.errorRate`. */
    jsonPath: z.string().min(1),
    /** Values or references (an API key belongs in Secrets Manager: lambdas/core/secrets.ts). */
    headers: z.record(z.string(), secretString).optional(),
    timeout: durationField('100ms').default('10s'),
  }),
  z.strictObject({
    type: z.literal('amp'),
    /** https://aps-workspaces.<region>.amazonaws.com/workspaces/<id> */
    workspaceUrl: z.url({
      protocol: /^https?$/,
      message: 'expected the workspace URL, e.g. https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-…',
    }),
    /** Default: from the workspace URL. */
    region: z.string().optional(),
    timeout: durationField('100ms').default('5s'),
  }),
]);

export const BUILT_IN_METRICS = ['request-success-rate', 'request-duration'] as const;

/** A CloudWatch count metric: its statistic must be an exact count (lambdas/core/sequential/metrics.ts says which). */
export const cloudWatchCountSchema = z.strictObject({
  namespace: z.string().min(1),
  metricName: z.string().min(1),
  /** Values may use the query variables, e.g. `{ version: '{{canary}}' }`. */
  dimensions: z.record(z.string(), z.string()).default({}),
  stat: z.string().min(1).default('Sum'),
});

/** One raw counter: PromQL (Prometheus, AMP) or a CloudWatch count metric. */
const counterRefSchema = z.union([z.string().min(1), cloudWatchCountSchema]);
const armCountersSchema = z.strictObject({ events: counterRefSchema, trials: counterRefSchema });

export const metricSchema = z.strictObject({
  name: z.string().min(1).max(63),
  provider: metricProviderSchema.optional(),
  query: z.string().min(1).optional(),
  /** The window of the query (`{{interval}}`); defaults to strategy.interval. */
  interval: durationField().optional(),
  thresholdRange: thresholdRange.optional(),
  metricDataQueries: z.array(z.record(z.string(), z.unknown())).optional(),
  alarms: z.array(z.string().min(1)).optional(),
  /** The metric's own counts per arm for the sequential judge: events out of trials (orders failed / orders placed). */
  counters: z.strictObject({ canary: armCountersSchema, primary: armCountersSchema }).optional(),
});

export const webhookSchema = z.strictObject({
  name: z.string().min(1),
  type: z.enum(['pre-rollout', 'rollout', 'confirm-rollout', 'confirm-promotion', 'post-rollout', 'rollback', 'event']).default('rollout'),
  /** The URL, or a reference to it when the URL is itself the secret. */
  url: secretUrl,
  headers: z.record(z.string(), secretString).optional(),
  timeout: durationField().default('10s'),
  metadata: z.record(z.string(), z.string()).default({}),
});

export const analysisSchema = z.strictObject({
  judge: z.enum(['threshold', 'sequential']).default('sequential'),
  /** Knobs of the sequential judge (lambdas/core/sequential/judge.ts holds the defaults). */
  sequential: z
    .strictObject({
      alpha: z.number().gt(0).lt(1).optional(),
      alphaPromote: z.number().gt(0).lt(1).optional(),
      margin: z.number().gt(1).optional(),
      /** Absolute rate difference (0.0005 = 0.05 points) that also counts as within allowed; 0 turns it off. */
      marginAbsolute: z.number().min(0).lt(1).optional(),
      /** Seconds a weight change takes to reach the data plane before scrapes count at the new weight. */
      settleSeconds: z.number().min(0).max(300).optional(),
      minLooksPerStep: z.number().int().min(1).optional(),
      minSecondsPerStep: z.number().min(0).optional(),
      minCanaryRequestsPerStep: z.number().int().min(0).optional(),
      fullIntervalAtTopWeight: z.boolean().optional(),
    })
    .optional(),
  noData: z.enum(['fail', 'hold', 'pass']).default('fail'),
  /**
   * Opt in to the two-arm test (canary against primary) under A/B or blue/green, where the arms no
   * longer see the same population (the sequential judge is that test).
   */
  compareArms: z.boolean().optional(),
  prometheus: prometheusServerSchema.optional(),
  metrics: z
    .array(metricSchema)
    .min(1)
    .default([{ name: 'request-success-rate', thresholdRange: { min: 99 } }]),
  webhooks: z.array(webhookSchema).optional(),
});

/**
 * A fleet: the clusters one service runs on and the waves a release crosses them in (docs/fleet.md).
 * Each cluster's rollout is the spec resolved for that cluster (lambdas/core/fleet.ts), addressed
 * `<target>@<cluster>`. Cross-field rules (a cluster in two waves, an empty wave, an unknown cluster)
 * are in spec-checks.ts, so each problem names its field.
 */
const fleetClusterSchema = z.strictObject({
  /** The cluster's name in the fleet: its rollouts are addressed `<target>@<name>`. */
  name: dnsName,
  /** An EKS cluster: its region (default: spec.cluster's) and name (default: `name`). */
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { message: 'expected an AWS region such as us-east-1' })
    .optional(),
  eksCluster: z.string().min(1).max(100).optional(),
  /** A kubeconfig context instead of an EKS cluster (local use, the sandbox). */
  kubeconfigContext: z.string().min(1).optional(),
  /** Where this cluster differs: object names, the Prometheus address. */
  overrides: z
    .strictObject({
      router: z
        .strictObject({
          name: k8sName.optional(),
          namespace: dnsName.optional(),
          primary: z.strictObject({ upstream: upstreamRef }).optional(),
          canary: z.strictObject({ upstream: upstreamRef }).optional(),
        })
        .optional(),
      workload: z.strictObject({ namespace: dnsName.optional(), primary: k8sName.optional(), canary: k8sName.optional() }).optional(),
      prometheus: z
        .strictObject({ address: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL such as http://prometheus:9090' }) })
        .optional(),
    })
    .optional(),
});

export const fleetWaveSchema = z.strictObject({
  clusters: z.array(dnsName),
  /** How many clusters of the wave roll at once (default: all of them). */
  maxParallel: z.number().int().min(1).optional(),
  /** The bake before the next wave starts; the promoted clusters stay watched meanwhile. */
  pause: durationField('0s').default('0s'),
  /** The strategy fields this wave changes (a later wave may use a shorter schedule). */
  strategy: z
    .strictObject({
      stepWeights: z.array(z.number().int().positive()).min(1).optional(),
      stepWeight: z.number().int().positive().optional(),
      maxWeight: z.number().int().positive().optional(),
      interval: durationField().optional(),
      lookInterval: durationField().optional(),
      threshold: z.number().int().min(1).optional(),
    })
    .optional(),
});

export const fleetSchema = z.strictObject({
  clusters: z.array(fleetClusterSchema).min(1),
  waves: z.array(fleetWaveSchema).min(1),
  /** A halted fleet leaves promoted waves alone (`keep`), or rolls them back: judged (`rollout`) or a fast restore without analysis (`restore`). */
  onHalt: z.strictObject({ promotedWaves: z.enum(['keep', 'rollout', 'restore']).default('keep') }).default({ promotedWaves: 'keep' }),
});

const principal = z.string().regex(/^[USW][A-Z0-9]{2,}$/, { message: 'expected a Slack user ID (U…/W…) or user group ID (S…)' });

export const rolloutSpecSchema = z.strictObject({
  apiVersion: z.literal('sluice.dev/v1'),
  kind: z.literal('Rollout'),
  metadata: z.strictObject({ name: targetAddress }),
  spec: z.strictObject({
    fleet: fleetSchema.optional(),
    cluster: clusterSchema,
    router: routerSchema,
    promotion: z.enum(['template', 'route']).optional(),
    workload: workloadSchema.optional(),
    strategy: strategySchema.default(() => strategySchema.parse({})),
    analysis: analysisSchema.default(() => analysisSchema.parse({})),
    notifications: z
      .strictObject({
        slack: z
          .strictObject({ channel: z.string().regex(/^[CG][A-Z0-9]{2,}$/, { message: 'expected a Slack channel ID (C…)' }) })
          .optional(),
        webhooks: z.array(z.strictObject({ url: secretUrl, headers: z.record(z.string(), secretString).optional() })).optional(),
      })
      .optional(),
    triggers: z
      .strictObject({
        ecr: z.strictObject({ repository: z.string().min(1), tagPattern: z.string().default('.*') }).optional(),
        /**
         * Spec fields a deploy event may override (paths below `spec`, e.g. `strategy.stepWeights`).
         * Default none: claims inside an event are untrusted (lambdas/core/start.ts applyOverrides).
         */
        overrides: z
          .array(
            z.string().regex(/^[A-Za-z]+(\.[A-Za-z]+)*$/, { message: 'expected a field path below spec, such as strategy.stepWeights' }),
          )
          .default([]),
      })
      .optional(),
    access: z
      .strictObject({
        channels: z.array(z.string()).default([]),
        start: z.array(principal).default([]),
        approve: z.array(principal).default([]),
        promote: z.array(principal).default([]),
        abort: z.array(principal).default([]),
        twoPersonRule: z.boolean().default(false),
      })
      .optional(),
  }),
});

export type RolloutSpec = z.infer<typeof rolloutSpecSchema>;
export type RolloutSpecInput = z.input<typeof rolloutSpecSchema>;
export type RouterSpec = RolloutSpec['spec']['router'];
export type StrategySpec = RolloutSpec['spec']['strategy'];
export type AnalysisSpec = RolloutSpec['spec']['analysis'];
export type MetricSpec = z.infer<typeof metricSchema>;
export type PrometheusServer = z.infer<typeof prometheusServerSchema>;
export type CloudWatchCount = z.infer<typeof cloudWatchCountSchema>;
export type FleetSpec = z.infer<typeof fleetSchema>;

/** One problem with a spec: the field path (`spec.strategy.interval`) and what was expected. */
export interface SpecProblem {
  path: string;
  message: string;
}

/** Step Functions Standard keeps at most 25,000 events per execution; stay far below it (limits.ts). */
export { MAX_HISTORY_EVENTS };
/** Events one look costs in the history (Bake task + Analyze task + Choice, entered/exited, scheduled/started/ended). */
export const HISTORY_EVENTS_PER_LOOK = 16;
/** "Far below": plan for at most half of the limit. */
export const HISTORY_EVENT_BUDGET = MAX_HISTORY_EVENTS / 2;

/** The canary weights the rollout steps through, in the router's weight scale. */
export function plannedWeights(strategy: StrategySpec): number[] {
  // A/B and blue/green have one stage with no weighted share: the canary gets matched (or its own test) traffic only.
  if (strategy.match || strategy.blueGreen) return [0];
  if (strategy.stepWeights) return [...strategy.stepWeights];
  const step = strategy.stepWeight ?? 10;
  const max = strategy.maxWeight ?? 50;
  const weights: number[] = [];
  for (let weight = step; weight <= max; weight += step) weights.push(weight);
  return weights;
}

/** Seconds between two looks at the metrics: once per interval for the threshold judge. */
export function bakeSeconds(spec: RolloutSpec): number {
  const { strategy, analysis } = spec.spec;
  return analysis.judge === 'threshold' ? durationSeconds(strategy.interval) : durationSeconds(strategy.lookInterval);
}
