/** Approval gates through the real ASL: before the first weight and before promotion, with their timeouts. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpecInput } from '../lambdas/core/spec.ts';
import { approveRollout } from '../lambdas/adapters/rollout-control.ts';
import { startRollout } from '../local/commands/run.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { RecordingRouter, recordingCluster, scriptedMetrics, successRate } from './support/recording-router.ts';

const open: LocalRuntime[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((runtime) => runtime.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function spec(approvals: NonNullable<RolloutSpecInput['spec']['strategy']>['approvals']) {
  return parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'web' },
    spec: {
      cluster: { kubeconfigContext: 'unused' },
      router: { name: 'web', namespace: 'gloo-system', primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } }, canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } } },
      strategy: { stepWeights: [10, 50], interval: '1s', lookInterval: '1s', deadline: '5m', approvals },
      analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
    },
  });
}

async function runtimeWith(router: RecordingRouter): Promise<LocalRuntime> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-approvals-'));
  dirs.push(dir);
  const runtime = await startLocalRuntime({ dir, advertise: false, overrides: { ...recordingCluster(router), ...scriptedMetrics(() => [successRate(99.9)]) } });
  open.push(runtime);
  return runtime;
}

async function untilGate(runtime: LocalRuntime, gate: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if ((await runtime.deps.store.getTaskToken('web'))?.gate === gate) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the ${gate} gate never opened`);
}

describe('approval gates', () => {
  it('waits before any traffic moves and before promotion, and records who approved', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router);
    const rollout = await startRollout(runtime, spec({ beforeStart: true, beforePromotion: true, timeout: '1m' }), { version: 'v2' });
    await untilGate(runtime, 'before-start');
    expect(router.writes).toEqual([]);
    expect(await approveRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'web', by: 'carol', events: runtime.deps.events })).toMatchObject({ ok: true });
    await untilGate(runtime, 'before-promotion');
    expect(router.canaryWeights()).toEqual([10, 50]);
    expect(await approveRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'web', by: 'dave', gate: 'before-promotion' })).toMatchObject({ ok: true });
    const summary = await rollout.done;
    expect(summary.outcome).toBe('promoted');
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
    const notes = (await runtime.deps.store.listSteps(rollout.name)).filter((s) => s.kind === 'note').map((s) => s.detail);
    expect(notes).toEqual(['approved the before-start gate: carol', 'approved the before-promotion gate: dave']);
    const events = (await runtime.deps.store.listEvents(rollout.name)).map((e) => e.detailType);
    expect(events.filter((t) => t === 'Approval Requested')).toHaveLength(2);
    expect(events).toContain('Approval Given');
  });

  it('aborts when nobody approves in time (onTimeout: abort, exit 4)', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router);
    const summary = await (await startRollout(runtime, spec({ beforeStart: true, timeout: '1s', onTimeout: 'abort' }), { version: 'v2' })).done;
    expect(summary.outcome).toBe('aborted');
    expect(summary.exitCode).toBe(4);
    expect(summary.reason).toBe('approval timed out');
    expect(router.writes).toEqual([]);
  });

  it('keeps waiting when nobody approves in time with onTimeout: hold', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router);
    const rollout = await startRollout(runtime, spec({ beforeStart: true, timeout: '1s', onTimeout: 'hold' }), { version: 'v2' });
    await untilGate(runtime, 'before-start');
    await new Promise((resolve) => setTimeout(resolve, 2500)); // two timeouts pass
    expect(router.writes).toEqual([]);
    await untilGate(runtime, 'before-start');
    expect(await approveRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'web', by: 'erin' })).toMatchObject({ ok: true });
    expect((await rollout.done).outcome).toBe('promoted');
  });

  it('refuses an approval when no gate is pending', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeWith(router);
    expect(await approveRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'web', by: 'carol' })).toEqual({ ok: false, message: 'nothing to approve for web: no approval gate is pending' });
  });
});
