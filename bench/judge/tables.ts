/**
 * The judge bench's two tables (markdown): healthy cells next to the issue's figures for the code
 * before per-source counting, bad cells with the errors each judge let through.
 */
import { clopperPearsonUpper } from './targets.ts';

/** What the tables read from a cell's result. */
export interface TableCell {
  id: string;
  kind: 'healthy' | 'bad';
  runs: number;
  before?: string | undefined;
  rolledBackRate: number;
  rolledBackUpper95: number;
  meanPromoteVsFixed: number | null;
  promoteVsFixedHalfWidth95: number | null;
  oraclePromoteVsFixed?: { 'one-arm': number; 'two-arm': number } | undefined;
  earlyStepRate: number;
  steps: number;
  earlySteps: number;
  meanErrors?: { sequential: number; flagger: number; oracle: number } | undefined;
  medianErrors?: { sequential: number; flagger: number; oracle: number } | undefined;
  targets: ReadonlyArray<{ pass: boolean }>;
}

const pct = (v: number) => `${(100 * v).toFixed(v < 0.01 ? 2 : 1)}%`;
const verdict = (c: TableCell) => (c.targets.length === 0 ? '—' : c.targets.every((t) => t.pass) ? 'pass' : '**FAIL**');

export function cellTables(cells: readonly TableCell[]): string {
  const healthy = cells.filter((c) => c.kind === 'healthy');
  const bad = cells.filter((c) => c.kind === 'bad');
  const lines = [
    '| healthy cell | runs | rolled back (95% upper) | promote ÷ fixed | oracles: one-arm / two-arm | steps ended early | today (before) | targets |',
    '|---|---|---|---|---|---|---|---|',
    ...healthy.map(
      (c) =>
        `| ${c.id} | ${c.runs} | ${pct(c.rolledBackRate)} (≤ ${pct(c.rolledBackUpper95)}) | ${
          c.meanPromoteVsFixed === null ? '—' : `${c.meanPromoteVsFixed.toFixed(2)} ± ${(c.promoteVsFixedHalfWidth95 ?? 0).toFixed(3)}`
        } | ${c.oraclePromoteVsFixed === undefined ? '—' : `${c.oraclePromoteVsFixed['one-arm'].toFixed(2)} / ${c.oraclePromoteVsFixed['two-arm'].toFixed(2)}`} | ${pct(c.earlyStepRate)} | ${c.before ?? ''} | ${verdict(c)} |`,
    ),
  ];
  if (bad.length) {
    lines.push(
      '',
      '| bad cell | runs | rolled back | steps ended early (95% upper) | mean canary errors: sequential / Flagger / oracle (median) | today (before) | targets |',
      '|---|---|---|---|---|---|---|',
      ...bad.map((c) => {
        const upper = clopperPearsonUpper(c.earlySteps, c.steps);
        const m = c.meanErrors;
        const d = c.medianErrors;
        const errors =
          m && d
            ? `${m.sequential.toFixed(0)} / ${m.flagger.toFixed(0)} / ${m.oracle.toFixed(0)} (${d.sequential.toFixed(0)} / ${d.flagger.toFixed(0)} / ${d.oracle.toFixed(0)})`
            : '—';
        return `| ${c.id} | ${c.runs} | ${pct(c.rolledBackRate)} | ${pct(c.earlyStepRate)} (≤ ${pct(upper)}) | ${errors} | ${c.before ?? ''} | ${verdict(c)} |`;
      }),
    );
  }
  return lines.join('\n');
}
