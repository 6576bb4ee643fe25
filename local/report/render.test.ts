import { describe, expect, it } from 'vitest';
import type { MetricCheck } from '../../lambdas/core/verdict.ts';
import type { StepSummary } from '../summary.ts';
import { parseSummaryJson, reportDataFromSummary } from './report-data.ts';
import type { ReportSummary } from './report-data.ts';
import { escapeHtml } from './format.ts';
import { renderReport } from './render.ts';

const START = Date.parse('2026-03-12T10:00:00.000Z');
const at = (seconds: number) => new Date(START + seconds * 1000).toISOString();

function success(value: number | null, primary: number | null = 99.9): MetricCheck {
  return { name: 'request-success-rate', value, primary, min: 99, result: value === null ? 'no-data' : value >= 99 ? 'pass' : 'fail' };
}

function latency(value: number | null, primary: number | null = 80): MetricCheck {
  return { name: 'request-duration', value, primary, max: 250, result: value === null ? 'no-data' : value <= 250 ? 'pass' : 'fail' };
}

function look(seconds: number, canary: number, evidence: MetricCheck[], scale = 100): StepSummary {
  const failed = evidence.some((check) => check.result === 'fail');
  const noData = evidence.some((check) => check.result === 'no-data');
  return {
    stepIndex: 0,
    at: at(seconds),
    weights: { primary: scale - canary, canary },
    verdict: failed ? 'fail' : noData ? 'no-data' : 'pass',
    summary: failed ? 'request-success-rate 96 < min 99' : 'all metrics within range',
    evidence,
  };
}

function summary(overrides: Partial<ReportSummary> = {}): ReportSummary {
  return {
    execution: 'podinfo-v2-1',
    target: 'podinfo',
    version: 'v2',
    outcome: 'rolled-back',
    reason: 'analysis failed 1 time (threshold 1): request-success-rate 96 < min 99',
    exitCode: 3,
    weights: { primary: 100, canary: 0 },
    weightScale: 100,
    steps: [
      look(10, 5, [success(99.8), latency(120)]),
      look(20, 10, [success(99.6), latency(130)]),
      look(30, 25, [success(96), latency(140)]),
    ],
    requests: { total: 3000, canary: 400, canaryErrors: 12 },
    durationMs: 31_000,
    detectionMs: 29_500,
    transitions: 19,
    startedAt: at(0),
    plannedWeights: [5, 10, 25, 50],
    ...overrides,
  };
}

/** One chart's SVG out of the page. */
function chart(html: string, testid: string): string {
  const match = new RegExp(`<svg data-testid="${testid}"[\\s\\S]*?</svg>`).exec(html);
  if (!match) throw new Error(`no ${testid} in the report`);
  return match[0];
}

interface Marker {
  result: string;
  x: number;
  y: number;
  label: string;
}

function markers(svg: string): Marker[] {
  return [
    ...svg.matchAll(
      /<g data-testid="verdict-marker" data-result="([a-z-]+)" class="marker" transform="translate\(([\d.-]+) ([\d.-]+)\)" role="img" aria-label="([^"]*)"/g,
    ),
  ].map((m) => ({
    result: m[1] ?? '',
    x: Number(m[2]),
    y: Number(m[3]),
    label: m[4] ?? '',
  }));
}

function thresholdY(svg: string): number {
  const match = /<g data-testid="threshold">.*?<line [^>]*y1="([\d.]+)"/.exec(svg);
  if (!match) throw new Error('no threshold line');
  return Number(match[1]);
}

/** The vertices of a path: M/L absolute points, and the levels of H/V step segments. */
function pathOf(svg: string, testid: string): string {
  const match = new RegExp(`<path d="([^"]*)"[^>]*data-testid="${testid}"`).exec(svg);
  if (!match?.[1]) throw new Error(`no ${testid}`);
  return match[1];
}

