/**
 * The two patch formats the API server applies to custom resources: JSON merge patch
 * (RFC 7386: objects merge, `null` deletes, arrays are replaced whole — which is why a merge
 * patch of `spec.destinations` must carry every destination) and JSON patch (RFC 6902).
 * Pure functions over plain JSON values; inputs are never mutated.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A patch the document cannot take (bad pointer, failed `test`): the server answers 422. */
export class PatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatchError';
  }
}

function isObject(value: unknown): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}

/** RFC 7386 MergePatch(target, patch). */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const result: { [key: string]: Json } = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: Json;
}

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/** Checks the shape of a JSON patch document (an array of operations). */
export function parseJsonPatch(body: unknown): JsonPatchOperation[] {
  if (!Array.isArray(body)) throw new PatchError('a JSON patch must be an array of operations');
  return body.map((op: unknown, i) => {
    if (!isObject(op) || typeof op.op !== 'string' || !OPS.has(op.op) || typeof op.path !== 'string') {
      throw new PatchError(`operation ${i}: expected { op: add|remove|replace|move|copy|test, path: string }`);
    }
    if ((op.op === 'move' || op.op === 'copy') && typeof op.from !== 'string')
      throw new PatchError(`operation ${i}: "${op.op}" needs "from"`);
    if ((op.op === 'add' || op.op === 'replace' || op.op === 'test') && !('value' in op))
      throw new PatchError(`operation ${i}: "${op.op}" needs "value"`);
    return op as unknown as JsonPatchOperation;
  });
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`"${pointer}" is not a JSON pointer (must start with /)`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(array: Json[], token: string, pointer: string, forAdd: boolean): number {
  if (forAdd && token === '-') return array.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new PatchError(`"${pointer}": "${token}" is not an array index`);
  const index = Number(token);
  if (index > array.length || (!forAdd && index === array.length)) throw new PatchError(`"${pointer}": index ${index} is out of range`);
  return index;
}

/** The container holding the last token of `pointer`, and that token. */
function parentOf(doc: Json, pointer: string): { parent: Json; key: string } {
  const tokens = parsePointer(pointer);
  const key = tokens.pop();
  if (key === undefined) throw new PatchError('the root cannot be the target of this operation');
  let node: Json = doc;
  for (const token of tokens) {
    if (Array.isArray(node)) node = node[arrayIndex(node, token, pointer, false)] as Json;
    else if (isObject(node) && Object.hasOwn(node, token)) node = node[token] as Json;
    else throw new PatchError(`"${pointer}": path does not exist`);
  }
  return { parent: node, key };
}

function getAt(doc: Json, pointer: string): Json {
  if (pointer === '') return doc;
  const { parent, key } = parentOf(doc, pointer);
  if (Array.isArray(parent)) return parent[arrayIndex(parent, key, pointer, false)] as Json;
  if (isObject(parent) && Object.hasOwn(parent, key)) return parent[key] as Json;
  throw new PatchError(`"${pointer}": path does not exist`);
}

function removeAt(doc: Json, pointer: string): Json {
  const { parent, key } = parentOf(doc, pointer);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, key, pointer, false), 1)[0] as Json;
  if (isObject(parent) && Object.hasOwn(parent, key)) {
    const old = parent[key] as Json;
    delete parent[key];
    return old;
  }
  throw new PatchError(`"${pointer}": path does not exist`);
}

function addAt(doc: Json, pointer: string, value: Json): Json {
  if (pointer === '') return clone(value);
  const { parent, key } = parentOf(doc, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, pointer, true), 0, clone(value));
  else if (isObject(parent)) parent[key] = clone(value);
  else throw new PatchError(`"${pointer}": parent is not an object or array`);
  return doc;
}

function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i] as Json));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k] as Json, b[k] as Json));
  }
  return false;
}

/** RFC 6902: applies the operations in order; any failure rejects the whole patch. */
export function jsonPatch(document: Json, operations: ReadonlyArray<JsonPatchOperation>): Json {
  let doc = clone(document);
  for (const op of operations) {
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, op.value as Json);
        break;
      case 'remove':
        removeAt(doc, op.path);
        break;
      case 'replace':
        if (op.path === '') doc = clone(op.value as Json);
        else {
          removeAt(doc, op.path);
          doc = addAt(doc, op.path, op.value as Json);
        }
        break;
      case 'move': {
        const from = op.from as string;
        if (op.path.startsWith(`${from}/`)) throw new PatchError(`cannot move "${from}" into its own child "${op.path}"`);
        const value = from === '' ? doc : removeAt(doc, from);
        doc = addAt(doc, op.path, value);
        break;
      }
      case 'copy':
        doc = addAt(doc, op.path, getAt(doc, op.from as string));
        break;
      case 'test':
        if (!deepEqual(getAt(doc, op.path), op.value as Json))
          throw new PatchError(`test operation failed: "${op.path}" does not hold the expected value`);
        break;
      default: {
        const never: never = op.op;
        throw new PatchError(`unknown operation ${String(never)}`);
      }
    }
  }
  return doc;
}
