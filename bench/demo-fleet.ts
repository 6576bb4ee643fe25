/**
 * `node bench/demo-fleet.ts`: the fleet demo end to end, both scenarios, one after the other:
 *
 *   sluice demo --fleet --json                    → every cluster promoted (exit 0)
 *   sluice demo --fleet --scenario errors --json  → a promoted, b rolled back, c not started, halted (exit 3)
 *
 * The target: each run right and over in under 6 minutes end to end (the CLI's own process, three
 * sandbox clusters and the shared Prometheus started and torn down, the report written) on 2
 * cores. Each run is its own `sluice` process with its own state directory; the table records
 * its wall time, its CPU seconds (GNU time: the process and its children) and the load average.
 *
 *   node bench/demo-fleet.ts [-- --seed K]
 *
 * Prints a table and writes bench/results/demo-fleet.json. Exits 1 when a target is missed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LIMIT_SECONDS = 360;
const GNU_TIME = '/usr/bin/time';

interface Case {
  scenario: 'healthy' | 'errors';
  expected: { outcome: 'promoted' | 'halted'; exitCode: number; clusters: Record<string, string> };
}

const CASES: Case[] = [
  { scenario: 'healthy', expected: { outcome: 'promoted', exitCode: 0, clusters: { a: 'promoted', b: 'promoted', c: 'promoted' } } },
  { scenario: 'errors', expected: { outcome: 'halted', exitCode: 3, clusters: { a: 'promoted', b: 'rolled-back', c: 'not-started' } } },
];

interface Result {
  scenario: Case['scenario'];
  exitCode: number | null;
  outcome: string;
  reason: string;
  clusters: Record<string, string>;
  /** The `sluice demo --fleet` process from spawn to exit, s. */
  wallSeconds: number;
  /** User + system CPU of the process and its children (apps, gateways' Prometheus), s; null without GNU time. */
  cpuSeconds: number | null;
  loadAverage: number;
  pass: boolean;
}

const { values } = parseArgs({ options: { seed: { type: 'string' } }, allowPositionals: true });

async function run(test: Case): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-fleet-'));
  const timeFile = join(dir, 'time.txt');
  const args = [
    join(ROOT, 'bin', 'sluice.mjs'),
    'demo',
    '--fleet',
    '--json',
    ...(test.scenario === 'errors' ? ['--scenario', 'errors'] : []),
    ...(values.seed ? ['--seed', values.seed] : []),
  ];
  const timed = existsSync(GNU_TIME);
  const command = timed ? GNU_TIME : process.execPath;
  const argv = timed ? ['-f', '%U %S', '-o', timeFile, process.execPath, ...args] : args;
  const started = Date.now();
  let stdout = '';
  const exitCode = await new Promise<number | null>((done) => {
    const child = spawn(command, argv, {
      cwd: ROOT,
      env: { ...process.env, SLUICE_STATE_DIR: join(dir, '.sluice') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.on('exit', (code) => done(code));
  });
  const wallSeconds = (Date.now() - started) / 1000;
  const cpu = timed && existsSync(timeFile) ? readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)?.split(' ').map(Number) : undefined;
  rmSync(dir, { recursive: true, force: true });
  const last = stdout.trim().split('\n').at(-1) ?? '{}';
  let summary: { outcome?: string; reason?: string; clusters?: Array<{ cluster: string; outcome: string }> } = {};
  try {
    summary = JSON.parse(last) as typeof summary;
  } catch {
    // no summary: the run failed before it; the row says so
  }
  const clusters = Object.fromEntries((summary.clusters ?? []).map((c) => [c.cluster, c.outcome]));
  const pass =
    exitCode === test.expected.exitCode &&
    summary.outcome === test.expected.outcome &&
    JSON.stringify(clusters) === JSON.stringify(test.expected.clusters) &&
    wallSeconds < LIMIT_SECONDS;
  return {
    scenario: test.scenario,
    exitCode,
    outcome: summary.outcome ?? 'no summary',
    reason: summary.reason ?? '',
    clusters,
    wallSeconds: Math.round(wallSeconds * 10) / 10,
    cpuSeconds: cpu && cpu.length === 2 ? Math.round(((cpu[0] ?? 0) + (cpu[1] ?? 0)) * 10) / 10 : null,
    loadAverage: Math.round((loadavg()[0] ?? 0) * 10) / 10,
    pass,
  };
}

const results: Result[] = [];
for (const test of CASES) results.push(await run(test));

const rows = [
  ['scenario', 'exit', 'outcome', 'clusters', 'wall s', 'cpu s', 'load', 'pass'],
  ...results.map((r) => [
    r.scenario,
    String(r.exitCode),
    r.outcome,
    Object.entries(r.clusters)
      .map(([cluster, outcome]) => `${cluster}:${outcome}`)
      .join(' '),
    String(r.wallSeconds),
    r.cpuSeconds === null ? '—' : String(r.cpuSeconds),
    String(r.loadAverage),
    r.pass ? 'yes' : 'NO',
  ]),
];
const widths = (rows[0] ?? []).map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length)));
console.log(rows.map((row) => row.map((cell, col) => cell.padEnd(widths[col] ?? 0)).join('  ')).join('\n'));
const out = join(ROOT, 'bench', 'results', 'demo-fleet.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ at: new Date().toISOString(), limitSeconds: LIMIT_SECONDS, results }, null, 2)}\n`);
console.log(`wrote ${out}`);
process.exitCode = results.every((r) => r.pass) ? 0 : 1;
