/**
 * The sequential judge's picture, rendered from a rollout the real judge decided (sample.ts) and
 * read back the way a person reads it: e-values against their bars, counts in the table, and no
 * look marked "pass".
 */
import { describe, expect, it } from 'vitest';
import { formatE } from './evidence-charts.ts';
import { parseSummaryJson, reportDataFromSummary } from './report-data.ts';
import { renderReport } from './render.ts';
import { sampleSequentialSummary, sampleSummary } from './sample.ts';

function chart(html: string, testid: string): string {
  const match = new RegExp(`<svg data-testid="${testid}"[\\s\\S]*?</svg>`).exec(html);
  if (!match) throw new Error(`no ${testid} in the report`);
  return match[0];
}

function charts(html: string, testid: string): string[] {
  return [...html.matchAll(new RegExp(`<svg data-testid="${testid}"[\\s\\S]*?</svg>`, 'g'))].map((m) => m[0]);
}

interface EMarker {
  result: string;
  y: number;
  value: number;
  bar: number;
}

function eMarkers(svg: string): EMarker[] {
  return [
    ...svg.matchAll(
      /data-testid="verdict-marker" data-result="([a-z-]+)" class="marker" data-value="([^"]+)" data-bar="([^"]+)" transform="translate\(([\d.-]+) ([\d.-]+)\)"/g,
    ),
  ].map((m) => ({ result: m[1] ?? '', value: Number(m[2]), bar: Number(m[3]), y: Number(m[5]) }));
}

function barY(svg: string, testid: string): number {
  const match = new RegExp(`<g data-testid="${testid}" data-bar="[^"]+"><title>[^<]*</title><line [^>]*y1="([\\d.]+)"`).exec(svg);
  if (!match) throw new Error(`no ${testid}`);
  return Number(match[1]);
}

describe('the sequential report', () => {
  const summary = sampleSequentialSummary();
  const html = renderReport(reportDataFromSummary(summary));

  it('draws the failure e-value per look against its bar 1/alpha, with the look’s decision as its marker', () => {
    // Prepare: the judge rolled this canary back after undecided looks.
    expect(summary.outcome).toBe('rolled-back');
    const decisions = summary.steps.map((step) => step.verdict);
    expect(decisions.at(-1)).toBe('fail');
    expect(decisions.slice(0, -1).every((d) => d === 'continue')).toBe(true);

    // Act
    const svg = chart(html, 'evalue-chart');
    const found = eMarkers(svg);
    const bar = barY(svg, 'evalue-bar');

    // Assess
    expect(svg).toContain('Failure e-value (e-value)');
    expect(svg).toContain('bar 1/α = 100');
    expect(found.map((m) => m.result)).toEqual(decisions);
    expect(found.map((m) => m.value)).toEqual(summary.steps.map((step) => step.judged?.eValue));
    for (const marker of found) {
      // Above the bar on the page (smaller y) exactly when the e-value reached it, and only then a fail.
      expect(marker.y < bar, JSON.stringify(marker)).toBe(marker.value >= marker.bar);
      expect(marker.result === 'fail', JSON.stringify(marker)).toBe(marker.value >= marker.bar);
    }
  });

  it('draws the promotion e-value against 1/alphaPromote and the ratio bounds per look', () => {
    const promotion = chart(html, 'promotion-chart');
    expect(promotion).toContain('bar 1/α promote = 20');
    expect(eMarkers(promotion)).toHaveLength(summary.steps.length);
    const ratio = chart(html, 'ratio-chart');
    const bounds = summary.steps.flatMap((step) => step.evidence.filter((check) => check.evidence?.ratioBounds));
    expect(bounds.length).toBeGreaterThan(0);
    expect([...ratio.matchAll(/data-testid="ratio-bounds"/g)]).toHaveLength(bounds.length);
    expect(ratio).toMatch(/canary\/primary ratio [\d.e]+ to ([\d.e]+|∞) \(99% confidence, this step\)/);
  });

  it('labels each rate chart by what was counted, with the counts behind every point', () => {
    const rates = charts(html, 'rate-chart');
    expect(rates.map((svg) => /data-metric="([^"]+)"/.exec(svg)?.[1])).toEqual(['request-success-rate', 'request-duration']);
    expect(rates[0]).toContain('Errors per look');
    expect(rates[1]).toContain('Requests over 500 ms per look');
    const last = summary.steps.at(-1)?.evidence[0]?.evidence?.look.canary;
    expect(rates[0]).toContain(`canary ${last?.events} errors of ${last?.requests} requests`);
    // A look's rate is not a verdict: the rate charts carry no pass/fail markers.
    expect(rates.join('')).not.toContain('data-testid="verdict-marker"');
  });

  it('lists counts and e-values in the verdict table, and marks no look "pass"', () => {
    const rows = [...html.matchAll(/<tr data-testid="look-row" data-result="([a-z-]+)">([\s\S]*?)<\/tr>/g)];
    expect(rows.map((row) => row[1])).toEqual(summary.steps.map((step) => step.verdict));
    const lastRow = rows.at(-1)?.[2] ?? '';
    const judged = summary.steps.at(-1)?.judged;
    expect(lastRow).toContain(`${formatE(judged?.eValue ?? 0)}</span> ≥ 100`);
    expect(lastRow).toMatch(/<strong>errors<\/strong>: canary \d+ errors of \d+ requests \([\d.]+%\) · primary \d+ errors of \d+ requests/);
    expect(html).not.toContain('data-result="pass"');
    expect(html).not.toContain('look passed');
    expect(html).toContain('Judge</dt><dd>sequential');
  });

  it('keeps the judge’s evidence through the summary JSON a person hands to `sluice report`', () => {
    // Act
    const reread = renderReport(reportDataFromSummary(parseSummaryJson(JSON.stringify(summary))));
    // Assess
    expect(reread).toBe(html);
  });
});

describe('the threshold report', () => {
  it('keeps its own picture: no e-value chart, the success and latency charts', () => {
    const html = renderReport(reportDataFromSummary(sampleSummary()));
    expect(html).not.toContain('evalue-chart');
    expect(html).toContain('data-testid="success-chart"');
    expect(html).toContain('data-testid="latency-chart"');
  });
});

describe('formatE', () => {
  it('writes e-values short', () => {
    expect([0.0342, 1.613, 35.64, 213.4, 412_000, Number.POSITIVE_INFINITY].map(formatE)).toEqual([
      '0.0342',
      '1.61',
      '35.6',
      '213',
      '4.1e5',
      '∞',
    ]);
  });
});
