/**
 * `npm run bench:demo-acceptance`: the sequential judge's demo through a slow Prometheus and a
 * gateway replaced mid-rollout, over consecutive seeds:
 *
 *   sluice demo --judge sequential --scrape-interval 30 --restart-gateway-at 12 --seed K --json
 *   sluice demo --judge sequential --scrape-interval 30 --restart-gateway-at 12 --seed K --json \
 *               --scenario errors --canary-error-rate 0.05
 *
 * The target: every healthy canary promoted, every 5% one rolled back, each demo over in under 5
 * minutes end to end (the CLI's own process, sandbox start and report included) on 2 cores.
 * Each demo runs as its own `sluice` process (own state directory, ephemeral ports), a few at once
 * (`--parallel`, default 3): a demo at 30 s scrapes mostly waits, and the table records each one's
 * CPU seconds (GNU time) so the load can be checked.
 *
 *   npm run bench:demo-acceptance [-- --seeds 10] [-- --from K] [-- --parallel 3]
 *
 * Prints a table and writes bench/results/demo-acceptance.json. Exits 1 when a target is missed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LIMIT_SECONDS = 300;
const GNU_TIME = '/usr/bin/time';
const COMMON = ['--judge', 'sequential', '--scrape-interval', '30', '--restart-gateway-at', '12', '--json'];

interface Case {
  kind: 'healthy' | 'errors-5%';
  seed: number;
  expected: 'promoted' | 'rolled-back';
  args: string[];
}

interface Result {
  kind: Case['kind'];
  seed: number;
  expected: Case['expected'];
  outcome: string;
  reason: string;
  /** The rollout's own duration (the summary's durationMs), s. */
  rolloutSeconds: number | null;
  /** The `sluice demo` process from spawn to exit, s. */
  wallSeconds: number;
  /** User + system CPU of the demo process and its children (Prometheus), s; null without GNU time. */
  cpuSeconds: number | null;
  gatewayRestart: unknown;
  scrapeIntervalSeconds: number | null;
  pass: boolean;
}

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '10' },
    from: { type: 'string' },
    parallel: { type: 'string', default: '3' },
  },
});
const whole = (name: string, text: string | undefined, min: number): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected a whole number ≥ ${min}, got "${text}"`);
  return n;
};
const seeds = whole('seeds', values.seeds, 1);
const parallel = whole('parallel', values.parallel, 1);
// Consecutive seeds from a fresh start each run unless --from repeats one.
const from = values.from !== undefined ? whole('from', values.from, 0) : 1 + Math.floor(Math.random() * 10_000);

const cases: Case[] = [];
for (let seed = from; seed < from + seeds; seed++) {
  cases.push({ kind: 'healthy', seed, expected: 'promoted', args: ['--seed', String(seed)] });
  cases.push({
    kind: 'errors-5%',
    seed,
    expected: 'rolled-back',
    args: ['--seed', String(seed), '--scenario', 'errors', '--canary-error-rate', '0.05'],
  });
}

const scratch = mkdtempSync(join(tmpdir(), 'sluice-acceptance-'));
const withTime = existsSync(GNU_TIME);
const queue = [...cases];
// Stopping the bench stops its demos (each demo tears its sandbox down on SIGTERM).
const children = new Set<ReturnType<typeof spawn>>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    queue.length = 0;
    // Each demo runs in its own process group (GNU time does not pass signals on): end the group.
    for (const child of children) if (child.pid) process.kill(-child.pid, 'SIGTERM');
    process.exitCode = 130;
  });
}

function runOne(c: Case): Promise<Result> {
  const dir = join(scratch, `${c.kind}-${c.seed}`);
  mkdirSync(dir, { recursive: true });
  const timeFile = join(dir, 'time.txt');
  const demo = [resolve(ROOT, 'bin/sluice.mjs'), 'demo', ...COMMON, ...c.args];
  const [command, args] = withTime ? [GNU_TIME, ['-f', '%U %S', '-o', timeFile, process.execPath, ...demo]] : [process.execPath, demo];
  const started = performance.now();
  return new Promise((done, fail) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, SLUICE_STATE_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    children.add(child);
    child.on('error', fail);
    child.on('close', () => {
      children.delete(child);
      const wallSeconds = (performance.now() - started) / 1000;
      const line = stdout.trim().split('\n').at(-1) ?? '';
      let summary: Record<string, unknown>;
      try {
        summary = JSON.parse(line) as Record<string, unknown>;
      } catch {
        summary = { outcome: 'no-summary', reason: stderr.trim().split('\n').slice(-3).join(' | ') };
      }
      let cpuSeconds: number | null = null;
      if (withTime && existsSync(timeFile)) {
        const [user, system] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)?.split(' ').map(Number) ?? [];
        if (user !== undefined && system !== undefined && Number.isFinite(user + system)) cpuSeconds = user + system;
      }
      const outcome = typeof summary.outcome === 'string' ? summary.outcome : 'unknown';
      const result: Result = {
        kind: c.kind,
        seed: c.seed,
        expected: c.expected,
        outcome,
        reason: typeof summary.reason === 'string' ? summary.reason : '',
        rolloutSeconds: typeof summary.durationMs === 'number' ? summary.durationMs / 1000 : null,
        wallSeconds,
        cpuSeconds,
        gatewayRestart: summary.gatewayRestart ?? null,
        scrapeIntervalSeconds: typeof summary.scrapeIntervalSeconds === 'number' ? summary.scrapeIntervalSeconds : null,
        pass: outcome === c.expected && wallSeconds < LIMIT_SECONDS,
      };
      if (outcome === 'no-summary') process.stdout.write(`  ${c.kind} seed ${c.seed} printed no summary: ${result.reason}\n`);
      process.stdout.write(
        `${result.pass ? 'pass' : 'FAIL'} ${c.kind.padEnd(9)} seed ${String(c.seed).padStart(5)} │ ${outcome.padEnd(11)} │ rollout ${result.rolloutSeconds?.toFixed(0) ?? '—'} s │ end to end ${wallSeconds.toFixed(0)} s │ cpu ${cpuSeconds?.toFixed(0) ?? '—'} s │ load ${loadavg()[0]?.toFixed(2)}\n`,
      );
      done(result);
    });
  });
}

const startedAt = Date.now();
const results: Result[] = [];
const loads: number[] = [];
const sampler = setInterval(() => loads.push(loadavg()[0] ?? 0), 10_000);
process.stdout.write(`seeds ${from}..${from + seeds - 1}, ${parallel} at a time; ${COMMON.join(' ')}\n`);
try {
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) results.push(await runOne(c));
    }),
  );
} finally {
  clearInterval(sampler);
  rmSync(scratch, { recursive: true, force: true });
}
results.sort((a, b) => a.kind.localeCompare(b.kind) || a.seed - b.seed);

const table = [
  '| demo | seed | outcome | rollout (s) | end to end (s) | CPU (s) | pass |',
  '|---|---|---|---|---|---|---|',
  ...results.map(
    (r) =>
      `| ${r.kind} | ${r.seed} | ${r.outcome} | ${r.rolloutSeconds?.toFixed(0) ?? '—'} | ${r.wallSeconds.toFixed(0)} | ${r.cpuSeconds?.toFixed(0) ?? '—'} | ${r.pass ? 'yes' : 'NO'} |`,
  ),
];
const failed = results.filter((r) => !r.pass);
const wall = results.map((r) => r.wallSeconds);
const out = {
  generatedAt: new Date().toISOString(),
  command: `sluice demo ${COMMON.join(' ')} --seed K [--scenario errors --canary-error-rate 0.05]`,
  seeds: { from, to: from + seeds - 1 },
  parallel,
  limitSeconds: LIMIT_SECONDS,
  seconds: (Date.now() - startedAt) / 1000,
  maxEndToEndSeconds: Math.max(...wall),
  meanLoad1m: loads.length ? loads.reduce((a, b) => a + b, 0) / loads.length : null,
  passed: results.length - failed.length,
  failed: failed.length,
  results,
};
mkdirSync(resolve(ROOT, 'bench/results'), { recursive: true });
writeFileSync(resolve(ROOT, 'bench/results/demo-acceptance.json'), `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(
  `${table.join('\n')}\n${out.passed}/${results.length} met the target (max end to end ${out.maxEndToEndSeconds.toFixed(0)} s, mean load ${out.meanLoad1m?.toFixed(2) ?? '—'}); ${out.seconds.toFixed(0)} s; wrote bench/results/demo-acceptance.json\n`,
);
process.exitCode = failed.length ? 1 : 0;
