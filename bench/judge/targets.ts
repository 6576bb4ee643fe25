/**
 * The judge bench's targets and how a measured figure is held against them.
 *
 * A rate bound ("rolls back ≤ 1% of healthy canaries", "ends ≤ 5% of steps early") holds when the
 * point estimate is within it AND the exact 95% Clopper–Pearson upper bound is within 1.5× it: a
 * small sample cannot pass on luck, and a large one is not failed by a bound it meets.
 * Time to promote is a mean (no rate bound): its point estimate is held against the target, with a
 * normal 95% interval printed beside it. Errors served by bad canaries are held, in the mean over
 * runs, against max(Flagger ÷ 10, 3 × the oracle).
 */
import jStat from 'jstat';

/**
 * Exact (Clopper–Pearson) upper bound of a two-sided interval for a binomial rate: the
 * (1 + confidence)/2 quantile of Beta(k + 1, n − k). jStat's incomplete-beta inverse; the test
 * checks it against SciPy's beta.ppf.
 */
export function clopperPearsonUpper(k: number, n: number, confidence = 0.95): number {
  if (!(Number.isInteger(k) && Number.isInteger(n) && k >= 0 && n >= 0 && k <= n))
    throw new Error(`clopperPearsonUpper: expected whole numbers 0 <= k <= n, got k=${k}, n=${n}`);
  if (n === 0 || k === n) return 1;
  return jStat.beta.inv(1 - (1 - confidence) / 2, k + 1, n - k);
}

export interface RateCheck {
  k: number;
  n: number;
  rate: number;
  upper95: number;
  bound: number;
  pass: boolean;
}

/** The issue's rule for a rate bound: point estimate ≤ bound and 95% CP upper bound ≤ 1.5 × bound. */
export function rateWithin(k: number, n: number, bound: number): RateCheck {
  const rate = n ? k / n : 0;
  const upper95 = clopperPearsonUpper(k, n);
  return { k, n, rate, upper95, bound, pass: n > 0 && rate <= bound && upper95 <= 1.5 * bound };
}

/** Mean and a normal 95% half-width. */
export function meanWithSpread(values: readonly number[]): { mean: number; halfWidth95: number } | null {
  if (!values.length) return null;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, halfWidth95: 1.96 * Math.sqrt(variance / values.length) };
}

/** What the targets need to know about a cell. */
export interface TargetCell {
  id: string;
  kind: 'healthy' | 'bad';
  rps: number;
  scrapeSeconds: number;
  stepSeconds: number;
  /** The canary is at most half its limit all along (no shared burst pushes it over). */
  canaryWithinHalfLimit: boolean;
  /** A 2× canary inside its threshold: ending steps early is what it must rarely do. */
  twiceInsideThreshold: boolean;
}

/** What the targets read from a cell's runs. */
export interface TargetInput {
  runs: number;
  rolledBack: number;
  promoteVsFixed: readonly number[];
  steps: number;
  earlySteps: number;
  meanErrors?: { sequential: number; flagger: number; oracle: number } | undefined;
  /** The promotion oracles' mean times to promote (bench/judge.ts): above the bound, the bound is out of reach. */
  oraclePromoteVsFixed?: { 'one-arm': number; 'two-arm': number } | undefined;
}

export interface TargetRow {
  cell: string;
  target: string;
  measured: string;
  pass: boolean;
}

const pct = (v: number) => `${(100 * v).toFixed(v < 0.01 ? 2 : 1)}%`;

/** The promotion oracle's figure beside a time-to-promote target, and whether any test could meet it. */
function oracleNote(oracle: TargetInput['oraclePromoteVsFixed'], bound: number): string {
  if (oracle === undefined) return '';
  const reach =
    oracle['one-arm'] > bound
      ? ' (out of reach: no test with this alphaPromote meets it)'
      : oracle['two-arm'] > bound
        ? ' (out of reach for a test that compares the arms)'
        : '';
  return `; oracles ${oracle['one-arm'].toFixed(2)} one-arm / ${oracle['two-arm'].toFixed(2)} two-arm${reach}`;
}

/** Every target the issue sets that applies to this cell. */
export function targetsFor(cell: TargetCell, input: TargetInput): TargetRow[] {
  const rows: TargetRow[] = [];
  if (cell.kind === 'healthy') {
    if (cell.rps >= 1) {
      const check = rateWithin(input.rolledBack, input.runs, 0.01);
      rows.push({
        cell: cell.id,
        target: 'rolled back ≤ 1% (95% CP upper ≤ 1.5%)',
        measured: `${pct(check.rate)} (≤ ${pct(check.upper95)})`,
        pass: check.pass,
      });
    }
    const promote = meanWithSpread(input.promoteVsFixed);
    const bound =
      !cell.canaryWithinHalfLimit || cell.stepSeconds !== 300
        ? null
        : cell.scrapeSeconds <= 15 && cell.rps >= 200
          ? 0.6
          : cell.scrapeSeconds >= 30 && cell.scrapeSeconds <= 60
            ? 1.0
            : null;
    if (bound !== null) {
      rows.push({
        cell: cell.id,
        target: `mean time to promote ≤ ${bound.toFixed(1)} × fixed`,
        measured: `${promote ? `${promote.mean.toFixed(2)} ± ${promote.halfWidth95.toFixed(3)}` : 'none promoted'}${oracleNote(input.oraclePromoteVsFixed, bound)}`,
        pass: promote !== null && promote.mean <= bound,
      });
    }
  } else {
    if (cell.twiceInsideThreshold) {
      const check = rateWithin(input.earlySteps, input.steps, 0.05);
      rows.push({
        cell: cell.id,
        target: 'steps ended early ≤ 5% (95% CP upper ≤ 7.5%)',
        measured: `${pct(check.rate)} (≤ ${pct(check.upper95)})`,
        pass: check.pass,
      });
    }
    const e = input.meanErrors;
    if (e) {
      const bound = Math.max(e.flagger / 10, 3 * e.oracle);
      rows.push({
        cell: cell.id,
        target: 'mean canary errors ≤ max(Flagger ÷ 10, 3 × oracle)',
        measured: `${e.sequential.toFixed(0)} ≤ max(${(e.flagger / 10).toFixed(0)}, ${(3 * e.oracle).toFixed(0)})`,
        pass: e.sequential <= bound,
      });
    }
  }
  return rows;
}

/** A markdown table of the targets, with a pass/fail column. */
export function targetTable(rows: readonly TargetRow[]): string {
  return [
    '| cell | target | measured | pass |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.cell} | ${r.target} | ${r.measured} | ${r.pass ? 'pass' : '**FAIL**'} |`),
  ].join('\n');
}
