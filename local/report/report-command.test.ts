import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openSqliteStore } from '../../lambdas/adapters/store/sqlite.ts';
import { reportCommand } from '../commands/report.ts';
import { recordRollout } from './fixtures.ts';
import { sampleSummary } from './sample.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) }, out, err };
}

describe('sluice report', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-report-cmd-'));
    vi.stubEnv('SLUICE_STATE_DIR', join(dir, '.sluice'));
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the report of a summary file to .sluice/reports/<execution>.html and prints its path', async () => {
    // Prepare
    const file = join(dir, 'summary.json');
    writeFileSync(file, `${JSON.stringify(sampleSummary())}\n`);
    const { io, out, err } = capture();

    // Act
    const code = await reportCommand(file, {}, io);

    // Assess
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const written = join(dir, '.sluice', 'reports', 'podinfo-6-7-1-3f9c2a-1.html');
    expect(out.join('')).toContain(written);
    expect(readFileSync(written, 'utf8')).toContain('data-testid="weight-chart"');
  });

  it('writes where --out says', async () => {
    const file = join(dir, 'summary.json');
    writeFileSync(file, JSON.stringify(sampleSummary()));
    const target = join(dir, 'out', 'r.html');
    const { io, out } = capture();

    const code = await reportCommand(file, { out: target }, io);

    expect(code).toBe(0);
    expect(out.join('')).toContain(target);
    expect(existsSync(target)).toBe(true);
  });

  it('draws an execution, or a target’s latest rollout, from the local store', async () => {
    const store = openSqliteStore(join(dir, '.sluice', 'sluice.db'));
    await recordRollout(store, 'podinfo-v2-1', 100);
    await store.close();

    const byExecution = capture();
    const byTarget = capture();
    expect(await reportCommand('podinfo-v2-1', {}, byExecution.io)).toBe(0);
    expect(await reportCommand('podinfo', { out: join(dir, 'latest.html') }, byTarget.io)).toBe(0);

    const html = readFileSync(join(dir, '.sluice', 'reports', 'podinfo-v2-1.html'), 'utf8');
    expect(html).toContain('analysis failed 1 time');
    expect(readFileSync(join(dir, 'latest.html'), 'utf8')).toContain('podinfo-v2-1');
  });

  it('exits 2 with one line for a missing file, a file that is not a summary, and an unknown execution', async () => {
    const notSummary = join(dir, 'other.json');
    writeFileSync(notSummary, '{"hello": "world"}');
    const store = openSqliteStore(join(dir, '.sluice', 'sluice.db'));
    await store.close();

    const cases = [
      [join(dir, 'missing.json'), /^no such summary file: .*missing\.json\n$/],
      [notSummary, /^.*other\.json: not a rollout summary: execution: .*\n$/],
      ['nope-1', /^no execution or target named "nope-1" in .*sluice\.db\n$/],
    ] as const;
    for (const [arg, message] of cases) {
      const { io, out, err } = capture();
      expect(await reportCommand(arg, {}, io), arg).toBe(2);
      expect(out).toEqual([]);
      expect(err.join(''), arg).toMatch(message);
    }
  });

  it('exits 2 without creating a store when there are no local rollouts', async () => {
    const { io, err } = capture();

    expect(await reportCommand('podinfo-v2-1', {}, io)).toBe(2);

    expect(err.join('')).toMatch(/^no local rollouts in /);
    expect(existsSync(join(dir, '.sluice', 'sluice.db'))).toBe(false);
  });
});
