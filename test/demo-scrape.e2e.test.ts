/**
 * `sluice demo --judge sequential --scrape-interval S --restart-gateway-at T` at scaled time (3 s
 * scrapes): the sequential judge stays calm through slow scrapes and a gateway replaced mid-rollout
 * (new instance, every counter from zero), and the --json summary says what happened. Real
 * Prometheus required.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDemo } from '../local/commands/demo.ts';
import type { DemoSummary } from '../local/commands/demo.ts';
import { SHORT_WAITS } from './support/flow.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-demo-scrape-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The demo runs on the wall clock beside other test files' sandboxes: one retry absorbs a starved
// moment (a healthy run passed alone every time; it failed once in a full CI run). Two failures fail.
describe('sluice demo with slow scrapes and a gateway restart', { retry: 1 }, () => {
  it('promotes a healthy canary through a gateway replacement, with lookInterval raised to the scrape interval', async () => {
    // Prepare
    const out: string[] = [];
    // Act
    const result = await runDemo(
      {
        scenario: 'healthy',
        judge: 'sequential',
        scrapeInterval: 3,
        restartGatewayAt: 8,
        rps: 60,
        seed: 21,
        prometheus: 'required',
        dir: join(dir, 'healthy'),
        // The promotion's readiness loops check every 100 ms, not every 10 s (flow-promotion.test.ts covers the Wait states).
        waitTimeOverrides: SHORT_WAITS,
      },
      { stdout: (t) => out.push(t), stderr: (t) => out.push(t) },
    );
    // Assess
    const summary = result.summary as DemoSummary;
    const output = out.join('');
    expect(result.code).toBe(0);
    expect(summary.outcome).toBe('promoted');
    expect(summary.scrapeIntervalSeconds).toBe(3);
    expect(summary.gatewayRestart?.requestedAtSeconds).toBe(8);
    expect(summary.gatewayRestart?.instance).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(output).toContain('Prometheus scrapes every 3s: lookInterval raised to 3s, interval to 6s');
    expect(output).toMatch(/the gateway was replaced: new instance 127\.0\.0\.1:\d+, every counter from zero/);
    expect(summary.steps.some((s) => s.verdict === 'fail')).toBe(false);
  }, 120_000);
});
