/**
 * Raw request counters per arm and their per-look deltas: what the sequential judge consumes.
 * Each look uses only what happened since the previous look: integer deltas of the raw
 * counters, per series, computed here (not PromQL `rate`/`increase`, which extrapolate).
 */

/** One raw counter series as scraped (labels identify the series; value is cumulative). */
export interface SeriesSample {
  labels: Record<string, string>;
  value: number;
  /**
   * Epoch ms of the scrape that produced this value (PromQL `timestamp(<selector>)`), not the
   * query's evaluation time. Absent when the source cannot tell: the sample then counts as new.
   */
  timestamp?: number | undefined;
}

/** The raw counters of one arm (canary or primary) at one instant. */
export interface ArmCounters {
  /** All requests. */
  requests: SeriesSample[];
  /** Failed requests: 5xx (including the proxy's own 503/504), gRPC failures, timeouts and resets. */
  errors: SeriesSample[];
  /** Requests slower than each latency threshold, keyed by the threshold in ms (an exact histogram bucket boundary). */
  slow: Record<string, SeriesSample[]>;
  /** Retried attempts (Envoy's `upstream_rq_retry`): a canary failing into retries is seen even when the final answer is 2xx. */
  retries?: SeriesSample[] | undefined;
  /**
   * A metric's own counters (orders failed / orders placed, or CloudWatch counts), keyed by the
   * metric's name: events out of trials, counted per source like the built-in ones.
   */
  counters?: Record<string, { events: SeriesSample[]; trials: SeriesSample[] }> | undefined;
}

/**
 * Both arms' counters at one instant. Every scrape source (job/instance) counts both arms, so
 * each source's window is the same for both: sources are differenced one by one.
 */
export interface CounterSnapshot {
  at: string;
  canary: ArmCounters;
  primary: ArmCounters;
  /** `envoy_server_uptime` (seconds) per source: a restart is a drop in it. */
  uptime?: SeriesSample[] | undefined;
  /** Read for Prepare only: the raw history behind the scrape interval and the expected rates. */
  history?: CounterHistory | undefined;
}

/** Minutes of raw samples summarised for Prepare's expectations (never for judging). */
export interface CounterHistory {
  seconds: number;
  /** The median over series of their latest gap between samples (CloudWatch: the period); null with fewer than two samples. */
  scrapeIntervalSeconds: number | null;
  /** CloudWatch counts come in closed periods, each read `delaySeconds` after it ends. Absent: scrapes. */
  interval?: { kind: 'period'; delaySeconds: number } | undefined;
  canaryRps: number;
  primaryRps: number;
  primaryErrorRate: number | null;
}

/** What one arm served between two looks. */
export interface ArmDelta {
  requests: number;
  errors: number;
  /** Requests over each threshold (ms) since the previous look. */
  slow: Record<string, number>;
  /** Retried attempts since the previous look (absent when the source exports none). */
  retries?: number | undefined;
  /** A metric's own events and trials since the previous look, keyed by the metric's name. */
  counters?: Record<string, { events: number; trials: number }> | undefined;
}

/** How the sources of one look were treated. */
export interface SourceTally {
  /** Scraped anew since the previous look and differenced. */
  counted: number;
  /** Present, but not scraped since the previous look (no new sample). */
  stale: number;
  /** Missing from this look (failed scrape, replaced pod): left out on both arms. */
  absent: number;
  /** Seen for the first time: its values become the baseline, counted from the next look. */
  added: number;
  /** Counted from zero: a corroborated restart (uptime went back, or a large drop). */
  reset: number;
  /** A small backward step with no restart behind it (an HA pair, a managed back-end): left out. */
  backward: number;
}

/** One look's evidence: per-arm deltas since the previous look. */
export interface LookCounts {
  canary: ArmDelta;
  primary: ArmDelta;
  /**
   * The same, from sources whose window began at or after `cleanFrom` (the first scrape after a
   * weight change has propagated): the two-arm ratio test reads only these. Absent: all are clean.
   */
  clean?: { canary: ArmDelta; primary: ArmDelta } | undefined;
  /** Sources whose counters restarted (counted from zero). */
  resets: number;
  /** Sources or series left out of this look, with why (informational: they never void a look). */
  gaps: string[];
  /** False when no source has a sample newer than the previous look's: nothing to judge, nothing empty either. */
  newScrape?: boolean | undefined;
  sources?: SourceTally | undefined;
}

