/**
 * `sluice report <fleet summary.json>`: the fleet page (one lane per cluster). The summary is what
 * `sluice run <fleet spec> --local --json` or `sluice demo --fleet --json` printed; each cluster's
 * rollout is read from the local store by its member execution, as `sluice report <execution>` does.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { openSqliteStore } from '../../lambdas/adapters/store/sqlite.ts';
import { EXIT } from '../exit-codes.ts';
import { fleetReportData, fleetSummarySchema, renderFleetReport } from '../report/fleet-report.ts';
import { stateDir, storePath } from '../runtime.ts';

interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export async function fleetReportCommand(path: string, json: unknown, options: { out?: string }, io: Io): Promise<number> {
  const parsed = fleetSummarySchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(the summary)'}: ${issue.message}`);
    io.stderr(`${path}: not a fleet summary: ${problems.join('; ')}\n`);
    return EXIT.invalid;
  }
  const dir = stateDir();
  const file = storePath(dir);
  // Opening the store creates it: look first, so a wrong directory does not leave an empty database behind.
  if (!existsSync(file)) {
    io.stderr(`${path}: the fleet's rollouts are read from the local store, and there is none in ${dir} (set SLUICE_STATE_DIR)\n`);
    return EXIT.invalid;
  }
  const store = openSqliteStore(file);
  try {
    const data = await fleetReportData(store, parsed.data);
    const out = resolve(options.out ?? join(dir, 'reports', `${parsed.data.execution.replace(/[^A-Za-z0-9._-]+/g, '_')}.html`));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, renderFleetReport(data));
    const missing = data.lanes.filter((lane) => lane.outcome !== 'not-started' && !lane.rollout).map((lane) => lane.cluster);
    if (missing.length) io.stderr(`no record in ${file} for cluster ${missing.join(', ')}: drawn without its weights\n`);
    const shown = relative(process.cwd(), out);
    io.stdout(`${shown && !shown.startsWith('..') ? shown : out}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
