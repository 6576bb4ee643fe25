import { DescribeExecutionCommand, ExecutionDoesNotExist, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import type { RolloutScheduler, ScheduleRolloutRequest } from '../../core/schedule.ts';
import { parseSpec } from '../../core/spec.ts';
import type { StartRequest } from '../../core/start.ts';
import { requestStart, staticRegistry } from './start-path.ts';
import type { StartPathDeps } from './start-path.ts';
import { openSqliteStore } from '../store/sqlite.ts';

const ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:rollout';

function spec(windows?: unknown) {
  return parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'web' },
    spec: {
      cluster: { name: 'prod-eks', region: 'us-east-1' },
      router: {
        name: 'web',
        namespace: 'gloo-system',
        primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
        canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
      },
      ...(windows ? { strategy: { windows } } : {}),
      analysis: { judge: 'threshold', prometheus: { address: 'http://prometheus:9090' } },
    },
  });
}

/** Step Functions as far as the start path sees it: names taken, and failures on cue. */
class FakeSfn {
  readonly started: string[] = [];
  readonly failNextStart: Error[] = [];
  send = async (command: unknown): Promise<unknown> => {
    if (command instanceof DescribeExecutionCommand) {
      const name = String(command.input.executionArn).split(':').at(-1) ?? '';
      if (!this.started.includes(name)) throw new ExecutionDoesNotExist({ message: 'no such execution', $metadata: {} });
      return { status: 'RUNNING' };
    }
    if (command instanceof StartExecutionCommand) {
      const failure = this.failNextStart.shift();
      if (failure) throw failure;
      this.started.push(command.input.name ?? '');
      return { executionArn: `${ARN.replace(':stateMachine:', ':execution:')}:${command.input.name}` };
    }
    throw new Error('unexpected command');
  };
}

const NOW = () => new Date('2026-03-02T10:00:00Z');

function deps(overrides: Partial<StartPathDeps> = {}, sfn = new FakeSfn()): StartPathDeps & { sfn: FakeSfn } {
  return {
    // The store's lock clock is the start path's: a lock taken "now" is held.
    store: openSqliteStore(':memory:', { now: NOW }),
    sfn: sfn as unknown as Pick<SFNClient, 'send'> & FakeSfn,
    stateMachineArn: ARN,
    registry: staticRegistry([spec()]),
    now: NOW,
    ...overrides,
  } as StartPathDeps & { sfn: FakeSfn };
}

const request = (key: string, version = 'v2'): StartRequest => ({
  target: 'web',
  version,
  requestedBy: 'ci',
  trigger: { source: 'event', key, identity: 'account 1' },
});

