/**
 * `sluice start | status | history | abort --local` against a running local engine, through the
 * same @aws-sdk/client-sfn calls and RolloutStore the deployed stack uses.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../local/cli.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { RecordingRouter, recordingCluster, scriptedMetrics, successRate } from './support/recording-router.ts';
import { webSpec } from './support/flow.ts';

const root = mkdtempSync(join(tmpdir(), 'sluice-control-'));
const registry = join(root, 'rollouts');
const router = new RecordingRouter();
let runtime: LocalRuntime;
const previousStateDir = process.env.SLUICE_STATE_DIR;

function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  return main(args, { stdout: (t) => out.push(t), stderr: (t) => err.push(t) }).then((code) => ({
    code,
    out: out.join(''),
    err: err.join(''),
  }));
}

beforeAll(async () => {
  mkdirSync(registry);
  const spec = webSpec({ strategy: { interval: '30s', lookInterval: '30s', deadline: '10m', threshold: 5 } });
  writeFileSync(join(registry, 'web.yaml'), JSON.stringify(spec));
  process.env.SLUICE_STATE_DIR = join(root, 'state');
  runtime = await startLocalRuntime({ overrides: { ...recordingCluster(router), ...scriptedMetrics(() => [successRate(99.9)]) } });
});

afterAll(async () => {
  await runtime.close();
  if (previousStateDir === undefined) delete process.env.SLUICE_STATE_DIR;
  else process.env.SLUICE_STATE_DIR = previousStateDir;
  rmSync(root, { recursive: true, force: true });
});

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('control commands against the local endpoint', () => {
  it('starts, reports, aborts and lists a rollout', async () => {
    // Act: start
    const started = await cli(['start', 'web', '--version', 'v2', '--local', '--rollouts', registry]);
    expect(started.err).toBe('');
    expect(started.code).toBe(0);
    expect(started.out).toContain('started web-v2');
    await until(async () => (await runtime.deps.store.getTaskToken('web')) !== null, 'the first bake');

    // status: running at the first step
    const running = await cli(['status', 'web', '--local', '--json']);
    expect(running.code).toBe(0);
    expect(JSON.parse(running.out)).toMatchObject({
      state: 'running',
      version: 'v2',
      executionStatus: 'RUNNING',
      weights: { primary: 90, canary: 10 },
    });

    // a second start of the same target is refused by the start path, which holds the lock for web-v2 (exit 2)
    const second = await cli(['start', 'web', '--version', 'v3', '--local', '--rollouts', registry]);
    expect(second.code).toBe(2);
    expect(second.err).toMatch(/^refused: locked by web-v2: /);
    expect(await runtime.deps.store.listRollouts('web')).toHaveLength(1);

    // abort: the bake is interrupted
    const aborted = await cli(['abort', 'web', '--local', '--reason', 'wrong build']);
    expect(aborted.code).toBe(0);
    expect(aborted.out).toContain('its bake was interrupted');
    await until(async () => (await runtime.deps.store.getLock('web')) === null, 'the rollback');

    const after = JSON.parse((await cli(['status', 'web', '--local', '--json'])).out) as Record<string, unknown>;
    expect(after).toMatchObject({ state: 'aborted', weights: { primary: 100, canary: 0 } });
    expect(String(after.reason)).toContain('wrong build');
    expect(router.weights).toEqual({ primary: 100, canary: 0 });

    const history = await cli(['history', 'web', '--local']);
    expect(history.out).toMatch(/aborted\s+v2\s+web-v2/);
  });

  it('schedules, lists and cancels a one-off rollout, refusing times that do not exist', async () => {
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await cli(['start', 'web', '--version', 'v9', '--local', '--rollouts', registry, '--at', at]);
    expect(scheduled.code).toBe(0);
    const name = /scheduled (\S+):/.exec(scheduled.out)?.[1] ?? '';
    expect(name.length).toBeLessThanOrEqual(64);
    const listed = JSON.parse((await cli(['schedule', 'list', 'web', '--local', '--json'])).out) as { name: string; version: string }[];
    expect(listed).toEqual([expect.objectContaining({ name, version: 'v9' })]);
    expect((await cli(['schedule', 'cancel', name, '--local'])).code).toBe(0);
    expect((await cli(['schedule', 'list', '--local'])).out).toBe('no scheduled rollouts\n');
    const gap = await cli([
      'start',
      'web',
      '--version',
      'v9',
      '--local',
      '--rollouts',
      registry,
      '--at',
      '2030-03-31 02:30',
      '--tz',
      'Europe/Berlin',
    ]);
    expect(gap.code).toBe(2);
    expect(gap.err).toMatch(/does not exist/);
    const past = await cli(['start', 'web', '--version', 'v9', '--local', '--rollouts', registry, '--at', '2020-01-01T00:00:00Z']);
    expect(past.code).toBe(2);
    expect(past.err).toMatch(/past/);
  });

  it("a start inside a deny window goes through the start path: queued for the window's end, no execution, no traffic moved", async () => {
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 3_600_000).toISOString();
    const quiet = webSpec({ strategy: { windows: [{ kind: 'deny', from, to }] } });
    writeFileSync(join(registry, 'quiet.yaml'), JSON.stringify({ ...quiet, metadata: { name: 'quiet' } }));
    const writes = router.writes.length;

    const answer = await cli(['start', 'quiet', '--version', 'v1', '--local', '--rollouts', registry]);

    expect(answer.code).toBe(0);
    expect(answer.out).toMatch(/^queued: /);
    expect(await runtime.deps.store.listRollouts('quiet')).toEqual([]);
    expect(router.writes).toHaveLength(writes);
    const listed = JSON.parse((await cli(['schedule', 'list', 'quiet', '--local', '--json'])).out) as { name: string; at: string }[];
    expect(listed).toEqual([expect.objectContaining({ at: new Date(to).toISOString() })]);
    expect((await cli(['schedule', 'cancel', listed[0]?.name ?? '', '--local'])).code).toBe(0);
  });

  it('sluice start --override starts inside a deny window, recording the audited override first', async () => {
    const answer = await cli(['start', 'quiet', '--version', 'v2', '--local', '--rollouts', registry, '--override', 'hotfix for INC-42']);

    expect(answer.err).toBe('');
    expect(answer.code).toBe(0);
    expect(answer.out).toContain('started quiet-v2');
    expect(await runtime.deps.store.getOverride('quiet')).toMatchObject({ reason: 'hotfix for INC-42' });
    await until(async () => (await runtime.deps.store.getRollout('quiet-v2'))?.status === 'finished', 'the overridden rollout to finish');
  });

  it('explains what is missing instead of failing obscurely', async () => {
    expect((await cli(['start', 'nope', '--version', 'v1', '--local', '--rollouts', registry])).err).toContain('no spec for target nope');
    expect((await cli(['abort', 'web', '--local'])).err).toContain('no rollout is running for web');
    expect((await cli(['status', 'web'])).err).toContain('no deployed Sluice named');
    expect((await cli(['approve', 'web', '--local'])).err).toContain('nothing to approve for web');
    expect((await cli(['promote', 'web', '--local'])).err).toContain('no rollout is running for web');
  });
});
