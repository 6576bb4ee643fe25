/**
 * The sequential judge's picture: what decided the rollout, look by look. The judge never compares
 * a look's rate with a threshold; it multiplies evidence into e-values and acts when one reaches
 * its bar. So these charts draw each look's counts as rates (named by what was counted: "errors",
 * "requests over 500 ms"), the failure e-value against 1/alpha, the promotion e-value against
 * 1/alphaPromote, and the confidence bounds of the canary/primary rate ratio — and no look gets a
 * pass mark: an undecided look is "continue".
 */
import type { CheckEvidence, VerdictEvidence } from '../../lambdas/core/verdict.ts';
import { chartTitle, endLabels, grid, lookLabel, outcomeLine, svgOpen, verdictMarker, verdictShape } from './chart-parts.ts';
import { escapeHtml as esc, formatPercent, formatTick, round, weightLabel } from './format.ts';
import type { ReportData, ReportLook } from './report-data.ts';
import { PLOT_W, frameFor, n, niceCeil, niceTicks } from './scales.ts';
import type { Frame } from './scales.ts';
import { COLOR, VERDICT_GLYPH, VERDICT_WORD } from './style.ts';

const METRIC_COLORS = [COLOR.canary, '#7c3aed', '#0f766e'] as const;
const PROMOTE_COLOR = '#15803d';

/** A metric the judge counted, in the order of the looks' checks. */
interface CountedMetric {
  name: string;
  /** What the events are: "errors", "requests over 500 ms". */
  counted: string;
}

/** The metrics whose checks carry the judge's evidence. */
function countedMetrics(data: ReportData): CountedMetric[] {
  const seen = new Map<string, string>();
  for (const look of data.looks)
    for (const check of look.checks)
      if (check.evidence && !seen.has(check.name)) seen.set(check.name, check.evidence.counted ?? check.name);
  return [...seen].map(([name, counted]) => ({ name, counted }));
}

function evidenceOf(look: ReportLook, name: string): CheckEvidence | undefined {
  return look.checks.find((check) => check.name === name)?.evidence;
}

/** An e-value in few characters: 0.034, 1.61, 35.6, 213, 4.1e5. */
export function formatE(value: number): string {
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '0';
  if (value >= 1e4) return value.toExponential(1).replace('e+', 'e');
  if (value >= 100) return round(value, 0);
  return String(Number(value.toPrecision(3)));
}

function rateOf(arm: { requests: number; events: number }): number | null {
  return arm.requests > 0 ? (100 * arm.events) / arm.requests : null;
}

function armText(arm: { requests: number; events: number }, counted: string): string {
  const rate = rateOf(arm);
  return `${arm.events.toLocaleString('en-US')} ${counted} of ${arm.requests.toLocaleString('en-US')} requests${rate === null ? '' : ` (${formatPercent(rate)})`}`;
}

// ---------------------------------------------------------------- log scales

interface LogFrame extends Frame {
  lo: number;
  hi: number;
}

/** A frame whose y axis is logarithmic over [lo, hi] (both powers of ten). */
function logFrame(data: ReportData, plotHeight: number, lo: number, hi: number, axis: boolean): LogFrame {
  const linear = frameFor(data, plotHeight, Math.log10(lo), Math.log10(hi), axis);
  return { ...linear, y: (v) => linear.y(Math.log10(Math.max(v, Number.MIN_VALUE))), lo, hi };
}

/** Powers of ten from lo to hi, thinned to at most six. */
function decadeTicks(lo: number, hi: number): { v: number; label: string }[] {
  const from = Math.round(Math.log10(lo));
  const to = Math.round(Math.log10(hi));
  const every = Math.max(1, Math.ceil((to - from) / 5));
  const ticks: { v: number; label: string }[] = [];
  for (let p = from; p <= to; p += every) ticks.push({ v: 10 ** p, label: formatE(10 ** p) });
  return ticks;
}

