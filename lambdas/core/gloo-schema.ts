/**
 * The project's own schema of the Gloo Edge fields Sluice reads or writes. It is
 * not a copy of Gloo's CRDs: only the touched fields are typed; everything else passes through
 * untouched (`looseObject`), so a real cluster's objects round-trip unchanged.
 *
 * Used by the Kubernetes API stand-in to validate writes (422 with the field path) and by the
 * Gloo router for its types. A conformance test (`local/kube/gloo-schema.conformance.test.ts`)
 * checks every path here against the real CRDs when `SLUICE_REFERENCE_DIR` is set.
 * Pure: no I/O.
 */
import * as z from 'zod';
import { formatFieldPath } from './field-path.ts';

/** Gloo's weights are protobuf uint32. */
const MAX_UINT32 = 4_294_967_295;
const uint32 = z.number().int().min(0).max(MAX_UINT32);

/** Gloo's core.ResourceRef. An empty namespace means "the referring object's namespace". */
export const resourceRefSchema = z.looseObject({
  name: z.string().min(1),
  namespace: z.string().optional(),
});

/** Gloo's HeaderValueOption: one header to add (`append` null/true adds beside an existing one). */
export const headerValueOptionSchema = z.looseObject({
  header: z.looseObject({ key: z.string().optional(), value: z.string().optional() }).optional(),
  append: z.boolean().nullable().optional(),
});

/** Gloo's HeaderManipulation (headers.options.gloo.solo.io): the response half Sluice writes for session affinity. */
export const headerManipulationSchema = z.looseObject({
  responseHeadersToAdd: z.array(headerValueOptionSchema).optional(),
});

/** One weighted destination: of UpstreamGroup `spec.destinations[]` and `routeAction.multi.destinations[]`. */
export const weightedDestinationSchema = z.looseObject({
  // Other destination kinds (kube service, consul) pass through; Sluice only uses upstream refs.
  destination: z.looseObject({ upstream: resourceRefSchema.optional() }),
  // The CRD says nullable: a missing or null weight counts as 0.
  weight: uint32.nullable().optional(),
  // WeightedDestinationOptions: session affinity's Set-Cookie on each side's responses.
  options: z.looseObject({ headerManipulation: headerManipulationSchema.optional() }).optional(),
});

/** Sum of the weights of a destination list (null/missing weights count as 0). */
export function totalWeight(destinations: ReadonlyArray<{ weight?: number | null | undefined }>): number {
  return destinations.reduce((sum, d) => sum + (d.weight ?? 0), 0);
}

/**
 * Rules Gloo enforces when it translates, not the API server: the CRD's structural schema accepts
 * the object, and Gloo reports the problem later in a status. Tagged so the API
 * stand-in can accept what a real API server accepts (validateGlooStructure) and leave them to its
 * status reporter.
 */
const SEMANTIC = { gloo: 'semantic' } as const;

// Gloo refuses a weighted list that is empty or whose total is 0.
function positiveTotal(destinations: ReadonlyArray<{ weight?: number | null | undefined }>, ctx: z.core.$RefinementCtx) {
  if (destinations.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'expected at least one destination (Gloo rejects an empty list)', params: SEMANTIC });
  } else if (totalWeight(destinations) < 1) {
    ctx.addIssue({
      code: 'custom',
      message: 'the total weight of the destinations must be at least 1 (Gloo rejects an all-zero total)',
      params: SEMANTIC,
    });
  }
}

const destinationList = z.array(weightedDestinationSchema).superRefine(positiveTotal);

export const upstreamGroupSpecSchema = z.looseObject({ destinations: destinationList });

export const upstreamSpecSchema = z.looseObject({
  kube: z
    .looseObject({
      serviceName: z.string().min(1),
      serviceNamespace: z.string().optional(),
      servicePort: uint32,
    })
    .optional(),
  static: z
    .looseObject({
      hosts: z.array(z.looseObject({ addr: z.string().min(1), port: uint32 })).min(1),
    })
    .optional(),
});

export const matcherSchema = z.looseObject({
  prefix: z.string().optional(),
  exact: z.string().optional(),
  regex: z.string().optional(),
});

export const shadowingSchema = z.looseObject({
  upstream: resourceRefSchema,
  percentage: z.number().min(0).max(100),
});

export const routeActionSchema = z
  .looseObject({
    single: z.looseObject({ upstream: resourceRefSchema.optional() }).optional(),
    multi: z.looseObject({ destinations: destinationList }).optional(),
    upstreamGroup: resourceRefSchema.optional(),
  })
  .superRefine((action, ctx) => {
    // A protobuf oneof: Gloo refuses a route action naming more than one destination kind.
    const set = (['single', 'multi', 'upstreamGroup'] as const).filter((key) => action[key] !== undefined);
    if (set.length > 1)
      ctx.addIssue({
        code: 'custom',
        message: `expected only one of single, multi, upstreamGroup; got ${set.join(', ')}`,
        params: SEMANTIC,
      });
  });

export const routeSchema = z.looseObject({
  name: z.string().optional(),
  matchers: z.array(matcherSchema).optional(),
  routeAction: routeActionSchema.optional(),
  options: z.looseObject({ shadowing: shadowingSchema.optional() }).optional(),
});

