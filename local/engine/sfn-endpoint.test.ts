/**
 * @aws-sdk/client-sfn, with only its endpoint changed, driving the local engine (real
 * statemachine/rollout.asl.json, fake handlers) through the HTTP endpoint: real requests, real
 * responses, the SDK's own exception classes. Plus finding the engine from another process.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  InvalidArn,
  InvalidToken,
  ListExecutionsCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  StopExecutionCommand,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { LocalEngine } from './engine.ts';
import type { StoppedExecution } from './engine.ts';
import { fakeRollout, rolloutInput } from './fake-rollout.ts';
import type { FakeRollout } from './fake-rollout.ts';
import {
  ENGINE_STATE_FILE,
  localSfnClient,
  readEngineStateFile,
  resolveLocalEndpoint,
  startSfnEndpoint,
  writeEngineStateFile,
} from './sfn-endpoint.ts';
import type { SfnEndpoint } from './sfn-endpoint.ts';

const run = promisify(execFile);

let rollout: FakeRollout;
let engine: LocalEngine;
let endpoint: SfnEndpoint;
let sfn: SFNClient;
const stopped: StoppedExecution[] = [];

beforeAll(async () => {
  // One bake of 60 s: every execution here waits in Bake until the test settles its token.
  rollout = fakeRollout({ weights: [10], bakeSeconds: 60 });
  engine = await LocalEngine.create({
    handlers: rollout.handlers,
    onExecutionStopped: async (execution) => {
      stopped.push(execution);
    },
  });
  endpoint = await startSfnEndpoint(engine);
  sfn = localSfnClient(endpoint.url);
});

afterAll(async () => {
  sfn.destroy();
  await endpoint.close();
  await engine.close();
});

async function start(name: string, version = 'v2'): Promise<string> {
  const started = await sfn.send(
    new StartExecutionCommand({ stateMachineArn: engine.stateMachineArn, name, input: JSON.stringify(rolloutInput(version)) }),
  );
  expect(started.startDate).toBeInstanceOf(Date);
  return started.executionArn ?? '';
}

describe('the Step Functions endpoint, driven by @aws-sdk/client-sfn', () => {
  it('starts, lists, finishes a bake with SendTaskSuccess, describes and returns the history', async () => {
    // Prepare
    const executionArn = await start('sdk-happy');
    const token = await rollout.nextToken();
    await sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }));
    const listed = await sfn.send(new ListExecutionsCommand({ stateMachineArn: engine.stateMachineArn, statusFilter: 'RUNNING' }));

    // Act
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ command: 'promote' }) }));
    await engine.waitForExecution(executionArn);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    const newestFirst = await sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 1 }));

    // Assess
    expect(listed.executions?.map((execution) => execution.name)).toContain('sdk-happy');
    expect(described).toMatchObject({ name: 'sdk-happy', status: 'SUCCEEDED', stateMachineArn: engine.stateMachineArn });
    expect(described.startDate).toBeInstanceOf(Date);
    expect(described.stopDate?.getTime()).toBeGreaterThanOrEqual(described.startDate?.getTime() ?? Infinity);
    expect(JSON.parse(described.output ?? '{}')).toMatchObject({ version: 'v2', wake: { command: 'promote' } });
    const events = history.events ?? [];
    expect(events[0]).toMatchObject({ id: 1, previousEventId: 0, type: 'ExecutionStarted' });
    expect(events[0]?.timestamp).toBeInstanceOf(Date);
    expect(events.find((event) => event.type === 'TaskSucceeded')?.taskSucceededEventDetails).toMatchObject({
      resource: 'invoke.waitForTaskToken',
      output: '{"command":"promote"}',
    });
    expect(events.filter((event) => event.type === 'TaskStateEntered').map((event) => event.stateEnteredEventDetails?.name)).toEqual([
      'Prepare',
      'SetWeight',
      'Bake',
      'Analyze',
      'CheckCanary',
      'Promote',
      'Switch',
      'Finish',
    ]);
    expect(newestFirst.events?.map((event) => event.type)).toEqual(['ExecutionSucceeded']);
    expect(newestFirst.nextToken).toBeTruthy();
  });

  it('fails a bake with SendTaskFailure, which takes the rollback path', async () => {
    const executionArn = await start('sdk-abort');
    const token = await rollout.nextToken();

    await sfn.send(new SendTaskFailureCommand({ taskToken: token, error: 'Sluice.Aborted', cause: 'abort from chat-ops' }));
    await engine.waitForExecution(executionArn);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));

    expect(described).toMatchObject({ status: 'FAILED', error: 'Sluice.Aborted', cause: 'aborted: abort from chat-ops' });
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }))).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('stops an execution: ABORTED, no rollback, the safety net called', async () => {
    const executionArn = await start('sdk-stop');
    await rollout.nextToken();
    const rollbacksBefore = rollout.rollbacks.length;

    const result = await sfn.send(new StopExecutionCommand({ executionArn, error: 'Sluice.Aborted', cause: 'stopped by the CLI' }));
    await engine.waitForExecution(executionArn);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));

    expect(result.stopDate).toBeInstanceOf(Date);
    expect(described).toMatchObject({ status: 'ABORTED', error: 'Sluice.Aborted', cause: 'stopped by the CLI' });
    expect(rollout.rollbacks).toHaveLength(rollbacksBefore);
    expect(stopped.map((execution) => execution.name)).toContain('sdk-stop');
  });

  it('raises the SDK exception classes for the API errors', async () => {
    const executionArn = await start('sdk-errors');
    await rollout.nextToken();
    const foreign = fakeRollout({ weights: [10], bakeSeconds: 60 });
    const foreignEngine = await LocalEngine.create({ handlers: foreign.handlers });
    const foreignArn = foreignEngine.startExecution({ name: 'foreign', input: rolloutInput() }).executionArn;
    const foreignToken = await foreign.nextToken();

    await expect(start('sdk-errors', 'v3')).rejects.toBeInstanceOf(ExecutionAlreadyExists);
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: foreignToken, output: '{}' }))).rejects.toBeInstanceOf(TaskDoesNotExist);
    await expect(sfn.send(new SendTaskFailureCommand({ taskToken: 'garbage', error: 'x' }))).rejects.toBeInstanceOf(InvalidToken);
    await expect(sfn.send(new DescribeExecutionCommand({ executionArn: engine.executionArn('nope') }))).rejects.toBeInstanceOf(
      ExecutionDoesNotExist,
    );
    await expect(sfn.send(new DescribeExecutionCommand({ executionArn: 'nope' }))).rejects.toBeInstanceOf(InvalidArn);
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:other', input: '{}' })),
    ).rejects.toBeInstanceOf(StateMachineDoesNotExist);
    const error = await sfn.send(new SendTaskSuccessCommand({ taskToken: 'garbage', output: '{}' })).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ name: 'InvalidToken', $metadata: { httpStatusCode: 400 } });

    await sfn.send(new StopExecutionCommand({ executionArn }));
    foreignEngine.stopExecution(foreignArn);
    await Promise.all([engine.waitForExecution(executionArn), foreignEngine.waitForExecution(foreignArn)]);
  });
});

describe('finding the local engine from another process', () => {
  it('stops a running execution from a separate Node process that reads the state file', async () => {
    // Prepare: the state file as the engine's process writes it, in a scratch working directory
    const cwd = await mkdtemp(join(tmpdir(), 'sluice-engine-'));
    try {
      await writeEngineStateFile(join(cwd, ENGINE_STATE_FILE), {
        url: endpoint.url,
        pid: process.pid,
        stateMachineArn: engine.stateMachineArn,
      });
      const executionArn = await start('other-process');
      await rollout.nextToken();
      const script = [
        `import { StopExecutionCommand } from '@aws-sdk/client-sfn';`,
        `import { localSfnClient, resolveLocalEndpoint } from ${JSON.stringify(resolve('local/engine/sfn-endpoint.ts'))};`,
        `const found = await resolveLocalEndpoint({ cwd: ${JSON.stringify(cwd)}, env: {} });`,
        `if (!found) throw new Error('no local engine found');`,
        `await localSfnClient(found.url).send(new StopExecutionCommand({ executionArn: ${JSON.stringify(executionArn)}, cause: 'sluice abort' }));`,
      ].join('\n');

      // Act: Node 24 from the devDependency, as the CLI runs
      await run(resolve('node_modules/.bin/node'), ['--input-type=module', '-e', script], { cwd: process.cwd(), timeout: 30_000 });
      const result = await engine.waitForExecution(executionArn);

      // Assess
      expect(result).toMatchObject({ status: 'ABORTED', cause: 'sluice abort' });
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  it('prefers SLUICE_ENDPOINT, and ignores a state file whose process is gone', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'sluice-engine-'));
    try {
      const path = join(cwd, ENGINE_STATE_FILE);
      const { stdout } = await run(resolve('node_modules/.bin/node'), ['-e', 'process.stdout.write(String(process.pid))']);
      await writeEngineStateFile(path, { url: 'http://127.0.0.1:1', pid: Number(stdout) });

      const fromEnv = await resolveLocalEndpoint({ cwd, env: { SLUICE_ENDPOINT: 'http://127.0.0.1:9' } });
      const fromDeadFile = await resolveLocalEndpoint({ cwd, env: {} });

      expect(fromEnv).toEqual({ url: 'http://127.0.0.1:9', source: 'SLUICE_ENDPOINT' });
      expect(fromDeadFile).toBeUndefined();
      expect(await readEngineStateFile(path)).toMatchObject({ url: 'http://127.0.0.1:1', pid: Number(stdout) });
      expect(await readEngineStateFile(join(cwd, 'missing.json'))).toBeUndefined();
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });
});
