/**
 * The threshold picture's three charts on one time axis: the canary's weight, its success rate and
 * its p99 against the primary's, with the thresholds and a marker per look.
 */
import type { MetricCheck } from '../../lambdas/core/verdict.ts';
import { chartTitle, endLabels, grid, lookCounts, lookLabel, outcomeLine, svgOpen, verdictMarker } from './chart-parts.ts';
import { escapeHtml as esc, formatMs, formatPercent, formatTick, metricValue, round, weightLabel } from './format.ts';
import type { MetricSeries, ReportData, ReportLook, ValuePoint } from './report-data.ts';
import { PLOT_W, frameFor, linePath, n, niceCeil, niceTicks, timeDomain } from './scales.ts';
import { COLOR, OUTCOME_STYLE } from './style.ts';

export function weightChart(data: ReportData): string {
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

interface MetricChartSpec {
  kind: 'success' | 'latency';
  testid: string;
  title: string;
  missing: string;
}

export function metricChart(data: ReportData, series: MetricSeries | null, spec: MetricChartSpec, axis: boolean): string {
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
