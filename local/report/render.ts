/**
 * `sluice report` as one self-contained HTML file: inline CSS and SVG, no script, no font or image
 * fetched (a Content-Security-Policy says so to the browser too). Three charts share one time axis:
 * the canary's weight, its success rate and its p99 against the primary's, with the thresholds, a
 * marker per look (shape and glyph carry the verdict, colour only repeats it) and a line at the
 * outcome. Every piece of text from the rollout is escaped: target names and reasons are user input.
 */
import { formatWeights } from '../../lambdas/core/rollout.ts';
import type { CheckResult, MetricCheck } from '../../lambdas/core/verdict.ts';
import type { MetricSeries, ReportData, ReportLook, ReportOutcome, ValuePoint } from './report-data.ts';

/** Step Functions Standard: $0.025 per 1,000 state transitions. */
const DOLLARS_PER_TRANSITION = 0.025 / 1000;

const COLOR = {
  canary: '#c2410c',
  canaryFill: '#fed7aa',
  primary: '#1d4ed8',
  threshold: '#374151',
  badZone: '#fef2f2',
  grid: '#e5e7eb',
  axis: '#6b7280',
  text: '#111827',
  muted: '#4b5563',
  pass: '#15803d',
  fail: '#b91c1c',
  noData: '#4b5563',
} as const;

const OUTCOME_STYLE: Record<ReportOutcome, { label: string; color: string; glyph: string }> = {
  promoted: { label: 'Promoted', color: '#15803d', glyph: '✓' },
  'rolled-back': { label: 'Rolled back', color: '#b91c1c', glyph: '↩' },
  aborted: { label: 'Aborted', color: '#9a3412', glyph: '■' },
  'promotion-failed': { label: 'Held on the canary', color: '#a16207', glyph: '⏸' },
  refused: { label: 'Refused', color: '#4b5563', glyph: '⊘' },
  failed: { label: 'Failed', color: '#4b5563', glyph: '!' },
  running: { label: 'Running', color: '#1d4ed8', glyph: '…' },
};

