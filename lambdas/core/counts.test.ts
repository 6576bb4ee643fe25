import { describe, expect, it } from 'vitest';
import { deltaCounts, nextBaseline, type ArmCounters, type CounterSnapshot, type SeriesSample } from './counts.ts';

const GW1 = { job: 'gloo', instance: '10.0.0.1:8081' };
const GW2 = { job: 'gloo', instance: '10.0.0.2:8081' };

const rq = (source: Record<string, string>, code: string, value: number): SeriesSample => ({
  labels: { ...source, envoy_response_code: code },
  value,
});
const slow = (source: Record<string, string>, value: number): SeriesSample => ({ labels: { ...source }, value });

function arm(requests: SeriesSample[], errors: SeriesSample[] = [], over500: SeriesSample[] = []): ArmCounters {
  return { requests, errors, slow: { '500': over500 } };
}

function snapshot(at: string, canary: ArmCounters, primary: ArmCounters): CounterSnapshot {
  return { at, canary, primary };
}

describe('deltaCounts', () => {
  it('differences each series on its own and sums per arm', () => {
    // Prepare: two gateways, two response codes per arm.
    const before = snapshot(
      't0',
      arm([rq(GW1, '200', 100), rq(GW1, '503', 2), rq(GW2, '200', 50)], [rq(GW1, '503', 2)], [slow(GW1, 7), slow(GW2, 1)]),
      arm([rq(GW1, '200', 1000), rq(GW2, '200', 900)], [], [slow(GW1, 3), slow(GW2, 0)]),
    );
    const after = snapshot(
      't1',
      arm([rq(GW1, '200', 130), rq(GW1, '503', 5), rq(GW2, '200', 70)], [rq(GW1, '503', 5)], [slow(GW1, 9), slow(GW2, 1)]),
      arm([rq(GW1, '200', 1400), rq(GW2, '200', 1300)], [], [slow(GW1, 3), slow(GW2, 2)]),
    );

    // Act
    const counts = deltaCounts(before, after);

    // Assess
    expect(counts).toEqual({
      canary: { requests: 30 + 3 + 20, errors: 3, slow: { '500': 2 } },
      primary: { requests: 800, errors: 0, slow: { '500': 2 } },
      resets: 0,
      gaps: [],
      newScrape: true,
      sources: { counted: 2, stale: 0, absent: 0, added: 0, reset: 0, backward: 0 },
    });
  });

  it('treats a drop as a reset of the whole scrape source, counting from zero', () => {
    // Prepare: GW1 restarted: its 200 counter dropped; its 503 counter grew past its old value after the restart.
    const before = snapshot(
      't0',
      arm([rq(GW1, '200', 500), rq(GW1, '503', 4), rq(GW2, '200', 300)], [rq(GW1, '503', 4)]),
      arm([rq(GW1, '200', 800)]),
    );
    const after = snapshot(
      't1',
      arm([rq(GW1, '200', 40), rq(GW1, '503', 6), rq(GW2, '200', 320)], [rq(GW1, '503', 6)]),
      arm([rq(GW1, '200', 60)]),
    );

    // Act
    const counts = deltaCounts(before, after);

    // Assess: every GW1 series counts its whole value; GW2 only its growth.
    expect(counts.canary.requests).toBe(40 + 6 + 20);
    expect(counts.canary.errors).toBe(6);
    expect(counts.primary.requests).toBe(60);
    expect(counts.resets).toBe(1); // one source restarted (its 200 series fell by more than half)
    expect(counts.gaps).toEqual([]);
  });

  it('resets only the series that dropped when no source labels tell which process it was', () => {
    const before = snapshot(
      't0',
      arm([
        { labels: { code: '200' }, value: 90 },
        { labels: { code: '503' }, value: 1 },
      ]),
      arm([{ labels: {}, value: 10 }]),
    );
    const after = snapshot(
      't1',
      arm([
        { labels: { code: '200' }, value: 5 },
        { labels: { code: '503' }, value: 3 },
      ]),
      arm([{ labels: {}, value: 12 }]),
    );

    const counts = deltaCounts(before, after);

    expect(counts.canary.requests).toBe(5 + 2);
    expect(counts.primary.requests).toBe(2);
    expect(counts.resets).toBe(1);
  });

  it('counts a series created since the last look (a first 503) whole, because its source was scraped then', () => {
    const before = snapshot('t0', arm([rq(GW1, '200', 100)], []), arm([rq(GW1, '200', 100)]));
    const after = snapshot('t1', arm([rq(GW1, '200', 110), rq(GW1, '503', 4)], [rq(GW1, '503', 4)]), arm([rq(GW1, '200', 120)]));

    const counts = deltaCounts(before, after);

    expect(counts.canary).toEqual({ requests: 14, errors: 4, slow: { '500': 0 } });
    expect(counts.gaps).toEqual([]);
  });

  it('leaves a source missing from a scrape out on both arms; the next baseline counts its gap once it is scraped again', () => {
    // Prepare: GW2 was not scraped at t1, then is again at t2.
    const t0 = snapshot('t0', arm([rq(GW1, '200', 100), rq(GW2, '200', 100)]), arm([rq(GW1, '200', 100), rq(GW2, '200', 100)]));
    const t1 = snapshot('t1', arm([rq(GW1, '200', 110)]), arm([rq(GW1, '200', 150)]));
    const t2 = snapshot('t2', arm([rq(GW1, '200', 120), rq(GW2, '200', 140)]), arm([rq(GW1, '200', 200), rq(GW2, '200', 180)]));

    // Act
    const gapLook = deltaCounts(t0, t1);
    const afterGap = deltaCounts(nextBaseline(t0, t1), t2);

    // Assess
    expect(gapLook.canary.requests).toBe(10);
    expect(gapLook.primary.requests).toBe(50);
    expect(gapLook.gaps).toEqual(["gloo/10.0.0.2:8081: not in this look's scrape (left out on both arms)"]);
    expect(gapLook.sources).toMatchObject({ counted: 1, absent: 1 });
    expect(afterGap.canary.requests).toBe(10 + 40);
    expect(afterGap.primary.requests).toBe(50 + 80);
    expect(afterGap.gaps).toEqual([]);
  });

  it('takes a source it never saw as baseline rather than counting its whole history', () => {
    // GW2 was missing from the baseline: its 5000 requests are not all from this look.
    const before = snapshot('t0', arm([rq(GW1, '200', 10)]), arm([rq(GW1, '200', 10)]));
    const after = snapshot('t1', arm([rq(GW1, '200', 20), rq(GW2, '200', 5000)]), arm([rq(GW1, '200', 20)]));

    const counts = deltaCounts(before, after);

    expect(counts.canary.requests).toBe(10);
    expect(counts.gaps).toEqual(['gloo/10.0.0.2:8081: new source (its counts start at the next look)']);
    expect(counts.sources?.added).toBe(1);
  });

  it('refuses values that are not raw counts, naming the series', () => {
    const before = snapshot('t0', arm([rq(GW1, '200', 1)]), arm([]));
    const after = snapshot('t1', arm([rq(GW1, '200', 2.5)]), arm([]));

    expect(() => deltaCounts(before, after)).toThrow(
      'counter canary.requests{envoy_response_code="200",instance="10.0.0.1:8081",job="gloo"} has the value 2.5',
    );
  });
});

