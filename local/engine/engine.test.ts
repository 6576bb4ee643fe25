/**
 * The local engine running the real statemachine/rollout.asl.json (read from disk, unchanged)
 * with fake handlers: the flow's ways out, retries, task tokens, StopExecution and the API rules.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DefinitionError, LocalEngine } from './engine.ts';
import type { LocalEngineOptions } from './engine.ts';
import type { HistoryEvent } from './history.ts';
import { fakeRollout, namedError, rolloutInput } from './fake-rollout.ts';

const ASL_PATH = 'statemachine/rollout.asl.json';

function engineFor(handlers: LocalEngineOptions['handlers'], extra: Partial<LocalEngineOptions> = {}): Promise<LocalEngine> {
  return LocalEngine.create({ definitionPath: ASL_PATH, handlers, ...extra });
}

/** The states entered, in order, from the execution history. */
function statesEntered(events: HistoryEvent[]): string[] {
  return events.filter((event) => event.type.endsWith('StateEntered')).map((event) => String(event.stateEnteredEventDetails?.name));
}

function eventsOf(engine: LocalEngine, arn: string, type: HistoryEvent['type']): HistoryEvent[] {
  return engine.getExecutionHistory(arn).events.filter((event) => event.type === type);
}

describe('loading the definition', () => {
  it('runs the file on disk unchanged, bridging the Bake TimeoutSecondsPath in memory only', async () => {
    // Prepare
    const onDisk = JSON.parse(await readFile(ASL_PATH, 'utf8')) as { States: { Bake: { TimeoutSecondsPath: string } } };

    // Act
    const engine = await engineFor(fakeRollout().handlers);

    // Assess
    const loaded = engine.loadedDefinition as { States: { Bake: { TimeoutSecondsPath: string } } };
    expect(onDisk.States.Bake.TimeoutSecondsPath).toBe('$.run.bakeSeconds');
    expect(loaded.States.Bake.TimeoutSecondsPath).toBe('$.Payload.bakeSeconds');
  });

  it('refuses a TimeoutSecondsPath it cannot bridge, naming the state and the fix', async () => {
    const document = JSON.parse(await readFile(ASL_PATH, 'utf8')) as {
      States: { Bake: { Parameters: { Payload: Record<string, string> } } };
    };
    delete document.States.Bake.Parameters.Payload['bakeSeconds.$'];

    expect(() => LocalEngine.fromDocument(document, 'edited.asl.json', { handlers: fakeRollout().handlers })).toThrow(
      /Task "Bake": TimeoutSecondsPath \$\.run\.bakeSeconds cannot run locally.*"<name>\.\$": "\$\.run\.bakeSeconds"/,
    );
  });

  it('names a substitution that has no handler', async () => {
    const { RollbackFunctionArn: _dropped, ...handlers } = fakeRollout().handlers;

    const loading = engineFor(handlers);

    await expect(loading).rejects.toThrow(DefinitionError);
    await expect(loading).rejects.toThrow('no local handler for ${RollbackFunctionArn}');
  });
});

