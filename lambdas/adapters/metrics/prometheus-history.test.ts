/**
 * Prepare's summary of the raw counter history: the scrape interval is the median of each series'
 * recent gaps, so one late scrape on a loaded Prometheus does not stretch a 3 s interval to 4 s.
 */
import { describe, expect, it } from 'vitest';
import { counterHistory } from './prometheus.ts';
import type { PrometheusProvider } from './prometheus.ts';

type Series = { labels: Record<string, string>; samples: Array<[number, number]> };

/** A range query that answers every selector with the same samples, stamped at the given seconds. */
function providerWith(stamps: number[]): PrometheusProvider {
  const series: Series = { labels: { instance: 'gw:8081' }, samples: stamps.map((t, i) => [t * 1000, 100 * (i + 1)]) };
  return { matrix: async () => [series] } as unknown as PrometheusProvider;
}

const queries = { canary: { requests: 'c' }, primary: { requests: 'p', errors: 'e' } };

describe('counterHistory', () => {
  it('reads a 3 s scrape interval through one late scrape (the median of the recent gaps, not the last gap)', async () => {
    // Prepare: scrapes every 3 s; the last one came 1.4 s late.
    const provider = providerWith([0, 3, 6, 9, 12, 16.4]);

    // Act
    const history = await counterHistory(provider, queries, new Date(20_000), 60);

    // Assess
    expect(history.scrapeIntervalSeconds).toBe(3);
  });

  it('follows an interval changed within the range: the recent gaps decide', async () => {
    const provider = providerWith([0, 15, 30, 45, 48, 51, 54, 57, 60]);

    const history = await counterHistory(provider, queries, new Date(61_000), 60);

    expect(history.scrapeIntervalSeconds).toBe(3);
  });
});
