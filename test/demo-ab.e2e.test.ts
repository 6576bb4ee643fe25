/**
 * `sluice demo --scenario ab` and `--scenario blue-green` end to end on a compressed clock
 * (1-second looks, the ASL's 10-second readiness waits shortened as the flow tests shorten them),
 * through the demo's own code (runDemo, what `npx sluice demo` runs): the sandbox's gateway routes by Gloo's matcher
 * semantics (a header matcher without `regex` is an exact match of the whole value; gloo.solo.io
 * HeaderMatcher, solo-io/gloo docs "Header Matching"), the load marks a stated share of requests,
 * and the report says who got what. Without Prometheus (the gateway's counters read directly, as
 * test/demo-direct.e2e.test.ts does) so each run is a few seconds.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import type { DemoOptions } from '../local/commands/demo.ts';
import { SHORT_WAITS } from './support/flow.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-demo-ab-'));
process.env.SLUICE_PROMETHEUS_BIN = join(dir, 'no-prometheus-here');
afterAll(() => {
  delete process.env.SLUICE_PROMETHEUS_BIN;
  rmSync(dir, { recursive: true, force: true });
});

interface Summary {
  outcome: string;
  reason: string;
  reportPath: string;
  requests: { total: number; canary: number; canaryErrors: number };
  timeline: Array<{ weights: { primary: number; canary: number } }>;
}

async function demo(
  options: Pick<DemoOptions, 'scenario' | 'seed' | 'canaryErrorRate'>,
): Promise<{ code: number; summary: Summary; text: string; routesAtEnd: Array<string | undefined> }> {
  // Imported after SLUICE_PROMETHEUS_BIN is set: the sandbox reads it when it loads.
  const { runDemo } = await import('../local/commands/demo.ts');
  const out: string[] = [];
  const err: string[] = [];
  /** The routes the VirtualService carries when the demo ends, read from the sandbox's API stand-in. */
  let routesAtEnd: Array<string | undefined> = [];
  const { code } = await runDemo(
    {
      ...options,
      json: true,
      interval: 1,
      rps: 60,
      judge: 'sequential',
      // A state directory per run: the runs go side by side, each with its own engine and store.
      dir: join(dir, `state-${options.scenario}-${options.seed}`),
      waitTimeOverrides: SHORT_WAITS,
      onSandbox: (sandbox) => {
        const vs = () =>
          sandbox.standIn.get('gateway.solo.io/v1', 'VirtualService', 'gloo-system', 'demo')?.spec as {
            virtualHost: { routes: Array<{ name?: string }> };
          };
        // Read at teardown (before the stand-in closes): the routes the rollout left.
        const close = sandbox.close.bind(sandbox);
        sandbox.close = async () => {
          routesAtEnd = vs().virtualHost.routes.map((r) => r.name);
          await close();
        };
      },
    },
    { stdout: (t) => out.push(t), stderr: (t) => err.push(t) },
  );
  const summary = JSON.parse(out.join('').trimEnd().split('\n').at(-1) ?? '') as Summary;
  return { code, summary, text: err.join(''), routesAtEnd };
}

// Wall-clock demos beside other files' sandboxes: one retry absorbs a starved moment, as for the other demo files.
// The three run side by side (each mostly waits on its 1-second looks), so the file costs about one run.
describe.concurrent('sluice demo: A/B testing and blue/green', { retry: 1 }, () => {
  it('A/B: the matched users (20% carry x-canary: insider) get the canary, everyone else the primary; promoted, and the report says so', async ({
    expect,
  }) => {
    // Act
    const { code, summary, text, routesAtEnd } = await demo({ scenario: 'ab', seed: 5 });

    // Assess
    expect(code, text).toBe(0);
    expect(summary.outcome).toBe('promoted');
    expect(routesAtEnd.filter((name) => name?.startsWith('sluice-'))).toEqual([]);
    expect(text).toMatch(/A\/B: 20% of requests carry x-canary: insider; those go to the canary, all others to the primary, for 4 looks/);
    // The marked requests were answered by the new version while the stage ran (the primary runs it after promotion too).
    expect(text).toMatch(/matched users: \d+ requests, answered by .*v2 \d+/);
    // The weights never split: the canary's traffic is the matched users only (about a fifth of the load).
    expect(summary.timeline.every((s) => s.weights.canary === 0)).toBe(true);
    expect(summary.requests.canary).toBeGreaterThan(0);
    expect(summary.requests.canary / summary.requests.total).toBeLessThan(0.35);
    const report = readFileSync(summary.reportPath, 'utf8');
    expect(report).toContain('<h2>Who got what: A/B testing</h2>');
    expect(report).toContain('requests where header x-canary = &#34;insider&#34; → the canary (new version)');
  });

  it('A/B: matched users who see errors roll the rollout back; the match route is gone and everyone is on the old version', async ({
    expect,
  }) => {
    const { code, summary, text, routesAtEnd } = await demo({ scenario: 'ab', seed: 6, canaryErrorRate: 0.3 });

    expect(code, text).toBe(3);
    expect(summary.outcome).toBe('rolled-back');
    expect(routesAtEnd.filter((name) => name?.startsWith('sluice-'))).toEqual([]);
    expect(text).toMatch(/matched users: \d+ requests, answered by .*v2 \d+/);
    const report = readFileSync(summary.reportPath, 'utf8');
    expect(report).toContain('everyone → the primary (the old version); the match route removed');
  });

  it('blue/green: users stay on blue while green is judged on test traffic, then one switch of all traffic; promoted', async ({
    expect,
  }) => {
    const { code, summary, text } = await demo({ scenario: 'blue-green', seed: 7 });

    expect(code, text).toBe(0);
    expect(summary.outcome).toBe('promoted');
    expect(text).toMatch(/test traffic: \d+ requests, answered by .*v2 \d+/);
    // No weighted split ever: 100/0, then all on green for the switch, then back to the promoted primary.
    expect(summary.timeline.every((s) => s.weights.canary === 0 || s.weights.canary === 100)).toBe(true);
    const report = readFileSync(summary.reportPath, 'utf8');
    expect(report).toContain('<h2>Who got what: blue/green</h2>');
    expect(report).toContain('everyone → green, in one switch of all traffic');
  });
});
