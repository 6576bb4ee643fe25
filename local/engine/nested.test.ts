/**
 * The local engine's bridge of `arn:aws:states:::states:startExecution.sync:2` (Step Functions'
 * "Run a Job (.sync)" pattern for nested executions): the child runs in a nested local engine,
 * the task's result is DescribeExecution's answer with Output parsed (the `:2` form), a child
 * that does not succeed fails the task with States.TaskFailed, and stopping the parent (or the
 * end of the Map that started the child) stops the child, whose own safety net then runs.
 */
import { describe, expect, it } from 'vitest';
import { LocalEngine } from './engine.ts';
import type { StoppedExecution } from './engine.ts';

const child = {
  StartAt: 'Work',
  States: {
    Work: { Type: 'Task', Resource: '${WorkFunctionArn}', TimeoutSeconds: 30, End: true },
  },
};

const parent = {
  StartAt: 'Members',
  States: {
    Members: {
      Type: 'Map',
      ItemsPath: '$.items',
      MaxConcurrency: 2,
      ItemProcessor: {
        ProcessorConfig: { Mode: 'INLINE' },
        StartAt: 'Run',
        States: {
          Run: {
            Type: 'Task',
            Resource: 'arn:aws:states:::states:startExecution.sync:2',
            Parameters: { StateMachineArn: '${ChildStateMachineArn}', 'Name.$': '$.name', Input: { 'value.$': '$.value' } },
            TimeoutSeconds: 60,
            End: true,
          },
        },
      },
      ResultPath: '$.results',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Caught' }],
      End: true,
    },
    Caught: { Type: 'Pass', End: true },
  },
};

interface Setup {
  childEngine: LocalEngine;
  parentEngine: LocalEngine;
  stopped: StoppedExecution[];
}

/** `value`: "ok" answers at once, "fail" throws, "hang" waits until the child is stopped. */
function setup(): Setup {
  const stopped: StoppedExecution[] = [];
  const childEngine = LocalEngine.fromDocument(child, 'child.asl.json', {
    stateMachineName: 'child',
    handlers: {
      WorkFunctionArn: async (payload: never) => {
        const { value } = payload as { value: string };
        if (value === 'fail') throw Object.assign(new Error('the canary failed'), { name: 'Sluice.RolledBack' });
        if (value === 'hang') await new Promise(() => undefined);
        return { doubled: `${value}${value}` };
      },
    },
    onExecutionStopped: async (execution) => {
      stopped.push(execution);
    },
  });
  const parentEngine = LocalEngine.fromDocument(parent, 'parent.asl.json', {
    stateMachineName: 'parent',
    handlers: {},
    nestedMachines: { ChildStateMachineArn: childEngine },
  });
  return { childEngine, parentEngine, stopped };
}

describe('startExecution.sync:2 in the local engine', () => {
  it('answers as Step Functions does: DescribeExecution fields with Output parsed', async () => {
    const { parentEngine } = setup();
    const { executionArn } = parentEngine.startExecution({ name: 'p1', input: { items: [{ name: 'c1', value: 'ok' }] } });
    const ended = await parentEngine.waitForExecution(executionArn);
    expect(ended.status).toBe('SUCCEEDED');
    const [result] = (JSON.parse(ended.output ?? '{}') as { results: Array<Record<string, unknown>> }).results;
    expect(result).toMatchObject({
      ExecutionArn: 'arn:aws:states:us-east-1:000000000000:execution:child:c1',
      Name: 'c1',
      Status: 'SUCCEEDED',
      Input: { value: 'ok' },
      Output: { doubled: 'okok' },
    });
    expect(typeof result?.StartDate).toBe('number');
  });

  it('fails the task with States.TaskFailed and the child description as Cause; the Map stops the running sibling', async () => {
    // Prepare
    const { parentEngine, childEngine, stopped } = setup();
    // Act
    const { executionArn } = parentEngine.startExecution({
      name: 'p2',
      input: {
        items: [
          { name: 'hangs', value: 'hang' },
          { name: 'fails', value: 'fail' },
        ],
      },
    });
    const ended = await parentEngine.waitForExecution(executionArn);
    // Assess
    expect(ended.status).toBe('SUCCEEDED');
    const { error } = JSON.parse(ended.output ?? '{}') as { error: { Error: string; Cause: string } };
    expect(error.Error).toBe('States.TaskFailed');
    expect(JSON.parse(error.Cause)).toMatchObject({
      Name: 'fails',
      Status: 'FAILED',
      Error: 'Sluice.RolledBack',
      Cause: 'the canary failed',
    });
    const sibling = await childEngine.waitForExecution(childEngine.executionArn('hangs'));
    expect(sibling.status).toBe('ABORTED');
    expect(stopped.map((s) => s.name)).toEqual(['hangs']);
  });

  it('stopping the parent stops its running children (their safety net runs)', async () => {
    const { parentEngine, childEngine, stopped } = setup();
    const { executionArn } = parentEngine.startExecution({
      name: 'p3',
      input: {
        items: [
          { name: 'h1', value: 'hang' },
          { name: 'h2', value: 'hang' },
        ],
      },
    });
    const started = Date.now();
    while (childEngine.listExecutions().executions.length < 2 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 10));
    parentEngine.stopExecution(executionArn, undefined, 'operator stop');
    await parentEngine.waitForExecution(executionArn);
    const children = await Promise.all(['h1', 'h2'].map((name) => childEngine.waitForExecution(childEngine.executionArn(name))));
    expect(children.map((c) => c.status)).toEqual(['ABORTED', 'ABORTED']);
    expect(children[0]?.cause).toContain('the parent execution arn:aws:states:us-east-1:000000000000:execution:parent:p3 was stopped');
    expect(stopped.map((s) => s.name).sort()).toEqual(['h1', 'h2']);
  });

  it('refuses to load a nested task whose StateMachineArn is not a substitution', () => {
    const edited = structuredClone(parent);
    (edited.States.Members.ItemProcessor.States.Run.Parameters as Record<string, unknown>).StateMachineArn =
      'arn:aws:states:us-east-1:1:stateMachine:x';
    expect(() => LocalEngine.fromDocument(edited, 'edited.asl.json', { handlers: {} })).toThrow(
      'Task "Run": Parameters.StateMachineArn must be a ${Name} substitution for the local engine',
    );
  });
});
