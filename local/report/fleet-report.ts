/**
 * `sluice report` of a fleet release: one page, one lane per cluster on one shared time axis. Each
 * lane draws that cluster's canary weight over time, a marker per look (the glyph carries the
 * verdict, colour only repeats it) and its outcome; dashed lines mark where each wave started.
 * Built from the fleet's `--json` summary (its clusters and their member executions) and each
 * member's record in the local store, the same data the single-rollout report reads.
 * Self-contained like the single report: inline CSS and SVG, no script, every text escaped.
 */
import { z } from 'zod';
import type { EventLog, RolloutLog, RolloutRecords } from '../../lambdas/core/ports.ts';
import { escapeHtml as esc, formatDuration, formatTick } from './format.ts';
import { reportDataFromStore } from './report-data.ts';
import type { ReportData } from './report-data.ts';
import { COLOR, OUTCOME_STYLE, STYLE, VERDICT_GLYPH, VERDICT_WORD } from './style.ts';

import type { ClusterOutcome } from '../../lambdas/core/fleet.ts';

/** Every outcome the fleet summary gives a cluster (lambdas/core/fleet.ts); the Record below makes the list exhaustive. */
const clusterOutcomes = [
  'promoted',
  'rolled-back',
  'aborted',
  'not-started',
  'reverted',
  'promotion-failed',
  'failed',
] as const satisfies readonly ClusterOutcome[];

/** What `sluice run <fleet> --json` and `sluice demo --fleet --json` print (the fields the page needs). */
export const fleetSummarySchema = z.object({
  execution: z.string().min(1),
  target: z.string().min(1),
  version: z.string().min(1),
  outcome: z.enum(['promoted', 'halted', 'refused']),
  reason: z.string(),
  clusters: z
    .array(
      z.object({
        cluster: z.string().min(1),
        wave: z.number().int().min(1),
        outcome: z.enum(clusterOutcomes),
        execution: z.string().min(1),
        reason: z.string().optional(),
      }),
    )
    .min(1),
});
export type FleetReportSummary = z.infer<typeof fleetSummarySchema>;

/** Whether a parsed JSON document is a fleet summary (it has clusters) rather than one rollout's. */
export function isFleetSummary(json: unknown): boolean {
  return typeof json === 'object' && json !== null && Array.isArray((json as { clusters?: unknown }).clusters);
}

export interface FleetLane {
  cluster: string;
  wave: number;
  outcome: ClusterOutcome;
  execution: string;
  reason?: string;
  /** The member's rollout as the single report reads it; null when it never started (or left no record). */
  rollout: ReportData | null;
}

export interface FleetReportData {
  execution: string;
  target: string;
  version: string;
  outcome: 'promoted' | 'halted' | 'refused';
  reason: string;
  lanes: FleetLane[];
}

/** The fleet page's data: the summary's clusters, each with its member's rollout from the store. */
export async function fleetReportData(
  store: RolloutRecords & RolloutLog & EventLog,
  summary: FleetReportSummary,
): Promise<FleetReportData> {
  const lanes: FleetLane[] = [];
  for (const cluster of summary.clusters) {
    const rollout = cluster.outcome === 'not-started' ? null : await reportDataFromStore(store, cluster.execution);
    lanes.push({ ...cluster, rollout });
  }
  lanes.sort((a, b) => a.wave - b.wave);
  return {
    execution: summary.execution,
    target: summary.target,
    version: summary.version,
    outcome: summary.outcome,
    reason: summary.reason,
    lanes,
  };
}

const LANE_OUTCOME: Record<ClusterOutcome, { label: string; color: string; glyph: string }> = {
  promoted: OUTCOME_STYLE.promoted,
  'rolled-back': OUTCOME_STYLE['rolled-back'],
  aborted: OUTCOME_STYLE.aborted,
  'not-started': { label: 'Not started', color: COLOR.muted, glyph: '–' },
  reverted: { label: 'Promoted, then reverted', color: OUTCOME_STYLE['rolled-back'].color, glyph: '↺' },
  'promotion-failed': OUTCOME_STYLE['promotion-failed'],
  failed: OUTCOME_STYLE.failed,
};

const FLEET_OUTCOME: Record<FleetReportData['outcome'], { label: string; color: string; glyph: string }> = {
  promoted: { label: 'Promoted everywhere', color: OUTCOME_STYLE.promoted.color, glyph: '✓' },
  halted: { label: 'Halted', color: OUTCOME_STYLE['rolled-back'].color, glyph: '■' },
  refused: OUTCOME_STYLE.refused,
};