describe('deltaCounts per scrape source', () => {
  const at = (ms: number) => new Date(ms).toISOString();
  const T0 = Date.parse('2026-12-06T12:00:00Z');
  const stamped = (samples: SeriesSample[], ts: number) => samples.map((s) => ({ ...s, timestamp: ts }));
  const up = (source: Record<string, string>, seconds: number, ts: number): SeriesSample => ({
    labels: { ...source },
    value: seconds,
    timestamp: ts,
  });

  it('says "no new scrape" when no source has a sample newer than the previous look, and changes no baseline', () => {
    const before = snapshot(at(T0), arm(stamped([rq(GW1, '200', 100)], T0)), arm(stamped([rq(GW1, '200', 900)], T0)));
    const same = snapshot(at(T0 + 10_000), arm(stamped([rq(GW1, '200', 100)], T0)), arm(stamped([rq(GW1, '200', 900)], T0)));

    const counts = deltaCounts(before, same);

    expect(counts.newScrape).toBe(false);
    expect(counts.sources).toMatchObject({ counted: 0, stale: 1 });
    expect(counts.canary.requests + counts.primary.requests).toBe(0);
    expect(nextBaseline(before, same).canary.requests).toEqual(before.canary.requests);
  });

  it('counts a restart corroborated by envoy_server_uptime from zero, and a series not re-created as nothing', () => {
    // Prepare: the gateway restarted; its old 504 series is gone, its 200 series grew past its old value.
    const before: CounterSnapshot = {
      ...snapshot(
        at(T0),
        arm(stamped([rq(GW1, '200', 50), rq(GW1, '504', 3)], T0), stamped([rq(GW1, '504', 3)], T0)),
        arm(stamped([rq(GW1, '200', 500)], T0)),
      ),
      uptime: [up(GW1, 600, T0)],
    };
    const after: CounterSnapshot = {
      ...snapshot(at(T0 + 30_000), arm(stamped([rq(GW1, '200', 60)], T0 + 30_000), []), arm(stamped([rq(GW1, '200', 600)], T0 + 30_000))),
      uptime: [up(GW1, 20, T0 + 30_000)],
    };

    const counts = deltaCounts(before, after);

    expect(counts.resets).toBe(1);
    expect(counts.canary).toMatchObject({ requests: 60, errors: 0 });
    expect(counts.primary.requests).toBe(600);
    expect(counts.gaps).toEqual([]);
    // The 504 is not carried: if it comes back, its whole value is new.
    expect(nextBaseline(before, after).canary.errors).toEqual([]);
  });

  it('takes a small step back for a gap, not a restart: the source is left out until it passes its old value', () => {
    const before = snapshot(
      at(T0),
      arm(stamped([rq(GW1, '200', 1000), rq(GW2, '200', 1000)], T0)),
      arm(stamped([rq(GW1, '200', 1000), rq(GW2, '200', 1000)], T0)),
    );
    const back = snapshot(
      at(T0 + 15_000),
      arm(stamped([rq(GW1, '200', 990), rq(GW2, '200', 1010)], T0 + 15_000)),
      arm(stamped([rq(GW1, '200', 1020), rq(GW2, '200', 1030)], T0 + 15_000)),
    );
    const later = snapshot(
      at(T0 + 30_000),
      arm(stamped([rq(GW1, '200', 1015), rq(GW2, '200', 1020)], T0 + 30_000)),
      arm(stamped([rq(GW1, '200', 1050), rq(GW2, '200', 1060)], T0 + 30_000)),
    );

    const first = deltaCounts(before, back);
    const second = deltaCounts(nextBaseline(before, back), later);

    expect(first.resets).toBe(0);
    expect(first.sources).toMatchObject({ counted: 1, backward: 1 });
    expect(first.canary.requests).toBe(10);
    expect(first.primary.requests).toBe(30);
    expect(first.gaps[0]).toContain('gloo/10.0.0.1:8081: counters stepped back without a restart');
    // GW1 counts from its old baseline (1000), GW2 from its last scrape.
    expect(second.canary.requests).toBe(15 + 10);
    expect(second.primary.requests).toBe(50 + 30);
  });

  it('carries a missing source for Prometheus’ 5-minute staleness window, then drops it (a replaced pod)', () => {
    const t = (s: number) => T0 + s * 1000;
    let baseline = snapshot(at(t(0)), arm(stamped([rq(GW1, '200', 100)], t(0))), arm(stamped([rq(GW1, '200', 100)], t(0))));
    // GW1 is replaced by GW2 at 10 s; GW2 carries on.
    const looks = [60, 120, 240, 320, 380].map((s) =>
      snapshot(at(t(s)), arm(stamped([rq(GW2, '200', s)], t(s))), arm(stamped([rq(GW2, '200', 10 * s)], t(s)))),
    );
    const seen: Array<{ canary: number; primary: number; absent: number }> = [];
    for (const look of looks) {
      const counts = deltaCounts(baseline, look);
      seen.push({ canary: counts.canary.requests, primary: counts.primary.requests, absent: counts.sources?.absent ?? -1 });
      baseline = nextBaseline(baseline, look);
    }

    // The new pod is baseline at its first look, counted after; the old one is left out, then forgotten after 5 minutes.
    expect(seen).toEqual([
      { canary: 0, primary: 0, absent: 1 },
      { canary: 60, primary: 600, absent: 1 },
      { canary: 120, primary: 1200, absent: 1 },
      { canary: 80, primary: 800, absent: 1 },
      { canary: 60, primary: 600, absent: 0 },
    ]);
  });

  it('counts a new source whole when its uptime says it started after the previous look (a replaced pod)', () => {
    const before = snapshot(at(T0), arm(stamped([rq(GW1, '200', 500)], T0)), arm(stamped([rq(GW1, '200', 5000)], T0)));
    const younger: CounterSnapshot = {
      ...snapshot(at(T0 + 30_000), arm(stamped([rq(GW2, '200', 40)], T0 + 30_000)), arm(stamped([rq(GW2, '200', 400)], T0 + 30_000))),
      uptime: [up(GW2, 12, T0 + 30_000)],
    };
    const older: CounterSnapshot = { ...younger, uptime: [up(GW2, 45, T0 + 30_000)] };

    expect(deltaCounts(before, younger)).toMatchObject({ canary: { requests: 40 }, primary: { requests: 400 }, resets: 1 });
    expect(deltaCounts(before, older)).toMatchObject({ canary: { requests: 0 }, primary: { requests: 0 }, resets: 0 });
  });

  it('keeps a window that straddles a weight change out of the clean (two-arm) counts, per source', () => {
    const change = T0 + 10_000;
    const before = snapshot(
      at(T0),
      arm(stamped([rq(GW1, '200', 100)], T0 + 5_000).concat(stamped([rq(GW2, '200', 100)], T0 + 12_000))),
      arm(stamped([rq(GW1, '200', 100)], T0 + 5_000).concat(stamped([rq(GW2, '200', 100)], T0 + 12_000))),
    );
    const after = snapshot(
      at(T0 + 20_000),
      arm(stamped([rq(GW1, '200', 110)], T0 + 20_000).concat(stamped([rq(GW2, '200', 130)], T0 + 22_000))),
      arm(stamped([rq(GW1, '200', 200)], T0 + 20_000).concat(stamped([rq(GW2, '200', 400)], T0 + 22_000))),
    );

    const counts = deltaCounts(before, after, { cleanFrom: change });

    expect(counts.canary.requests).toBe(10 + 30);
    expect(counts.clean?.canary.requests).toBe(30);
    expect(counts.clean?.primary.requests).toBe(300);
  });

  it('counts retried attempts per arm when the source exports them', () => {
    const before = snapshot(
      at(T0),
      { ...arm(stamped([rq(GW1, '200', 10)], T0)), retries: stamped([rq(GW1, '', 0)], T0) },
      arm(stamped([rq(GW1, '200', 10)], T0)),
    );
    const after = snapshot(
      at(T0 + 5000),
      { ...arm(stamped([rq(GW1, '200', 20)], T0 + 5000)), retries: stamped([rq(GW1, '', 4)], T0 + 5000) },
      arm(stamped([rq(GW1, '200', 30)], T0 + 5000)),
    );

    expect(deltaCounts(before, after).canary.retries).toBe(4);
  });
});

