/**
 * `npm run bench:demo-seeds`: runs `sluice demo --seed N --json` for seeds 1..5 over the default
 * (healthy) and `--scenario errors` scenarios, with the default threshold judge and with
 * `--judge sequential`, and writes what each run decided to bench/results/demo-seeds.json.
 * `--compare` reruns the same grid and diffs it against the committed file: a refactor that
 * claims to keep the rollout's behaviour must leave it unchanged.
 *
 *   npm run bench:demo-seeds                          # record
 *   npm run bench:demo-seeds -- --compare             # rerun and diff (exit 1 on a difference)
 *   npm run bench:demo-seeds -- --seeds 1,2 --judges sequential --scenarios errors
 *
 * The demo is not deterministic for a seed: it runs on wall-clock time against real processes
 * (apps, gateway, load generator, Prometheus). The seed fixes the routing and the apps' injected
 * faults, not the clock: how many requests fall in a look, the p99 each look reads, how many looks
 * fit in a step and the detection time move from run to run, and on a loaded machine CPU
 * starvation shows up as canary latency (and timeouts). Measured on a shared 2-core machine at
 * load 10-45, two passes of unchanged code agreed on every `errors` run's outcome and deciding check
 * (rolled back, success rate for threshold, "canary worse" for sequential) but not on the step or
 * look of detection, and not even on some healthy runs' outcome (p99 over 250 ms rolled back
 * healthy canaries under the threshold judge). So each run records everything; the comparison
 * uses the `stable` keys, and the committed file's `unstable` list names the runs whose stable
 * keys already differed between two passes of the same code (their differences count as drift).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = resolve(ROOT, 'bench/results/demo-seeds.json');

const SCENARIOS = ['healthy', 'errors'] as const;
const JUDGES = ['threshold', 'sequential'] as const;

/** The part of the demo's --json summary this harness reads. */
const summarySchema = z.object({
  outcome: z.string(),
  reason: z.string(),
  durationMs: z.number(),
  transitions: z.number(),
  detectionMs: z.number().optional(),
  requests: z.object({ total: z.number(), canary: z.number(), canaryErrors: z.number() }).optional(),
  steps: z.array(z.object({ stepIndex: z.number(), verdict: z.string(), summary: z.string() })),
});

export interface DemoRun {
  key: string;
  scenario: (typeof SCENARIOS)[number];
  judge: (typeof JUDGES)[number];
  seed: number;
  exitCode: number;
  outcome: string;
  /** The deciding part of the reason, numbers masked (`#`): the words say which check decided. */
  reasonShape: string;
  /** The step (weight index) of the last look: where the decision was taken. */
  decidedAtStep: number;
  /** Looks until the decision (1-based): the detection time in looks. */
  looks: number;
  /** Verdicts per step, e.g. `0:pass,pass 1:pass`. */
  verdicts: string;
  /** Wall-clock figures, recorded for the reader, not compared. */
  detectionMs: number | null;
  durationMs: number;
  transitions: number;
  canaryRequests: number;
  canaryErrors: number;
  wallSeconds: number;
  /** Sandbox starts it took (more than 1: the machine was too busy to start an app in time). */
  attempts: number;
}

/**
 * The keys compared: the outcome and the check that decided it. Two runs of the grid on unchanged
 * code agreed on these and on nothing finer (see the file header and DRIFTING).
 */
const STABLE = ['exitCode', 'outcome', 'reasonShape'] as const;

/** A run whose sandbox never came up: recorded, and left out of the comparison (listed as not run). */
const NOT_RUN = { outcome: 'not-run', reasonShape: '', decidedAtStep: -1, looks: 0, verdicts: '' } as const;
const NO_FIGURES = { detectionMs: null, durationMs: 0, transitions: 0, canaryRequests: 0, canaryErrors: 0 } as const;

/**
 * The deciding part of a reason, numbers masked: up to the first "; " (the verdict leads with what
 * decided it; the checks after it, e.g. a p99 that passed this time, move with the machine's load).
 */
function decidingShape(reason: string): string {
  return (reason.split('; ')[0] ?? '').replace(/-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?/gi, '#');
}

function verdictsByStep(steps: Array<{ stepIndex: number; verdict: string }>): string {
  const byStep = new Map<number, string[]>();
  for (const s of steps) byStep.set(s.stepIndex, [...(byStep.get(s.stepIndex) ?? []), s.verdict]);
  return [...byStep].map(([step, verdicts]) => `${step}:${verdicts.join(',')}`).join(' ');
}

