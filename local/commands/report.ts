/**
 * `sluice report <execution|summary.json> [--out FILE]`: the rollout as one self-contained HTML
 * file. A summary (what `--json` prints) is read from a file; anything else names an execution in
 * the local store (or a target, whose latest rollout is drawn).
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { openSqliteStore } from '../../lambdas/adapters/store/sqlite.ts';
import { EXIT } from '../exit-codes.ts';
import { isFleetSummary } from '../report/fleet-report.ts';
import { parseSummaryJson, reportDataFromStore, reportDataFromSummary } from '../report/report-data.ts';
import type { ReportData } from '../report/report-data.ts';
import { renderReport } from '../report/render.ts';
import { stateDir, storePath } from '../runtime.ts';

export interface ReportIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

type Loaded = { ok: true; data: ReportData } | { ok: false; message: string };

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function fromSummaryFile(path: string): Loaded {
  if (!isFile(path)) return { ok: false, message: `no such summary file: ${path}` };
  try {
    return { ok: true, data: reportDataFromSummary(parseSummaryJson(readFileSync(path, 'utf8'))) };
  } catch (error) {
    return { ok: false, message: `${path}: ${error instanceof Error ? error.message : String(error)}` };
  }
}

async function fromStore(name: string): Promise<Loaded> {
  const dir = stateDir();
  const file = storePath(dir);
  // Opening the store creates it: look first, so a typo does not leave an empty database behind.
  if (!existsSync(file))
    return {
      ok: false,
      message: `no local rollouts in ${dir} (no ${file}); pass a summary .json, or run \`sluice demo\` there or set SLUICE_STATE_DIR`,
    };
  const store = openSqliteStore(file);
  try {
    const data = await reportDataFromStore(store, name);
    if (data) return { ok: true, data };
    // A target name stands for its latest rollout.
    const latest = (await store.listRollouts(name, 1))[0];
    const ofTarget = latest ? await reportDataFromStore(store, latest.execution) : null;
    if (ofTarget) return { ok: true, data: ofTarget };
    return { ok: false, message: `no execution or target named "${name}" in ${file}` };
  } finally {
    await store.close();
  }
}

/** A file name from an execution name (which, from a summary file, could be anything). */
function fileName(execution: string): string {
  const safe = execution.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '');
  return `${safe || 'rollout'}.html`;
}

/** A fleet's summary (it lists clusters) gets the fleet page; undefined for anything else. */
function fleetSummaryJson(path: string): unknown {
  if (!isFile(path)) return undefined;
  try {
    const json: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return isFleetSummary(json) ? json : undefined;
  } catch {
    return undefined;
  }
}

export async function reportCommand(arg: string, options: { out?: string }, io: ReportIo): Promise<number> {
  const fleet = fleetSummaryJson(arg);
  if (fleet !== undefined) {
    const { fleetReportCommand } = await import('./report-fleet.ts');
    return fleetReportCommand(arg, fleet, options, io);
  }
  const loaded = arg.toLowerCase().endsWith('.json') || isFile(arg) ? fromSummaryFile(arg) : await fromStore(arg);
  if (!loaded.ok) {
    io.stderr(`${loaded.message}\n`);
    return EXIT.invalid;
  }
  const out = resolve(options.out ?? join(stateDir(), 'reports', fileName(loaded.data.execution)));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, renderReport(loaded.data));
  const shown = relative(process.cwd(), out);
  io.stdout(`${shown && !shown.startsWith('..') ? shown : out}\n`);
  return EXIT.ok;
}
