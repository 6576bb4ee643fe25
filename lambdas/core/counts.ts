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

type Kind = 'requests' | 'errors' | `slow[${string}]`;

/** Where a series was scraped from: Prometheus' `job` and `instance` labels (absent after aggregation). */
function sourceOf(labels: Record<string, string>): string {
  return `${labels.job ?? ''}\u0000${labels.instance ?? ''}`;
}

/** A series' identity: its full label set, in a stable order. */
function keyOf(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `canary.errors{envoy_response_code="503",instance="…"}`: how a person finds the series in Prometheus. */
function seriesName(arm: string, kind: Kind, labels: Record<string, string>): string {
  const inner = Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',');
  return `${arm}.${kind}{${inner}}`;
}

function checkCount(arm: string, kind: Kind, sample: SeriesSample): number {
  const { value } = sample;
  // Deltas of rates or averages would not be counts of requests: refuse them rather than round.
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`counter ${seriesName(arm, kind, sample.labels)} has the value ${value}: expected a raw counter (a whole number >= 0), not a rate or a ratio`);
  }
  return value;
}

interface SeriesPair {
  arm: 'canary' | 'primary';
  kind: Kind;
  labels: Record<string, string>;
  previous?: number;
  current?: number;
}

function kindsOf(arm: ArmCounters): Array<[Kind, SeriesSample[]]> {
  const kinds: Array<[Kind, SeriesSample[]]> = [
    ['requests', arm.requests],
    ['errors', arm.errors],
  ];
  for (const [threshold, series] of Object.entries(arm.slow)) kinds.push([`slow[${threshold}]`, series]);
  return kinds;
}

function pairs(previous: CounterSnapshot, current: CounterSnapshot): SeriesPair[] {
  const byKey = new Map<string, SeriesPair>();
  const add = (snapshot: CounterSnapshot, which: 'previous' | 'current') => {
    for (const arm of ['canary', 'primary'] as const) {
      for (const [kind, series] of kindsOf(snapshot[arm])) {
        for (const sample of series) {
          const key = `${arm}\u0000${kind}\u0000${keyOf(sample.labels)}`;
          const pair = byKey.get(key) ?? { arm, kind, labels: sample.labels };
          if (pair[which] !== undefined) throw new Error(`snapshot at ${snapshot.at} holds ${seriesName(arm, kind, sample.labels)} twice`);
          pair[which] = checkCount(arm, kind, sample);
          byKey.set(key, pair);
        }
      }
    }
  };
  add(previous, 'previous');
  add(current, 'current');
  return [...byKey.values()];
}

function emptyDelta(arm: ArmCounters): ArmDelta {
  return { requests: 0, errors: 0, slow: Object.fromEntries(Object.keys(arm.slow).map((threshold) => [threshold, 0])) };
}

/**
 * What happened between two snapshots, per arm: each series differenced on its own (matched by its
 * labels) before summing, so one series' restart cannot hide another's growth.
 *
 * - A drop in a series is a counter reset: it is counted in `resets`, and every series of the same
 *   scrape source (`job`/`instance` labels) counts from zero, because a process restart resets all
 *   of its counters, including ones that grew past their old value after the restart.
 * - A series only in `current` whose source appears in `previous` was created since (Envoy creates
 *   a response code's counter at its first such response): its whole value is new, counted.
 * - Any other series present in one snapshot only is a gap (its source was not scraped): it is
 *   named in `gaps` and contributes nothing; no count is guessed. `nextBaseline` keeps its last
 *   value, so what it served during the gap is counted once it is scraped again.
 */
export function deltaCounts(previous: CounterSnapshot, current: CounterSnapshot): LookCounts {
  const all = pairs(previous, current);
  const previousSources = new Set(all.filter((p) => p.previous !== undefined).map((p) => sourceOf(p.labels)));
  const dropped = all.filter((p) => p.previous !== undefined && p.current !== undefined && p.current < p.previous);
  // Series without job/instance labels (aggregated) share no process: a drop resets only itself.
  const resetSources = new Set(dropped.map((p) => sourceOf(p.labels)).filter((source) => source !== '\u0000'));

  const out: LookCounts = { canary: emptyDelta(current.canary), primary: emptyDelta(current.primary), resets: dropped.length, gaps: [] };
  for (const threshold of Object.keys(previous.canary.slow)) out.canary.slow[threshold] ??= 0;
  for (const threshold of Object.keys(previous.primary.slow)) out.primary.slow[threshold] ??= 0;

  for (const pair of all) {
    let delta: number;
    if (pair.current === undefined) {
      out.gaps.push(seriesName(pair.arm, pair.kind, pair.labels));
      continue;
    } else if (pair.previous === undefined) {
      if (!previousSources.has(sourceOf(pair.labels))) {
        out.gaps.push(seriesName(pair.arm, pair.kind, pair.labels));
        continue;
      }
      delta = pair.current;
    } else if (pair.current < pair.previous || resetSources.has(sourceOf(pair.labels))) {
      delta = pair.current;
    } else {
      delta = pair.current - pair.previous;
    }
    const arm = out[pair.arm];
    if (pair.kind === 'requests') arm.requests += delta;
    else if (pair.kind === 'errors') arm.errors += delta;
    else {
      const threshold = pair.kind.slice('slow['.length, -1);
      arm.slow[threshold] = (arm.slow[threshold] ?? 0) + delta;
    }
  }
  out.gaps.sort();
  return out;
}

/**
 * The snapshot the next look differences against: `current`, plus the last seen value of every
 * series missing from it (a scrape gap), so that what such a series served during the gap is
 * counted, exactly, when it is scraped again — or reads as a reset if its process restarted.
 */
export function nextBaseline(previous: CounterSnapshot, current: CounterSnapshot): CounterSnapshot {
  const carry = (before: SeriesSample[], now: SeriesSample[]): SeriesSample[] => {
    const seen = new Set(now.map((s) => keyOf(s.labels)));
    return [...now, ...before.filter((s) => !seen.has(keyOf(s.labels)))];
  };
  const arm = (before: ArmCounters, now: ArmCounters): ArmCounters => {
    const slow: Record<string, SeriesSample[]> = {};
    for (const threshold of new Set([...Object.keys(before.slow), ...Object.keys(now.slow)])) {
      slow[threshold] = carry(before.slow[threshold] ?? [], now.slow[threshold] ?? []);
    }
    return { requests: carry(before.requests, now.requests), errors: carry(before.errors, now.errors), slow };
  };
  return { at: current.at, canary: arm(previous.canary, current.canary), primary: arm(previous.primary, current.primary) };
}