describe("a metric's own counters (events out of trials)", () => {
  const APP1 = { job: 'shop', instance: '10.0.1.1:9100' };
  const APP2 = { job: 'shop', instance: '10.0.1.2:9100' };
  const c = (source: Record<string, string>, value: number, timestamp?: number): SeriesSample => ({
    labels: { ...source },
    value,
    ...(timestamp === undefined ? {} : { timestamp }),
  });
  const own = (events: SeriesSample[], trials: SeriesSample[]): ArmCounters => ({
    requests: [],
    errors: [],
    slow: {},
    counters: { orders: { events, trials } },
  });

  it('differences them per source like the built-ins: a restarted app counts from zero, a stale one is left out on both arms', () => {
    // Prepare: APP1 restarted (its trials fell to a tenth); APP2 was not scraped since the previous look.
    const before = snapshot(
      't0',
      own([c(APP1, 4, 1000), c(APP2, 1, 1000)], [c(APP1, 400, 1000), c(APP2, 100, 1000)]),
      own([], [c(APP1, 900, 1000)]),
    );
    const after = snapshot(
      't1',
      own([c(APP1, 1, 2000), c(APP2, 9, 1000)], [c(APP1, 40, 2000), c(APP2, 300, 1000)]),
      own([], [c(APP1, 90, 2000)]),
    );

    // Act
    const counts = deltaCounts(before, after);
    const baseline = nextBaseline(before, after);

    // Assess
    expect(counts.canary.counters).toEqual({ orders: { events: 1, trials: 40 } });
    expect(counts.primary.counters).toEqual({ orders: { events: 0, trials: 90 } });
    expect(counts.resets).toBe(1);
    expect(counts.sources).toMatchObject({ counted: 1, reset: 1, stale: 1 });
    // The stale source keeps its old values: what it served meanwhile is counted once it is scraped anew.
    expect(baseline.canary.counters?.orders?.trials).toEqual(expect.arrayContaining([c(APP1, 40, 2000), c(APP2, 100, 1000)]));
  });

  it('refuses a value that is not a whole count, naming the series', () => {
    const before = snapshot('t0', own([c(APP1, 0)], [c(APP1, 10)]), own([], [c(APP1, 10)]));
    const after = snapshot('t1', own([c(APP1, 0.5)], [c(APP1, 20)]), own([], [c(APP1, 20)]));

    expect(() => deltaCounts(before, after)).toThrow(
      /counter canary\.orders\.events\{instance="10\.0\.1\.1:9100",job="shop"\} has the value 0\.5/,
    );
  });
});
