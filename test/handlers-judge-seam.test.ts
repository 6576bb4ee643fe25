/**
 * No handler branches on the judge kind: Prepare, SetWeight and Analyze call the judge the
 * factory (lambdas/core/judge.ts) returns — start, rebase, look — and never ask which one it is.
 * Test files are left out (they build specs of both kinds). A source scan, because a branch is a shape of code, not a behaviour a flow test would see: a
 * handler that special-cased one judge would still pass every flow test of that judge.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const HANDLERS = resolve(import.meta.dirname, '../lambdas/handlers');

/** What counts as knowing the judge kind: reading the field, naming a kind, importing a judge directly. */
const RULES: Array<{ name: string; pattern: RegExp }> = [
  { name: 'reads analysis.judge', pattern: /\banalysis\s*(\?\.|\.)\s*judge\b|\banalysis\s*\[\s*['"]judge['"]\s*\]/ },
  { name: 'compares a judge', pattern: /\bjudge\w*\s*[!=]==?|[!=]==?\s*\w*judge\b/i },
  { name: 'names a judge kind', pattern: /['"`](threshold|sequential)['"`]/ },
  { name: 'imports a judge past the factory', pattern: /from\s+['"][^'"]*(judge-threshold|judge-sequential|\/sequential\/)[^'"]*['"]/ },
];

/** Each offending line as `file:line: rule: code`. Comments are skipped (they may name the judges). */
function judgeBranches(file: string, source: string): string[] {
  const found: string[] = [];
  source.split('\n').forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '').trim();
    if (code.startsWith('*') || code.startsWith('/*')) return;
    for (const rule of RULES) if (rule.pattern.test(code)) found.push(`${file}:${i + 1}: ${rule.name}: ${code}`);
  });
  return found;
}

describe('handlers and the judge seam', () => {
  it('the scan finds each way a handler could branch on the judge kind', () => {
    const offending = [
      "if (spec.spec.analysis.judge === 'sequential') await rebase();",
      'switch (spec.spec.analysis?.judge) {',
      "  case 'threshold':",
      "const sequential = kind === 'sequential';",
      "import { lookSequential } from '../core/judge-sequential.ts';",
      "import { lookJudge } from '../core/sequential/session.ts';",
    ];
    const found = offending.map((line) => judgeBranches('x.ts', line));
    expect(found.map((f) => f.length > 0)).toEqual(offending.map(() => true));
    expect(judgeBranches('x.ts', "await judgeFor(spec, deps).rebase(execution); // not 'sequential' only")).toEqual([]);
  });

  it('no file in lambdas/handlers/ branches on the judge kind', () => {
    const files = readdirSync(HANDLERS).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    const found = files.flatMap((file) => judgeBranches(file, readFileSync(join(HANDLERS, file), 'utf8')));
    expect(files.length).toBeGreaterThan(10);
    expect(found).toEqual([]);
  });

  it('the judged handlers reach the judge through the factory', () => {
    for (const file of ['prepare.ts', 'set-weight.ts', 'analyze.ts']) {
      const source = readFileSync(join(HANDLERS, file), 'utf8');
      expect(source, file).toMatch(/from '\.\.\/core\/judge\.ts'/);
      expect(source, file).toMatch(/judgeFor\(spec, deps\)\.(start|rebase|look)\(/);
    }
  });
});