describe('requestStart', () => {
  it('a start that failed after the ledger claim is completed by the retried delivery, under the same name', async () => {
    const sfn = new FakeSfn();
    sfn.failNextStart.push(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const d = deps({}, sfn);

    await expect(requestStart(d, request('evt-1'))).rejects.toThrow('StartExecution web-v2 failed');
    const retried = await requestStart(d, request('evt-1'));
    const third = await requestStart(d, request('evt-1'));

    expect(retried).toMatchObject({ outcome: 'started', execution: 'web-v2' });
    expect(third).toMatchObject({ outcome: 'duplicate', execution: 'web-v2' });
    expect(sfn.started).toEqual(['web-v2']);
    // No attempt name was used up by the redeliveries: the next trigger of v2 is attempt 2.
    await d.store.releaseLock('web', 'web-v2');
    expect(await requestStart(d, request('evt-2'))).toMatchObject({ outcome: 'started', execution: 'web-v2-a2' });
  });

  it('a new trigger of a version already run starts the next attempt once the first has ended', async () => {
    const d = deps();
    await requestStart(d, request('evt-1'));
    await d.store.releaseLock('web', 'web-v2'); // the first rollout finished

    const retry = await requestStart(d, request('evt-2'));

    expect(retry).toMatchObject({ outcome: 'started', execution: 'web-v2-a2' });
  });

  it('takes the lock for the execution it starts, before starting it; Prepare of that execution can take the same lock', async () => {
    const sfn = new FakeSfn();
    const d = deps({}, sfn);
    let lockAtStart: string | undefined;
    const send = sfn.send;
    sfn.send = async (command) => {
      if (command instanceof StartExecutionCommand) lockAtStart = (await d.store.getLock('web'))?.owner;
      return send(command);
    };

    const answer = await requestStart(d, request('evt-1'));

    expect(answer).toMatchObject({ outcome: 'started', execution: 'web-v2' });
    expect(lockAtStart).toBe('web-v2');
    expect(await d.store.acquireLock('web', 'web-v2', new Date('2026-03-02T13:00:00Z'))).toEqual({ acquired: true });
    expect(await d.store.acquireLock('web', 'web-v3', new Date('2026-03-02T13:00:00Z'))).toMatchObject({
      acquired: false,
      holder: { owner: 'web-v2' },
    });
  });

  it('five distinct triggers for one target at once: one is started, four are refused "locked by" it, and the ledger says so', async () => {
    const d = deps();
    const triggers = [
      request('evt-1', 'v2'),
      request('evt-2', 'v2'),
      request('evt-3', 'v3'),
      { ...request('k', 'v4'), trigger: { source: 'gitops' as const, key: 'rev-4', identity: 'flux' } },
      { ...request('k', 'v5'), requestedBy: 'alice@cli', trigger: { source: 'cli' as const, key: 'cli-5', identity: 'alice' } },
    ];

    const answers = await Promise.all(triggers.map((t) => requestStart(d, t)));

    const started = answers.filter((a) => a.outcome === 'started');
    expect(started).toHaveLength(1);
    const winner = started[0]?.execution ?? '';
    const others = answers.filter((a) => a.outcome !== 'started');
    expect(others).toHaveLength(4);
    for (const answer of others)
      expect(answer).toMatchObject({ outcome: 'refused', message: expect.stringMatching(new RegExp(`^refused: locked by ${winner}: `)) });
    expect(d.sfn.started).toEqual([winner]);
    // Each trigger again: the ledger answers what it answered the first time.
    const replays = await Promise.all(triggers.map((t) => requestStart(d, t)));
    expect(replays.map((r) => r.outcome)).toEqual(['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate']);
    const recorded = replays.map((r) => (r.outcome === 'duplicate' ? r.first.detail?.['outcome'] : undefined));
    expect(recorded.filter((o) => o === 'started')).toHaveLength(1);
    expect(recorded.filter((o) => o === 'refused')).toHaveLength(4);
  });

  it('a start that StartExecution refuses gives the lock back', async () => {
    const sfn = new FakeSfn();
    sfn.failNextStart.push(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const d = deps({}, sfn);

    await expect(requestStart(d, request('evt-1'))).rejects.toThrow('StartExecution web-v2 failed');

    expect(await d.store.getLock('web')).toBeNull();
  });

  it('a plugged-in check refuses before anything starts, and the refusal is what a duplicate hears', async () => {
    const d = deps({ checks: [async ({ request: r }) => (r.requestedBy === 'ci' ? { reason: 'ci may not start web' } : undefined)] });

    const refused = await requestStart(d, request('evt-1'));
    const again = await requestStart(d, request('evt-1'));

    expect(refused).toMatchObject({ outcome: 'refused', reason: 'ci may not start web' });
    expect(again).toMatchObject({ outcome: 'duplicate' });
    expect(again.message).toContain('it was refused (ci may not start web); send it again with a new idempotency key to retry');
    expect(d.sfn.started).toEqual([]);
  });

  it('outside the change windows the start is queued at the next opening through the scheduler', async () => {
    const created: ScheduleRolloutRequest[] = [];
    const scheduler: RolloutScheduler = {
      create: async (r) => {
        created.push(r);
        return {
          schedule: {
            name: 'web_v2_abcd1234',
            target: r.target,
            version: r.version,
            requestedBy: r.requestedBy,
            at: r.at.toISOString(),
            timeZone: 'UTC',
            state: 'scheduled',
          },
          created: true,
        };
      },
      list: async () => [],
      cancel: async () => false,
    };
    const d = deps({
      registry: staticRegistry([spec([{ kind: 'deny', from: '2026-03-01T00:00:00Z', to: '2026-03-03T00:00:00Z' }])]),
      scheduler,
    });

    const answer = await requestStart(d, request('evt-1'));

    expect(answer).toMatchObject({ outcome: 'queued', schedule: 'web_v2_abcd1234', at: '2026-03-03T00:00:00.000Z' });
    expect(created).toEqual([
      { target: 'web', version: 'v2', requestedBy: 'ci (claimed) via event:account 1', at: new Date('2026-03-03T00:00:00Z') },
    ]);
    expect(d.sfn.started).toEqual([]);
  });

  it('an unknown target is refused by name', async () => {
    const answer = await requestStart(deps(), { ...request('evt-1'), target: 'nope' });
    expect(answer).toMatchObject({ outcome: 'refused', reason: 'unknown target nope: it is not in the registry' });
  });
});
