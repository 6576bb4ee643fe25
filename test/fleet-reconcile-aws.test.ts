/**
 * The reconciler over a fleet, stubbed at the SDK boundary (aws-sdk-client-mock asserting the exact
 * requests): a fleet execution holds its target's lock, so the reconciler must ask the fleet state
 * machine before calling that lock orphaned; and `sluice recover TARGET` covers each cluster's
 * rollout (`target@cluster`), restoring an orphaned one on its own cluster with its own spec.
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
import { parseSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import { RecordingRouter, scriptedMetrics, successRate } from './support/recording-router.ts';
import { webSpec } from './support/flow.ts';

const ROLLOUT_SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:sluice-rollout';
const FLEET_SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:sluice-fleet';

/** web over two clusters, eu-1 then us-1. */
function fleetSpec(): RolloutSpec {
  const base = webSpec();
  return parseSpec({
    ...base,
    spec: {
      ...base.spec,
      fleet: {
        clusters: [
          { name: 'eu-1', kubeconfigContext: 'eu-1' },
          { name: 'us-1', kubeconfigContext: 'us-1' },
        ],
        waves: [{ clusters: ['eu-1'] }, { clusters: ['us-1'] }],
      },
    },
  });
}

let dir: string;
let store: SqliteRolloutStore;
const sfn = mockClient(SFNClient);
/** One router per cluster: a restore must move only its own cluster's weights. */
let routers: Record<string, RecordingRouter>;

function deps(loadTarget?: ReconcileDeps['loadTarget']): ReconcileDeps {
  return {
    store,
    events: new LocalEventPublisher(store, () => {}),
    now: () => new Date(),
    routerFor: async (spec) => {
      const cluster = 'kubeconfigContext' in spec.spec.cluster ? spec.spec.cluster.kubeconfigContext : 'none';
      const router = routers[cluster];
      if (!router) throw new Error(`no router for cluster ${cluster}`);
      return router;
    },
    workloadFor: async () => null,
    ...scriptedMetrics(() => [successRate(99.9)]),
    liveness: new SfnLiveness(new SFNClient({ region: 'eu-west-1' }), ROLLOUT_SM, [FLEET_SM]),
    ...(loadTarget ? { loadTarget } : {}),
  };
}

afterAll(() => sfn.restore());

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-fleet-reconcile-'));
  store = openSqliteStore(join(dir, 'sluice.db'));
  sfn.reset();
  routers = { 'eu-1': new RecordingRouter(), 'us-1': new RecordingRouter() };
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the reconciler over a fleet', () => {
  it("leaves a running fleet's target lock alone: it asks the rollout state machine, then the fleet's", async () => {
    // Prepare: the fleet execution holds web's lock (it has no rollout record of its own).
    await store.acquireLock('web', 'web-v2', new Date(Date.now() + 3600_000));
    sfn
      .on(DescribeExecutionCommand, { executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:sluice-rollout:web-v2' })
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }))
      .on(DescribeExecutionCommand, { executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:sluice-fleet:web-v2' })
      .resolves({ status: 'RUNNING', executionArn: 'x', stateMachineArn: FLEET_SM, startDate: new Date() });

    // Act: a person's `sluice recover web` (no grace for fresh locks).
    const report = await reconcile(deps(), { target: 'web', manual: true });

    // Assess
    expect(sfn.commandCalls(DescribeExecutionCommand).map((c) => c.args[0].input.executionArn)).toEqual([
      'arn:aws:states:eu-west-1:123456789012:execution:sluice-rollout:web-v2',
      'arn:aws:states:eu-west-1:123456789012:execution:sluice-fleet:web-v2',
    ]);
    expect(report.findings).toMatchObject([{ target: 'web', execution: 'web-v2', found: 'running', action: 'none' }]);
    expect((await store.getLock('web'))?.owner).toBe('web-v2');
  });

  it('releases the lock of a fleet execution that ended, once both state machines were asked', async () => {
    await store.acquireLock('web', 'web-v2', new Date(Date.now() + 3600_000));
    sfn
      .on(DescribeExecutionCommand)
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }))
      .on(DescribeExecutionCommand, { executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:sluice-fleet:web-v2' })
      .resolves({ status: 'FAILED', executionArn: 'x', stateMachineArn: FLEET_SM, startDate: new Date() });

    const report = await reconcile(deps(), { target: 'web', manual: true });

    expect(report.findings).toMatchObject([{ target: 'web', found: 'stale-lock', action: 'lock-released' }]);
    expect(await store.getLock('web')).toBeNull();
  });

  it("`recover web` restores each cluster's orphaned rollout on its own cluster, with the member spec the registry's fleet resolves", async () => {
    // Prepare: web@us-1 was at 50% when its execution was stopped; no spec recorded, none in the input.
    routers['us-1']!.weights = { primary: 50, canary: 50 };
    routers['eu-1']!.weights = { primary: 100, canary: 0 };
    await store.createRollout({
      execution: 'web-us-1-v2',
      target: 'web@us-1',
      version: 'v2',
      requestedBy: 'a',
      startedAt: new Date().toISOString(),
      safeSide: 'primary',
      lastWeights: { primary: 50, canary: 50 },
      status: 'running',
    });
    await store.acquireLock('web@us-1', 'web-us-1-v2', new Date(Date.now() + 3600_000));
    sfn.on(DescribeExecutionCommand).resolves({ status: 'ABORTED', executionArn: 'x', stateMachineArn: ROLLOUT_SM, startDate: new Date() });
    const asked: string[] = [];

    // Act
    const report = await reconcile(
      deps(async (target) => {
        asked.push(target);
        return fleetSpec();
      }),
      { target: 'web', manual: true },
    );

    // Assess: us-1 back on its primary, eu-1 untouched, the member's lock freed.
    expect(asked).toEqual(['web']);
    expect(report.findings).toMatchObject([{ target: 'web@us-1', execution: 'web-us-1-v2', action: 'restored', outcome: 'aborted' }]);
    expect(routers['us-1']!.weights).toEqual({ primary: 100, canary: 0 });
    expect(routers['eu-1']!.writes).toEqual([]);
    expect(await store.getLock('web@us-1')).toBeNull();
  });
});
