import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startOrQueue } from '../lambdas/core/schedule.ts';
import { LocalScheduleBook, LocalScheduler, schedulesPath } from './scheduler.ts';
import type { LocalSchedulerOptions, StartCallback } from './scheduler.ts';

const dirs: string[] = [];
const running: Array<{ stop(): Promise<void> } | { close(): void }> = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-scheduler-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  for (const item of running.splice(0)) {
    if ('stop' in item) await item.stop();
    else item.close();
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

type Call = { target: string; version: string; requestedBy: string; key: string; at: number };

function recorder(fail = 0): { calls: Call[]; start: StartCallback; fired: Promise<Call> } {
  const calls: Call[] = [];
  let failures = fail;
  let resolve: (call: Call) => void = () => {};
  const fired = new Promise<Call>((r) => (resolve = r));
  return {
    calls,
    fired,
    start: async (target, version, requestedBy, key) => {
      const call = { target, version, requestedBy, key, at: Date.now() };
      calls.push(call);
      if (failures-- > 0) throw new Error('target web is locked by rollout web-v1');
      resolve(call);
    },
  };
}

function open(options: Omit<LocalSchedulerOptions, 'path'> & { dir: string }): LocalScheduler {
  const scheduler = new LocalScheduler({ path: schedulesPath(options.dir), pollMs: 50, retryDelayMs: 20, ...options });
  running.push(scheduler);
  return scheduler;
}

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms))]);

describe('the local scheduler', () => {
  it('fires a one-off schedule at its time through the start callback, with its name as the idempotency key, then forgets it', async () => {
    const dir = tempDir();
    const { start, fired } = recorder();
    const scheduler = open({ dir, start });
    const at = new Date(Date.now() + 300);
    const { schedule, created } = await scheduler.create({ target: 'web', version: 'v2', requestedBy: 'alice@cli', at });
    expect(created).toBe(true);
    expect(await scheduler.list('web')).toEqual([schedule]);

    const call = await within(fired, 2000);

    expect(call).toMatchObject({ target: 'web', version: 'v2', requestedBy: 'alice@cli', key: schedule.name });
    expect(call.at).toBeGreaterThanOrEqual(at.getTime());
    expect(await scheduler.list()).toEqual([]);
  });

  it('fires a rollout queued outside a window when the window opens', async () => {
    const dir = tempDir();
    const { start, fired, calls } = recorder();
    const scheduler = open({ dir, start });
    const opens = new Date(Date.now() + 1000);
    const windows = [{ kind: 'allow' as const, from: opens.toISOString(), to: new Date(opens.getTime() + 3_600_000).toISOString() }];

    const result = await startOrQueue({
      windows,
      now: new Date(),
      request: { target: 'web', version: 'v2', requestedBy: 'U0ALICE' },
      scheduler,
      start: () => start('web', 'v2', 'U0ALICE', 'direct'),
    });

    expect(result).toMatchObject({ queued: true, at: opens });
    expect(calls).toEqual([]);
    const call = await within(fired, 2000);
    expect(call.at).toBeGreaterThanOrEqual(opens.getTime());
    expect(call.key).toMatch(/^web_v2_[0-9a-f]{8}$/);
  });

  it('sees schedules another process writes and cancels, and the same request twice is one schedule', async () => {
    const dir = tempDir();
    const { start, calls, fired } = recorder();
    const engine = open({ dir, start });
    const cli = new LocalScheduleBook(schedulesPath(dir));
    running.push(cli);
    const at = new Date(Date.now() + 600);
    const first = await cli.create({ target: 'web', version: 'v3', requestedBy: 'bob@cli', at, timeZone: 'Asia/Kathmandu' });
    const again = await cli.create({ target: 'web', version: 'v3', requestedBy: 'bob@cli', at, timeZone: 'Asia/Kathmandu' });
    expect(again).toEqual({ schedule: first.schedule, created: false });
    expect(await engine.list('web')).toEqual([first.schedule]);
    expect(first.schedule.timeZone).toBe('Asia/Kathmandu');

    const kept = await cli.create({ target: 'web', version: 'v4', requestedBy: 'bob@cli', at: new Date(at.getTime() + 100) });

    expect(await cli.cancel(first.schedule.name)).toBe(true);
    expect(await cli.cancel(first.schedule.name)).toBe(false);
    expect(await within(fired, 2000)).toMatchObject({ version: 'v4', key: kept.schedule.name });
    expect(calls.map((c) => c.version)).toEqual(['v4']);
    expect(await engine.list()).toEqual([]);
  });

  it('retries a failing start, then keeps the schedule marked failed with the error', async () => {
    const dir = tempDir();
    const { start, calls } = recorder(10);
    const lines: string[] = [];
    const scheduler = open({ dir, start, retries: 2, log: (line) => lines.push(line) });
    const { schedule } = await scheduler.create({ target: 'web', version: 'v2', requestedBy: 'alice@cli', at: new Date(Date.now() + 100) });
    const deadline = Date.now() + 2000;
    while ((await scheduler.list())[0]?.state !== 'failed' && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 25));
    expect(calls).toHaveLength(3);
    expect(await scheduler.list()).toEqual([{ ...schedule, state: 'failed', lastError: 'target web is locked by rollout web-v1' }]);
    expect(lines.at(-1)).toBe(`schedule ${schedule.name}: start attempt 3/3 failed: target web is locked by rollout web-v1`);
  });

  it('fires on start-up what came due while the engine was down, and marks long-missed ones failed', async () => {
    const dir = tempDir();
    const book = new LocalScheduleBook(schedulesPath(dir));
    await book.create({ target: 'web', version: 'v2', requestedBy: 'alice@cli', at: new Date(Date.now() - 60_000) });
    const { schedule: missed } = await book.create({
      target: 'api',
      version: 'v9',
      requestedBy: 'alice@cli',
      at: new Date(Date.now() - 2 * 3_600_000),
    });
    book.close();

    const { start, fired, calls } = recorder();
    const scheduler = open({ dir, start });
    expect(await within(fired, 2000)).toMatchObject({ target: 'web', version: 'v2' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(calls.map((c) => c.target)).toEqual(['web']);
    expect(await scheduler.list()).toEqual([
      { ...missed, state: 'failed', lastError: `missed: the local engine was not running at ${missed.at}` },
    ]);
  });
});
