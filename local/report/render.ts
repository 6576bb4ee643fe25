/**
 * `sluice report` as one self-contained HTML file: inline CSS and SVG, no script, no font or image
 * fetched (a Content-Security-Policy says so to the browser too). The charts share one time axis:
 * the canary's weight, then for the threshold judge its success rate and p99 against the primary's
 * with the thresholds, and for the sequential judge what it decided on (evidence-charts.ts); a
 * marker per look (shape and glyph carry the verdict, colour only repeats it) and a line at the
 * outcome. Every piece of text from the rollout is escaped: target names and reasons are user input.
 */
import { formatWeights } from '../../lambdas/core/rollout.ts';
import type { CheckResult, MetricCheck } from '../../lambdas/core/verdict.ts';
import { lookCounts, verdictShape } from './chart-parts.ts';
import { metricChart, weightChart } from './charts.ts';
import {
  escapeHtml as esc,
  formatCount,
  formatDollars,
  formatDuration,
  formatPercent,
  formatTick,
  metricValue,
  round,
  weightLabel,
} from './format.ts';
import type { ReportData } from './report-data.ts';
import { describeStickyUsers } from './report-data.ts';
import { COLOR, OUTCOME_STYLE, SEQUENTIAL_STYLE, STYLE, VERDICT_GLYPH, VERDICT_WORD } from './style.ts';
import { evidenceCharts, evidenceLegend, evidenceTable, judgeSummary } from './evidence-charts.ts';
import { audienceSection } from './audience.ts';

/** Step Functions Standard: $0.025 per 1,000 state transitions. */
const DOLLARS_PER_TRANSITION = 0.025 / 1000;

// ---------------------------------------------------------------- the page

function summaryItems(data: ReportData): [string, string, string?][] {
  const items: [string, string, string?][] = [];
  items.push(['Duration', formatDuration(data.durationMs)]);
  items.push([
    'Looks',
    data.looks.length === 0 ? 'none' : `${data.looks.length}`,
    data.looks.length === 0 ? undefined : lookCounts(data.looks),
  ]);
  const judge = data.judge === 'sequential' ? judgeSummary(data) : undefined;
  if (judge) items.push(judge);
  if (data.detectionMs !== undefined) items.push(['Detection', formatDuration(data.detectionMs), "canary's first request → weight 0"]);
  if (data.requests) {
    const share = data.requests.canary > 0 ? ` (${formatPercent((100 * data.requests.canaryErrors) / data.requests.canary, 1)})` : '';
    items.push([
      'Requests',
      formatCount(data.requests.total),
      `${formatCount(data.requests.canary)} to the canary, ${formatCount(data.requests.canaryErrors)} canary errors${share}`,
    ]);
  }
  if (data.affinity) {
    const { cookieName, users } = data.affinity;
    items.push([
      'Session affinity',
      users ? `${users.total ? Math.round((100 * users.holding) / users.total) : 0}% sticky` : `cookie ${cookieName}`,
      users ? describeStickyUsers(cookieName, users) : 'holders of the cookie stay on the canary',
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
  // The sequential judge decides on e-values, not thresholds: its looks get their own charts and table.
  const sequential = data.judge === 'sequential';
  const charts = sequential
    ? evidenceCharts(data)
    : [
        metricChart(
          data,
          data.success,
          { kind: 'success', testid: 'success-chart', title: 'Success rate', missing: 'No success-rate metric in this rollout’s analysis' },
          false,
        ),
        metricChart(
          data,
          data.latency,
          { kind: 'latency', testid: 'latency-chart', title: 'Latency p99 (ms)', missing: 'No latency metric in this rollout’s analysis' },
          true,
        ),
      ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(pageTitle)}</title>
<style>${STYLE}${sequential ? SEQUENTIAL_STYLE : ''}</style>
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
${data.audience ? audienceSection(data.audience) : ''}
<section class="card" aria-label="Charts">
${sequential ? evidenceLegend() : legend()}
<figure>${weightChart(data)}</figure>
${charts.map((chart) => `<figure>${chart}</figure>`).join('\n')}
</section>
<section class="card" aria-label="Looks">
${sequential ? evidenceTable(data) : looksTable(data)}
</section>
<footer>Generated by <code>sluice report</code>. Self-contained: no scripts, nothing loaded from the network.</footer>
</main>
</body>
</html>
`;
}
