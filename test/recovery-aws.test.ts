/**
 * The reconciler against a deployed stack, stubbed at the SDK boundary with aws-sdk-client-mock
 * asserting the exact requests: `sluice recover TARGET --stack S` reads the stack's outputs and
 * invokes the reconciler Lambda; the reconciler asks Step Functions whether each open rollout's
 * execution runs and turns its EventBridge rule off once nothing is open. And the Rollback
 * state's retry arithmetic, computed from the ASL file (never waited out).
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DisableRuleCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalEventPublisher } from '../lambdas/adapters/events/publisher.ts';
import { EventBridgeReconcileSchedule, SfnLiveness } from '../lambdas/adapters/control/reconcile-aws.ts';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import { RECOVERY_WINDOW_MAX_SECONDS, outageSurvivedSeconds, retryDelays } from '../lambdas/core/recovery.ts';
import type { AslRetrier } from '../lambdas/core/recovery.ts';
import { createReconcileHandler } from '../lambdas/app/reconcile.ts';
import { recoverCommand } from '../local/commands/recover.ts';
import { RecordingRouter, scriptedMetrics, successRate } from './support/recording-router.ts';
import { webSpec } from './support/flow.ts';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:sluice-rollout';
const RECONCILER = 'arn:aws:lambda:eu-west-1:123456789012:function:sluice-reconciler';

afterEach(() => {
  mockClient(CloudFormationClient).restore();
  mockClient(LambdaClient).restore();
});

describe('sluice recover --stack', () => {
  it("invokes the stack's reconciler for the target and prints what it found and did", async () => {
    // Prepare
    const cloudformation = mockClient(CloudFormationClient);
    cloudformation.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'sluice',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [{ OutputKey: 'ReconcilerFunctionArn', OutputValue: RECONCILER }],
        },
      ],
    });
    const lambda = mockClient(LambdaClient);
    const report = {
      findings: [
        {
          target: 'podinfo',
          execution: 'podinfo-v2',
          found: 'orphan',
          action: 'restored',
          outcome: 'rolled-back',
          detail: 'execution ended ABORTED; the reconciler moved traffic to the safe side',
        },
      ],
      open: 0,
    };
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: new TextEncoder().encode(JSON.stringify(report)) as never });
    const out: string[] = [];
    // Act
    const code = await recoverCommand(
      'podinfo',
      { stack: 'sluice', region: 'eu-west-1' },
      { stdout: (t) => out.push(t), stderr: (t) => out.push(t) },
    );
    // Assess
    expect(code).toBe(0);
    expect(cloudformation.commandCalls(DescribeStacksCommand).map((c) => c.args[0].input)).toEqual([{ StackName: 'sluice' }]);
    const invokes = lambda.commandCalls(InvokeCommand).map((c) => c.args[0].input);
    expect(invokes).toHaveLength(1);
    expect({ ...invokes[0], Payload: new TextDecoder().decode(invokes[0]?.Payload as Uint8Array) }).toEqual({
      FunctionName: RECONCILER,
      InvocationType: 'RequestResponse',
      Payload: JSON.stringify({ target: 'podinfo', manual: true }),
    });
    expect(out.join('')).toBe(
      'podinfo podinfo-v2: orphan, restored → rolled-back — execution ended ABORTED; the reconciler moved traffic to the safe side\n',
    );
  });

  it("exits 1 with the reconciler's error when the function fails", async () => {
    mockClient(CloudFormationClient)
      .on(DescribeStacksCommand)
      .resolves({
        Stacks: [
          {
            StackName: 'sluice',
            CreationTime: new Date(),
            StackStatus: 'CREATE_COMPLETE',
            Outputs: [{ OutputKey: 'ReconcilerFunctionArn', OutputValue: RECONCILER }],
          },
        ],
      });
    mockClient(LambdaClient)
      .on(InvokeCommand)
      .resolves({ StatusCode: 200, FunctionError: 'Unhandled', Payload: new TextEncoder().encode('{"errorMessage":"boom"}') as never });
    const err: string[] = [];
    const code = await recoverCommand(undefined, { stack: 'sluice' }, { stdout: () => {}, stderr: (t) => err.push(t) });
    expect(code).toBe(1);
    expect(err.join('')).toContain('the reconciler failed (Unhandled): {"errorMessage":"boom"}');
  });

  it('refuses without --local or --stack (exit 2)', async () => {
    const err: string[] = [];
    expect(await recoverCommand('podinfo', {}, { stdout: () => {}, stderr: (t) => err.push(t) })).toBe(2);
    expect(err.join('')).toContain('pass --local');
  });
});

describe('the reconciler Lambda', () => {
  it('asks Step Functions about each open rollout, restores the dead one, and disables its rule once nothing is open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-reconciler-'));
    const store = openSqliteStore(join(dir, 'sluice.db'));
    const sfnMock = mockClient(SFNClient);
    const eventsMock = mockClient(EventBridgeClient);
    try {
      const spec = webSpec();
      const router = new RecordingRouter();
      router.weights = { primary: 90, canary: 10 };
      await store.createRollout({
        execution: 'web-v2',
        target: 'web',
        version: 'v2',
        requestedBy: 'a',
        startedAt: new Date().toISOString(),
        safeSide: 'primary',
        lastWeights: { primary: 90, canary: 10 },
        status: 'running',
        spec,
      });
      await store.acquireLock('web', 'web-v2', new Date(Date.now() + 3600_000));
      sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
      eventsMock.on(DisableRuleCommand).resolves({});
      const handler = createReconcileHandler(async () => ({
        store,
        events: new LocalEventPublisher(store, () => {}),
        now: () => new Date(),
        routerFor: async () => router,
        workloadFor: async () => null,
        ...scriptedMetrics(() => [successRate(99.9)]),
        liveness: new SfnLiveness(new SFNClient({ region: 'eu-west-1' }), STATE_MACHINE),
        schedule: new EventBridgeReconcileSchedule(new EventBridgeClient({ region: 'eu-west-1' }), 'sluice-reconciler'),
      }));

      const report = await handler({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} });

      expect(sfnMock.commandCalls(DescribeExecutionCommand).map((c) => c.args[0].input)).toEqual([
        { executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:sluice-rollout:web-v2' },
      ]);
      expect(report.findings).toMatchObject([{ execution: 'web-v2', action: 'restored', outcome: 'rolled-back' }]);
      expect(router.weights).toEqual({ primary: 100, canary: 0 });
      expect(eventsMock.commandCalls(DisableRuleCommand).map((c) => c.args[0].input)).toEqual([{ Name: 'sluice-reconciler' }]);
    } finally {
      sfnMock.restore();
      eventsMock.restore();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the Rollback state's retry, computed from the ASL", () => {
  const asl = JSON.parse(readFileSync(new URL('../statemachine/rollout.asl.json', import.meta.url), 'utf8')) as {
    States: Record<
      string,
      { Retry?: AslRetrier[]; Catch?: Array<{ Next: string }>; Choices?: Array<{ StringEquals?: string; Next: string }> }
    >;
  };
  const retrier = asl.States['Rollback']?.Retry?.find((r) => r.ErrorEquals.includes('Sluice.Transient'));

  it('retries transient failures (timeouts included) for longer than the longest recovery window, at most a minute apart', () => {
    expect(retrier).toBeDefined();
    if (!retrier) return;
    expect(retrier.ErrorEquals).toEqual(expect.arrayContaining(['Sluice.Transient', 'States.Timeout']));
    expect(Math.max(...retryDelays(retrier))).toBeLessThanOrEqual(60);
    // Each failing attempt counted as instant: the guaranteed figure, with no jitter to shrink it.
    expect(outageSurvivedSeconds(retrier)).toBeGreaterThanOrEqual(RECOVERY_WINDOW_MAX_SECONDS);
  });

  it('branches on every outcome Rollback reads back', () => {
    const choices = Object.fromEntries((asl.States['RollbackOutcome']?.Choices ?? []).map((c) => [c.StringEquals, c.Next]));
    expect(choices).toEqual({
      aborted: 'Aborted',
      'promotion-failed': 'PromotionFailed',
      refused: 'NothingMoved',
      failed: 'RollbackIncomplete',
      promoted: 'Promoted',
    });
  });
});
