/**
 * Where things go on a chart: the page's fixed geometry, the frame that maps time and value to
 * SVG coordinates (all charts share one time axis), and round ticks for both axes.
 */
import { round } from './format.ts';
import type { ReportData, ValuePoint } from './report-data.ts';

/** Round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || 1;
  const raw = span / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toFixed(6)));
  return ticks;
}

export function niceCeil(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return ([1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].find((m) => m * magnitude >= value) ?? 10) * magnitude;
}

const TIME_STEPS_S = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 21_600, 43_200, 86_400];

export function timeTicks(spanMs: number, maxTicks: number): number[] {
  const stepS = TIME_STEPS_S.find((s) => spanMs / 1000 / s <= maxTicks) ?? 86_400;
  const ticks: number[] = [];
  for (let t = 0; t <= spanMs; t += stepS * 1000) ticks.push(t);
  return ticks;
}

export const WIDTH = 960;
export const MARGIN = { left: 60, right: 150, top: 36, bottom: 18 } as const;
export const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const AXIS_H = 34;

export interface Frame {
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

export function frameFor(data: ReportData, plotHeight: number, lo: number, hi: number, axis: boolean): Frame {
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
export function timeDomain(data: ReportData): { t0: number; t1: number } {
  const last = Math.max(data.endMs, data.outcomeMs ?? data.endMs, ...data.looks.map((look) => look.t));
  const span = Math.max(1000, last - data.startMs);
  return { t0: data.startMs, t1: last + span * 0.04 };
}

export function n(value: number): string {
  return round(value, 1);
}

/** A polyline with gaps where a value is null. */
export function linePath(points: ValuePoint[], frame: Frame): string {
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