/** The time span every lane shares: the first member's start to the last one's end. */
function span(data: FleetReportData): { startMs: number; endMs: number } | null {
  const rollouts = data.lanes.flatMap((lane) => (lane.rollout ? [lane.rollout] : []));
  if (rollouts.length === 0) return null;
  const startMs = Math.min(...rollouts.map((r) => r.startMs));
  const endMs = Math.max(...rollouts.map((r) => r.endMs), startMs + 1000);
  return { startMs, endMs };
}

/** Where each wave began: the earliest start among its members (waves that never started have none). */
export function waveStarts(data: FleetReportData): Array<{ wave: number; atMs: number }> {
  const starts = new Map<number, number>();
  for (const lane of data.lanes) {
    if (!lane.rollout) continue;
    const known = starts.get(lane.wave);
    if (known === undefined || lane.rollout.startMs < known) starts.set(lane.wave, lane.rollout.startMs);
  }
  return [...starts.entries()].map(([wave, atMs]) => ({ wave, atMs })).sort((a, b) => a.wave - b.wave);
}

const WIDTH = 960;
const LEFT = 150;
const RIGHT = 24;
const TOP = 50;
const LANE = 86;
const LANE_GAP = 14;
const BOTTOM = 30;

function ticks(durationMs: number): number[] {
  const steps = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].map((s) => s * 1000);
  const step = steps.find((s) => durationMs / s <= 10) ?? 3600 * 1000;
  const out: number[] = [];
  for (let t = 0; t <= durationMs; t += step) out.push(t);
  return out;
}

/** The lanes: one row per cluster, weight (0–100%) over the shared time axis, looks and outcome on it. */
export function fleetLanesChart(data: FleetReportData): string {
  const bounds = span(data);
  const height = TOP + data.lanes.length * (LANE + LANE_GAP) + BOTTOM;
  const plot = WIDTH - LEFT - RIGHT;
  const parts: string[] = [];
  parts.push(`<text class="chart-title" x="0" y="16">Canary weight per cluster</text>`);
  const duration = bounds ? bounds.endMs - bounds.startMs : 1;
  const x = (ms: number) => (bounds ? LEFT + ((ms - bounds.startMs) / duration) * plot : LEFT);
  const axisY = TOP + data.lanes.length * (LANE + LANE_GAP) - LANE_GAP + 4;
  if (bounds) {
    for (const t of ticks(duration)) {
      const tx = x(bounds.startMs + t).toFixed(1);
      parts.push(`<line x1="${tx}" x2="${tx}" y1="${TOP}" y2="${axisY}" stroke="${COLOR.grid}"/>`);
      parts.push(`<text class="tick" x="${tx}" y="${axisY + 16}" text-anchor="middle">${formatTick(t)}</text>`);
    }
  }
  for (const [i, lane] of data.lanes.entries()) {
    const top = TOP + i * (LANE + LANE_GAP);
    const y = (percent: number) => top + LANE - (percent / 100) * (LANE - 16);
    const style = LANE_OUTCOME[lane.outcome];
    parts.push(
      `<g data-testid="lane" data-cluster="${esc(lane.cluster)}" data-wave="${lane.wave}" data-outcome="${lane.outcome}">`,
      `<rect x="${LEFT}" y="${top}" width="${plot}" height="${LANE}" fill="none" stroke="${COLOR.axis}" stroke-opacity="0.4"/>`,
      `<text class="series-label" x="0" y="${top + 22}">${esc(lane.cluster)}</text>`,
      `<text class="tick" x="0" y="${top + 40}">wave ${lane.wave}</text>`,
      `<text class="series-label" x="0" y="${top + 60}" fill="${style.color}" data-testid="lane-outcome"><tspan aria-hidden="true">${style.glyph} </tspan>${esc(style.label)}</text>`,
      `<text class="tick" x="${LEFT - 6}" y="${y(100) + 4}" text-anchor="end">100%</text>`,
      `<text class="tick" x="${LEFT - 6}" y="${y(0) + 4}" text-anchor="end">0%</text>`,
    );
    const rollout = lane.rollout;
    if (!rollout) {
      parts.push(
        `<text class="empty" x="${LEFT + 10}" y="${top + LANE / 2 + 4}">not started — the fleet halted before this wave</text>`,
        '</g>',
      );
      continue;
    }
    // The weight as a step line: each split holds until the next one, to the outcome (or now).
    const points = rollout.weights.length ? rollout.weights : [{ t: rollout.startMs, percent: 0 }];
    const path: string[] = [];
    for (const [j, point] of points.entries()) {
      const px = x(point.t).toFixed(1);
      const py = y(point.percent).toFixed(1);
      if (j === 0) path.push(`M${px},${py}`);
      else path.push(`H${px}`, `V${py}`);
    }
    const endX = x(rollout.outcomeMs ?? rollout.endMs).toFixed(1);
    const finalPercent = rollout.outcome === 'running' ? (points.at(-1)?.percent ?? 0) : 0;
    path.push(`H${endX}`);
    if (rollout.outcome !== 'running') path.push(`V${y(finalPercent).toFixed(1)}`);
    parts.push(`<path data-testid="lane-weights" d="${path.join(' ')}" fill="none" stroke="${COLOR.canary}" stroke-width="2"/>`);
    for (const look of rollout.looks) {
      const color = look.verdict === 'fail' ? COLOR.fail : look.verdict === 'no-data' ? COLOR.noData : COLOR.pass;
      const lx = x(look.t).toFixed(1);
      const ly = y(look.weightPercent ?? 0).toFixed(1);
      parts.push(
        `<text class="glyph" data-testid="look" data-verdict="${look.verdict}" x="${lx}" y="${(Number(ly) - 4).toFixed(1)}" text-anchor="middle" fill="${color}"><title>${esc(`${VERDICT_WORD[look.verdict]}: ${look.summary}`)}</title>${VERDICT_GLYPH[look.verdict]}</text>`,
      );
    }
    if (rollout.outcomeMs !== null)
      parts.push(`<line x1="${endX}" x2="${endX}" y1="${top}" y2="${top + LANE}" stroke="${style.color}" stroke-width="2"/>`);
    parts.push('</g>');
  }
  if (bounds) {
    for (const { wave, atMs } of waveStarts(data)) {
      const wx = x(atMs).toFixed(1);
      parts.push(
        `<g data-testid="wave-boundary" data-wave="${wave}"><line x1="${wx}" x2="${wx}" y1="${TOP - 8}" y2="${axisY}" stroke="${COLOR.threshold}" stroke-dasharray="4 3"/>`,
        `<text class="tick" x="${wx}" y="${TOP - 12}" text-anchor="middle">wave ${wave}</text></g>`,
      );
    }
  }
  return `<svg data-testid="fleet-lanes" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="Canary weight over time, one lane per cluster">${parts.join('')}</svg>`;
}

