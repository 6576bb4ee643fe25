/** The reconciler Lambda's AWS wiring: the handlers' deps plus Step Functions liveness and the schedule's rule. */
import { SFNClient } from '@aws-sdk/client-sfn';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { once } from '../core/once.ts';
import type { ReconcileDeps } from '../app/reconcile.ts';
import { EventBridgeReconcileSchedule, SfnLiveness } from '../adapters/control/reconcile-aws.ts';
import { awsHandlerDeps } from './aws.ts';

/** Environment the stack sets on the reconciler function. */
export const RECONCILER_ENV = {
  stateMachineArn: 'SLUICE_STATE_MACHINE_ARN',
  ruleName: 'SLUICE_RECONCILER_RULE',
  /** Only with a fleet target: a fleet execution holds its target's lock, and the reconciler must see it runs. */
  fleetStateMachineArn: 'SLUICE_FLEET_STATE_MACHINE_ARN',
} as const;

export const awsReconcilerDeps = once(async (): Promise<ReconcileDeps> => {
  const stateMachineArn = process.env[RECONCILER_ENV.stateMachineArn];
  if (!stateMachineArn) throw new Error(`${RECONCILER_ENV.stateMachineArn} is not set: the reconciler cannot tell which executions run`);
  const ruleName = process.env[RECONCILER_ENV.ruleName];
  const fleetStateMachineArn = process.env[RECONCILER_ENV.fleetStateMachineArn];
  const deps = await awsHandlerDeps();
  return {
    ...deps,
    liveness: new SfnLiveness(new SFNClient({}), stateMachineArn, fleetStateMachineArn ? [fleetStateMachineArn] : []),
    ...(ruleName ? { schedule: deps.reconcileSchedule ?? new EventBridgeReconcileSchedule(new EventBridgeClient({}), ruleName) } : {}),
  };
});
