/**
 * Starting a fleet release on AWS through the one start path (deploy events, GitOps, schedules and
 * Slack all call it), stubbed at the SDK boundary with aws-sdk-client-mock asserting the exact
 * requests: a target with spec.fleet starts the fleet state machine (input: the fleet spec once,
 * the version, who asked, and the attempt that names the members' executions), under the target's
 * lock and the idempotency ledger like a single rollout, and queued outside its change windows.
 */
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { EnableRuleCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { EventBridgeReconcileSchedule } from '../lambdas/adapters/control/reconcile-aws.ts';
import { LocalEventPublisher } from '../lambdas/adapters/events/publisher.ts';
import { fleetPlan } from '../lambdas/handlers/fleet.ts';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { staticRegistry } from '../lambdas/adapters/control/start-path.ts';
import type { StartPathDeps } from '../lambdas/adapters/control/start-path.ts';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import { handleStartEvent } from '../lambdas/handlers/start.ts';
import type { RolloutScheduler, ScheduleRolloutRequest } from '../lambdas/core/schedule.ts';
import { parseSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import { webSpec } from './support/flow.ts';

const ROLLOUT_SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:sluice-rollout';
const FLEET_SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:sluice-fleet';
const FLEET_EXECUTIONS = 'arn:aws:states:eu-west-1:123456789012:execution:sluice-fleet';
const NOW = () => new Date('2026-03-02T10:00:00Z');

/** web over two EKS clusters in two regions, eu-1 then us-1. */
function fleetSpec(windows?: unknown): RolloutSpec {
  const base = webSpec();
  return parseSpec({
    ...base,
    spec: {
      ...base.spec,
      cluster: { name: 'prod-eu-1', region: 'eu-west-1' },
      strategy: { ...base.spec.strategy, ...(windows ? { windows } : {}) },
      fleet: {
        clusters: [
          { name: 'eu-1', eksCluster: 'prod-eu-1' },
          { name: 'us-1', eksCluster: 'prod-us-1', region: 'us-east-1' },
        ],
        waves: [{ clusters: ['eu-1'] }, { clusters: ['us-1'] }],
      },
    },
  });
}

function singleSpec(): RolloutSpec {
  const base = webSpec();
  return parseSpec({ ...base, metadata: { name: 'api' } });
}

const requested = (id: string, target = 'web', version = 'v2') => ({
  id,
  account: '123456789012',
  source: 'sluice',
  'detail-type': 'Rollout Requested',
  detail: { target, version, requestedBy: 'ci-job-42' },
});

const sfn = mockClient(SFNClient);
const eventBridge = mockClient(EventBridgeClient);
afterAll(() => {
  sfn.restore();
  eventBridge.restore();
});

/** Executions Step Functions knows (by ARN): DescribeExecution answers them, ExecutionDoesNotExist otherwise. */
let existing: Set<string>;

beforeEach(() => {
  sfn.reset();
  existing = new Set();
  sfn.on(DescribeExecutionCommand).callsFake((input: { executionArn: string }) => {
    if (existing.has(input.executionArn)) return { status: 'SUCCEEDED' };
    throw new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} });
  });
  sfn.on(StartExecutionCommand).callsFake((input: { stateMachineArn: string; name: string }) => {
    const arn = `${input.stateMachineArn.replace(':stateMachine:', ':execution:')}:${input.name}`;
    existing.add(arn);
    return { executionArn: arn, startDate: NOW() };
  });
});

function deps(specs: RolloutSpec[], extra: Partial<StartPathDeps> = {}): StartPathDeps {
  return {
    store: openSqliteStore(':memory:', { now: NOW }),
    sfn: new SFNClient({ region: 'eu-west-1' }),
    stateMachineArn: ROLLOUT_SM,
    fleetStateMachineArn: FLEET_SM,
    registry: staticRegistry(specs),
    now: NOW,
    ...extra,
  };
}

