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
 * The demo is not deterministic to the millisecond: it runs on wall-clock time against real
 * processes (apps, gateway, load generator, Prometheus), so how many requests fall in a look, the
 * p99 each look reads and the detection time in ms move from run to run, and on a loaded machine
 * CPU starvation shows up as latency. The seed fixes the routing and the apps' injected faults,
 * not the clock. So each run records everything, and the comparison uses only what a seed fixes
 * at the resolution that is stable; the file's `stable` field lists those keys.
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
  /** The reason with its numbers masked (`#`): the words say which check decided. */
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
 * The keys compared, fixed by what the first runs on unchanged code showed to be stable (see the
 * file header): the outcome, the deciding check, and the step at which the rollout was decided.
 */
const STABLE = ['exitCode', 'outcome', 'reasonShape', 'decidedAtStep'] as const;

function masked(reason: string): string {
  return reason.replace(/-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?/gi, '#');
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
  // an outcome: try again, at most three times, and say how many it took.
  while (!parsed) {
    attempts += 1;
    const dir = mkdtempSync(join(scratch, `${scenario}-${judge}-${seed}-`));
    const done = await demo(args, dir);
    code = done.code;
    const last = done.stdout.trim().split('\n').at(-1) ?? '';
    try {
      parsed = summarySchema.parse(JSON.parse(last));
    } catch (error) {
      const why = `${key}: sluice demo ${args.join(' ')} exited ${code} without a JSON summary:\n${done.stderr.slice(-1500)}`;
      if (attempts >= 3) throw new Error(why, { cause: error });
      process.stderr.write(`${why}\n(trying again)\n`);
    }
  }
  const wallSeconds = (Date.now() - began) / 1000;
  return {
    key,
    scenario,
    judge,
    seed,
    exitCode: code,
    outcome: parsed.outcome,
    reasonShape: masked(parsed.reason),
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

const recordedSchema = z.object({ runs: z.array(z.looseObject({ key: z.string() })) });

function compare(recorded: string, runs: DemoRun[]): string[] {
  const before = new Map(recordedSchema.parse(JSON.parse(readFileSync(recorded, 'utf8'))).runs.map((r) => [r.key, r]));
  const diffs: string[] = [];
  for (const run of runs) {
    const was = before.get(run.key);
    if (!was) {
      diffs.push(`${run.key}: not in ${recorded}`);
      continue;
    }
    for (const key of STABLE)
      if (was[key] !== run[key]) diffs.push(`${run.key}.${key}: ${JSON.stringify(was[key])} → ${JSON.stringify(run[key])}`);
  }
  return diffs;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '1,2,3,4,5' },
      scenarios: { type: 'string' },
      judges: { type: 'string' },
      compare: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  const seeds = values.seeds.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--seeds: expected whole numbers >= 1 separated by commas, got "${s}"`);
    return n;
  });
  const scenarios = list(values.scenarios, SCENARIOS, 'scenarios');
  const judges = list(values.judges, JUDGES, 'judges');
  const scratch = mkdtempSync(join(tmpdir(), 'sluice-demo-seeds-'));
  const startedAt = Date.now();
  const runs: DemoRun[] = [];
  try {
    for (const scenario of scenarios)
      for (const judge of judges)
        for (const seed of seeds) {
          const run = await runOne(scenario, judge, seed, scratch);
          runs.push(run);
          process.stdout.write(
            `${run.key.padEnd(28)} ${run.outcome.padEnd(12)} step ${run.decidedAtStep} after ${String(run.looks).padStart(3)} looks │ detection ${run.detectionMs === null ? '—' : `${(run.detectionMs / 1000).toFixed(1)} s`} │ ${run.reasonShape.slice(0, 70)} │ ${run.wallSeconds.toFixed(0)} s\n`,
          );
        }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
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
    const diffs = compare(OUT, runs);
    const path = values.out ? resolve(values.out) : resolve(ROOT, 'bench/results/demo-seeds-compare.json');
    writeFileSync(path, `${JSON.stringify({ ...out, comparedWith: OUT, identical: diffs.length === 0, differences: diffs }, null, 2)}\n`);
    process.stdout.write(
      diffs.length
        ? `DIFFERENT from bench/results/demo-seeds.json (${diffs.length}):\n${diffs.map((d) => `  ${d}`).join('\n')}\n`
        : `identical on ${STABLE.join(', ')}: all ${runs.length} runs match bench/results/demo-seeds.json\n`,
    );
    process.stdout.write(`${seconds.toFixed(0)} s; wrote ${path}\n`);
    process.exitCode = diffs.length ? 1 : 0;
    return;
  }
  const path = values.out ? resolve(values.out) : OUT;
  writeFileSync(path, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`${seconds.toFixed(0)} s; wrote ${path}\n`);
}

await main();