describe('running the rollout flow', () => {
  it('promotes a healthy canary: every step baked, Bake timing out is the normal way on', async () => {
    // Prepare
    const rollout = fakeRollout({ weights: [10, 50], bakeSeconds: 1 });
    const engine = await engineFor(rollout.handlers);

    // Act
    const { executionArn } = engine.startExecution({ name: 'podinfo-v2-1', input: JSON.stringify(rolloutInput()) });
    const result = await engine.waitForExecution(executionArn);

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    const history = engine.getExecutionHistory(executionArn).events;
    expect(statesEntered(history)).toEqual([
      'Prepare',
      'StartGate',
      'SetWeight',
      'Bake',
      'Analyze',
      'Decide',
      'SetWeight',
      'Bake',
      'Analyze',
      'Decide',
      'PromotionGate',
      'CheckCanary',
      'CanaryReady',
      'Promote',
      'PrimaryReady',
      'Switch',
      'Finish',
      'Promoted',
    ]);
    expect(rollout.weights).toEqual([10, 50]);
    expect(eventsOf(engine, executionArn, 'TaskTimedOut')).toHaveLength(2);
    expect(rollout.calls).not.toContain('RollbackFunctionArn');
    expect(engine.transitions(executionArn)).toBe(18);
    expect(history.map((event) => event.id)).toEqual(history.map((_event, index) => index + 1));
    expect(history.at(-1)?.type).toBe('ExecutionSucceeded');
  });

  it('retries a Sluice.Transient error and carries on', async () => {
    let failures = 0;
    const rollout = fakeRollout({
      weights: [10],
      override: {
        SetWeightFunctionArn: async (input: { run: { weights: number[] } }) => {
          if (failures++ === 0) throw namedError('Sluice.Transient', 'UpstreamGroup gloo-system/podinfo patch failed: 503');
          return input.run;
        },
      },
    });
    const engine = await engineFor(rollout.handlers, { retryIntervalOverrides: { SetWeight: 10 } });

    const { executionArn } = engine.startExecution({ name: 'transient', input: rolloutInput() });
    const result = await engine.waitForExecution(executionArn);

    expect(result.status).toBe('SUCCEEDED');
    expect(rollout.calls.filter((name) => name === 'SetWeightFunctionArn')).toHaveLength(2);
    const failed = eventsOf(engine, executionArn, 'LambdaFunctionFailed');
    expect(failed.map((event) => event.lambdaFunctionFailedEventDetails)).toEqual([
      { error: 'Sluice.Transient', cause: 'UpstreamGroup gloo-system/podinfo patch failed: 503' },
    ]);
    expect(rollout.calls).not.toContain('RollbackFunctionArn');
  });

  it('takes the rollback path on a permanent error and fails with Sluice.RolledBack', async () => {
    const rollout = fakeRollout({
      weights: [10],
      override: {
        AnalyzeFunctionArn: async () => {
          throw new TypeError('cannot read the verdict');
        },
      },
    });
    const engine = await engineFor(rollout.handlers);

    const { executionArn } = engine.startExecution({ name: 'permanent', input: rolloutInput() });
    const result = await engine.waitForExecution(executionArn);

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('Sluice.RolledBack');
    expect(result.cause).toBe('rolled back after TypeError: cannot read the verdict');
    expect(rollout.rollbacks).toHaveLength(1);
    expect(rollout.rollbacks[0]?.state.error).toEqual({ Error: 'TypeError', Cause: 'cannot read the verdict' });
    expect(statesEntered(engine.getExecutionHistory(executionArn).events).slice(-3)).toEqual(['Rollback', 'RollbackOutcome', 'RolledBack']);
  });

  it('ends a refused Prepare with Sluice.Refused and no rollback', async () => {
    const rollout = fakeRollout({
      override: {
        PrepareFunctionArn: async () => {
          throw namedError('Sluice.Refused', 'podinfo is locked by podinfo-v1-1');
        },
      },
    });
    const engine = await engineFor(rollout.handlers);

    const { executionArn } = engine.startExecution({ name: 'refused', input: rolloutInput() });
    const result = await engine.waitForExecution(executionArn);

    expect(result).toMatchObject({ status: 'FAILED', error: 'Sluice.Refused', cause: 'podinfo is locked by podinfo-v1-1' });
    expect(rollout.calls).toEqual(['PrepareFunctionArn']);
  });

  it('rolls back within 2 seconds when SendTaskFailure(Sluice.Aborted) ends a bake', async () => {
    // Prepare: a long bake, so only the abort can end it in time
    const rollout = fakeRollout({ weights: [10], bakeSeconds: 60 });
    const engine = await engineFor(rollout.handlers);
    const { executionArn } = engine.startExecution({ name: 'abort-bake', input: rolloutInput() });
    const token = await rollout.nextToken();

    // Act
    const abortedAt = Date.now();
    engine.sendTaskFailure(token, 'Sluice.Aborted', 'abort requested by alice');
    const result = await engine.waitForExecution(executionArn);

    // Assess
    expect(rollout.rollbackAt).toBeDefined();
    expect((rollout.rollbackAt ?? Infinity) - abortedAt).toBeLessThan(2000);
    expect(result).toMatchObject({ status: 'FAILED', error: 'Sluice.Aborted', cause: 'aborted: abort requested by alice' });
    expect(eventsOf(engine, executionArn, 'TaskFailed').map((event) => event.taskFailedEventDetails)).toEqual([
      { resourceType: 'lambda', resource: 'invoke.waitForTaskToken', error: 'Sluice.Aborted', cause: 'abort requested by alice' },
    ]);
  });

  it('honours a SendTaskFailure that arrives while the Bake Lambda is still storing its token', async () => {
    // Prepare: the Bake handler hands out its token, then keeps running until the test lets it go
    const stored = Promise.withResolvers<string>();
    const release = Promise.withResolvers<void>();
    const rollout = fakeRollout({
      weights: [10],
      bakeSeconds: 60,
      override: {
        BakeFunctionArn: async (input: { taskToken: string }) => {
          stored.resolve(input.taskToken);
          await release.promise;
          return {};
        },
      },
    });
    const engine = await engineFor(rollout.handlers);
    const { executionArn } = engine.startExecution({ name: 'early-abort', input: rolloutInput() });

    // Act
    engine.sendTaskFailure(await stored.promise, 'Sluice.Aborted', 'abort raced the bake');
    await new Promise((resolve) => setTimeout(resolve, 50));
    release.resolve();
    const result = await engine.waitForExecution(executionArn);

    // Assess
    expect(result).toMatchObject({ status: 'FAILED', error: 'Sluice.Aborted' });
    expect(rollout.rollbacks).toHaveLength(1);
  });

  it('ends a bake early with SendTaskSuccess, its output in $.wake', async () => {
    // A 60 s bake: only the SendTaskSuccess lets this finish within the test's timeout.
    const rollout = fakeRollout({ weights: [10], bakeSeconds: 60 });
    const engine = await engineFor(rollout.handlers);
    const { executionArn } = engine.startExecution({ name: 'promote-now', input: rolloutInput() });
    const token = await rollout.nextToken();

    engine.sendTaskSuccess(token, JSON.stringify({ command: 'promote' }));
    const result = await engine.waitForExecution(executionArn);

    expect(result.status).toBe('SUCCEEDED');
    expect(eventsOf(engine, executionArn, 'TaskTimedOut')).toEqual([]);
    expect(JSON.parse(result.output ?? '{}')).toMatchObject({ wake: { command: 'promote' } });
    expect(() => engine.sendTaskSuccess(token, '{}')).toThrow(expect.objectContaining({ name: 'TaskTimedOut' }));
  });

  it('answers TaskDoesNotExist for a token it never issued and InvalidToken for a malformed one', async () => {
    const other = fakeRollout({ weights: [10], bakeSeconds: 60 });
    const otherEngine = await engineFor(other.handlers);
    const { executionArn } = otherEngine.startExecution({ name: 'elsewhere', input: rolloutInput() });
    const foreignToken = await other.nextToken();
    const engine = await engineFor(fakeRollout().handlers);

    expect(() => engine.sendTaskSuccess(foreignToken, '{}')).toThrow(expect.objectContaining({ name: 'TaskDoesNotExist' }));
    expect(() => engine.sendTaskFailure('not-a-token', 'Sluice.Aborted')).toThrow(expect.objectContaining({ name: 'InvalidToken' }));
    expect(() => engine.sendTaskHeartbeat('not-a-token')).toThrow(expect.objectContaining({ name: 'InvalidToken' }));
    otherEngine.sendTaskHeartbeat(foreignToken);
    expect(() => otherEngine.sendTaskSuccess(foreignToken, 'not json')).toThrow(expect.objectContaining({ name: 'InvalidOutput' }));

    otherEngine.stopExecution(executionArn);
    await otherEngine.waitForExecution(executionArn);
  });

  it('StopExecution aborts without any Catch and then calls the safety net', async () => {
    // Prepare
    const rollout = fakeRollout({ weights: [10], bakeSeconds: 60 });
    const stopped: unknown[] = [];
    const engine = await engineFor(rollout.handlers, {
      onExecutionStopped: async (execution) => {
        stopped.push(execution);
      },
    });
    const input = rolloutInput();
    const { executionArn } = engine.startExecution({ name: 'stopped', input });
    const token = await rollout.nextToken();

    // Act
    engine.stopExecution(executionArn, 'Sluice.Aborted', 'stopped by bob');
    const result = await engine.waitForExecution(executionArn);

    // Assess
    expect(result).toMatchObject({ status: 'ABORTED', error: 'Sluice.Aborted', cause: 'stopped by bob' });
    expect(result.stopDate).toBeInstanceOf(Date);
    expect(rollout.calls).not.toContain('RollbackFunctionArn');
    expect(stopped).toEqual([
      { name: 'stopped', executionArn, status: 'ABORTED', input, error: 'Sluice.Aborted', cause: 'stopped by bob' },
    ]);
    const types = engine.getExecutionHistory(executionArn).events.map((event) => event.type);
    expect(types.slice(-2)).toEqual(['TaskStateAborted', 'ExecutionAborted']);
    expect(() => engine.sendTaskSuccess(token, '{}')).toThrow(expect.objectContaining({ name: 'TaskTimedOut' }));
  });
});