describe('starting a fleet release on AWS', () => {
  it('a Rollout Requested event for a fleet target starts the fleet state machine once, under the target lock', async () => {
    const spec = fleetSpec();
    const d = deps([spec]);

    const result = await handleStartEvent(requested('evt-1'), d);
    const again = await handleStartEvent(requested('evt-1'), d);

    expect(result.answers).toEqual([
      expect.objectContaining({ outcome: 'started', execution: 'web-v2-fleet', executionArn: `${FLEET_EXECUTIONS}:web-v2-fleet` }),
    ]);
    expect(again.answers).toEqual([expect.objectContaining({ outcome: 'duplicate', execution: 'web-v2-fleet' })]);
    const starts = sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input);
    expect(starts).toEqual([
      {
        stateMachineArn: FLEET_SM,
        name: 'web-v2-fleet',
        input: JSON.stringify({ spec, version: 'v2', requestedBy: 'ci-job-42 (claimed) via event:account 123456789012', attempt: 1 }),
      },
    ]);
    // The next free name was asked of the fleet machine, not the rollout machine (and again by the duplicate: it runs).
    expect(sfn.commandCalls(DescribeExecutionCommand).map((call) => call.args[0].input)).toEqual([
      { executionArn: `${FLEET_EXECUTIONS}:web-v2-fleet` },
      { executionArn: `${FLEET_EXECUTIONS}:web-v2-fleet` },
    ]);
    // The fleet's Plan takes the same lock for the same name (the store grants it to its owner).
    expect(await d.store.getLock('web')).toMatchObject({ owner: 'web-v2-fleet' });
  });

  it("a second release of a version already run is the fleet's attempt 2: its name and its input say so", async () => {
    existing.add(`${FLEET_EXECUTIONS}:web-v2-fleet`);
    const d = deps([fleetSpec()]);

    const result = await handleStartEvent(requested('evt-2'), d);

    expect(result.answers[0]).toMatchObject({ outcome: 'started', execution: 'web-v2-fleet-a2' });
    const [start] = sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input);
    expect(start?.name).toBe('web-v2-fleet-a2');
    expect(JSON.parse(start?.input ?? '{}')).toMatchObject({ version: 'v2', attempt: 2 });
  });

  it('while a fleet release holds the target, another trigger is refused naming it, and nothing starts', async () => {
    const d = deps([fleetSpec()]);
    await d.store.acquireLock('web', 'web-v1', new Date('2026-03-02T13:00:00Z'));

    const result = await handleStartEvent(requested('evt-3'), d);

    expect(result.answers[0]).toMatchObject({ outcome: 'refused', message: expect.stringContaining('refused: locked by web-v1') });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('outside its change windows a fleet release is queued through the scheduler, not started', async () => {
    const created: ScheduleRolloutRequest[] = [];
    const scheduler: RolloutScheduler = {
      create: async (r) => {
        created.push(r);
        const schedule = { name: 'web_v2_q', ...r, at: r.at.toISOString(), timeZone: 'UTC', state: 'scheduled' as const };
        return { schedule, created: true };
      },
      list: async () => [],
      cancel: async () => false,
    };
    const d = deps([fleetSpec([{ kind: 'deny', from: '2026-03-01T00:00:00Z', to: '2026-03-03T00:00:00Z' }])], { scheduler });

    const result = await handleStartEvent(requested('evt-4'), d);

    expect(result.answers[0]).toMatchObject({ outcome: 'queued', schedule: 'web_v2_q' });
    expect(created).toEqual([expect.objectContaining({ target: 'web', version: 'v2', at: new Date('2026-03-03T00:00:00Z') })]);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(await d.store.getLock('web')).toBeNull();
  });

  it('a deployment without the fleet state machine refuses a fleet target by name, taking no lock', async () => {
    const d = deps([fleetSpec()], { fleetStateMachineArn: undefined });

    const result = await handleStartEvent(requested('evt-5'), d);

    expect(result.answers[0]).toMatchObject({
      outcome: 'refused',
      reason: expect.stringContaining('web is a fleet (spec.fleet) but this deployment has no fleet state machine'),
    });
    expect(sfn.calls()).toHaveLength(0);
    expect(await d.store.getLock('web')).toBeNull();
  });

  it('a single-cluster target still starts the rollout state machine, with no attempt in its input', async () => {
    const spec = singleSpec();
    const d = deps([spec, fleetSpec()]);

    await handleStartEvent(requested('evt-6', 'api', 'v7'), d);

    expect(sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input)).toEqual([
      {
        stateMachineArn: ROLLOUT_SM,
        name: 'api-v7',
        input: JSON.stringify({ spec, version: 'v7', requestedBy: 'ci-job-42 (claimed) via event:account 123456789012' }),
      },
    ]);
  });
});

describe("the fleet's Plan on AWS", () => {
  const planDeps = () => {
    const store = openSqliteStore(':memory:', { now: NOW });
    return {
      store,
      events: new LocalEventPublisher(store, () => {}),
      now: NOW,
      reconcileSchedule: new EventBridgeReconcileSchedule(new EventBridgeClient({ region: 'eu-west-1' }), 'sluice-reconciler'),
    };
  };
  const input = { spec: fleetSpec(), version: 'v2', requestedBy: 'ci', attempt: 1, execution: 'web-v2-fleet' };

  beforeEach(() => eventBridge.reset());

  it("takes the target's lock and turns the reconciler's schedule on, as Prepare does for a single rollout", async () => {
    eventBridge.on(EnableRuleCommand).resolves({});
    const deps = planDeps();

    const planned = await fleetPlan(deps, input);

    expect(planned).toMatchObject({ wave: 0, next: 'wave', members: [{ cluster: 'eu-1', wave: 0 }] });
    expect(await deps.store.getLock('web')).toMatchObject({ owner: 'web-v2-fleet' });
    expect(eventBridge.commandCalls(EnableRuleCommand).map((call) => call.args[0].input)).toEqual([{ Name: 'sluice-reconciler' }]);
  });

  it('a schedule that cannot be turned on gives the lock back and is retried as transient (nothing held unwatched)', async () => {
    eventBridge.on(EnableRuleCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const deps = planDeps();

    await expect(fleetPlan(deps, input)).rejects.toMatchObject({ name: 'Sluice.Transient' });

    expect(await deps.store.getLock('web')).toBeNull();
  });
});