async function demo(args: string[], stateDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  // process.execPath is Node 24 under npm run (the `node` devDependency is first on PATH).
  const child = spawn(process.execPath, [resolve(ROOT, 'bin/sluice.mjs'), 'demo', ...args], {
    cwd: ROOT,
    env: { ...process.env, SLUICE_STATE_DIR: stateDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number>((done, fail) => {
    child.on('error', fail);
    child.on('close', (c) => done(c ?? -1));
  });
  return { code, stdout, stderr };
}

async function runOne(scenario: DemoRun['scenario'], judge: DemoRun['judge'], seed: number, scratch: string): Promise<DemoRun> {
  const key = `${scenario}/${judge}/seed-${seed}`;
  const args = ['--seed', String(seed), '--json'];
  if (scenario !== 'healthy') args.push('--scenario', scenario);
  if (judge !== 'threshold') args.push('--judge', judge);
  const began = Date.now();
  let attempts = 0;
  let code = -1;
  let parsed: z.infer<typeof summarySchema> | undefined;
  // A sandbox that did not come up (an app without a port in time on a starved machine) is not
  // an outcome: try again, at most five times, and say how many it took.
  while (!parsed && attempts < 5) {
    attempts += 1;
    const dir = mkdtempSync(join(scratch, `${scenario}-${judge}-${seed}-`));
    const done = await demo(args, dir);
    code = done.code;
    const last = done.stdout.trim().split('\n').at(-1) ?? '';
    try {
      parsed = summarySchema.parse(JSON.parse(last));
    } catch (error) {
      const why = `${key}: sluice demo ${args.join(' ')} exited ${code} without a JSON summary (${String(error)}):\n${done.stderr.slice(-1500)}`;
      process.stderr.write(`${why}\n${attempts < 5 ? '(trying again)' : '(giving up on this run)'}\n`);
    }
  }
  const wallSeconds = (Date.now() - began) / 1000;
  if (!parsed) return { ...NOT_RUN, ...NO_FIGURES, key, scenario, judge, seed, exitCode: code, wallSeconds, attempts };
  return {
    key,
    scenario,
    judge,
    seed,
    exitCode: code,
    outcome: parsed.outcome,
    reasonShape: decidingShape(parsed.reason),
    decidedAtStep: parsed.steps.at(-1)?.stepIndex ?? -1,
    looks: parsed.steps.length,
    verdicts: verdictsByStep(parsed.steps),
    detectionMs: parsed.detectionMs ?? null,
    durationMs: parsed.durationMs,
    transitions: parsed.transitions,
    canaryRequests: parsed.requests?.canary ?? 0,
    canaryErrors: parsed.requests?.canaryErrors ?? 0,
    wallSeconds,
    attempts,
  };
}

function list<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T[] {
  if (value === undefined) return [...allowed];
  return value.split(',').map((v) => {
    if (!(allowed as readonly string[]).includes(v)) throw new Error(`--${flag}: expected some of ${allowed.join(', ')}, got "${v}"`);
    return v as T;
  });
}

const recordedSchema = z.object({
  runs: z.array(z.looseObject({ key: z.string() })),
  /** Runs whose stable keys already differed between two passes on the same code: their differences are drift. */
  unstable: z.array(z.string()).optional(),
});

/** Keys recorded and diffed for the reader, never failing the comparison: they move with the machine's load. */
const DRIFTING = ['decidedAtStep', 'looks', 'verdicts'] as const;

function compare(recorded: string, runs: DemoRun[]): { diffs: string[]; drift: string[]; notRun: string[] } {
  const file = recordedSchema.parse(JSON.parse(readFileSync(recorded, 'utf8')));
  const before = new Map(file.runs.map((r) => [r.key, r]));
  const unstable = new Set(file.unstable ?? []);
  const diffs: string[] = [];
  const drift: string[] = [];
  const notRun: string[] = [];
  for (const run of runs) {
    const was = before.get(run.key);
    if (run.outcome === NOT_RUN.outcome || was?.outcome === NOT_RUN.outcome) {
      notRun.push(run.key);
      continue;
    }
    if (!was) {
      diffs.push(`${run.key}: not in ${recorded}`);
      continue;
    }
    // Files recorded before the reason was cut at its deciding part compare the same way.
    const now: Record<string, unknown> = { ...run, reasonShape: decidingShape(run.reasonShape) };
    const then: Record<string, unknown> = { ...was, reasonShape: decidingShape(String(was.reasonShape)) };
    for (const key of STABLE)
      if (then[key] !== now[key])
        (unstable.has(run.key) ? drift : diffs).push(`${run.key}.${key}: ${JSON.stringify(then[key])} → ${JSON.stringify(now[key])}`);
    for (const key of DRIFTING)
      if (was[key] !== run[key]) drift.push(`${run.key}.${key}: ${JSON.stringify(was[key])} → ${JSON.stringify(run[key])}`);
  }
  return { diffs, drift, notRun };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '1,2,3,4,5' },
      scenarios: { type: 'string' },
      judges: { type: 'string' },
      compare: { type: 'boolean', default: false },
      out: { type: 'string' },
      from: { type: 'string' },
    },
  });
  const seeds = values.seeds.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--seeds: expected whole numbers >= 1 separated by commas, got "${s}"`);
    return n;
  });
  const scenarios = list(values.scenarios, SCENARIOS, 'scenarios');
  const judges = list(values.judges, JUDGES, 'judges');
  const startedAt = Date.now();
  let runs: DemoRun[] = [];
  if (values.from) {
    // An earlier run's file, compared without running the demos again.
    runs = (JSON.parse(readFileSync(resolve(values.from), 'utf8')) as { runs: DemoRun[] }).runs;
  } else {
    const scratch = mkdtempSync(join(tmpdir(), 'sluice-demo-seeds-'));
    const partial = values.out ? resolve(values.out) : OUT;
    try {
      for (const scenario of scenarios)
        for (const judge of judges)
          for (const seed of seeds) {
            const run = await runOne(scenario, judge, seed, scratch);
            runs.push(run);
            // Kept as it goes: a pass that dies part way still leaves what it ran.
            writeFileSync(`${partial}.partial`, `${JSON.stringify({ runs }, null, 2)}\n`);
            process.stdout.write(
              `${run.key.padEnd(28)} ${run.outcome.padEnd(12)} step ${run.decidedAtStep} after ${String(run.looks).padStart(3)} looks │ detection ${run.detectionMs === null ? '—' : `${(run.detectionMs / 1000).toFixed(1)} s`} │ ${run.reasonShape.slice(0, 70)} │ ${run.wallSeconds.toFixed(0)} s\n`,
            );
          }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  const seconds = (Date.now() - startedAt) / 1000;
  const out = {
    generatedAt: new Date().toISOString(),
    seconds,
    note: 'sluice demo runs on wall-clock time against real processes; only the `stable` keys are compared (see bench/demo-seeds.ts)',
    stable: STABLE,
    runs,
  };
  mkdirSync(dirname(OUT), { recursive: true });
  if (values.compare) {
    const { diffs, drift, notRun } = compare(OUT, runs);
    const path = values.out ? resolve(values.out) : resolve(ROOT, 'bench/results/demo-seeds-compare.json');
    const verdict = { comparedWith: OUT, identical: diffs.length === 0, differences: diffs, notRun, drift };
    writeFileSync(path, `${JSON.stringify({ ...out, ...verdict }, null, 2)}\n`);
    process.stdout.write(
      diffs.length
        ? `DIFFERENT from bench/results/demo-seeds.json (${diffs.length}):\n${diffs.map((d) => `  ${d}`).join('\n')}\n`
        : `identical on ${STABLE.join(', ')}: all ${runs.length} runs match bench/results/demo-seeds.json\n`,
    );
    if (notRun.length) process.stdout.write(`not run (the sandbox never came up), left out: ${notRun.join(', ')}\n`);
    process.stdout.write(`drift on ${DRIFTING.join(', ')} (not compared): ${drift.length} of ${runs.length * DRIFTING.length}\n`);
    process.stdout.write(`${seconds.toFixed(0)} s; wrote ${path}\n`);
    process.exitCode = diffs.length ? 1 : 0;
    return;
  }
  const path = values.out ? resolve(values.out) : OUT;
  writeFileSync(path, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`${seconds.toFixed(0)} s; wrote ${path}\n`);
}

await main();