describe('the API rules', () => {
  it('treats a repeated start with the same input as the same execution, and a different input as ExecutionAlreadyExists', async () => {
    const rollout = fakeRollout({ weights: [10], bakeSeconds: 60 });
    const engine = await engineFor(rollout.handlers);
    const first = engine.startExecution({ name: 'podinfo-v2-1', input: rolloutInput('v2') });

    const again = engine.startExecution({ name: 'podinfo-v2-1', input: JSON.stringify(rolloutInput('v2')) });

    expect(again.executionArn).toBe(first.executionArn);
    expect(() => engine.startExecution({ name: 'podinfo-v2-1', input: rolloutInput('v3') })).toThrow(
      expect.objectContaining({ name: 'ExecutionAlreadyExists' }),
    );
    engine.stopExecution(first.executionArn);
    await engine.waitForExecution(first.executionArn);
    expect(() => engine.startExecution({ name: 'podinfo-v2-1', input: rolloutInput('v2') })).toThrow(
      expect.objectContaining({ name: 'ExecutionAlreadyExists' }),
    );
    expect(engine.listExecutions({ statusFilter: 'ABORTED' }).executions.map((execution) => execution.name)).toEqual(['podinfo-v2-1']);
  });

  it('rejects bad names, bad input and bad ARNs with the API error names', async () => {
    const engine = await engineFor(fakeRollout().handlers);

    expect(() => engine.startExecution({ name: 'has space', input: '{}' })).toThrow(expect.objectContaining({ name: 'InvalidName' }));
    expect(() => engine.startExecution({ name: 'x'.repeat(81), input: '{}' })).toThrow(expect.objectContaining({ name: 'InvalidName' }));
    expect(() => engine.startExecution({ name: 'ok', input: '{not json' })).toThrow(
      expect.objectContaining({ name: 'InvalidExecutionInput' }),
    );
    expect(() => engine.describeExecution('not-an-arn')).toThrow(expect.objectContaining({ name: 'InvalidArn' }));
    expect(() => engine.describeExecution(engine.executionArn('never-started'))).toThrow(
      expect.objectContaining({ name: 'ExecutionDoesNotExist' }),
    );
  });
});
