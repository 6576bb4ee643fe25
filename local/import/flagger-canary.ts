/**
 * The parts of a Flagger `Canary` (flagger.app/v1beta1) and `MetricTemplate` the importer reads,
 * as zod schemas that keep unknown fields (so the report can name them), after Flagger's
 * pkg/apis/flagger/v1beta1/canary.go. Pure.
 */
import { z } from 'zod';

/** The input is not something Sluice can import: one line, exit 2. */
export class FlaggerImportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FlaggerImportError';
  }
}

const num = z.number();
const ref = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  name: z.string().min(1),
  namespace: z.string().optional(),
});
const metricSchema = z.looseObject({
  name: z.string().min(1),
  interval: z.string().optional(),
  threshold: num.optional(),
  thresholdRange: z.looseObject({ min: num.optional(), max: num.optional() }).optional(),
  query: z.string().optional(),
  templateRef: ref.optional(),
  templateVariables: z.record(z.string(), z.unknown()).optional(),
});
const webhookSchema = z.looseObject({
  name: z.string().min(1),
  type: z.string().optional(),
  url: z.string().min(1),
  timeout: z.string().optional(),
  muteAlert: z.boolean().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
export const ANALYSIS_FIELDS = [
  'interval',
  'iterations',
  'mirror',
  'mirrorWeight',
  'maxWeight',
  'stepWeight',
  'stepWeights',
  'stepWeightPromotion',
  'threshold',
  'primaryReadyThreshold',
  'canaryReadyThreshold',
  'alerts',
  'metrics',
  'webhooks',
  'match',
  'sessionAffinity',
] as const;
const analysisSchema = z.looseObject({
  interval: z.string().optional(),
  iterations: num.int().min(0).optional(),
  mirror: z.boolean().optional(),
  mirrorWeight: num.optional(),
  maxWeight: num.int().min(0).optional(),
  stepWeight: num.int().min(0).optional(),
  stepWeights: z.array(num.int().positive()).optional(),
  stepWeightPromotion: num.int().min(0).optional(),
  threshold: num.int().optional(),
  primaryReadyThreshold: num.optional(),
  canaryReadyThreshold: num.optional(),
  alerts: z.array(z.looseObject({ name: z.string().optional(), severity: z.string().optional(), providerRef: ref.optional() })).optional(),
  metrics: z.array(metricSchema).optional(),
  webhooks: z.array(webhookSchema).optional(),
  match: z.array(z.unknown()).optional(),
  sessionAffinity: z.looseObject({ cookieName: z.string().optional(), maxAge: num.optional() }).optional(),
});
export const SPEC_FIELDS = [
  'provider',
  'metricsServer',
  'targetRef',
  'autoscalerRef',
  'ingressRef',
  'routeRef',
  'upstreamRef',
  'service',
  'analysis',
  'canaryAnalysis',
  'progressDeadlineSeconds',
  'skipAnalysis',
  'revertOnDeletion',
  'suspend',
] as const;
const canarySchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.literal('Canary'),
  metadata: z.looseObject({ name: z.string().min(1), namespace: z.string().optional() }),
  spec: z.looseObject({
    provider: z.string().optional(),
    metricsServer: z.string().optional(),
    targetRef: ref,
    autoscalerRef: ref.optional(),
    ingressRef: ref.optional(),
    routeRef: ref.optional(),
    upstreamRef: ref.optional(),
    service: z.looseObject({ name: z.string().optional(), port: num.int().positive() }),
    analysis: analysisSchema.optional(),
    canaryAnalysis: analysisSchema.optional(),
    progressDeadlineSeconds: num.int().positive().optional(),
    skipAnalysis: z.boolean().optional(),
    revertOnDeletion: z.boolean().optional(),
    suspend: z.boolean().optional(),
  }),
});
export type Canary = z.infer<typeof canarySchema>;
export type FlaggerAnalysis = z.infer<typeof analysisSchema>;
export type FlaggerMetric = z.infer<typeof metricSchema>;

const metricTemplateSchema = z.looseObject({
  kind: z.literal('MetricTemplate'),
  metadata: z.looseObject({ name: z.string().min(1), namespace: z.string().optional() }),
  spec: z.looseObject({
    provider: z.looseObject({ type: z.string().optional(), address: z.string().optional(), secretRef: z.unknown().optional() }).optional(),
    query: z.string().optional(),
  }),
});
export type MetricTemplate = z.infer<typeof metricTemplateSchema>;

const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const GO_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration (`1m30s`, `1.5m`, `10s`) in milliseconds; undefined when it is not one. */
export function goDurationMs(text: string): number | undefined {
  const trimmed = text.trim();
  if (!GO_DURATION.test(trimmed)) return undefined;
  let total = 0;
  for (const [, value, unit] of trimmed.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g))
    total += Number(value) * (GO_UNIT_MS[unit ?? 's'] ?? 0);
  return Math.round(total);
}

function issuesText(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}

/** Recognises the document before parsing it, so "not a Canary" reads as such rather than as a field error. */
export function parseCanary(document: unknown): Canary {
  const top = document as { apiVersion?: unknown; kind?: unknown } | null;
  if (top === null || typeof top !== 'object' || Array.isArray(top))
    throw new FlaggerImportError('expected a Flagger Canary (a YAML mapping with apiVersion flagger.app/v1beta1 and kind Canary)');
  if (typeof top.apiVersion !== 'string' || !top.apiVersion.startsWith('flagger.app/') || top.kind !== 'Canary') {
    throw new FlaggerImportError(
      `expected a Flagger Canary (apiVersion flagger.app/v1beta1, kind Canary), found apiVersion ${String(top.apiVersion)}, kind ${String(top.kind)}`,
    );
  }
  const parsed = canarySchema.safeParse(document);
  if (!parsed.success) throw new FlaggerImportError(`not a Flagger Canary Sluice can read: ${issuesText(parsed.error)}`);
  return parsed.data;
}

export function metricTemplatesOf(documents: readonly unknown[]): MetricTemplate[] {
  return documents.flatMap((document) => {
    const parsed = metricTemplateSchema.safeParse(document);
    return parsed.success ? [parsed.data] : [];
  });
}
