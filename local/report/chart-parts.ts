/** The pieces every chart is built from: grid and axes, titles, verdict markers, the outcome line, end labels. */
import type { LookWord } from '../../lambdas/core/look-word.ts';
import { escapeHtml as esc, formatTick, weightLabel } from './format.ts';
import type { ReportData, ReportLook } from './report-data.ts';
import { MARGIN, PLOT_W, WIDTH, n, timeDomain, timeTicks } from './scales.ts';
import type { Frame } from './scales.ts';
import { COLOR, OUTCOME_STYLE, VERDICT_WORD } from './style.ts';

export function grid(frame: Frame, data: ReportData, yTicks: { v: number; label: string }[]): string {
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

export function chartTitle(text: string, note?: string): string {
  return `<text x="${MARGIN.left}" y="20" class="chart-title">${esc(text)}${note ? `<tspan class="chart-note" dx="10">${esc(note)}</tspan>` : ''}</text>`;
}

export function verdictShape(result: LookWord): string {
  switch (result) {
    case 'pass':
      return `<circle r="8" fill="${COLOR.pass}" stroke="#fff" stroke-width="1.5"/><path d="M-3.6 0.2L-1 2.8L3.8-2.6" fill="none" stroke="#fff" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"/>`;
    case 'fail':
      return `<path d="M0-10L10 0L0 10L-10 0Z" fill="${COLOR.fail}" stroke="#fff" stroke-width="1.5"/><path d="M-3-3L3 3M3-3L-3 3" stroke="#fff" stroke-width="2.2" stroke-linecap="round"/>`;
    case 'no-data':
      return `<rect x="-7.5" y="-7.5" width="15" height="15" rx="2" fill="#fff" stroke="${COLOR.noData}" stroke-width="2" stroke-dasharray="3 2"/><text y="0.5" text-anchor="middle" dominant-baseline="middle" class="glyph" fill="${COLOR.noData}">?</text>`;
    case 'continue':
      // Undecided: hollow, grey, an arrow onwards — never the green of a pass.
      return `<circle r="7.5" fill="#fff" stroke="${COLOR.muted}" stroke-width="2"/><path d="M-3.6 0H3M0.4-2.8L3.2 0L0.4 2.8" fill="none" stroke="${COLOR.muted}" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>`;
    case 'advance':
      return `<path d="M0-9.5L9.5 7H-9.5Z" fill="${COLOR.pass}" stroke="#fff" stroke-width="1.5" stroke-linejoin="round"/><path d="M-3.4 3.2L0-0.4L3.4 3.2" fill="none" stroke="#fff" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/>`;
    default: {
      const never: never = result;
      throw new Error(`unknown verdict ${String(never)}`);
    }
  }
}

export function verdictMarker(x: number, y: number, result: LookWord, label: string): string {
  return `<g data-testid="verdict-marker" data-result="${result}" class="marker" transform="translate(${n(x)} ${n(y)})" role="img" aria-label="${esc(label)}"><title>${esc(label)}</title>${verdictShape(result)}</g>`;
}

export function lookLabel(data: ReportData, look: ReportLook, detail: string): string {
  const at = formatTick(look.t - data.startMs);
  const weight = look.weightPercent === null ? '' : ` at ${weightLabel(look.weightPercent, data.weightScale)} canary`;
  return `Look ${look.n} (${at}${weight}): ${VERDICT_WORD[look.verdict]}${detail ? ` — ${detail}` : ''}`;
}

/** The outcome: a vertical line on every chart, its label on the first. */
export function outcomeLine(data: ReportData, frame: Frame, withLabel: boolean): string {
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

export function svgOpen(testid: string, id: string, height: number, title: string, desc: string): string {
  return `<svg data-testid="${testid}" role="img" aria-labelledby="${id}-title ${id}-desc" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" xmlns="http://www.w3.org/2000/svg"><title id="${id}-title">${esc(title)}</title><desc id="${id}-desc">${esc(desc)}</desc>`;
}

/** Labels at the right end of the lines, nudged apart so they never overlap. */
export function endLabels(frame: Frame, labels: { y: number; text: string; color: string; cls: string }[]): string {
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

export function lookCounts(looks: ReportLook[]): string {
  if (looks.length === 0) return 'none';
  const count = (result: LookWord) => looks.filter((look) => look.verdict === result).length;
  return (['pass', 'continue', 'advance', 'fail', 'no-data'] as const)
    .filter((result) => count(result) > 0)
    .map((result) => `${count(result)} ${VERDICT_WORD[result]}`)
    .join(', ');
}