/** Prometheus drops a series from instant queries 5 minutes after its last sample (lookback delta). */
export const STALENESS_MS = 5 * 60_000;
/** A drop to below this share of the previous value is a restart even without an uptime series. */
export const LARGE_DROP = 0.5;

type Kind = 'requests' | 'errors' | 'retries' | `slow[${string}]` | `${string}.events` | `${string}.trials`;

/** Where a series was scraped from: Prometheus' `job` and `instance` labels (absent after aggregation). */
export function sourceOf(labels: Record<string, string>): string {
  return `${labels.job ?? ''}\u0000${labels.instance ?? ''}`;
}

const AGGREGATED = '\u0000';

function sourceName(source: string): string {
  const [job, instance] = source.split('\u0000');
  return job || instance ? `${job ?? ''}/${instance ?? ''}` : '(aggregated)';
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
    throw new Error(
      `counter ${seriesName(arm, kind, sample.labels)} has the value ${value}: expected a raw counter (a whole number >= 0), not a rate or a ratio`,
    );
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
  if (arm.retries) kinds.push(['retries', arm.retries]);
  for (const [threshold, series] of Object.entries(arm.slow)) kinds.push([`slow[${threshold}]`, series]);
  for (const [name, own] of Object.entries(arm.counters ?? {})) kinds.push([`${name}.events`, own.events], [`${name}.trials`, own.trials]);
  return kinds;
}

