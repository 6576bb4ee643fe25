/**
 * A fleet execution's name can never pass for a single rollout's, and the AWS reconciler never frees
 * the lock of a running fleet because an execution of the same name ended in the rollout state
 * machine. Step Functions stubbed at the SDK boundary (aws-sdk-client-mock asserting the exact requests).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalEventPublisher } from '../lambdas/adapters/events/publisher.ts';
import { SfnLiveness } from '../lambdas/adapters/control/reconcile-aws.ts';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import type { SqliteRolloutStore } from '../lambdas/adapters/store/sqlite.ts';
import { reconcile } from '../lambdas/app/reconcile.ts';
import type { ReconcileDeps } from '../lambdas/app/reconcile.ts';
import { fleetExecutionName } from '../lambdas/core/fleet.ts';
import { executionName } from '../lambdas/core/names.ts';
import { RecordingRouter, scriptedMetrics, successRate } from './support/recording-router.ts';

const ROLLOUT_SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:sluice-rollout';
const FLEET_SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:sluice-fleet';
const arn = (machine: string, name: string) => `${machine.replace(':stateMachine:', ':execution:')}:${name}`;

let dir: string;
let store: SqliteRolloutStore;
const sfn = mockClient(SFNClient);

function deps(): ReconcileDeps {
  return {
    store,
    events: new LocalEventPublisher(store, () => {}),
    now: () => new Date(),
    routerFor: async () => new RecordingRouter(),
    workloadFor: async () => null,
    ...scriptedMetrics(() => [successRate(99.9)]),
    liveness: new SfnLiveness(new SFNClient({ region: 'eu-west-1' }), ROLLOUT_SM, [FLEET_SM]),
  };
}

afterAll(() => sfn.restore());
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-fleet-names-'));
  store = openSqliteStore(join(dir, 'sluice.db'));
  sfn.reset();
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('fleet execution names', () => {
  it('are target-version-fleet (-aN for a later attempt), never a single rollout’s target-version, within 80 characters', () => {
    expect(fleetExecutionName('web', 'v2', 1)).toBe('web-v2-fleet');
    expect(fleetExecutionName('web', 'v2', 3)).toBe('web-v2-fleet-a3');
    expect(fleetExecutionName('web', 'v2', 1)).not.toBe(executionName('web', 'v2', 1));
    const long = 'x'.repeat(100);
    const [a, b] = [fleetExecutionName('web', `${long}1`, 2), fleetExecutionName('web', `${long}2`, 2)];
    expect(a).toHaveLength(80);
    expect(a).toMatch(/-fleet-a2$/);
    expect(a).not.toBe(b);
  });
});

describe('the AWS reconciler and a running fleet', () => {
  it('keeps the lock of a running fleet even when the rollout state machine has an ended execution of that name', async () => {
    // Prepare: the fleet holds web's lock; an execution of the same name ended long ago in the rollout state machine.
    const owner = fleetExecutionName('web', 'v2', 1);
    await store.acquireLock('web', owner, new Date(Date.now() + 3600_000));
    sfn
      .on(DescribeExecutionCommand, { executionArn: arn(ROLLOUT_SM, owner) })
      .resolves({ status: 'SUCCEEDED', executionArn: arn(ROLLOUT_SM, owner), stateMachineArn: ROLLOUT_SM, startDate: new Date(0) })
      .on(DescribeExecutionCommand, { executionArn: arn(FLEET_SM, owner) })
      .resolves({ status: 'RUNNING', executionArn: arn(FLEET_SM, owner), stateMachineArn: FLEET_SM, startDate: new Date() });
    // Act: a person's `sluice recover web` (no grace for fresh locks).
    const report = await reconcile(deps(), { target: 'web', manual: true });
    // Assess: both machines asked, in order; the lock stays with the fleet.
    expect(sfn.commandCalls(DescribeExecutionCommand).map((c) => c.args[0].input)).toEqual([
      { executionArn: arn(ROLLOUT_SM, owner) },
      { executionArn: arn(FLEET_SM, owner) },
    ]);
    expect(report.findings).toMatchObject([{ target: 'web', execution: owner, found: 'running', action: 'none' }]);
    expect((await store.getLock('web'))?.owner).toBe(owner);
  });

  it('leaves the lock alone when one machine cannot be asked, and frees it once every machine says its execution ended', async () => {
    const owner = fleetExecutionName('web', 'v2', 1);
    await store.acquireLock('web', owner, new Date(Date.now() + 3600_000));
    sfn
      .on(DescribeExecutionCommand, { executionArn: arn(ROLLOUT_SM, owner) })
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }))
      .on(DescribeExecutionCommand, { executionArn: arn(FLEET_SM, owner) })
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .resolves({ status: 'FAILED', executionArn: arn(FLEET_SM, owner), stateMachineArn: FLEET_SM, startDate: new Date() });

    const first = await reconcile(deps(), { target: 'web', manual: true });
    expect(first.findings).toMatchObject([{ target: 'web', found: 'unknown', action: 'none' }]);
    expect((await store.getLock('web'))?.owner).toBe(owner);

    const second = await reconcile(deps(), { target: 'web', manual: true });
    expect(second.findings).toMatchObject([{ target: 'web', found: 'stale-lock', action: 'lock-released' }]);
    expect(second.findings[0]?.detail).toContain('ended FAILED');
    expect(await store.getLock('web')).toBeNull();
  });
});