describe('renderReport', () => {
  it('draws one verdict marker per look on each chart, in time order, with the verdicts', () => {
    // Prepare
    const data = reportDataFromSummary(summary());

    // Act
    const html = renderReport(data);

    // Assess
    for (const testid of ['weight-chart', 'success-chart', 'latency-chart']) {
      const found = markers(chart(html, testid));
      expect(
        found.map((m) => m.result),
        testid,
      ).toEqual(testid === 'latency-chart' ? ['pass', 'pass', 'pass'] : ['pass', 'pass', 'fail']);
      expect(found[0]!.x).toBeLessThan(found[1]!.x);
      expect(found[1]!.x).toBeLessThan(found[2]!.x);
    }
  });

  it('puts a failing success rate below the dashed min line and passing ones above it', () => {
    const html = renderReport(reportDataFromSummary(summary()));

    const svg = chart(html, 'success-chart');
    const [first, second, third] = markers(svg);
    const min = thresholdY(svg);

    expect(svg).toContain('stroke-dasharray="7 4"');
    expect(first!.y).toBeLessThan(min);
    expect(second!.y).toBeLessThan(min);
    expect(third!.y).toBeGreaterThan(min);
    expect(third!.label).toContain('canary 96%');
    expect(third!.label).toContain('primary 99.9%');
    expect(svg).toContain('min 99%');
  });

  it('draws latency with the max threshold and the primary beside the canary', () => {
    const html = renderReport(
      reportDataFromSummary(
        summary({ steps: [look(10, 5, [success(99.9), latency(120, 90)]), look(20, 10, [success(99.9), latency(400, 95)])] }),
      ),
    );

    const svg = chart(html, 'latency-chart');
    const [ok, slow] = markers(svg);
    const max = thresholdY(svg);

    expect(ok!.y).toBeGreaterThan(max);
    expect(slow!.result).toBe('fail');
    expect(slow!.y).toBeLessThan(max);
    expect(svg).toContain('max 250 ms');
    expect(pathOf(svg, 'primary-line').match(/[ML]/g)).toHaveLength(2);
    expect(svg).toContain('primary 95 ms');
  });

  it('steps the weight line up through each look’s weight and marks the outcome', () => {
    const html = renderReport(reportDataFromSummary(summary()));

    const svg = chart(html, 'weight-chart');
    const d = pathOf(svg, 'weight-line');
    const levels = [...d.matchAll(/(?:^M[\d.]+ |V)([\d.]+)/g)].map((m) => Number(m[1]));

    // Three steps up (5% from the start, 10%, 25%): each higher on the page, i.e. a smaller y.
    expect(levels).toHaveLength(3);
    expect(levels[0]!).toBeGreaterThan(levels[1]!);
    expect(levels[1]!).toBeGreaterThan(levels[2]!);
    for (const label of ['5%', '10%', '25%']) expect(svg).toContain(`class="step-label">${label}<`);
    expect(svg).toContain('data-outcome="rolled-back"');
    expect(svg).toContain('Rolled back · 31s');
    // The planned 50% was never reached: a guide says so.
    expect(svg).toContain('planned step 50% (not reached)');
  });

  it('shows the summary numbers: duration, looks, detection, requests and what the transitions cost', () => {
    const html = renderReport(reportDataFromSummary(summary()));

    const box = /<dl class="summary"[\s\S]*?<\/dl>/.exec(html)?.[0] ?? '';
    expect(box).toContain('31 s');
    expect(box).toContain('2 pass, 1 fail');
    expect(box).toContain('29.5 s');
    expect(box).toContain('3,000');
    expect(box).toContain('400 to the canary, 12 canary errors (3%)');
    // 19 transitions at $0.025 per 1,000.
    expect(box).toContain('$0.000475 on Step Functions Standard');
    expect(html).toContain('<title>podinfo v2: rolled back — Sluice report</title>');
  });

  it('escapes user text everywhere: target, version, reason, execution and evidence', () => {
    const evil = '<script>alert(1)</script>';
    const data = reportDataFromSummary(
      summary({
        target: evil,
        version: '"><img src=x onerror=alert(2)>',
        reason: `bad & ${evil}`,
        execution: "x' onmouseover='alert(3)",
        steps: [{ ...look(10, 5, [{ ...success(99.9), name: '<b>metric</b>' }]), summary: evil }],
      }),
    );

    const html = renderReport(data);

    expect(html).not.toMatch(/<script/i);
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>metric');
    expect(html).not.toContain("x' onmouseover");
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(html).toContain('bad &#38; ');
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;');
  });

  it('is one self-contained document: no script, no external resource, a CSP that forbids loading any', () => {
    const html = renderReport(reportDataFromSummary(summary()));

    expect(html).not.toMatch(/<script|<link|@import|url\(|src=|href=/i);
    expect(html).toContain(`content="default-src 'none'`);
  });

  it('handles a rollout with one look', () => {
    const html = renderReport(
      reportDataFromSummary(
        summary({
          steps: [look(12, 1, [success(99.5), latency(100)])],
          outcome: 'promoted',
          exitCode: 0,
          reason: 'promoted after 1 steps',
          durationMs: 15_000,
        }),
      ),
    );

    for (const testid of ['weight-chart', 'success-chart', 'latency-chart']) expect(markers(chart(html, testid))).toHaveLength(1);
    // Promoted: the tail after the outcome shows all traffic on the new version.
    expect(chart(html, 'weight-chart')).toContain('after the outcome: 100% of traffic on v2');
  });

  it('says so when the analysis had no latency metric, and draws no latency markers', () => {
    const html = renderReport(reportDataFromSummary(summary({ steps: [look(10, 5, [success(99.9)]), look(20, 10, [success(99.8)])] })));

    const svg = chart(html, 'latency-chart');
    expect(svg).toContain('No latency metric in this rollout’s analysis');
    expect(markers(svg)).toHaveLength(0);
    expect(markers(chart(html, 'success-chart'))).toHaveLength(2);
  });

  it('leaves a gap where a metric had no data and marks that look "no data" at the bottom', () => {
    const steps = [
      look(10, 5, [success(99.9), latency(100)]),
      look(20, 5, [success(null, null), latency(null, null)]),
      look(30, 10, [success(99.7), latency(110)]),
    ];

    const html = renderReport(reportDataFromSummary(summary({ steps, outcome: 'promoted', exitCode: 0 })));

    const svg = chart(html, 'success-chart');
    const d = pathOf(svg, 'canary-line');
    // Two separate pieces (each a lone dot): nothing is drawn through the missing value.
    expect(d.match(/M/g)).toHaveLength(2);
    expect(d).not.toContain('L');
    const [, missing] = markers(svg);
    expect(missing!.result).toBe('no-data');
    expect(Math.max(...markers(svg).map((m) => m.y))).toBe(missing!.y);
    expect(markers(chart(html, 'weight-chart'))[1]!.result).toBe('no-data');
  });

  it('reads per-mille weights (weightScale 1000) as tenths of a percent', () => {
    const steps = [
      look(10, 1, [success(99.9), latency(90)], 1000),
      look(20, 5, [success(99.9), latency(90)], 1000),
      look(30, 25, [success(99.9), latency(90)], 1000),
    ];

    const data = reportDataFromSummary(
      summary({ weightScale: 1000, weights: { primary: 1000, canary: 0 }, steps, plannedWeights: [1, 5, 25] }),
    );
    const html = renderReport(data);

    expect(data.looks.map((l) => l.weightPercent)).toEqual([0.1, 0.5, 2.5]);
    const svg = chart(html, 'weight-chart');
    for (const label of ['0.1%', '0.5%', '2.5%']) expect(svg).toContain(`class="step-label">${label}<`);
    expect(html).toContain('weight scale 1000 (per-mille)');
  });

  it('renders a rollout refused before any look: empty charts and a note instead of a table', () => {
    const html = renderReport(
      reportDataFromSummary(
        summary({
          outcome: 'refused',
          exitCode: 2,
          reason: 'preflight failed: canary not ready',
          steps: [],
          weights: undefined,
          requests: undefined,
          detectionMs: undefined,
        }),
      ),
    );

    for (const testid of ['weight-chart', 'success-chart', 'latency-chart']) expect(markers(chart(html, testid))).toHaveLength(0);
    expect(html).toContain('No looks were recorded.');
    expect(html).toContain('Refused');
  });

  it('labels the outcome of every kind in words and a glyph, not only a colour', () => {
    const words = { promoted: 'Promoted', aborted: 'Aborted', 'promotion-failed': 'Held on the canary', failed: 'Failed' } as const;
    for (const [outcome, word] of Object.entries(words)) {
      const html = renderReport(reportDataFromSummary(summary({ outcome: outcome as keyof typeof words })));
      expect(html, outcome).toContain(`data-testid="outcome" style="background:`);
      expect(html, outcome).toContain(`${word}</span>`);
      expect(chart(html, 'weight-chart'), outcome).toContain(`data-outcome="${outcome}"`);
    }
  });
});

describe('reportDataFromSummary with a timeline', () => {
  it('draws the success rate over a trailing window of the per-second counts, and p99 per second', () => {
    const timeline = Array.from({ length: 20 }, (_, i) => ({
      at: at(i + 1),
      weights: { primary: 90, canary: 10 },
      canary: { requests: 10, errors: i >= 10 ? 1 : 0, p99Ms: 100 + i },
      primary: { requests: 90, errors: 0, p99Ms: 80 },
    }));

    const data = reportDataFromSummary(
      summary({
        timeline,
        durationMs: 20_000,
        steps: [look(10, 10, [success(100), latency(109)]), look(20, 10, [success(95), latency(119)])],
      }),
    );

    expect(data.success?.source).toBe('timeline');
    const canary = data.success?.canary ?? [];
    expect(canary[9]?.value).toBe(100);
    // The last 10 seconds all had 1 error in 10 requests.
    expect(canary.at(-1)?.value).toBe(90);
    expect(data.latency?.canary.at(-1)?.value).toBe(119);
    expect(data.success?.min).toBe(99);
    expect(data.weights.map((w) => w.percent)).toEqual([0, 10]);
  });

  it('estimates the start from the looks when the summary does not carry it', () => {
    const { startedAt: _, ...withoutStart } = summary();

    const data = reportDataFromSummary(withoutStart);

    // Looks 10 s apart, the first at 10 s: the run started about one look interval before it.
    expect(data.startMs).toBe(START);
    expect(data.outcomeMs).toBe(START + 31_000);
  });
});

describe('parseSummaryJson', () => {
  it('reads the last line of `--json` output as well as a bare object', () => {
    const json = JSON.stringify(summary());

    expect(parseSummaryJson(json).target).toBe('podinfo');
    expect(parseSummaryJson(`step 1 …\nstep 2 …\n${json}\n`).execution).toBe('podinfo-v2-1');
  });

  it('names the field that does not fit', () => {
    const broken = { ...summary(), steps: [{ ...look(10, 5, []), at: 42 }] };

    expect(() => parseSummaryJson(JSON.stringify(broken))).toThrow(/steps\[0\]\.at/);
    expect(() => parseSummaryJson('not json')).toThrow(/not JSON/);
  });
});