/** Decades around the values, always showing `mustShow` (the bar, or 1). */
function decades(values: number[], mustShow: number[], floor: number, ceiling: number): { lo: number; hi: number } {
  const finite = [...values, ...mustShow].filter((v) => Number.isFinite(v) && v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.max(floor, Math.min(...finite, 1) / 2)));
  const hi = 10 ** Math.ceil(Math.log10(Math.min(ceiling, Math.max(...finite, 1) * 2)));
  return { lo, hi: hi > lo ? hi : lo * 10 };
}

// ---------------------------------------------------------------- charts

function barLine(frame: Frame, value: number, label: string, testid: string, zoneColor: string): string {
  const y = frame.y(value);
  return [
    `<rect x="${frame.left}" y="${frame.top}" width="${PLOT_W}" height="${n(Math.max(0, y - frame.top))}" fill="${zoneColor}" aria-hidden="true"/>`,
    `<g data-testid="${testid}" data-bar="${value}"><title>${esc(label)}</title><line x1="${frame.left}" x2="${frame.right}" y1="${n(y)}" y2="${n(y)}" stroke="${COLOR.threshold}" stroke-width="1.5" stroke-dasharray="7 4"/></g>`,
  ].join('');
}

/** The e-value a look reached, with its marker: the look's decision (continue, advance, fail), never "pass". */
function eValueChart(data: ReportData, side: 'fail' | 'promote', axis: boolean): string {
  const judged = data.looks.filter((look): look is ReportLook & { judged: VerdictEvidence } => look.judged !== undefined);
  const valueOf = (e: VerdictEvidence) => (side === 'fail' ? e.eValue : e.promotionEValue);
  const barOf = (e: VerdictEvidence) => (side === 'fail' ? e.failAt : e.promoteAt);
  const bar = judged.length ? barOf(judged[judged.length - 1]?.judged as VerdictEvidence) : side === 'fail' ? 100 : 20;
  const alpha = 1 / bar;
  const { lo, hi } = decades(
    judged.map((look) => valueOf(look.judged)),
    [bar * 2],
    1e-4,
    1e12,
  );
  const frame = logFrame(data, 150, lo, hi, axis);
  const testid = side === 'fail' ? 'evalue-chart' : 'promotion-chart';
  const title = side === 'fail' ? 'Failure e-value' : 'Promotion e-value';
  const barLabel = side === 'fail' ? `bar 1/α = ${formatE(bar)}` : `bar 1/α promote = ${formatE(bar)}`;
  const note =
    side === 'fail'
      ? `evidence the canary is worse than the primary or its limit, whole rollout; rolls back at the bar (α = ${round(alpha, 4)})`
      : `evidence the canary is within the margin, per step; the step ends early at the bar (α = ${round(alpha, 4)})`;
  const color = side === 'fail' ? COLOR.canary : PROMOTE_COLOR;

  // The promotion e-value starts again at every step: its line breaks there.
  let d = '';
  let previousStep: number | undefined;
  for (const look of judged) {
    const restart = side === 'promote' && previousStep !== undefined && look.judged.stepIndex !== previousStep;
    const x = n(frame.x(look.t));
    const y = n(frame.y(valueOf(look.judged)));
    d += d === '' || restart ? `M${x} ${y}l0.01 0` : `L${x} ${y}`;
    previousStep = look.judged.stepIndex;
  }
  const markers = judged
    .map((look) => {
      const value = valueOf(look.judged);
      const detail = `${side === 'fail' ? 'failure' : 'promotion'} e-value ${formatE(value)} ${value >= barOf(look.judged) ? '≥' : '<'} ${formatE(barOf(look.judged))}`;
      const marker = verdictMarker(frame.x(look.t), frame.y(value), look.verdict, lookLabel(data, look, detail));
      return marker.replace('class="marker"', `class="marker" data-value="${value}" data-bar="${barOf(look.judged)}"`);
    })
    .join('');
  const last = judged.at(-1);
  const labels: { y: number; text: string; color: string; cls: string }[] = [
    { y: frame.y(bar), text: barLabel, color: COLOR.threshold, cls: 'threshold-label' },
  ];
  if (last) labels.push({ y: frame.y(valueOf(last.judged)), text: `e-value ${formatE(valueOf(last.judged))}`, color, cls: 'series-label' });
  const values = judged.map((look) => `look ${look.n}: ${formatE(valueOf(look.judged))}`);
  const desc = `${title} at each look against its bar ${formatE(bar)} (log scale). ${values.length ? `${values.join('; ')}.` : 'No looks.'}`;
  return [
    svgOpen(testid, side === 'fail' ? 'evalue' : 'promotion', frame.height, `${title} (e-value)`, desc),
    chartTitle(title, note),
    barLine(frame, bar, barLabel, side === 'fail' ? 'evalue-bar' : 'promotion-bar', side === 'fail' ? COLOR.badZone : '#f0fdf4'),
    grid(frame, data, decadeTicks(lo, hi)),
    d
      ? `<path d="${d}" fill="none" stroke="${color}" stroke-width="2.25" stroke-linejoin="round" stroke-linecap="round" data-testid="evalue-line"/>`
      : '',
    endLabels(frame, labels),
    outcomeLine(data, frame, false),
    `<g class="markers">${markers}</g>`,
    '</svg>',
  ].join('');
}

