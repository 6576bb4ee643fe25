import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openSqliteStore } from '../../lambdas/adapters/store/sqlite.ts';
import type { RolloutStore } from '../../lambdas/core/ports.ts';
import { reportCommand } from '../commands/report.ts';
import { FIXTURE_START } from './fixtures.ts';
import { halted, haltedFleet } from './fleet-fixtures.ts';
import { fleetReportData, renderFleetReport, waveStarts } from './fleet-report.ts';
import type { FleetReportSummary } from './fleet-report.ts';

/** The lanes' attributes, in page order: [cluster, wave, outcome]. */
function lanes(html: string): string[][] {
  return [...html.matchAll(/data-testid="lane" data-cluster="([^"]*)" data-wave="(\d+)" data-outcome="([^"]*)"/g)].map((m) => m.slice(1));
}

describe('the fleet report: one lane per cluster', () => {
  let store: RolloutStore | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it('draws a halted fleet: a promoted lane, b rolled back at its failed look, c not started, a boundary where each wave began', async () => {
    // Prepare
    store = openSqliteStore(':memory:');
    await haltedFleet(store);

    // Act
    const data = await fleetReportData(store, halted);
    const html = renderFleetReport(data);

    // Assess
    expect(lanes(html)).toEqual([
      ['a', '1', 'promoted'],
      ['b', '2', 'rolled-back'],
      ['c', '3', 'not-started'],
    ]);
    expect(html).toContain('Halted');
    expect(html).toContain('halted at wave 2 cluster b');
    // b's lane holds its two looks, the second one failed; a's both passed.
    const laneOf = (cluster: string) => html.split(`data-cluster="${cluster}"`)[1]?.split('</g>')[0] ?? '';
    expect([...laneOf('b').matchAll(/data-verdict="([a-z-]+)"/g)].map((m) => m[1])).toEqual(['pass', 'fail']);
    expect([...laneOf('a').matchAll(/data-verdict="([a-z-]+)"/g)].map((m) => m[1])).toEqual(['pass', 'pass']);
    expect(laneOf('c')).toContain('not started');
    expect(laneOf('c')).not.toContain('data-testid="lane-weights"');
    // Waves 1 and 2 began where a and b started; wave 3 never did.
    expect(waveStarts(data)).toEqual([
      { wave: 1, atMs: FIXTURE_START },
      { wave: 2, atMs: FIXTURE_START + 20_000 },
    ]);
    expect([...html.matchAll(/data-testid="wave-boundary" data-wave="(\d+)"/g)].map((m) => m[1])).toEqual(['1', '2']);
    // The page is self-contained: no script, nothing fetched.
    expect(html).not.toMatch(/<script|https?:\/\//);
  });

  it('escapes names from the summary (they are user input)', async () => {
    // Prepare
    store = openSqliteStore(':memory:');
    const summary: FleetReportSummary = {
      ...halted,
      outcome: 'promoted',
      reason: '<img src=x onerror=alert(1)>',
      clusters: [{ cluster: 'a<b>', wave: 1, outcome: 'not-started', execution: 'x' }],
    };

    // Act
    const html = renderFleetReport(await fleetReportData(store, summary));

    // Assess
    expect(html).not.toContain('<img');
    expect(html).not.toContain('a<b>');
    expect(html).toContain('a&#60;b&#62;');
  });
});

describe('sluice report <fleet summary.json>', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-fleet-report-'));
    vi.stubEnv('SLUICE_STATE_DIR', join(dir, '.sluice'));
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    rmSync(dir, { recursive: true, force: true });
  });

  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) }, out, err };
  };

  it('writes the fleet page from the summary and the local store, and prints its path', async () => {
    // Prepare: the members recorded in .sluice's store, the summary as --json printed it.
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, '.sluice'), { recursive: true });
    const recorded = openSqliteStore(join(dir, '.sluice', 'sluice.db'));
    await haltedFleet(recorded);
    await recorded.close();
    const file = join(dir, 'fleet.json');
    writeFileSync(file, `${JSON.stringify({ ...halted, exitCode: 3 })}\n`);
    const { io, out, err } = capture();

    // Act
    const code = await reportCommand(file, {}, io);

    // Assess
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const written = join(dir, '.sluice', 'reports', 'podinfo-v2.html');
    expect(out.join('')).toContain(written);
    expect(lanes(readFileSync(written, 'utf8')).map(([cluster, , outcome]) => `${cluster}:${outcome}`)).toEqual([
      'a:promoted',
      'b:rolled-back',
      'c:not-started',
    ]);
  });

  it('refuses a fleet summary with a bad cluster outcome, naming the field, and writes nothing', async () => {
    // Prepare
    const file = join(dir, 'fleet.json');
    writeFileSync(file, JSON.stringify({ ...halted, clusters: [{ ...halted.clusters[0], outcome: 'exploded' }] }));
    const { io, out, err } = capture();

    // Act
    const code = await reportCommand(file, {}, io);

    // Assess
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err.join('')).toContain('clusters.0.outcome');
  });
});
