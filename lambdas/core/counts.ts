/**
 * Raw request counters per arm and their per-look deltas: what the sequential judge consumes.
 * Each look uses only what happened since the previous look: integer deltas of the raw
 * counters, per series, computed here (not PromQL `rate`/`increase`, which extrapolate).
 */

/** One raw counter series as scraped (labels identify the series; value is cumulative). */
export interface SeriesSample {
  labels: Record<string, string>;
  value: number;
}

/** The raw counters of one arm (canary or primary) at one instant. */
export interface ArmCounters {
  /** All requests. */
  requests: SeriesSample[];
  /** Failed requests: 5xx (including the proxy's own 503/504), gRPC failures, timeouts and resets. */
  errors: SeriesSample[];
  /** Requests slower than each latency threshold, keyed by the threshold in ms (an exact histogram bucket boundary). */
  slow: Record<string, SeriesSample[]>;
}

/** Both arms' counters at one instant, from one scrape target. */
export interface CounterSnapshot {
  at: string;
  canary: ArmCounters;
  primary: ArmCounters;
}

/** What one arm served between two looks. */
export interface ArmDelta {
  requests: number;
  errors: number;
  /** Requests over each threshold (ms) since the previous look. */
  slow: Record<string, number>;
}

/** One look's evidence: per-arm deltas since the previous look. */
export interface LookCounts {
  canary: ArmDelta;
  primary: ArmDelta;
  /** Counter resets seen (a drop in a series, treated as a restart from zero). */
  resets: number;
  /** Series present in one snapshot and missing in the other (scrape gaps), by name. */
  gaps: string[];
}
