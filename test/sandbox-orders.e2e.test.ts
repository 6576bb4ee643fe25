/**
 * The sandbox end to end on a business metric: its apps count their orders (orders_total,
 * orders_failed_total at /metrics, scraped by Debian's real Prometheus beside the gateway), and a
 * rollout judged sequentially on those raw counters alone — no Envoy metric in the spec — rolls
 * back a canary failing 30% of its orders. (The healthy promotion on the same kind of counters,
 * and the AMP path, are test/flow-sequential-prometheus.test.ts.)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { startRollout } from '../local/commands/run.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { DEMO_SPEC_PATH, startSandbox } from '../local/sandbox/sandbox.ts';
import type { Sandbox } from '../local/sandbox/sandbox.ts';
import { SHORT_RETRIES } from './support/flow.ts';

let dir: string | undefined;
let sandbox: Sandbox | undefined;
let runtime: LocalRuntime | undefined;
afterEach(async () => {
  await runtime?.close();
  await sandbox?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** examples/demo.yaml judged sequentially on the apps' own order counters only. */
function ordersSpec(path: string): void {
  const doc = parseYaml(readFileSync(DEMO_SPEC_PATH, 'utf8')) as {
    spec: { strategy: Record<string, unknown>; analysis: Record<string, unknown> };
  };
  doc.spec.strategy = { ...doc.spec.strategy, stepWeights: [25, 50], interval: '3s', lookInterval: '1s' };
  doc.spec.analysis = {
    ...doc.spec.analysis,
    judge: 'sequential',
    sequential: { minSecondsPerStep: 0, minCanaryRequestsPerStep: 20, settleSeconds: 0 },
    metrics: [
      {
        name: 'orders-failed',
        thresholdRange: { max: 2 },
        counters: {
          canary: { events: 'orders_failed_total{app="podinfo"}', trials: 'orders_total{app="podinfo"}' },
          primary: { events: 'orders_failed_total{app="podinfo-primary"}', trials: 'orders_total{app="podinfo-primary"}' },
        },
      },
    ],
  };
  writeFileSync(path, JSON.stringify(doc));
}

describe('sandbox: the sequential judge on the apps’ order counters (real Prometheus)', () => {
  it('rolls back a canary failing 30% of its orders, with weight 0 on the canary', async () => {
    // Prepare
    dir = mkdtempSync(join(tmpdir(), 'sluice-orders-'));
    const specPath = join(dir, 'orders.json');
    ordersSpec(specPath);
    sandbox = await startSandbox({ specPath, canaryErrorRate: 0.3, rps: 100, seed: 7, prometheus: 'required', signals: 'ignore' });
    runtime = await startLocalRuntime({
      dir: join(dir, 'state'),
      advertise: false,
      env: {},
      log: () => {},
      retryIntervalOverrides: SHORT_RETRIES,
      ...sandbox.runtimeOptions,
    });

    // Act
    const rollout = await startRollout(runtime, sandbox.spec, { version: 'v2' });
    const summary = await rollout.done;

    // Assess
    expect(summary.outcome).toBe('rolled-back');
    expect(summary.reason).toMatch(/orders-failed \(events out of trials\): canary \d+\.\d\d% vs primary 0\.00%/);
    expect(sandbox.gateway.weights()).toEqual({ 'demo-primary': 100, 'demo-canary': 0 });
    expect(sandbox.traffic().requests.canaryErrors).toBeGreaterThan(0);
  }, 60_000);
});
