/**
 * Window overrides in the real flow: the ASL in the local engine with the
 * real handlers and store, a recording router and scripted metrics. A deny window is in force now:
 * the rollout holds; an override with a reason lets it advance, and is audited (a step, an event,
 * `sluice status`/`history`). A start requested outside the window starts at once under an override.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requestStart, staticRegistry } from '../lambdas/adapters/control/start-path.ts';
import { overrideWindows } from '../lambdas/adapters/control/window-override.ts';
import type { RolloutScheduler } from '../lambdas/core/schedule.ts';
import type { ChangeWindow } from '../lambdas/core/windows.ts';
import type { ControlPlane } from '../local/control.ts';
import { historyCommand, statusCommand } from '../local/commands/control-commands.ts';
import { overrideCommand } from '../local/commands/override.ts';
import { startRollout } from '../local/commands/run.ts';
import { main } from '../local/cli.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { flowRuntimes, webSpec } from './support/flow.ts';
import { RecordingRouter, scriptedMetrics, successRate } from './support/recording-router.ts';

const MINUTE = 60_000;
const runtimeFor = flowRuntimes();
/** A deny window in force from a minute ago for the next hour. */
const denyNow = (): ChangeWindow => ({
  kind: 'deny',
  from: new Date(Date.now() - MINUTE).toISOString(),
  to: new Date(Date.now() + 60 * MINUTE).toISOString(),
});
const closedSpec = () => webSpec({ strategy: { windows: [denyNow()], deadline: '12m' } });
/**
 * A deny window that closes half a second from now for an hour: the rollout starts (the start path
 * refuses a start inside a closed window) and its first look, a bake interval later, is inside it.
 */
const closingSpec = () =>
  webSpec({
    strategy: {
      windows: [{ kind: 'deny', from: new Date(Date.now() + 500).toISOString(), to: new Date(Date.now() + 60 * MINUTE).toISOString() }],
      deadline: '12m',
    },
  });

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function decisions(runtime: LocalRuntime, execution: string): Promise<string[]> {
  return (await runtime.deps.store.listSteps(execution)).filter((step) => step.kind === 'decision').map((step) => step.detail ?? '');
}

function plane(runtime: LocalRuntime, spec = closedSpec()): ControlPlane {
  return {
    kind: 'local',
    sfn: runtime.sfn,
    stateMachineArn: runtime.engine.stateMachineArn,
    store: runtime.deps.store,
    events: runtime.deps.events,
    loadTarget: async () => spec,
    close: async () => {},
  };
}

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (text: string) => (out.stdout += text), stderr: (text: string) => (out.stderr += text) } };
}

