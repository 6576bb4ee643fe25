/**
 * The resource types the stand-in serves: where each lives in the API (group, version,
 * plural), how it is validated and what discovery says about it. Gloo kinds are validated
 * with the project's own schema (lambdas/core/gloo-schema.ts); the built-in kinds only with the
 * few checks whose absence would let a test pass against the stand-in and fail on a cluster.
 */
import * as z from 'zod';
import { GLOO_KINDS, validateGlooStructure, type GlooKind } from '../../lambdas/core/gloo-schema.ts';

export interface Problem {
  path: string;
  message: string;
}

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  shortNames: string[];
  /** A CustomResourceDefinition: strategic merge patch is refused (415) and PUT needs resourceVersion. */
  custom: boolean;
  /** With a status subresource, writes to the main resource leave `status` alone (Deployments). */
  statusSubresource: boolean;
  /** Serves `<plural>/<name>/scale` (autoscaling/v1 Scale). */
  scale: boolean;
  /** Fills defaults the real server fills (Deployment replicas: 1). Mutates the object. */
  defaults?(object: Record<string, unknown>): void;
  validate(object: unknown): Problem[];
}

function issues(result: z.ZodSafeParseResult<unknown>): Problem[] {
  if (result.success) return [];
  return result.error.issues.map((issue) => ({
    path: issue.path.reduce<string>(
      (out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part)),
      '',
    ),
    message: issue.message,
  }));
}

const int32 = z.number().int().min(0).max(2_147_483_647);

// Built-ins: only the fields the Deployment simulator and Sluice's workload code rely on.
const deploymentSchema = z.looseObject({
  spec: z.looseObject({
    replicas: int32.optional(),
    selector: z.looseObject({ matchLabels: z.record(z.string(), z.string()).optional() }),
    template: z.looseObject({
      metadata: z
        .looseObject({ labels: z.record(z.string(), z.string()).optional(), annotations: z.record(z.string(), z.string()).optional() })
        .optional(),
      spec: z.looseObject({ containers: z.array(z.looseObject({ name: z.string().min(1) })).min(1) }),
    }),
  }),
});

const hpaSchema = z.looseObject({
  spec: z.looseObject({
    scaleTargetRef: z.looseObject({ kind: z.string().min(1), name: z.string().min(1), apiVersion: z.string().optional() }),
    minReplicas: int32.optional(),
    maxReplicas: int32.min(1),
  }),
});

function glooType(kind: GlooKind, singular: string, shortNames: string[]): ResourceType {
  const where = GLOO_KINDS[kind];
  return {
    group: where.group,
    version: where.version,
    plural: where.plural,
    singular,
    kind,
    shortNames,
    custom: true,
    statusSubresource: false, // Gloo's CRDs declare no subresources: Gloo writes status through the main resource.
    scale: false,
    // The API server checks the CRD's structural schema only; Gloo's own rules come back later as a status.
    validate: (object) => validateGlooStructure(kind, object),
  };
}

export const RESOURCE_TYPES: readonly ResourceType[] = [
  glooType('UpstreamGroup', 'upstreamgroup', ['ug', 'gug']),
  glooType('Upstream', 'upstream', ['us', 'gus']),
  glooType('VirtualService', 'virtualservice', ['vs', 'gvs']),
  glooType('RouteTable', 'routetable', ['rt', 'grt']),
  {
    group: 'apps',
    version: 'v1',
    plural: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    shortNames: ['deploy'],
    custom: false,
    statusSubresource: true,
    scale: true,
    defaults(object) {
      const spec = object.spec;
      if (typeof spec === 'object' && spec !== null && !('replicas' in spec)) (spec as Record<string, unknown>).replicas = 1;
    },
    validate: (object) => issues(deploymentSchema.safeParse(object)),
  },
  {
    group: 'autoscaling',
    version: 'v2',
    plural: 'horizontalpodautoscalers',
    singular: 'horizontalpodautoscaler',
    kind: 'HorizontalPodAutoscaler',
    shortNames: ['hpa'],
    custom: false,
    statusSubresource: true,
    scale: false,
    validate: (object) => issues(hpaSchema.safeParse(object)),
  },
];

export function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

export function findByPlural(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((t) => t.group === group && t.version === version && t.plural === plural);
}

export function findByKind(apiVersion: string, kind: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((t) => apiVersionOf(t) === apiVersion && t.kind === kind);
}

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

/** `/apis` */
export function apiGroupList(): unknown {
  const groups = new Map<string, Set<string>>();
  for (const t of RESOURCE_TYPES) groups.set(t.group, (groups.get(t.group) ?? new Set()).add(t.version));
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...groups].map(([name, versions]) => {
      const list = [...versions].map((version) => ({ groupVersion: `${name}/${version}`, version }));
      return { name, versions: list, preferredVersion: list[0] };
    }),
  };
}

/** `/apis/<group>`; undefined when the group is not served. */
export function apiGroup(group: string): unknown {
  const list = apiGroupList() as { groups: Array<{ name: string }> };
  const found = list.groups.find((g) => g.name === group);
  return found ? { kind: 'APIGroup', apiVersion: 'v1', ...found } : undefined;
}

/** `/apis/<group>/<version>`; undefined when the version is not served. */
export function apiResourceList(group: string, version: string): unknown {
  const types = RESOURCE_TYPES.filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${group}/${version}`,
    resources: types.flatMap((t) => [
      { name: t.plural, singularName: t.singular, namespaced: true, kind: t.kind, verbs: VERBS, shortNames: t.shortNames },
      ...(t.statusSubresource
        ? [{ name: `${t.plural}/status`, singularName: '', namespaced: true, kind: t.kind, verbs: ['get', 'patch', 'update'] }]
        : []),
      ...(t.scale
        ? [
            {
              name: `${t.plural}/scale`,
              singularName: '',
              namespaced: true,
              group: 'autoscaling',
              version: 'v1',
              kind: 'Scale',
              verbs: ['get', 'patch', 'update'],
            },
          ]
        : []),
    ]),
  };
}