const VERDICT_WORD: Record<CheckResult, string> = { pass: 'pass', fail: 'fail', 'no-data': 'no data' };
const VERDICT_GLYPH: Record<CheckResult, string> = { pass: '✓', fail: '✗', 'no-data': '?' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
const esc = escapeHtml;

// ---------------------------------------------------------------- numbers and time

function round(value: number, digits: number): string {
  return String(Number(value.toFixed(digits)));
}

function formatPercent(value: number, digits = 2): string {
  return `${round(value, digits)}%`;
}

function formatMs(value: number): string {
  return `${round(value, value < 10 ? 1 : 0)} ms`;
}

/** "0s", "45s", "1m", "1m30s", "1h05m": compact tick labels. */
function formatTick(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${String(s % 60).padStart(2, '0')}s` : ''}`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** "42.3 s", "2 min 05 s", "1 h 02 min": durations in prose. */
function formatDuration(ms: number): string {
  if (ms < 60_000) return `${round(ms / 1000, 1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

function formatDollars(amount: number): string {
  if (amount === 0) return '$0';
  if (amount >= 0.01) return `$${amount.toFixed(2)}`;
  return `$${Number(amount.toPrecision(3))}`;
}

function weightLabel(percent: number, scale: number): string {
  return `${round(percent, scale >= 1000 ? 1 : 0)}%`;
}

function metricValue(kind: 'success' | 'latency', value: number): string {
  return kind === 'success' ? formatPercent(value) : formatMs(value);
}

/** Round tick values covering [lo, hi]. */
function niceTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || 1;
  const raw = span / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toFixed(6)));
  return ticks;
}

function niceCeil(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return ([1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].find((m) => m * magnitude >= value) ?? 10) * magnitude;
}

const TIME_STEPS_S = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 21_600, 43_200, 86_400];

function timeTicks(spanMs: number, maxTicks: number): number[] {
  const stepS = TIME_STEPS_S.find((s) => spanMs / 1000 / s <= maxTicks) ?? 86_400;
  const ticks: number[] = [];
  for (let t = 0; t <= spanMs; t += stepS * 1000) ticks.push(t);
  return ticks;
}

// ---------------------------------------------------------------- geometry

const WIDTH = 960;
const MARGIN = { left: 60, right: 150, top: 36, bottom: 18 } as const;
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const AXIS_H = 34;

interface Frame {
  x: (t: number) => number;
  y: (v: number) => number;
  top: number;
  bottom: number;
  left: number;
  right: number;
  height: number;
  /** Bottom chart: carries the time labels. */
  axis: boolean;
}

function frameFor(data: ReportData, plotHeight: number, lo: number, hi: number, axis: boolean): Frame {
  const { t0, t1 } = timeDomain(data);
  const top = MARGIN.top;
  const bottom = top + plotHeight;
  const left = MARGIN.left;
  const right = MARGIN.left + PLOT_W;
  return {
    x: (t) => left + ((t - t0) / (t1 - t0)) * PLOT_W,
    y: (v) => bottom - ((Math.min(Math.max(v, lo), hi) - lo) / (hi - lo || 1)) * plotHeight,
    top,
    bottom,
    left,
    right,
    height: bottom + (axis ? AXIS_H : MARGIN.bottom),
    axis,
  };
}

/** The shared time axis: the run plus a short tail that shows where traffic was left. */
function timeDomain(data: ReportData): { t0: number; t1: number } {
  const last = Math.max(data.endMs, data.outcomeMs ?? data.endMs, ...data.looks.map((look) => look.t));
  const span = Math.max(1000, last - data.startMs);
  return { t0: data.startMs, t1: last + span * 0.04 };
}

function n(value: number): string {
  return round(value, 1);
}

/** A polyline with gaps where a value is null. */
function linePath(points: ValuePoint[], frame: Frame): string {
  let d = '';
  let pen = false;
  for (const point of points) {
    if (point.value === null || !Number.isFinite(point.value)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${n(frame.x(point.t))} ${n(frame.y(point.value))}`;
    // A value alone between two gaps still shows: a zero-length segment with round caps is a dot.
    if (!pen) d += 'l0.01 0';
    pen = true;
  }
  return d;
}

// ---------------------------------------------------------------- pieces of a chart

function grid(frame: Frame, data: ReportData, yTicks: { v: number; label: string }[]): string {
  const { t0, t1 } = timeDomain(data);
  const parts: string[] = [];
  for (const tick of yTicks) {
    const y = n(frame.y(tick.v));
    parts.push(`<line x1="${frame.left}" x2="${frame.right}" y1="${y}" y2="${y}" stroke="${COLOR.grid}"/>`);
    parts.push(`<text x="${frame.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle" class="tick">${esc(tick.label)}</text>`);
  }
  for (const tick of timeTicks(t1 - t0, Math.floor(PLOT_W / 70))) {
    const x = n(frame.x(t0 + tick));
    parts.push(`<line x1="${x}" x2="${x}" y1="${frame.top}" y2="${frame.bottom}" stroke="${COLOR.grid}" stroke-dasharray="2 3"/>`);
    if (frame.axis) parts.push(`<text x="${x}" y="${frame.bottom + 16}" text-anchor="middle" class="tick">${formatTick(tick)}</text>`);
  }
  parts.push(`<line x1="${frame.left}" x2="${frame.right}" y1="${frame.bottom}" y2="${frame.bottom}" stroke="${COLOR.axis}"/>`);
  if (frame.axis)
    parts.push(
      `<text x="${frame.right}" y="${frame.bottom + 31}" text-anchor="end" class="axis-title">time since the rollout started</text>`,
    );
  return `<g class="grid" aria-hidden="true">${parts.join('')}</g>`;
}

function chartTitle(text: string, note?: string): string {
  return `<text x="${MARGIN.left}" y="20" class="chart-title">${esc(text)}${note ? `<tspan class="chart-note" dx="10">${esc(note)}</tspan>` : ''}</text>`;
}

function verdictShape(result: CheckResult): string {
  switch (result) {
    case 'pass':
      return `<circle r="8" fill="${COLOR.pass}" stroke="#fff" stroke-width="1.5"/><path d="M-3.6 0.2L-1 2.8L3.8-2.6" fill="none" stroke="#fff" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"/>`;
    case 'fail':
      return `<path d="M0-10L10 0L0 10L-10 0Z" fill="${COLOR.fail}" stroke="#fff" stroke-width="1.5"/><path d="M-3-3L3 3M3-3L-3 3" stroke="#fff" stroke-width="2.2" stroke-linecap="round"/>`;
    case 'no-data':
      return `<rect x="-7.5" y="-7.5" width="15" height="15" rx="2" fill="#fff" stroke="${COLOR.noData}" stroke-width="2" stroke-dasharray="3 2"/><text y="0.5" text-anchor="middle" dominant-baseline="middle" class="glyph" fill="${COLOR.noData}">?</text>`;
    default: {
      const never: never = result;
      throw new Error(`unknown verdict ${String(never)}`);
    }
  }
}

function verdictMarker(x: number, y: number, result: CheckResult, label: string): string {
  return `<g data-testid="verdict-marker" data-result="${result}" class="marker" transform="translate(${n(x)} ${n(y)})" role="img" aria-label="${esc(label)}"><title>${esc(label)}</title>${verdictShape(result)}</g>`;
}

function lookLabel(data: ReportData, look: ReportLook, detail: string): string {
  const at = formatTick(look.t - data.startMs);
  const weight = look.weightPercent === null ? '' : ` at ${weightLabel(look.weightPercent, data.weightScale)} canary`;
  return `Look ${look.n} (${at}${weight}): ${VERDICT_WORD[look.verdict]}${detail ? ` — ${detail}` : ''}`;
}

/** The outcome: a vertical line on every chart, its label on the first. */
function outcomeLine(data: ReportData, frame: Frame, withLabel: boolean): string {
  if (data.outcomeMs === null) return '';
  const style = OUTCOME_STYLE[data.outcome];
  const x = frame.x(data.outcomeMs);
  const when = formatTick(data.outcomeMs - data.startMs);
  const parts = [
    `<g data-testid="outcome-marker" data-outcome="${esc(data.outcome)}" role="img" aria-label="${esc(`${style.label} at ${when}`)}">`,
    `<title>${esc(`${style.label} at ${when}: ${data.reason}`)}</title>`,
    `<line x1="${n(x)}" x2="${n(x)}" y1="${frame.top - 6}" y2="${frame.bottom}" stroke="${style.color}" stroke-width="2"/>`,
  ];
  if (withLabel) {
    const text = `${style.glyph} ${style.label} · ${when}`;
    // No text measuring without a script: a generous estimate for 12px bold, glyphs included.
    const width = 22 + [...text].length * 7.3;
    // The label sits right of the line when it fits in the margin, otherwise left of it.
    const lx = x + 6 + width <= WIDTH - 4 ? x + 6 : x - 6 - width;
    parts.push(`<rect x="${n(lx)}" y="${frame.top - 4}" width="${n(width)}" height="22" rx="11" fill="${style.color}"/>`);
    parts.push(
      `<text x="${n(lx + width / 2)}" y="${frame.top + 7.5}" text-anchor="middle" dominant-baseline="middle" class="outcome-label">${esc(text)}</text>`,
    );
  }
  parts.push('</g>');
  return parts.join('');
}

function svgOpen(testid: string, id: string, height: number, title: string, desc: string): string {
  return `<svg data-testid="${testid}" role="img" aria-labelledby="${id}-title ${id}-desc" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" xmlns="http://www.w3.org/2000/svg"><title id="${id}-title">${esc(title)}</title><desc id="${id}-desc">${esc(desc)}</desc>`;
}

/** Labels at the right end of the lines, nudged apart so they never overlap. */
function endLabels(frame: Frame, labels: { y: number; text: string; color: string; cls: string }[]): string {
  const sorted = [...labels].sort((a, b) => a.y - b.y);
  const placed: number[] = [];
  for (const label of sorted) {
    const previous = placed.at(-1);
    placed.push(previous !== undefined && label.y - previous < 14 ? previous + 14 : label.y);
  }
  return sorted
    .map(
      (label, i) =>
        `<text x="${frame.right + 10}" y="${n(placed[i] ?? label.y)}" dominant-baseline="middle" class="${label.cls}" fill="${label.color}">${esc(label.text)}</text>`,
    )
    .join('');
}

// ---------------------------------------------------------------- the three charts

function weightChart(data: ReportData): string {
  const { t1 } = timeDomain(data);
  const reached = Math.max(0, ...data.weights.map((w) => w.percent));
  // 0–100% when the run went (or ended) high; otherwise room for the plan, so 1% and 5% stay apart.
  const highest = Math.max(reached, data.finalPercent ?? 0, ...data.plannedPercents);
  const top = highest > 60 ? 100 : niceCeil(Math.max(1, highest) * 1.15);
  const frame = frameFor(data, 130, 0, top, false);
  const lastAt = data.outcomeMs ?? data.endMs;

  // Y ticks: 0 and 100, then the planned steps that do not collide with a label already placed.
  const ticks: { v: number; label: string }[] = [];
  for (const v of [0, top, ...[...data.plannedPercents].sort((a, b) => b - a)]) {
    if (ticks.some((t) => Math.abs(frame.y(t.v) - frame.y(v)) < 12)) continue;
    ticks.push({ v, label: weightLabel(v, data.weightScale) });
  }

  const guides = data.plannedPercents
    .map((p) => {
      const y = n(frame.y(p));
      const planned = p > reached;
      return `<line x1="${frame.left}" x2="${frame.right}" y1="${y}" y2="${y}" stroke="${planned ? '#9ca3af' : '#d1d5db'}" stroke-dasharray="1 4" stroke-width="1.5"><title>planned step ${esc(weightLabel(p, data.weightScale))}${planned ? ' (not reached)' : ''}</title></line>`;
    })
    .join('');

  let d = '';
  data.weights.forEach((point, i) => {
    const x = n(frame.x(point.t));
    const y = n(frame.y(point.percent));
    d += i === 0 ? `M${x} ${y}` : `H${x}V${y}`;
  });
  d += `H${n(frame.x(lastAt))}`;
  const area = `${d}V${n(frame.bottom)}H${n(frame.x(data.weights[0]?.t ?? data.startMs))}Z`;

  // Where traffic was left: from the outcome to the end of the axis.
  let tail = '';
  if (data.outcomeMs !== null && data.finalPercent !== null) {
    const style = OUTCOME_STYLE[data.outcome];
    const last = data.weights.at(-1)?.percent ?? 0;
    tail = `<path d="M${n(frame.x(data.outcomeMs))} ${n(frame.y(last))}V${n(frame.y(data.finalPercent))}H${n(frame.x(t1))}" fill="none" stroke="${style.color}" stroke-width="2.5" stroke-dasharray="5 3"><title>${esc(`after the outcome: ${weightLabel(data.finalPercent, data.weightScale)} of traffic on ${data.version}`)}</title></path>`;
  }

  // A label at each step the line climbed to.
  let lastLabelX = -Infinity;
  const stepLabels = data.weights
    .filter((point) => point.percent > 0)
    .map((point) => {
      const x = frame.x(point.t);
      if (x - lastLabelX < 30) return '';
      lastLabelX = x;
      return `<text x="${n(x + 4)}" y="${n(frame.y(point.percent) - 6)}" class="step-label">${esc(weightLabel(point.percent, data.weightScale))}</text>`;
    })
    .join('');

  const markers = data.looks
    .map((look) => {
      const y = frame.y(look.weightPercent ?? 0);
      return verdictMarker(frame.x(look.t), y, look.verdict, lookLabel(data, look, look.summary));
    })
    .join('');

  const steps = data.weights.filter((p) => p.percent > 0).map((p) => weightLabel(p.percent, data.weightScale));
  const desc = `The canary's share of traffic over time${steps.length ? `: ${[...new Set(steps)].join(', ')}` : ': no traffic was moved'}. ${data.looks.length} look${data.looks.length === 1 ? '' : 's'}: ${lookCounts(data.looks)}.${data.outcomeMs !== null ? ` ${OUTCOME_STYLE[data.outcome].label} at ${formatTick(data.outcomeMs - data.startMs)}.` : ''}`;
  return [
    svgOpen('weight-chart', 'weight', frame.height, 'Canary weight', desc),
    chartTitle('Canary weight', `% of requests on ${data.version}; dotted lines: planned steps`),
    grid(frame, data, ticks),
    guides,
    `<path d="${area}" fill="${COLOR.canaryFill}" fill-opacity="0.45" stroke="none"/>`,
    `<path d="${d}" fill="none" stroke="${COLOR.canary}" stroke-width="2.5" stroke-linejoin="round" data-testid="weight-line"/>`,
    tail,
    stepLabels,
    outcomeLine(data, frame, true),
    `<g class="markers">${markers}</g>`,
    '</svg>',
  ].join('');
}

function lookCounts(looks: ReportLook[]): string {
  if (looks.length === 0) return 'none';
  const count = (result: CheckResult) => looks.filter((look) => look.verdict === result).length;
  return (['pass', 'fail', 'no-data'] as const)
    .filter((result) => count(result) > 0)
    .map((result) => `${count(result)} ${VERDICT_WORD[result]}`)
    .join(', ');
}

interface MetricChartSpec {
  kind: 'success' | 'latency';
  testid: string;
  title: string;
  missing: string;
}

function metricChart(data: ReportData, series: MetricSeries | null, spec: MetricChartSpec, axis: boolean): string {
  const plotHeight = 150;
  if (!series) {
    const frame = frameFor(data, plotHeight, 0, 1, axis);
    return [
      svgOpen(spec.testid, spec.kind, frame.height, spec.title, spec.missing),
      chartTitle(spec.title),
      grid(frame, data, []),
      `<text x="${frame.left + PLOT_W / 2}" y="${frame.top + plotHeight / 2}" text-anchor="middle" class="empty">${esc(spec.missing)}</text>`,
      outcomeLine(data, frame, false),
      '</svg>',
    ].join('');
  }

  const lookValue = (look: ReportLook): MetricCheck | undefined => look.checks.find((check) => check.name === series.name);
  const values = [...series.canary, ...series.primary, ...data.looks.map((look) => ({ t: look.t, value: lookValue(look)?.value ?? null }))]
    .map((p) => p.value)
    .filter((v): v is number => v !== null && Number.isFinite(v));
  const limit = spec.kind === 'success' ? series.min : series.max;
  let lo: number;
  let hi: number;
  if (spec.kind === 'success') {
    const lowest = Math.min(100, ...values, ...(limit !== undefined ? [limit] : []));
    lo = Math.max(0, Math.floor(lowest - Math.max(0.5, (100 - lowest) * 0.25)));
    hi = 100;
  } else {
    lo = 0;
    hi = niceCeil(Math.max(1, ...values, ...(limit !== undefined ? [limit] : [])) * 1.1);
  }
  const frame = frameFor(data, plotHeight, lo, hi, axis);
  const unit = (v: number) => (spec.kind === 'success' ? `${round(v, 2)}%` : `${round(v, 0)}`);
  const ticks = niceTicks(lo, hi, 4).map((v) => ({ v, label: unit(v) }));

  const parts: string[] = [];
  let threshold = '';
  if (limit !== undefined) {
    const y = n(frame.y(limit));
    const zone =
      spec.kind === 'success'
        ? `<rect x="${frame.left}" y="${y}" width="${PLOT_W}" height="${n(frame.bottom - Number(y))}" fill="${COLOR.badZone}"/>`
        : `<rect x="${frame.left}" y="${frame.top}" width="${PLOT_W}" height="${n(Number(y) - frame.top)}" fill="${COLOR.badZone}"/>`;
    parts.push(`<g aria-hidden="true">${zone}</g>`);
    const word = spec.kind === 'success' ? `min ${formatPercent(limit)}` : `max ${formatMs(limit)}`;
    threshold = `<g data-testid="threshold"><title>${esc(`threshold: ${word}`)}</title><line x1="${frame.left}" x2="${frame.right}" y1="${y}" y2="${y}" stroke="${COLOR.threshold}" stroke-width="1.5" stroke-dasharray="7 4"/></g>`;
  }

  const primaryPath = linePath(series.primary, frame);
  const canaryPath = linePath(series.canary, frame);
  const fromLooks = series.source === 'looks';
  const primaryPoints = fromLooks
    ? series.primary
        .filter((p): p is { t: number; value: number } => p.value !== null)
        .map(
          (p) =>
            `<rect x="${n(frame.x(p.t) - 3.5)}" y="${n(frame.y(p.value) - 3.5)}" width="7" height="7" fill="#fff" stroke="${COLOR.primary}" stroke-width="1.75"><title>${esc(`primary ${metricValue(spec.kind, p.value)}`)}</title></rect>`,
        )
        .join('')
    : '';

  const markers = data.looks
    .map((look) => {
      const check = lookValue(look);
      const value = check?.value ?? null;
      const result = check?.result ?? look.verdict;
      const y = value === null ? frame.bottom : frame.y(value);
      const detail = check
        ? `canary ${value === null ? 'no data' : metricValue(spec.kind, value)}${check.primary != null ? `, primary ${metricValue(spec.kind, check.primary)}` : ''}${limit !== undefined ? `, ${spec.kind === 'success' ? 'min' : 'max'} ${metricValue(spec.kind, limit)}` : ''}`
        : `${series.name} not checked`;
      return verdictMarker(frame.x(look.t), y, result, lookLabel(data, { ...look, verdict: result }, `${series.name}: ${detail}`));
    })
    .join('');

  const lastValue = (points: ValuePoint[]) => [...points].reverse().find((p) => p.value !== null)?.value ?? null;
  const labels: { y: number; text: string; color: string; cls: string }[] = [];
  const lastCanary = lastValue(series.canary);
  const lastPrimary = lastValue(series.primary);
  if (lastCanary !== null)
    labels.push({ y: frame.y(lastCanary), text: `canary ${metricValue(spec.kind, lastCanary)}`, color: COLOR.canary, cls: 'series-label' });
  if (lastPrimary !== null)
    labels.push({
      y: frame.y(lastPrimary),
      text: `primary ${metricValue(spec.kind, lastPrimary)}`,
      color: COLOR.primary,
      cls: 'series-label',
    });
  if (limit !== undefined)
    labels.push({
      y: frame.y(limit),
      text: spec.kind === 'success' ? `min ${formatPercent(limit)}` : `max ${formatMs(limit)}`,
      color: COLOR.threshold,
      cls: 'threshold-label',
    });

  const sampled = spec.kind === 'success' ? '10 s window' : 'per second';
  const note = `${series.name}${fromLooks ? ', at each look' : `, ${sampled}; markers: the judged values`}`;
  const desc = describeMetric(data, series, spec.kind, limit);
  return [
    svgOpen(spec.testid, spec.kind, frame.height, spec.title, desc),
    chartTitle(spec.title, note),
    ...parts,
    grid(frame, data, ticks),
    threshold,
    primaryPath
      ? `<path d="${primaryPath}" fill="none" stroke="${COLOR.primary}" stroke-width="1.75" stroke-linejoin="round" stroke-linecap="round" data-testid="primary-line"/>`
      : '',
    primaryPoints,
    canaryPath
      ? `<path d="${canaryPath}" fill="none" stroke="${COLOR.canary}" stroke-width="${fromLooks ? 2.5 : 2}" stroke-linejoin="round" stroke-linecap="round" data-testid="canary-line"/>`
      : '',
    endLabels(frame, labels),
    outcomeLine(data, frame, false),
    `<g class="markers">${markers}</g>`,
    '</svg>',
  ].join('');
}

function describeMetric(data: ReportData, series: MetricSeries, kind: 'success' | 'latency', limit: number | undefined): string {
  const judged = data.looks
    .map((look) => look.checks.find((check) => check.name === series.name))
    .map(
      (check, i) =>
        `look ${i + 1}: ${check?.value == null ? 'no data' : metricValue(kind, check.value)}${check?.primary != null ? ` (primary ${metricValue(kind, check.primary)})` : ''}`,
    );
  const bound =
    limit === undefined
      ? 'no threshold'
      : kind === 'success'
        ? `threshold min ${formatPercent(limit)}`
        : `threshold max ${formatMs(limit)}`;
  return `${series.name}, canary against primary, ${bound}. ${judged.length ? `${judged.join('; ')}.` : 'No looks.'}`;
}

// ---------------------------------------------------------------- the page

function summaryItems(data: ReportData): [string, string, string?][] {
  const items: [string, string, string?][] = [];
  items.push(['Duration', formatDuration(data.durationMs)]);
  items.push([
    'Looks',
    data.looks.length === 0 ? 'none' : `${data.looks.length}`,
    data.looks.length === 0 ? undefined : lookCounts(data.looks),
  ]);
  if (data.detectionMs !== undefined) items.push(['Detection', formatDuration(data.detectionMs), "canary's first request → weight 0"]);
  if (data.requests) {
    const share = data.requests.canary > 0 ? ` (${formatPercent((100 * data.requests.canaryErrors) / data.requests.canary, 1)})` : '';
    items.push([
      'Requests',
      formatCount(data.requests.total),
      `${formatCount(data.requests.canary)} to the canary, ${formatCount(data.requests.canaryErrors)} canary errors${share}`,
    ]);
  }
  if (data.transitions !== undefined) {
    const cost = data.transitions * DOLLARS_PER_TRANSITION;
    items.push(['State transitions', formatCount(data.transitions), `${formatDollars(cost)} on Step Functions Standard`]);
  }
  if (data.finalWeights) {
    const [primary, canary] = formatWeights(data.finalWeights, data.weightScale).split(' / ');
    items.push(['Traffic now', primary ?? '', canary]);
  }
  return items;
}

function legend(): string {
  const line = (color: string, dash = '', width = 2.5) =>
    `<svg width="28" height="12" aria-hidden="true"><line x1="1" x2="27" y1="6" y2="6" stroke="${color}" stroke-width="${width}" ${dash ? `stroke-dasharray="${dash}"` : ''}/></svg>`;
  const marker = (result: CheckResult) =>
    `<svg width="22" height="22" viewBox="-11 -11 22 22" aria-hidden="true">${verdictShape(result)}</svg>`;
  const items = [
    [line(COLOR.canary), 'canary'],
    [
      `<svg width="28" height="12" aria-hidden="true"><line x1="1" x2="27" y1="6" y2="6" stroke="${COLOR.primary}" stroke-width="1.75"/><rect x="10.5" y="2.5" width="7" height="7" fill="#fff" stroke="${COLOR.primary}" stroke-width="1.75"/></svg>`,
      'primary',
    ],
    [line(COLOR.threshold, '7 4', 1.5), 'threshold'],
    [
      `<svg width="20" height="12" aria-hidden="true"><rect width="20" height="12" fill="${COLOR.badZone}" stroke="#fecaca"/></svg>`,
      'fails the threshold',
    ],
    [marker('pass'), 'look passed'],
    [marker('fail'), 'look failed'],
    [marker('no-data'), 'no data'],
    [
      `<svg width="10" height="20" aria-hidden="true"><line x1="5" x2="5" y1="0" y2="20" stroke="${COLOR.text}" stroke-width="2"/></svg>`,
      'outcome',
    ],
  ];
  return `<ul class="legend" aria-label="Legend">${items.map(([swatch, text]) => `<li>${swatch}<span>${esc(text ?? '')}</span></li>`).join('')}</ul>`;
}

function checkText(check: MetricCheck, kind: 'success' | 'latency' | 'other'): string {
  const fmt = (v: number) => (kind === 'other' ? round(v, 3) : metricValue(kind, v));
  const value = check.value === null ? 'no data' : fmt(check.value);
  const primary = check.primary != null ? ` (primary ${fmt(check.primary)})` : '';
  const bounds = [check.min !== undefined ? `min ${fmt(check.min)}` : '', check.max !== undefined ? `max ${fmt(check.max)}` : '']
    .filter(Boolean)
    .join(', ');
  return `${check.name}: ${value}${primary}${bounds ? ` vs ${bounds}` : ''}`;
}

function looksTable(data: ReportData): string {
  if (data.looks.length === 0) return '<p class="muted">No looks were recorded.</p>';
  const kindOf = (check: MetricCheck): 'success' | 'latency' | 'other' =>
    check.name === data.success?.name ? 'success' : check.name === data.latency?.name ? 'latency' : 'other';
  const rows = data.looks
    .map((look) => {
      const checks = look.checks
        .map(
          (check) =>
            `<li class="check-${check.result}"><span class="glyph-inline" aria-hidden="true">${VERDICT_GLYPH[check.result]}</span> ${esc(checkText(check, kindOf(check)))}</li>`,
        )
        .join('');
      return `<tr><td class="num">${look.n}</td><td class="num">${formatTick(look.t - data.startMs)}</td><td class="num">${look.weightPercent === null ? '—' : esc(weightLabel(look.weightPercent, data.weightScale))}</td><td class="verdict verdict-${look.verdict}"><span aria-hidden="true">${VERDICT_GLYPH[look.verdict]}</span> ${VERDICT_WORD[look.verdict]}</td><td><ul class="checks">${checks}</ul></td></tr>`;
    })
    .join('');
  return `<table><caption>Every look with its evidence</caption><thead><tr><th scope="col">Look</th><th scope="col">At</th><th scope="col">Canary</th><th scope="col">Verdict</th><th scope="col">Evidence</th></tr></thead><tbody>${rows}</tbody></table>`;
}

const STYLE = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: ${COLOR.text}; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 20px 32px; }
.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 18px 20px; margin-bottom: 14px; }
.eyebrow { margin: 0 0 4px; color: ${COLOR.muted}; font-size: 12px; letter-spacing: .06em; text-transform: uppercase; }
h1 { margin: 0; font-size: 24px; line-height: 1.25; display: flex; flex-wrap: wrap; align-items: center; gap: 10px; }
h1 .version { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 19px; color: #374151; }
.badge { display: inline-flex; align-items: center; gap: 6px; padding: 3px 12px; border-radius: 999px; color: #fff; font-size: 14px; font-weight: 600; }
.reason { margin: 10px 0 4px; font-size: 15px; }
.meta { margin: 0; color: ${COLOR.muted}; font-size: 12.5px; }
.meta code { font-size: 12px; }
dl.summary { display: grid; grid-template-columns: repeat(auto-fit, minmax(128px, 1fr)); gap: 10px 18px; margin: 16px 0 0; padding-top: 14px; border-top: 1px solid #e5e7eb; }
dl.summary div { min-width: 0; }
dl.summary dt { color: ${COLOR.muted}; font-size: 12px; }
dl.summary dd { margin: 0; font-size: 16px; font-weight: 600; font-variant-numeric: tabular-nums; }
dl.summary dd small { display: block; font-size: 12px; font-weight: 400; color: ${COLOR.muted}; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; list-style: none; margin: 0 0 6px; padding: 0; color: #374151; font-size: 12.5px; }
.legend li { display: inline-flex; align-items: center; gap: 6px; }
figure { margin: 0; }
svg[data-testid] { display: block; width: 100%; height: auto; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.tick { font-size: 11.5px; fill: ${COLOR.muted}; font-variant-numeric: tabular-nums; }
.axis-title { font-size: 11.5px; fill: ${COLOR.muted}; }
.chart-title { font-size: 14px; font-weight: 650; fill: ${COLOR.text}; }
.chart-note { font-size: 12px; font-weight: 400; fill: ${COLOR.muted}; }
.step-label { font-size: 11.5px; font-weight: 600; fill: ${COLOR.canary}; }
.series-label { font-size: 12px; font-weight: 600; }
.threshold-label { font-size: 12px; }
.outcome-label { font-size: 12px; font-weight: 650; fill: #fff; }
.glyph { font-size: 11px; font-weight: 700; }
.empty { font-size: 13px; fill: ${COLOR.muted}; }
h2 { font-size: 15px; margin: 0 0 8px; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
caption { text-align: left; font-weight: 650; font-size: 15px; padding-bottom: 8px; }
th { text-align: left; color: ${COLOR.muted}; font-weight: 600; font-size: 12px; border-bottom: 1px solid #e5e7eb; padding: 4px 8px; }
td { border-bottom: 1px solid #f3f4f6; padding: 5px 8px; vertical-align: top; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
td.verdict { white-space: nowrap; font-weight: 600; }
.verdict-pass, .check-pass .glyph-inline { color: ${COLOR.pass}; }
.verdict-fail, .check-fail .glyph-inline { color: ${COLOR.fail}; }
.verdict-no-data, .check-no-data .glyph-inline { color: ${COLOR.noData}; }
ul.checks { list-style: none; margin: 0; padding: 0; }
.glyph-inline { font-weight: 700; }
.muted { color: ${COLOR.muted}; }
footer { color: ${COLOR.muted}; font-size: 12px; text-align: center; }
`;

/** The whole report: one HTML document with everything inline. */
export function renderReport(data: ReportData): string {
  const style = OUTCOME_STYLE[data.outcome];
  const started = new Date(data.startMs)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  const summary = summaryItems(data)
    .map(([term, value, note]) => `<div><dt>${esc(term)}</dt><dd>${esc(value)}${note ? `<small>${esc(note)}</small>` : ''}</dd></div>`)
    .join('');
  const pageTitle = `${data.target} ${data.version}: ${style.label.toLowerCase()} — Sluice report`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(pageTitle)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header class="card" data-testid="report-header">
<p class="eyebrow">Sluice rollout report</p>
<h1><span data-testid="target">${esc(data.target)}</span> <span class="version">${esc(data.version)}</span> <span class="badge" data-testid="outcome" style="background:${style.color}"><span aria-hidden="true">${style.glyph}</span>${esc(style.label)}</span></h1>
<p class="reason" data-testid="reason">${esc(data.reason)}</p>
<p class="meta">execution <code>${esc(data.execution)}</code> · started ${esc(started)} · weight scale ${data.weightScale === 1000 ? '1000 (per-mille)' : esc(String(data.weightScale))}</p>
<dl class="summary" data-testid="summary">${summary}</dl>
</header>
<section class="card" aria-label="Charts">
${legend()}
<figure>${weightChart(data)}</figure>
<figure>${metricChart(data, data.success, { kind: 'success', testid: 'success-chart', title: 'Success rate', missing: 'No success-rate metric in this rollout’s analysis' }, false)}</figure>
<figure>${metricChart(data, data.latency, { kind: 'latency', testid: 'latency-chart', title: 'Latency p99 (ms)', missing: 'No latency metric in this rollout’s analysis' }, true)}</figure>
</section>
<section class="card" aria-label="Looks">
${looksTable(data)}
</section>
<footer>Generated by <code>sluice report</code>. Self-contained: no scripts, nothing loaded from the network.</footer>
</main>
</body>
</html>
`;
}
