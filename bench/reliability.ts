/**
 * The reliability soak: `npm run reliability [-- --n 12] [-- --seed 20261206] [-- --fleets 3] [-- --out FILE] [-- --markdown]`.
 *
 * N rollouts at once on distinct targets in one Kubernetes API stand-in and one local engine, each
 * with faults from the menu (bench/reliability/faults.ts); after the faults heal and one reconcile
 * period, the invariants (a)-(g) are checked against the API server. Prints a table per fault kind,
 * writes bench/results/reliability.json (top-level `violations`, empty on a pass) and exits 1 on any
 * violation. docs/reliability-soak.md explains the menu, the invariants and the time scale.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { KindSummary, SoakReport } from './reliability/soak.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function integer(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${flag}: expected a whole number ≥ 1, got "${value}"`);
  return parsed;
}

/** Rollouts with no time to the safe side: Sluice's failures ("never") apart from groups someone else took over. */
function offSafeSide(s: KindSummary): string {
  const parts = [
    ...(s.timeToSafeSideMs.neverSafe ? [`${s.timeToSafeSideMs.neverSafe} never`] : []),
    ...(s.timeToSafeSideMs.takenOver ? [`${s.timeToSafeSideMs.takenOver} taken over`] : []),
  ];
  return parts.length ? ` (${parts.join(', ')})` : '';
}

export function formatTable(report: SoakReport): string {
  const lines = [
    `reliability soak: n=${report.n} (+${report.rollouts.length - report.n} re-dealt) seed=${report.seed} in ${(report.durationMs / 1000).toFixed(1)} s; reconciler ${report.reconciler.ran ? 'ran' : 'absent'}`,
    `sustained outage ${report.budget.sustainedOutageMs} ms = 3 × ${report.budget.longestState}'s compressed retry budget (${report.budget.longestCompressedMs} ms); the real ASL gives up after ${report.budget.realOutageSurvivedSeconds} s of outage`,
    '',
    `${'fault kind'.padEnd(26)}${'planned'.padStart(8)}${'redealt'.padStart(8)}${'injected'.padStart(9)}${'violations'.padStart(11)}  ${'safe-side ms (median/max)'.padEnd(26)}end states`,
  ];
  for (const [kind, s] of Object.entries(report.kinds)) {
    const ends = Object.entries(s.endStates)
      .map(([state, count]) => `${state}:${count}`)
      .join(' ');
    const time = `${s.timeToSafeSideMs.median ?? '-'}/${s.timeToSafeSideMs.max ?? '-'}${offSafeSide(s)}`;
    lines.push(
      `${kind.padEnd(26)}${String(s.planned).padStart(8)}${String(s.redealt).padStart(8)}${String(s.injected).padStart(9)}${String(s.violations).padStart(11)}  ${time.padEnd(26)}${ends}`,
    );
  }
  lines.push(
    '',
    'taken-over: someone else wrote the group last (only rollouts that also carry foreign-weights); Sluice leaves it and reports failed.',
  );
  // Not a violation of Sluice's, but a soak too soft to judge those kinds: said, so a run is not read as proof for them.
  const soft = Object.entries(report.kinds).filter(([, s]) => s.injected < 2);
  if (soft.length > 0)
    lines.push(
      '',
      `injected fewer than twice (this run proves nothing for them): ${soft.map(([k, s]) => `${k} ${s.injected}`).join(', ')}`,
    );
  lines.push('', `${report.violations.length} violation(s)`);
  for (const v of report.violations) lines.push(`  (${v.invariant}) ${v.target} [${v.kinds.join(', ')}]: ${v.message}`);
  return `${lines.join('\n')}\n`;
}

/** The per-kind table as Markdown (docs/reliability-soak.md shows the before and after tables). */
export function formatMarkdown(report: SoakReport): string {
  const byInvariant = (kind: string) => {
    const letters = report.violations.filter((v) => v.kinds.includes(kind as never)).map((v) => v.invariant);
    return [...new Set(letters)].sort().join(' ') || '—';
  };
  const lines = [
    `| fault kind | planned | re-dealt | injected | end states (API server) | reported outcomes | violations | invariants broken | time to safe side, median / max ms |`,
    `|---|---:|---:|---:|---|---|---:|---|---|`,
  ];
  for (const [kind, s] of Object.entries(report.kinds)) {
    const ends = Object.entries(s.endStates)
      .map(([state, count]) => `${state} ${count}`)
      .join(', ');
    const outcomes = Object.entries(s.outcomes)
      .map(([outcome, count]) => `${outcome} ${count}`)
      .join(', ');
    const time = `${s.timeToSafeSideMs.median ?? '—'} / ${s.timeToSafeSideMs.max ?? '—'}${offSafeSide(s)}`;
    lines.push(
      `| ${kind} | ${s.planned} | ${s.redealt} | ${s.injected} | ${ends} | ${outcomes} | ${s.violations} | ${byInvariant(kind)} | ${time} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<number> {
  // The handlers log every failed task as JSON; the soak reports through its table instead.
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  const { DEFAULT_N, DEFAULT_SEED, runSoak } = await import('./reliability/soak.ts');
  const { values } = parseArgs({
    options: {
      n: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      markdown: { type: 'boolean' },
      fleets: { type: 'string' },
    },
  });
  const n = integer(values.n, DEFAULT_N, '--n');
  const seed = integer(values.seed, DEFAULT_SEED, '--seed');
  const out = resolve(values.out ?? `${root}/bench/results/reliability.json`);
  // Fleet releases (three clusters, a fault in one) after the rollouts: one per four, at least 3; `--fleets 0` skips them.
  const fleets = values.fleets === '0' ? 0 : integer(values.fleets, Math.max(3, Math.ceil(n / 4)), '--fleets');
  const report = await runSoak({ n, seed, fleets, log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(values.markdown ? formatMarkdown(report) : formatTable(report));
  if (report.fleet) process.stdout.write((await import('./reliability/fleet.ts')).formatFleetTable(report.fleet));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`wrote ${out}\n`);
  return report.violations.length === 0 && (report.fleet?.violations.length ?? 0) === 0 ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(2);
    },
  );
}
