/** The load generator: bounded by count or time, tallying what users saw. */
import { afterEach, describe, expect, it } from 'vitest';
import { startLoad } from './load.ts';
import { startDummy } from './sandbox.fixtures.ts';
import type { DummyUpstream } from './sandbox.fixtures.ts';

const dummies: DummyUpstream[] = [];
afterEach(async () => {
  await Promise.all(dummies.splice(0).map((d) => d.close()));
});

describe('load generator', () => {
  it('sends exactly maxRequests and tallies codes and versions', async () => {
    // Prepare: every 5th answer is a 500.
    const dummy = await startDummy('v1', { failEvery: 5 });
    dummies.push(dummy);
    // Act
    const stats = await startLoad({ url: `http://${dummy.address}/`, rps: 200, maxRequests: 50 }).done;
    // Assess
    expect(stats).toMatchObject({ sent: 50, completed: 50, codes: { 200: 40, 500: 10 }, versions: { v1: 50 }, skipped: 0 });
    expect(dummy.hosts.length).toBe(50);
  });

  it('sends the marked headers on the stated share of requests, spread evenly, and tallies their answers apart', async () => {
    const dummy = await startDummy('v2');
    dummies.push(dummy);

    const stats = await startLoad({
      url: `http://${dummy.address}/`,
      rps: 200,
      maxRequests: 50,
      marked: { share: 0.2, headers: { 'x-canary': 'insider' } },
    }).done;

    expect(stats.marked).toEqual({ sent: 10, versions: { v2: 10 } });
    expect(stats.versions).toEqual({ v2: 50 });
  });

  it('never sends faster than its rate and stops at its time bound', async () => {
    const dummy = await startDummy('v1');
    dummies.push(dummy);
    const startedAt = Date.now();
    const stats = await startLoad({ url: `http://${dummy.address}/`, rps: 100, durationMs: 300 }).done;
    const elapsed = Date.now() - startedAt;
    expect(stats.sent).toBeGreaterThan(0);
    expect(stats.sent).toBeLessThanOrEqual(Math.floor((elapsed * 100) / 1000) + 1);
    expect(stats.completed).toBe(stats.sent);
  });

  it('stops on close and counts a refused connection as code 0', async () => {
    const load = startLoad({ url: 'http://127.0.0.1:1/', rps: 50 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stats = await load.close();
    expect(stats.sent).toBeGreaterThan(0);
    expect(stats.codes[0]).toBe(stats.sent);
    expect(load.stats().sent).toBe(stats.sent);
  });
});