/** One metric's rates per look, canary against primary, with its allowed rate when the spec sets one. */
function rateChart(data: ReportData, metric: CountedMetric): string {
  const points = data.looks.map((look) => ({ look, evidence: evidenceOf(look, metric.name) }));
  const limitRate = points.map((p) => p.evidence?.threshold?.allowedRate).find((rate) => rate !== undefined);
  const limit = limitRate === undefined ? undefined : limitRate * 100;
  const values = points.flatMap(({ evidence }) => (evidence ? [rateOf(evidence.look.canary), rateOf(evidence.look.primary)] : []));
  const hi = niceCeil(Math.max(1, ...values.filter((v): v is number => v !== null), limit ?? 0) * 1.15);
  const frame = frameFor(data, 130, 0, hi, false);
  const ticks = niceTicks(0, hi, 4).map((v) => ({ v, label: `${round(v, 2)}%` }));
  const title = `${metric.counted[0]?.toUpperCase() ?? ''}${metric.counted.slice(1)} per look`;

  const line = (arm: 'canary' | 'primary') => {
    let d = '';
    let pen = false;
    for (const { look, evidence } of points) {
      const rate = evidence ? rateOf(evidence.look[arm]) : null;
      if (rate === null) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${n(frame.x(look.t))} ${n(frame.y(rate))}${pen ? '' : 'l0.01 0'}`;
      pen = true;
    }
    return d;
  };
  const dots = points
    .map(({ look, evidence }) => {
      if (!evidence) return '';
      const canary = rateOf(evidence.look.canary);
      const primary = rateOf(evidence.look.primary);
      const at = `look ${look.n} (${formatTick(look.t - data.startMs)})`;
      return [
        primary === null
          ? ''
          : `<rect x="${n(frame.x(look.t) - 3)}" y="${n(frame.y(primary) - 3)}" width="6" height="6" fill="#fff" stroke="${COLOR.primary}" stroke-width="1.5"><title>${esc(`${at}: primary ${armText(evidence.look.primary, metric.counted)}`)}</title></rect>`,
        canary === null
          ? ''
          : `<circle data-testid="rate-point" cx="${n(frame.x(look.t))}" cy="${n(frame.y(canary))}" r="3.5" fill="${COLOR.canary}"><title>${esc(`${at}: canary ${armText(evidence.look.canary, metric.counted)}`)}</title></circle>`,
      ].join('');
    })
    .join('');
  let zone = '';
  let limitLine = '';
  if (limit !== undefined) {
    const y = n(frame.y(limit));
    zone = `<rect x="${frame.left}" y="${frame.top}" width="${PLOT_W}" height="${n(Number(y) - frame.top)}" fill="${COLOR.badZone}" aria-hidden="true"/>`;
    limitLine = `<g data-testid="limit"><title>${esc(`allowed rate: ${formatPercent(limit)} ${metric.counted}`)}</title><line x1="${frame.left}" x2="${frame.right}" y1="${y}" y2="${y}" stroke="${COLOR.threshold}" stroke-width="1.5" stroke-dasharray="3 3"/></g>`;
  }
  const lastWith = [...points].reverse().find((p) => p.evidence);
  const labels: { y: number; text: string; color: string; cls: string }[] = [];
  const lastCanary = lastWith?.evidence ? rateOf(lastWith.evidence.look.canary) : null;
  const lastPrimary = lastWith?.evidence ? rateOf(lastWith.evidence.look.primary) : null;
  if (lastCanary !== null)
    labels.push({ y: frame.y(lastCanary), text: `canary ${formatPercent(lastCanary)}`, color: COLOR.canary, cls: 'series-label' });
  if (lastPrimary !== null)
    labels.push({ y: frame.y(lastPrimary), text: `primary ${formatPercent(lastPrimary)}`, color: COLOR.primary, cls: 'series-label' });
  if (limit !== undefined)
    labels.push({ y: frame.y(limit), text: `limit ${formatPercent(limit)}`, color: COLOR.threshold, cls: 'threshold-label' });
  const desc = `${metric.counted} as a share of each look's requests, canary against primary${limit !== undefined ? `, allowed ${formatPercent(limit)}` : ''}. ${points
    .filter((p) => p.evidence)
    .map(
      (p) =>
        `look ${p.look.n}: canary ${armText(p.evidence?.look.canary ?? { requests: 0, events: 0 }, metric.counted)}, primary ${armText(p.evidence?.look.primary ?? { requests: 0, events: 0 }, metric.counted)}`,
    )
    .join('; ')}.`;
  return [
    svgOpen('rate-chart', `rate-${metric.name.replace(/[^a-z0-9-]/gi, '')}`, frame.height, title, desc).replace(
      'data-testid="rate-chart"',
      `data-testid="rate-chart" data-metric="${esc(metric.name)}"`,
    ),
    chartTitle(title, `% of each look's requests (${metric.name}); the judge reads the counts, not a threshold`),
    zone,
    grid(frame, data, ticks),
    limitLine,
    `<path d="${line('primary')}" fill="none" stroke="${COLOR.primary}" stroke-width="1.5" stroke-linejoin="round"/>`,
    `<path d="${line('canary')}" fill="none" stroke="${COLOR.canary}" stroke-width="2" stroke-linejoin="round" data-testid="canary-line"/>`,
    dots,
    endLabels(frame, labels),
    outcomeLine(data, frame, false),
    '</svg>',
  ].join('');
}