function clusterTable(data: FleetReportData): string {
  const rows = data.lanes.map((lane) => {
    const style = LANE_OUTCOME[lane.outcome];
    const took = lane.rollout ? formatDuration((lane.rollout.outcomeMs ?? lane.rollout.endMs) - lane.rollout.startMs) : '—';
    const looks = lane.rollout ? String(lane.rollout.looks.length) : '—';
    return `<tr data-testid="cluster-row"><td>${lane.wave}</td><td>${esc(lane.cluster)}</td><td class="verdict" style="color:${style.color}">${style.glyph} ${esc(style.label)}</td><td class="num">${took}</td><td class="num">${looks}</td><td class="num"><code>${esc(lane.execution)}</code></td><td>${esc(lane.reason ?? lane.rollout?.reason ?? '')}</td></tr>`;
  });
  return `<table><caption>Clusters</caption><thead><tr><th>Wave</th><th>Cluster</th><th>Outcome</th><th>Took</th><th>Looks</th><th>Execution</th><th>Reason</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** The fleet page. */
export function renderFleetReport(data: FleetReportData): string {
  const style = FLEET_OUTCOME[data.outcome];
  const bounds = span(data);
  const waves = new Set(data.lanes.map((lane) => lane.wave)).size;
  const meta = [
    `fleet execution <code>${esc(data.execution)}</code>`,
    `${data.lanes.length} clusters in ${waves} waves`,
    ...(bounds ? [`took ${esc(formatDuration(bounds.endMs - bounds.startMs))}`] : []),
  ].join(' · ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(`${data.target} ${data.version}: fleet ${style.label.toLowerCase()} — Sluice report`)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header class="card" data-testid="report-header">
<p class="eyebrow">Sluice fleet report</p>
<h1><span data-testid="target">${esc(data.target)}</span> <span class="version">${esc(data.version)}</span> <span class="badge" data-testid="outcome" style="background:${style.color}"><span aria-hidden="true">${style.glyph}</span>${esc(style.label)}</span></h1>
<p class="reason" data-testid="reason">${esc(data.reason)}</p>
<p class="meta">${meta}</p>
</header>
<section class="card" aria-label="Lanes">
<figure>${fleetLanesChart(data)}</figure>
</section>
<section class="card" aria-label="Clusters">
${clusterTable(data)}
</section>
<footer>Generated by <code>sluice report</code>. Self-contained: no scripts, nothing loaded from the network. One cluster's own report: <code>sluice report &lt;its execution&gt;</code>.</footer>
</main>
</body>
</html>
`;
}