export const virtualServiceSpecSchema = z.looseObject({
  virtualHost: z.looseObject({
    domains: z.array(z.string()).optional(),
    routes: z.array(routeSchema).optional(),
  }),
});

export const routeTableSpecSchema = z.looseObject({ routes: z.array(routeSchema).optional() });

/** The reporter namespace Gloo writes its status under (`status.statuses.<namespace>`). */
export const GLOO_REPORTER_NAMESPACE = 'gloo-system';

export const GLOO_STATES = ['Pending', 'Accepted', 'Rejected', 'Warning'] as const;
export type GlooState = (typeof GLOO_STATES)[number];

/** Gloo's status (solo-kit): per reporter namespace, a state with an optional reason. */
export const glooStatusSchema = z.looseObject({
  statuses: z
    .record(
      z.string(),
      z.looseObject({
        // x-kubernetes-int-or-string upstream: older writers used the enum's integer.
        state: z.union([z.enum(GLOO_STATES), z.number().int()]).optional(),
        reason: z.string().optional(),
        reportedBy: z.string().optional(),
      }),
    )
    .optional(),
});

const metadataSchema = z.looseObject({ name: z.string().min(1), namespace: z.string().optional() });

function glooObject<K extends string, S extends z.ZodType>(apiVersion: string, kind: K, spec: S) {
  return z.looseObject({
    apiVersion: z.literal(apiVersion),
    kind: z.literal(kind),
    metadata: metadataSchema,
    spec,
    status: glooStatusSchema.optional(),
  });
}

export const upstreamGroupSchema = glooObject('gloo.solo.io/v1', 'UpstreamGroup', upstreamGroupSpecSchema);
export const upstreamSchema = glooObject('gloo.solo.io/v1', 'Upstream', upstreamSpecSchema);
export const virtualServiceSchema = glooObject('gateway.solo.io/v1', 'VirtualService', virtualServiceSpecSchema);
export const routeTableSchema = glooObject('gateway.solo.io/v1', 'RouteTable', routeTableSpecSchema);

export type ResourceRef = z.infer<typeof resourceRefSchema>;
export type WeightedDestination = z.infer<typeof weightedDestinationSchema>;
export type GlooRoute = z.infer<typeof routeSchema>;
export type UpstreamGroup = z.infer<typeof upstreamGroupSchema>;
export type VirtualService = z.infer<typeof virtualServiceSchema>;

/** Where each Gloo kind lives in the API, with its schema. */
export const GLOO_KINDS = {
  UpstreamGroup: { group: 'gloo.solo.io', version: 'v1', plural: 'upstreamgroups', schema: upstreamGroupSchema },
  Upstream: { group: 'gloo.solo.io', version: 'v1', plural: 'upstreams', schema: upstreamSchema },
  VirtualService: { group: 'gateway.solo.io', version: 'v1', plural: 'virtualservices', schema: virtualServiceSchema },
  RouteTable: { group: 'gateway.solo.io', version: 'v1', plural: 'routetables', schema: routeTableSchema },
} as const;
export type GlooKind = keyof typeof GLOO_KINDS;

export function isGlooKind(kind: string): kind is GlooKind {
  return Object.hasOwn(GLOO_KINDS, kind);
}

/** One problem with an object: the field path (`spec.destinations[1].weight`) and what was expected. */
export interface GlooProblem {
  path: string;
  message: string;
}

/** Validates a Gloo object of a known kind; returns its problems (empty = valid). */
export function validateGlooObject(kind: GlooKind, object: unknown): GlooProblem[] {
  const result = GLOO_KINDS[kind].schema.safeParse(object);
  if (result.success) return [];
  return result.error.issues.map((issue) => ({ path: formatFieldPath(issue.path), message: issue.message }));
}

/**
 * What the API server itself checks (the CRD's structural schema: types, bounds): Gloo's own
 * rules (an empty or all-zero weighted list, several route actions) are left out — a cluster
 * accepts such an object, and Gloo rejects it later in a status.
 */
export function validateGlooStructure(kind: GlooKind, object: unknown): GlooProblem[] {
  const result = GLOO_KINDS[kind].schema.safeParse(object);
  if (result.success) return [];
  return result.error.issues
    .filter((issue) => !(issue.code === 'custom' && (issue.params as { gloo?: unknown } | undefined)?.gloo === 'semantic'))
    .map((issue) => ({ path: formatFieldPath(issue.path), message: issue.message }));
}

const STATE_BY_NUMBER: Record<number, GlooState> = { 0: 'Pending', 1: 'Accepted', 2: 'Rejected', 3: 'Warning' };

/**
 * The state Gloo reported for an object, or undefined when it has not reported yet.
 * Gloo's status carries no observedGeneration: `Accepted` right after a write
 * may describe the previous version; only `Rejected` is conclusive.
 */
export function glooState(status: unknown, reporterNamespace = GLOO_REPORTER_NAMESPACE): { state: GlooState; reason?: string } | undefined {
  const parsed = glooStatusSchema.safeParse(status ?? {});
  if (!parsed.success) return undefined;
  const entry = parsed.data.statuses?.[reporterNamespace];
  if (!entry || entry.state === undefined) return undefined;
  const state = typeof entry.state === 'number' ? STATE_BY_NUMBER[entry.state] : entry.state;
  if (!state) return undefined;
  return entry.reason === undefined ? { state } : { state, reason: entry.reason };
}