/** The step's confidence sequence of the canary/primary rate ratio per look and metric (log scale; 1 = the same rate). */
function ratioChart(data: ReportData, metrics: CountedMetric[], axis: boolean): string {
  const bounds = data.looks.flatMap((look) =>
    metrics.flatMap((metric, i) => {
      const b = evidenceOf(look, metric.name)?.ratioBounds;
      return b ? [{ look, metric, i, lower: b.lower, upper: b.upper, confidence: b.confidence }] : [];
    }),
  );
  const { lo, hi } = decades(
    bounds.flatMap((b) => (b.upper === null ? [b.lower] : [b.lower, b.upper])),
    [0.5, 2],
    1e-3,
    1e4,
  );
  const frame = logFrame(data, 130, lo, hi, axis);
  const title = 'Canary/primary rate ratio';
  const parts: string[] = [];
  const one = n(frame.y(1));
  parts.push(
    `<g data-testid="ratio-one"><title>ratio 1: the canary's rate equals the primary's</title><line x1="${frame.left}" x2="${frame.right}" y1="${one}" y2="${one}" stroke="${COLOR.threshold}" stroke-width="1.25"/></g>`,
  );
  for (const b of bounds) {
    const offset = (b.i - (metrics.length - 1) / 2) * 5;
    const x = n(frame.x(b.look.t) + offset);
    const color = METRIC_COLORS[b.i % METRIC_COLORS.length] ?? COLOR.canary;
    const yLow = n(frame.y(Math.max(b.lower, lo)));
    const yHigh = b.upper === null ? frame.top : Number(n(frame.y(Math.min(b.upper, hi))));
    const text = `look ${b.look.n}, ${b.metric.counted}: canary/primary ratio ${formatE(b.lower)} to ${b.upper === null ? '∞' : formatE(b.upper)} (${round(100 * b.confidence, 2)}% confidence, this step)`;
    parts.push(
      `<g data-testid="ratio-bounds"><title>${esc(text)}</title><line x1="${x}" x2="${x}" y1="${yLow}" y2="${n(yHigh)}" stroke="${color}" stroke-width="2"/><line x1="${n(Number(x) - 3)}" x2="${n(Number(x) + 3)}" y1="${yLow}" y2="${yLow}" stroke="${color}" stroke-width="2"/>${
        b.upper === null
          ? `<path d="M${n(Number(x) - 3.5)} ${n(yHigh + 5)}L${x} ${n(yHigh)}L${n(Number(x) + 3.5)} ${n(yHigh + 5)}" fill="none" stroke="${color}" stroke-width="2"/>`
          : `<line x1="${n(Number(x) - 3)}" x2="${n(Number(x) + 3)}" y1="${n(yHigh)}" y2="${n(yHigh)}" stroke="${color}" stroke-width="2"/>`
      }</g>`,
    );
  }
  const labels = metrics.map((metric, i) => ({
    y: frame.top + 8 + i * 14,
    text: metric.counted,
    color: METRIC_COLORS[i % METRIC_COLORS.length] ?? COLOR.canary,
    cls: 'series-label',
  }));
  const empty = bounds.length
    ? ''
    : `<text x="${frame.left + PLOT_W / 2}" y="${frame.top + 40}" text-anchor="middle" class="empty">No bounds yet: a step needs events in both arms' counts</text>`;
  const desc = `Confidence bounds of the canary's rate over the primary's, per look over the current step (log scale; 1 is the same rate). ${bounds.length} bound${bounds.length === 1 ? '' : 's'}.`;
  return [
    svgOpen('ratio-chart', 'ratio', frame.height, title, desc),
    chartTitle(title, 'confidence bounds over the step; arrow: no upper bound yet'),
    grid(frame, data, decadeTicks(lo, hi)),
    ...parts,
    empty,
    endLabels(frame, labels),
    outcomeLine(data, frame, false),
    '</svg>',
  ].join('');
}

