/**
 * Reruns of the judge bench on recorded seeds: `--seeds-from FILE` replays each cell of an
 * earlier bench/results/judge.json with its own first seed and run count, and `--compare` diffs
 * the new figures against that file instead of overwriting it. A refactor that claims to keep
 * the judge's behaviour must reproduce every number exactly: the world and the judge are both
 * deterministic for a seed (a simulated clock, a seeded generator), so any difference is a
 * change in behaviour, not noise.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

const recordedSchema = z.object({
  baseSeed: z.number(),
  cells: z.array(z.looseObject({ id: z.string(), runs: z.number().int().positive(), firstSeed: z.number() })),
});

export interface RecordedCell {
  id: string;
  runs: number;
  firstSeed: number;
}

export interface Recorded {
  path: string;
  baseSeed: number;
  cells: RecordedCell[];
  /** Each cell as written, for the comparison. */
  raw: Map<string, Record<string, unknown>>;
}

export function readRecorded(path: string): Recorded {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`--seeds-from ${path}: expected a bench/results/judge.json written by npm run bench:judge`, { cause: error });
  }
  const parsed = recordedSchema.safeParse(json);
  if (!parsed.success) throw new Error(`--seeds-from ${path}: ${z.prettifyError(parsed.error)}`);
  return {
    path,
    baseSeed: parsed.data.baseSeed,
    cells: parsed.data.cells.map(({ id, runs, firstSeed }) => ({ id, runs, firstSeed })),
    raw: new Map(parsed.data.cells.map((c) => [c.id, c])),
  };
}

/** Every leaf that differs, as `cell.path: recorded → now` (floats compared exactly: same seeds, same arithmetic). */
function differences(path: string, recorded: unknown, now: unknown, out: string[]): void {
  if (typeof recorded === 'object' && recorded !== null && typeof now === 'object' && now !== null) {
    const keys = new Set([...Object.keys(recorded), ...Object.keys(now)]);
    for (const key of keys)
      differences(`${path}.${key}`, (recorded as Record<string, unknown>)[key], (now as Record<string, unknown>)[key], out);
    return;
  }
  if (!Object.is(recorded, now)) out.push(`${path}: ${JSON.stringify(recorded)} → ${JSON.stringify(now)}`);
}

/**
 * Compares the rerun with the recorded file, prints the verdict, writes `outPath` and answers
 * whether every number matched.
 */
export function compareWithRecorded(recorded: Recorded, cells: ReadonlyArray<{ id: string }>, seconds: number, outPath: string): boolean {
  const diffs: string[] = [];
  for (const cell of cells) differences(cell.id, recorded.raw.get(cell.id), JSON.parse(JSON.stringify(cell)) as unknown, diffs);
  const identical = diffs.length === 0;
  const out = {
    generatedAt: new Date().toISOString(),
    comparedWith: recorded.path,
    baseSeed: recorded.baseSeed,
    cells: cells.length,
    rollouts: recorded.cells.filter((r) => cells.some((c) => c.id === r.id)).reduce((n, c) => n + c.runs, 0),
    seconds,
    identical,
    differences: diffs,
  };
  writeFileSync(outPath, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(
    identical
      ? `identical: all ${cells.length} cells (${out.rollouts} rollouts) match ${recorded.path}\n`
      : `DIFFERENT from ${recorded.path} (${diffs.length}):\n${diffs.map((d) => `  ${d}`).join('\n')}\n`,
  );
  return identical;
}