describe('window override in the rollout flow (real ASL, local engine)', () => {
  it('a rollout held outside its window advances after `sluice override`, and the override is audited', async () => {
    // Prepare: a deny window in force; the rollout holds at 10%.
    const router = new RecordingRouter();
    const runtime = await runtimeFor(
      router,
      scriptedMetrics(() => [successRate(99.9)]),
    );
    const spec = closingSpec();
    const rollout = await startRollout(runtime, spec, { version: 'v2' });
    await until(
      async () => (await decisions(runtime, rollout.name)).filter((d) => d.includes('outside the change windows')).length >= 2,
      'two held looks',
    );
    const weightsWhileHeld = router.canaryWeights();

    // Act
    const cli = io();
    const code = await overrideCommand(plane(runtime, spec), 'web', { reason: 'hotfix for INC-42', by: 'alice@cli' }, cli.io);
    const summary = await rollout.done;

    // Assess: held, then advanced to the end under the override.
    expect(weightsWhileHeld).toEqual([10]);
    expect(code).toBe(0);
    expect(cli.out.stdout).toContain('change windows of web overridden until');
    expect(summary.outcome).toBe('promoted');
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
    const made = await decisions(runtime, rollout.name);
    expect(made.slice(-2)).toEqual(['advance', 'promote']);
    // Audited: a step on the rollout, a Command Audited event, and status/history show it.
    const notes = (await runtime.deps.store.listSteps(rollout.name)).filter((step) => step.kind === 'note').map((step) => step.detail);
    expect(notes).toEqual([
      expect.stringMatching(/^window override by alice@cli until .*: hotfix for INC-42; the windows are closed \(deny window #1/),
    ]);
    const audited = (await runtime.deps.store.listEvents(rollout.name)).filter((event) => event.detailType === 'Command Audited');
    expect(audited).toHaveLength(1);
    expect(audited[0]?.reason).toContain('hotfix for INC-42');
    const status = io();
    await statusCommand(plane(runtime, spec), 'web', {}, status.io);
    expect(status.out.stdout).toContain('override  change windows overridden by alice@cli until');
    const history = io();
    await historyCommand(plane(runtime, spec), 'web', {}, history.io);
    expect(history.out.stdout).toContain('window override   by alice@cli');
  });

  it('promote now alone does not skip a closed window: the rollout keeps holding', async () => {
    const router = new RecordingRouter();
    const runtime = await runtimeFor(
      router,
      scriptedMetrics(() => [successRate(99.9)]),
    );
    const rollout = await startRollout(runtime, closingSpec(), { version: 'v2' });
    // Held once (the window has closed), then baking again: promote now lands in a closed window.
    await until(async () => (await decisions(runtime, rollout.name)).some((d) => d.includes('outside the change windows')), 'a held look');
    await until(async () => (await runtime.deps.store.getTaskToken('web'))?.gate === 'bake', 'a bake');

    const { promoteRollout } = await import('../lambdas/adapters/control/rollout-control.ts');
    const promoted = await promoteRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: 'web' });
    await until(
      async () => (await decisions(runtime, rollout.name)).some((d) => d.includes('promote now waits for the window')),
      'the held promote-now look',
    );

    expect(promoted.ok).toBe(true);
    expect(router.canaryWeights()).toEqual([10]);
    await overrideWindows({ store: runtime.deps.store, spec: closedSpec(), by: 'bob', reason: 'release it', now: new Date() });
    expect((await rollout.done).outcome).toBe('promoted');
  });

  it('a start requested outside the window starts now under an override instead of being queued', async () => {
    // Prepare: a scheduler that records what would have been queued.
    const router = new RecordingRouter();
    const runtime = await runtimeFor(
      router,
      scriptedMetrics(() => [successRate(99.9)]),
    );
    const spec = closedSpec();
    const queued: string[] = [];
    const scheduler: RolloutScheduler = {
      create: async (request) => {
        queued.push(request.version);
        const schedule = {
          name: `web_${request.version}`,
          target: request.target,
          version: request.version,
          requestedBy: request.requestedBy,
          at: request.at.toISOString(),
          timeZone: 'UTC',
          state: 'scheduled' as const,
        };
        return { schedule, created: true };
      },
      list: async () => [],
      cancel: async () => false,
    };
    const deps = {
      store: runtime.deps.store,
      sfn: runtime.sfn,
      stateMachineArn: runtime.engine.stateMachineArn,
      registry: staticRegistry([spec]),
      now: () => new Date(),
      scheduler,
    };
    const before = await requestStart(deps, {
      target: 'web',
      version: 'v2',
      requestedBy: 'alice@cli',
      trigger: { source: 'cli', key: 'first', identity: 'alice' },
    });

    // Act
    const overridden = await overrideWindows({
      store: runtime.deps.store,
      events: runtime.deps.events,
      spec,
      by: 'alice@cli',
      reason: 'customer outage fix',
      forMs: 30 * MINUTE,
      now: new Date(),
    });
    const after = await requestStart(deps, {
      target: 'web',
      version: 'v3',
      requestedBy: 'alice@cli',
      trigger: { source: 'cli', key: 'second', identity: 'alice' },
    });

    // Assess
    expect(before.outcome).toBe('queued');
    expect(overridden.ok).toBe(true);
    expect(after.outcome).toBe('started');
    expect(queued).toEqual(['v2']);
    expect((await runtime.deps.store.listSteps('chatops-web')).map((step) => step.detail)).toEqual([
      expect.stringContaining('window override by alice@cli until'),
    ]);
    await until(
      async () => (await runtime.deps.store.listRollouts('web', 1))[0]?.status === 'finished',
      'the started rollout to finish',
      30_000,
    );
    expect(router.canaryWeights()).toEqual([10, 50, 100]);
  });

  it('`sluice override` without a reason is refused and records nothing', async () => {
    const runtime = await runtimeFor(
      new RecordingRouter(),
      scriptedMetrics(() => [successRate(99.9)]),
    );
    const cli = io();

    const code = await overrideCommand(plane(runtime), 'web', { reason: '  ' }, cli.io);
    const badDuration = await overrideCommand(plane(runtime), 'web', { reason: 'x', for: 'soon' }, io().io);

    expect(code).toBe(2);
    expect(cli.out.stderr).toContain('an override needs a reason');
    expect(badDuration).toBe(2);
    expect(await runtime.deps.store.getOverride('web')).toBeNull();
    expect(await runtime.deps.store.listSteps('chatops-web')).toEqual([]);
  });

  it('`sluice override` on the command line: refused without a reason, recorded with one and shown by `history`', async () => {
    // Prepare: an advertised local engine and a registry folder, as `sluice serve` leaves them.
    const root = mkdtempSync(join(tmpdir(), 'sluice-override-cli-'));
    const registry = join(root, 'rollouts');
    mkdirSync(registry);
    writeFileSync(join(registry, 'web.yaml'), JSON.stringify(closedSpec()));
    const runtime = await runtimeFor(
      new RecordingRouter(),
      scriptedMetrics(() => [successRate(99.9)]),
      { dir: join(root, 'state'), advertise: true },
    );
    const previous = process.env.SLUICE_STATE_DIR;
    process.env.SLUICE_STATE_DIR = join(root, 'state');
    const cli = async (args: string[]) => {
      const out = io();
      const code = await main(args, out.io);
      return { code, ...out.out };
    };
    try {
      // Act
      const refused = await cli(['override', 'web', '--local', '--rollouts', registry]);
      const accepted = await cli(['override', 'web', '--reason', 'hotfix INC-7', '--for', '30m', '--local', '--rollouts', registry]);
      const history = await cli(['history', 'web', '--local']);

      // Assess
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('an override needs a reason: sluice override web --reason TEXT');
      expect(accepted.code).toBe(0);
      expect(accepted.stdout).toContain('change windows of web overridden until');
      expect(history.stdout).toContain(': hotfix INC-7');
      expect((await runtime.deps.store.getOverride('web'))?.reason).toBe('hotfix INC-7');
    } finally {
      if (previous === undefined) delete process.env.SLUICE_STATE_DIR;
      else process.env.SLUICE_STATE_DIR = previous;
      rmSync(root, { recursive: true, force: true });
    }
  });
});