/** The charts of a sequential rollout, after the weight chart. */
export function evidenceCharts(data: ReportData): string[] {
  const metrics = countedMetrics(data);
  return [
    ...metrics.map((metric) => rateChart(data, metric)),
    eValueChart(data, 'fail', false),
    eValueChart(data, 'promote', false),
    ratioChart(data, metrics, true),
  ];
}

export function evidenceLegend(): string {
  const line = (color: string, dash = '', width = 2.5) =>
    `<svg width="28" height="12" aria-hidden="true"><line x1="1" x2="27" y1="6" y2="6" stroke="${color}" stroke-width="${width}" ${dash ? `stroke-dasharray="${dash}"` : ''}/></svg>`;
  const marker = (word: 'continue' | 'advance' | 'fail' | 'no-data') =>
    `<svg width="22" height="22" viewBox="-11 -11 22 22" aria-hidden="true">${verdictShape(word)}</svg>`;
  const items = [
    [line(COLOR.canary), 'canary'],
    [line(COLOR.primary, '', 1.75), 'primary'],
    [line(COLOR.threshold, '7 4', 1.5), 'e-value bar (1/α)'],
    [line(COLOR.threshold, '3 3', 1.5), 'allowed rate'],
    [marker('continue'), 'continue (no decision yet)'],
    [marker('advance'), 'advance early'],
    [marker('fail'), 'roll back'],
    [marker('no-data'), 'no evidence'],
    [
      `<svg width="10" height="20" aria-hidden="true"><line x1="5" x2="5" y1="0" y2="20" stroke="${COLOR.text}" stroke-width="2"/></svg>`,
      'outcome',
    ],
  ];
  return `<ul class="legend" aria-label="Legend">${items.map(([swatch, text]) => `<li>${swatch}<span>${esc(text ?? '')}</span></li>`).join('')}</ul>`;
}

