import { describe, expect, it } from 'vitest';
import { deltaCounts, nextBaseline, type ArmCounters, type CounterSnapshot, type SeriesSample } from './counts.ts';

const GW1 = { job: 'gloo', instance: '10.0.0.1:8081' };
const GW2 = { job: 'gloo', instance: '10.0.0.2:8081' };

const rq = (source: Record<string, string>, code: string, value: number): SeriesSample => ({ labels: { ...source, envoy_response_code: code }, value });
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
    });
  });

  it('treats a drop as a reset of the whole scrape source, counting from zero', () => {
    // Prepare: GW1 restarted: its 200 counter dropped; its 503 counter grew past its old value after the restart.
    const before = snapshot('t0', arm([rq(GW1, '200', 500), rq(GW1, '503', 4), rq(GW2, '200', 300)], [rq(GW1, '503', 4)]), arm([rq(GW1, '200', 800)]));
    const after = snapshot('t1', arm([rq(GW1, '200', 40), rq(GW1, '503', 6), rq(GW2, '200', 320)], [rq(GW1, '503', 6)]), arm([rq(GW1, '200', 60)]));

    // Act
    const counts = deltaCounts(before, after);

    // Assess: every GW1 series counts its whole value; GW2 only its growth.
    expect(counts.canary.requests).toBe(40 + 6 + 20);
    expect(counts.canary.errors).toBe(6);
    expect(counts.primary.requests).toBe(60);
    expect(counts.resets).toBe(2); // the canary's and the primary's 200 series dropped
    expect(counts.gaps).toEqual([]);
  });

  it('resets only the series that dropped when no source labels tell which process it was', () => {
    const before = snapshot('t0', arm([{ labels: { code: '200' }, value: 90 }, { labels: { code: '503' }, value: 1 }]), arm([{ labels: {}, value: 10 }]));
    const after = snapshot('t1', arm([{ labels: { code: '200' }, value: 5 }, { labels: { code: '503' }, value: 3 }]), arm([{ labels: {}, value: 12 }]));

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

  it('names a scrape gap and guesses nothing for it; the next baseline counts the gap once it is scraped again', () => {
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
    expect(gapLook.gaps).toEqual([
      'canary.requests{envoy_response_code="200",instance="10.0.0.2:8081",job="gloo"}',
      'primary.requests{envoy_response_code="200",instance="10.0.0.2:8081",job="gloo"}',
    ]);
    expect(afterGap.canary.requests).toBe(10 + 40);
    expect(afterGap.primary.requests).toBe(50 + 80);
    expect(afterGap.gaps).toEqual([]);
  });

  it('names a series of a source it never saw as a gap rather than counting its whole history', () => {
    // GW2 was missing from the baseline: its 5000 requests are not all from this look.
    const before = snapshot('t0', arm([rq(GW1, '200', 10)]), arm([rq(GW1, '200', 10)]));
    const after = snapshot('t1', arm([rq(GW1, '200', 20), rq(GW2, '200', 5000)]), arm([rq(GW1, '200', 20)]));

    const counts = deltaCounts(before, after);

    expect(counts.canary.requests).toBe(10);
    expect(counts.gaps).toEqual(['canary.requests{envoy_response_code="200",instance="10.0.0.2:8081",job="gloo"}']);
  });

  it('refuses values that are not raw counts, naming the series', () => {
    const before = snapshot('t0', arm([rq(GW1, '200', 1)]), arm([]));
    const after = snapshot('t1', arm([rq(GW1, '200', 2.5)]), arm([]));

    expect(() => deltaCounts(before, after)).toThrow('counter canary.requests{envoy_response_code="200",instance="10.0.0.1:8081",job="gloo"} has the value 2.5');
  });
});
