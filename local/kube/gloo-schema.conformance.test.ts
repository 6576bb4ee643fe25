/**
 * Conformance of the project's own Gloo schema (lambdas/core/gloo-schema.ts) with Gloo's real
 * CRDs: every field path the schema types must exist in the CRD's openAPIV3Schema
 * with a compatible type, or the stand-in would accept objects a cluster refuses (or the reverse).
 *
 * The CRDs are reference data outside the project. The comparison is registered only when
 * SLUICE_REFERENCE_DIR is set (CI sets it); it then fails if the folder or a CRD is missing.
 * Without it (a user's clone) only the tests of the comparison itself run, against small
 * inline CRDs, so the checker cannot silently pass by finding nothing to compare.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { GLOO_KINDS, type GlooKind } from '../../lambdas/core/gloo-schema.ts';

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  anyOf?: Schema[];
  minimum?: number;
  maximum?: number;
  nullable?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

/** One typed field of our schema: `spec.destinations[].weight`, `status.statuses.*.state`. */
interface FieldPath {
  path: string;
  types: string[];
  nullable: boolean;
  minimum?: number;
  maximum?: number;
}

function join2(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** Every typed path of a JSON Schema (our zod schema exported with z.toJSONSchema). */
function fieldPaths(schema: Schema, path = ''): FieldPath[] {
  const variants = schema.anyOf ?? [schema];
  const nonNull = variants.filter((v) => v.type !== 'null');
  const listed = [...new Set(nonNull.flatMap((v) => (Array.isArray(v.type) ? v.type : v.type ? [v.type] : [])))];
  // zod writes a nullable boolean or string as `type: [T, "null"]`, a nullable number as anyOf with `type: "null"`.
  const types = listed.filter((t) => t !== 'null');
  const out: FieldPath[] = [];
  if (path && types.length > 0) {
    const field: FieldPath = { path, types, nullable: nonNull.length < variants.length || listed.includes('null') };
    const bounded = nonNull.find((v) => v.minimum !== undefined || v.maximum !== undefined);
    if (bounded?.minimum !== undefined) field.minimum = bounded.minimum;
    if (bounded?.maximum !== undefined) field.maximum = bounded.maximum;
    out.push(field);
  }
  for (const variant of nonNull) {
    for (const [key, child] of Object.entries(variant.properties ?? {})) out.push(...fieldPaths(child, join2(path, key)));
    if (typeof variant.additionalProperties === 'object' && Object.keys(variant.additionalProperties).length > 0)
      out.push(...fieldPaths(variant.additionalProperties, join2(path, '*')));
    if (variant.items) out.push(...fieldPaths(variant.items, `${path}[]`));
  }
  return out;
}

/** The paths of one Gloo kind that the CRD must have (the API server owns apiVersion, kind, metadata). */
function touchedPaths(kind: GlooKind): FieldPath[] {
  const json = z.toJSONSchema(GLOO_KINDS[kind].schema, { io: 'input', unrepresentable: 'any' }) as Schema;
  return fieldPaths(json).filter((f) => f.path.startsWith('spec') || f.path.startsWith('status'));
}

function crdTypes(node: Schema): string[] {
  if (node['x-kubernetes-int-or-string']) return ['string', 'integer'];
  return Array.isArray(node.type) ? node.type : node.type ? [node.type] : [];
}

/**
 * Problems of our paths against a CRD's openAPIV3Schema. Below a node that preserves unknown
 * fields without declaring them (Gloo's `status.statuses`), anything goes, as on a cluster.
 */
function compareWithCrd(paths: readonly FieldPath[], root: Schema): string[] {
  const problems: string[] = [];
  for (const field of paths) {
    let node: Schema | undefined = root;
    let opaque = false;
    for (const token of field.path.replace(/\[\]/g, '.[]').split('.')) {
      if (!node) break;
      if (token === '[]') node = node.items;
      else if (token === '*') node = typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined;
      else if (node.properties && token in node.properties) node = node.properties[token];
      else node = undefined;
      if (!node) break;
      if (
        node['x-kubernetes-preserve-unknown-fields'] &&
        !node.properties &&
        !node.items &&
        typeof node.additionalProperties !== 'object'
      ) {
        opaque = true;
        break;
      }
    }
    if (opaque) continue;
    if (!node) {
      problems.push(`${field.path}: not in the CRD`);
      continue;
    }
    const theirs = crdTypes(node);
    for (const ours of field.types) {
      const compatible = theirs.includes(ours) || (ours === 'integer' && theirs.includes('number'));
      if (!compatible) problems.push(`${field.path}: ours is ${ours}, the CRD says ${theirs.join('|') || 'untyped'}`);
    }
    if (field.nullable && !node.nullable) problems.push(`${field.path}: ours accepts null, the CRD does not`);
    if (node.minimum !== undefined && (field.minimum === undefined || field.minimum < node.minimum))
      problems.push(`${field.path}: ours allows values below the CRD minimum ${node.minimum}`);
    if (node.maximum !== undefined && (field.maximum === undefined || field.maximum > node.maximum))
      problems.push(`${field.path}: ours allows values above the CRD maximum ${node.maximum}`);
  }
  return problems;
}

describe('the conformance checker', () => {
  it('finds the fields Sluice touches in the project schema', () => {
    const group = touchedPaths('UpstreamGroup').map((f) => f.path);
    expect(group).toEqual(
      expect.arrayContaining([
        'spec.destinations',
        'spec.destinations[].weight',
        'spec.destinations[].destination.upstream.name',
        'spec.destinations[].destination.upstream.namespace',
      ]),
    );
    const vs = touchedPaths('VirtualService').map((f) => f.path);
    expect(vs).toEqual(
      expect.arrayContaining([
        'spec.virtualHost.routes[].routeAction.multi.destinations[].weight',
        'spec.virtualHost.routes[].routeAction.upstreamGroup.name',
        'spec.virtualHost.routes[].options.shadowing.percentage',
      ]),
    );
    expect(touchedPaths('Upstream').find((f) => f.path === 'spec.kube.servicePort')).toMatchObject({
      types: ['integer'],
      minimum: 0,
      maximum: 4294967295,
    });
  });

  it('reports a path the CRD lacks, an incompatible type, a nullability and a range mismatch', () => {
    const crd: Schema = {
      type: 'object',
      properties: {
        spec: {
          type: 'object',
          properties: {
            destinations: {
              type: 'array',
              items: { type: 'object', properties: { weight: { type: 'string' }, count: { type: 'integer', minimum: 0, maximum: 10 } } },
            },
          },
        },
        status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      },
    };
    const ours: FieldPath[] = [
      { path: 'spec.destinations[].weight', types: ['integer'], nullable: true },
      { path: 'spec.destinations[].count', types: ['integer'], nullable: false, minimum: 0, maximum: 100 },
      { path: 'spec.destinations[].name', types: ['string'], nullable: false },
      { path: 'status.statuses.*.state', types: ['string'], nullable: false },
    ];
    expect(compareWithCrd(ours, crd)).toEqual([
      'spec.destinations[].weight: ours is integer, the CRD says string',
      'spec.destinations[].weight: ours accepts null, the CRD does not',
      'spec.destinations[].count: ours allows values above the CRD maximum 10',
      'spec.destinations[].name: not in the CRD',
    ]);
  });
});

const referenceDir = process.env.SLUICE_REFERENCE_DIR;

if (referenceDir) {
  describe(`the project Gloo schema against the real CRDs in ${referenceDir}/gloo-crds`, () => {
    const dir = join(referenceDir, 'gloo-crds');

    let parsed: ReturnType<typeof readCrds> | undefined;
    const crds = () => (parsed ??= readCrds());

    function readCrds(): Array<{
      spec: {
        group: string;
        scope: string;
        names: { kind: string; plural: string };
        versions: Array<{ name: string; served: boolean; schema: { openAPIV3Schema: Schema } }>;
      };
    }> {
      if (!existsSync(dir)) throw new Error(`SLUICE_REFERENCE_DIR is set but ${dir} does not exist`);
      const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
      return files.flatMap((f) =>
        parseAllDocuments(readFileSync(join(dir, f), 'utf8'))
          .map((d) => d.toJS() as { kind?: string } | null)
          .filter((d) => d?.kind === 'CustomResourceDefinition'),
      ) as ReturnType<typeof readCrds>;
    }

    for (const kind of Object.keys(GLOO_KINDS) as GlooKind[]) {
      it(`${kind}: every field Sluice touches exists in the CRD with a compatible type`, () => {
        const where = GLOO_KINDS[kind];
        const crd = crds().find((c) => c.spec.names.kind === kind && c.spec.group === where.group);
        if (!crd) throw new Error(`no CustomResourceDefinition for ${where.group} ${kind} in ${dir}`);
        expect(crd.spec.names.plural).toBe(where.plural);
        expect(crd.spec.scope).toBe('Namespaced');
        const version = crd.spec.versions.find((v) => v.name === where.version && v.served);
        if (!version) throw new Error(`the ${kind} CRD does not serve ${where.version}`);
        const paths = touchedPaths(kind);
        expect(paths.length).toBeGreaterThan(2);
        expect(compareWithCrd(paths, version.schema.openAPIV3Schema)).toEqual([]);
      });
    }
  });
}