function versus(value: number, bar: number): string {
  const over = value >= bar;
  return `<span class="${over ? 'over-bar' : ''}">${esc(formatE(value))}</span> ${over ? '≥' : '&lt;'} ${esc(formatE(bar))}`;
}

/** The verdict table: per look its decision, both e-values against their bars, and the counts it judged. */
export function evidenceTable(data: ReportData, metricsFor = countedMetrics(data)): string {
  if (data.looks.length === 0) return '<p class="muted">No looks were recorded.</p>';
  const rows = data.looks
    .map((look) => {
      const e = look.judged;
      const counts = metricsFor
        .map((metric) => {
          const evidence = evidenceOf(look, metric.name);
          if (!evidence) return '';
          const parts = [
            `canary ${armText(evidence.look.canary, metric.counted)}`,
            `primary ${armText(evidence.look.primary, metric.counted)}`,
            `e-value ${formatE(evidence.eValue)}`,
            ...(evidence.threshold ? [`limit e-value ${formatE(evidence.threshold.eValue)}`] : []),
            ...(evidence.ratioBounds
              ? [
                  `ratio ${formatE(evidence.ratioBounds.lower)}–${evidence.ratioBounds.upper === null ? '∞' : formatE(evidence.ratioBounds.upper)}`,
                ]
              : []),
          ];
          return `<li data-testid="look-counts"><strong>${esc(metric.counted)}</strong>: ${esc(parts.join(' · '))}</li>`;
        })
        .join('');
      const why = e ? '' : `<li>${esc(look.summary)}</li>`;
      return `<tr data-testid="look-row" data-result="${look.verdict}"><td class="num">${look.n}</td><td class="num">${formatTick(look.t - data.startMs)}</td><td class="num">${look.weightPercent === null ? '—' : esc(weightLabel(look.weightPercent, data.weightScale))}</td><td class="verdict verdict-${look.verdict}"><span aria-hidden="true">${VERDICT_GLYPH[look.verdict]}</span> ${VERDICT_WORD[look.verdict]}</td><td class="evalue" data-testid="look-evalue">${e ? versus(e.eValue, e.failAt) : '—'}</td><td class="evalue">${e ? versus(e.promotionEValue, e.promoteAt) : '—'}</td><td><ul class="counts">${counts}${why}</ul></td></tr>`;
    })
    .join('');
  return `<table data-testid="looks-table"><caption>Every look with its evidence</caption><thead><tr><th scope="col">Look</th><th scope="col">At</th><th scope="col">Canary</th><th scope="col">Decision</th><th scope="col">Failure e-value</th><th scope="col">Promotion e-value</th><th scope="col">Counts this look</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** The judge's bars for the page's summary. */
export function judgeSummary(data: ReportData): [string, string, string] | undefined {
  const e = data.looks.map((look) => look.judged).findLast((judged) => judged !== undefined);
  if (!e) return undefined;
  return ['Judge', 'sequential', `rolls back at e-value ≥ ${formatE(e.failAt)}, advances at ≥ ${formatE(e.promoteAt)}`];
}
