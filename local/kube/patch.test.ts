import { describe, expect, it } from 'vitest';
import { jsonPatch, mergePatch, parseJsonPatch, PatchError, type Json } from './patch.ts';

describe('mergePatch (RFC 7386)', () => {
  it('merges objects, deletes on null and replaces arrays whole', () => {
    // Prepare
    const target: Json = { a: 'b', c: { d: 'e', f: 'g' }, list: [1, 2, 3] };
    // Act
    const result = mergePatch(target, { a: 'z', c: { f: null }, list: [9] });
    // Assess
    expect(result).toEqual({ a: 'z', c: { d: 'e' }, list: [9] });
    expect(target).toEqual({ a: 'b', c: { d: 'e', f: 'g' }, list: [1, 2, 3] });
  });

  it('follows the RFC appendix examples for non-object patches and targets', () => {
    expect(mergePatch({ a: 'foo' }, 'bar')).toBe('bar');
    expect(mergePatch(['a', 'b'], { a: 'b' })).toEqual({ a: 'b' });
    expect(mergePatch({ e: null }, { a: 1 })).toEqual({ e: null, a: 1 });
    expect(mergePatch({}, { a: { bb: { ccc: null } } })).toEqual({ a: { bb: {} } });
  });
});

describe('jsonPatch (RFC 6902)', () => {
  const doc: Json = { spec: { destinations: [{ w: 1 }, { w: 2 }], 'a/b': 1, 't~x': 2 } };

  it('adds, appends, removes, replaces, moves and copies', () => {
    const result = jsonPatch(doc, [
      { op: 'add', path: '/spec/destinations/-', value: { w: 3 } },
      { op: 'add', path: '/spec/destinations/0', value: { w: 0 } },
      { op: 'remove', path: '/spec/destinations/1' },
      { op: 'replace', path: '/spec/a~1b', value: 10 },
      { op: 'move', from: '/spec/t~0x', path: '/spec/moved' },
      { op: 'copy', from: '/spec/destinations/0', path: '/spec/first' },
    ]);
    expect(result).toEqual({ spec: { destinations: [{ w: 0 }, { w: 2 }, { w: 3 }], 'a/b': 10, moved: 2, first: { w: 0 } } });
  });

  it('rejects the whole patch when a test fails or a path is missing, leaving the input unchanged', () => {
    expect(() =>
      jsonPatch(doc, [
        { op: 'replace', path: '/spec/destinations/0/w', value: 5 },
        { op: 'test', path: '/spec/destinations/1/w', value: 3 },
      ]),
    ).toThrow(PatchError);
    expect(() => jsonPatch(doc, [{ op: 'replace', path: '/spec/missing', value: 1 }])).toThrow(/does not exist/);
    expect(() => jsonPatch(doc, [{ op: 'remove', path: '/spec/destinations/2' }])).toThrow(/out of range/);
    expect(doc).toEqual({ spec: { destinations: [{ w: 1 }, { w: 2 }], 'a/b': 1, 't~x': 2 } });
  });

  it('checks the shape of the operations', () => {
    expect(() => parseJsonPatch({ op: 'add' })).toThrow(/array/);
    expect(() => parseJsonPatch([{ op: 'frobnicate', path: '/a' }])).toThrow(/operation 0/);
    expect(() => parseJsonPatch([{ op: 'add', path: '/a' }])).toThrow(/needs "value"/);
  });
});