function everySample(snapshot: CounterSnapshot): SeriesSample[] {
  return (['canary', 'primary'] as const).flatMap((arm) => kindsOf(snapshot[arm]).flatMap(([, series]) => series));
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

/** The newest sample timestamp per source (undefined: the source's samples carry none). */
function sourceTimes(snapshot: CounterSnapshot): Map<string, number | undefined> {
  const times = new Map<string, number | undefined>();
  for (const sample of everySample(snapshot)) {
    const source = sourceOf(sample.labels);
    const before = times.get(source);
    const ts = sample.timestamp;
    times.set(source, ts === undefined ? before : before === undefined ? ts : Math.max(before, ts));
  }
  return times;
}

function uptimeBySource(snapshot: CounterSnapshot): Map<string, number> {
  return new Map((snapshot.uptime ?? []).map((s) => [sourceOf(s.labels), s.value]));
}

type SourceStatus = 'counted' | 'reset' | 'stale' | 'absent' | 'added' | 'backward';

interface Classified {
  status: Map<string, SourceStatus>;
  /** Why a source was left out, for the look's `gaps`. */
  why: Map<string, string>;
  previousTimes: Map<string, number | undefined>;
  all: SeriesPair[];
  /** Aggregated series that restarted on their own. */
  resetSeries: Set<SeriesPair>;
}

function classify(previous: CounterSnapshot, current: CounterSnapshot, newSourcesFrom?: number): Classified {
  const all = pairs(previous, current);
  const previousTimes = sourceTimes(previous);
  const currentTimes = sourceTimes(current);
  const previousUptime = uptimeBySource(previous);
  const currentUptime = uptimeBySource(current);
  const status = new Map<string, SourceStatus>();
  const why = new Map<string, string>();
  const resetSeries = new Set<SeriesPair>();
  const sources = new Set([...previousTimes.keys(), ...currentTimes.keys()]);
  for (const source of sources) {
    const name = sourceName(source);
    if (!currentTimes.has(source)) {
      status.set(source, 'absent');
      why.set(source, `${name}: not in this look's scrape (left out on both arms)`);
      continue;
    }
    if (!previousTimes.has(source)) {
      // A process that started after `newSourcesFrom` (the rollout's start; by default the
      // previous look) served nothing any look counted: its whole count is new. Its uptime says
      // when it started. Any other new source becomes baseline.
      const up = currentUptime.get(source);
      const at = currentTimes.get(source);
      const since = newSourcesFrom ?? Date.parse(previous.at);
      if (up !== undefined && at !== undefined && Number.isFinite(since) && at - 1000 * (up + 1) >= since) {
        status.set(source, 'reset');
        continue;
      }
      status.set(source, 'added');
      why.set(source, `${name}: new source (its counts start at the next look)`);
      continue;
    }
    const before = previousTimes.get(source);
    const now = currentTimes.get(source);
    if (before !== undefined && now !== undefined && now <= before) {
      status.set(source, 'stale');
      continue;
    }
    const mine = all.filter((p) => sourceOf(p.labels) === source && p.previous !== undefined && p.current !== undefined);
    const dropped = mine.filter((p) => (p.current as number) < (p.previous as number));
    const upBefore = previousUptime.get(source);
    const upNow = currentUptime.get(source);
    // A restart zeroes every counter of the process and its uptime. Without an uptime series only
    // a large drop is taken for one: HA pairs and managed back-ends step back a little at times.
    const large = (p: SeriesPair) => (p.current as number) < LARGE_DROP * (p.previous as number);
    const restarted = upBefore !== undefined && upNow !== undefined ? upNow < upBefore : dropped.some(large);
    if (source === AGGREGATED) {
      // Series without job/instance labels sum many processes: a large drop resets only itself.
      for (const p of dropped.filter(large)) resetSeries.add(p);
      if (dropped.every(large)) {
        status.set(source, 'counted');
        continue;
      }
    }
    if (restarted && source !== AGGREGATED) status.set(source, 'reset');
    else if (dropped.length) {
      status.set(source, 'backward');
      why.set(
        source,
        `${name}: counters stepped back without a restart (${dropped.map((p) => seriesName(p.arm, p.kind, p.labels)).join(', ')}); left out until they pass their old values`,
      );
    } else status.set(source, 'counted');
  }
  return { status, why, previousTimes, all, resetSeries };
}

function emptyDelta(thresholds: Iterable<string>, retries: boolean, counters: Iterable<string>): ArmDelta {
  const delta: ArmDelta = { requests: 0, errors: 0, slow: Object.fromEntries([...thresholds].map((threshold) => [threshold, 0])) };
  if (retries) delta.retries = 0;
  const names = [...counters];
  if (names.length) delta.counters = Object.fromEntries(names.map((name) => [name, { events: 0, trials: 0 }]));
  return delta;
}

function addTo(arm: ArmDelta, kind: Kind, delta: number): void {
  if (kind === 'requests') arm.requests += delta;
  else if (kind === 'errors') arm.errors += delta;
  else if (kind === 'retries') arm.retries = (arm.retries ?? 0) + delta;
  else if (kind.startsWith('slow[') && kind.endsWith(']')) {
    const threshold = kind.slice('slow['.length, -1);
    arm.slow[threshold] = (arm.slow[threshold] ?? 0) + delta;
  } else {
    const dot = kind.lastIndexOf('.');
    const name = kind.slice(0, dot);
    const own = (arm.counters ??= {})[name] ?? { events: 0, trials: 0 };
    if (kind.slice(dot + 1) === 'events') own.events += delta;
    else own.trials += delta;
    arm.counters[name] = own;
  }
}

function counterNames(...snapshots: CounterSnapshot[]): Set<string> {
  return new Set(snapshots.flatMap((s) => [...Object.keys(s.canary.counters ?? {}), ...Object.keys(s.primary.counters ?? {})]));
}

export interface DeltaOptions {
  /**
   * Epoch ms from which a source's window is clean (the first scrape after a weight change has
   * reached the data plane): sources whose previous sample is older go to the all-sources
   * deltas but not to `clean`.
   */
  cleanFrom?: number | undefined;
  /**
   * Epoch ms after which a process seen for the first time is counted whole (its uptime must say
   * it started later): the rollout's start. Default: the previous snapshot's time.
   */
  newSourcesFrom?: number | undefined;
}

/**
 * What happened between two snapshots, per arm, source by source (Prometheus' job/instance):
 *
 * - A source scraped anew since the previous look is differenced series by series. A series
 *   created since (Envoy creates a response code's counter at its first such response) counts
 *   whole; a series gone while its source was scraped counts nothing (not re-created since a
 *   restart).
 * - A restart (uptime went back, or a counter fell below half its value) counts every series of
 *   the source from zero. A smaller step back is not a restart: the source is left out.
 * - A source missing from this look (failed scrape, replaced pod) or not scraped since the
 *   previous look is left out on both arms: both arms share it, so nothing is biased.
 * - A source seen for the first time becomes baseline: its counts start at the next look.
 */
export function deltaCounts(previous: CounterSnapshot, current: CounterSnapshot, options: DeltaOptions = {}): LookCounts {
  const { status, why, previousTimes, all, resetSeries } = classify(previous, current, options.newSourcesFrom);
  const thresholds = new Set([
    ...Object.keys(previous.canary.slow),
    ...Object.keys(current.canary.slow),
    ...Object.keys(previous.primary.slow),
    ...Object.keys(current.primary.slow),
  ]);
  const retries = Boolean(current.canary.retries || current.primary.retries);
  const names = counterNames(previous, current);
  const tally: SourceTally = { counted: 0, stale: 0, absent: 0, added: 0, reset: 0, backward: 0 };
  const out: LookCounts & { sources: SourceTally } = {
    canary: emptyDelta(thresholds, retries, names),
    primary: emptyDelta(thresholds, retries, names),
    resets: 0,
    gaps: [],
    newScrape: false,
    sources: tally,
  };
  const clean =
    options.cleanFrom !== undefined
      ? { canary: emptyDelta(thresholds, retries, names), primary: emptyDelta(thresholds, retries, names) }
      : undefined;
  for (const [source, s] of status) {
    if (s === 'reset') {
      out.sources.reset += 1;
      out.sources.counted += 1;
      out.resets += 1;
    } else out.sources[s] += 1;
    if (s === 'counted' || s === 'reset' || s === 'added' || s === 'backward') out.newScrape = true;
    const reason = why.get(source);
    if (reason) out.gaps.push(reason);
  }
  for (const pair of all) {
    const source = sourceOf(pair.labels);
    const s = status.get(source);
    if (s !== 'counted' && s !== 'reset') continue;
    if (pair.current === undefined) continue;
    const delta = pair.previous === undefined || s === 'reset' || resetSeries.has(pair) ? pair.current : pair.current - pair.previous;
    addTo(out[pair.arm], pair.kind, delta);
    const since = previousTimes.get(source);
    if (clean && options.cleanFrom !== undefined && since !== undefined && since >= options.cleanFrom)
      addTo(clean[pair.arm], pair.kind, delta);
  }
  out.resets += resetSeries.size;
  if (clean) out.clean = clean;
  out.gaps.sort();
  return out;
}

/**
 * The snapshot the next look differences against. Counted sources take their current values;
 * sources left out keep their previous ones (so what they served while out is counted once they
 * are scraped anew, or reads as a restart); a source missing from this look is carried until
 * Prometheus itself would call it stale (5 minutes after its last sample), then dropped.
 */
export function nextBaseline(
  previous: CounterSnapshot,
  current: CounterSnapshot,
  options: Pick<DeltaOptions, 'newSourcesFrom'> = {},
): CounterSnapshot {
  const { status } = classify(previous, current, options.newSourcesFrom);
  const now = Date.parse(current.at);
  const previousAt = Date.parse(previous.at);
  const keepPrevious = (source: string) => {
    const s = status.get(source);
    return s === 'stale' || s === 'backward' || s === 'absent';
  };
  const fresh = (sample: SeriesSample) => {
    const ts = sample.timestamp ?? previousAt;
    return !(Number.isFinite(ts) && Number.isFinite(now) && now - ts > STALENESS_MS);
  };
  const pick = (before: SeriesSample[], after: SeriesSample[]): SeriesSample[] => [
    ...after.filter((s) => !keepPrevious(sourceOf(s.labels))),
    ...before
      .filter((s) => keepPrevious(sourceOf(s.labels)) && (status.get(sourceOf(s.labels)) !== 'absent' || fresh(s)))
      .map((s) => (s.timestamp === undefined && Number.isFinite(previousAt) ? { ...s, timestamp: previousAt } : s)),
  ];
  const arm = (before: ArmCounters, after: ArmCounters): ArmCounters => {
    const slow: Record<string, SeriesSample[]> = {};
    for (const threshold of new Set([...Object.keys(before.slow), ...Object.keys(after.slow)])) {
      slow[threshold] = pick(before.slow[threshold] ?? [], after.slow[threshold] ?? []);
    }
    const out: ArmCounters = { requests: pick(before.requests, after.requests), errors: pick(before.errors, after.errors), slow };
    if (before.retries || after.retries) out.retries = pick(before.retries ?? [], after.retries ?? []);
    const names = new Set([...Object.keys(before.counters ?? {}), ...Object.keys(after.counters ?? {})]);
    if (names.size) {
      out.counters = {};
      for (const name of names) {
        const b = before.counters?.[name];
        const a = after.counters?.[name];
        out.counters[name] = { events: pick(b?.events ?? [], a?.events ?? []), trials: pick(b?.trials ?? [], a?.trials ?? []) };
      }
    }
    return out;
  };
  const baseline: CounterSnapshot = {
    at: current.at,
    canary: arm(previous.canary, current.canary),
    primary: arm(previous.primary, current.primary),
  };
  if (previous.uptime || current.uptime) baseline.uptime = pick(previous.uptime ?? [], current.uptime ?? []);
  return baseline;
}
