/**
 * The report's look: the palette, the outcome badges, the verdict words and glyphs, and the page's
 * inline style sheet. Shape and glyph carry a verdict; colour only repeats it.
 */
import type { LookWord } from '../../lambdas/core/look-word.ts';
import type { ReportOutcome } from './report-data.ts';

export const COLOR = {
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

export const OUTCOME_STYLE: Record<ReportOutcome, { label: string; color: string; glyph: string }> = {
  promoted: { label: 'Promoted', color: '#15803d', glyph: '✓' },
  'rolled-back': { label: 'Rolled back', color: '#b91c1c', glyph: '↩' },
  aborted: { label: 'Aborted', color: '#9a3412', glyph: '■' },
  'promotion-failed': { label: 'Held on the canary', color: '#a16207', glyph: '⏸' },
  refused: { label: 'Refused', color: '#4b5563', glyph: '⊘' },
  failed: { label: 'Failed', color: '#4b5563', glyph: '!' },
  running: { label: 'Running', color: '#1d4ed8', glyph: '…' },
};

export const VERDICT_WORD: Record<LookWord, string> = {
  pass: 'pass',
  fail: 'fail',
  'no-data': 'no data',
  continue: 'continue',
  advance: 'advance',
};
export const VERDICT_GLYPH: Record<LookWord, string> = { pass: '✓', fail: '✗', 'no-data': '?', continue: '→', advance: '»' };

export const STYLE = `
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

/** Added to the sheet for the sequential judge's picture only (the threshold report stays as it was). */
export const SEQUENTIAL_STYLE = `
.verdict-continue, .check-continue .glyph-inline { color: ${COLOR.muted}; }
.verdict-advance, .check-advance .glyph-inline { color: ${COLOR.pass}; }
td.evalue { font-variant-numeric: tabular-nums; white-space: nowrap; }
.over-bar { color: ${COLOR.fail}; font-weight: 650; }
ul.counts { list-style: none; margin: 0; padding: 0; }
ul.counts li + li { margin-top: 2px; }
`;
