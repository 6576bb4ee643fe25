/** The reconciler Lambda: one pass on EventBridge's schedule (every minute while a rollout is open) or on `sluice recover --stack`. */
import { SFNClient } from '@aws-sdk/client-sfn';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { once } from '../app/deps.ts';
import { createReconcileHandler } from '../app/reconcile.ts';
import type { ReconcileDeps, ReconcileReport } from '../app/reconcile.ts';
import { RECONCILER_FINDING_MESSAGE } from '../core/recovery.ts';
import { logger } from '../adapters/logging/logger.ts';
import { awsHandlerDeps } from '../wiring/aws.ts';
import { EventBridgeReconcileSchedule, SfnLiveness } from '../adapters/control/reconcile-aws.ts';

/** Environment the stack sets on the reconciler function. */
export const RECONCILER_ENV = { stateMachineArn: 'SLUICE_STATE_MACHINE_ARN', ruleName: 'SLUICE_RECONCILER_RULE' } as const;

const reconcilerDeps = once(async (): Promise<ReconcileDeps> => {
  const stateMachineArn = process.env[RECONCILER_ENV.stateMachineArn];
  if (!stateMachineArn) throw new Error(`${RECONCILER_ENV.stateMachineArn} is not set: the reconciler cannot tell which executions run`);
  const ruleName = process.env[RECONCILER_ENV.ruleName];
  const deps = await awsHandlerDeps();
  return {
    ...deps,
    liveness: new SfnLiveness(new SFNClient({}), stateMachineArn),
    ...(ruleName ? { schedule: deps.reconcileSchedule ?? new EventBridgeReconcileSchedule(new EventBridgeClient({}), ruleName) } : {}),
  };
});

const pass = createReconcileHandler(reconcilerDeps);

/** The Lambda entry point: one pass; every finding is logged (the stack's metric filter and alarm count them). */
export const handler = async (event: unknown): Promise<ReconcileReport> => {
  const report = await pass(event);
  for (const finding of report.findings) {
    if (finding.found === 'running') continue;
    logger.warn(RECONCILER_FINDING_MESSAGE, { finding });
  }
  return report;
};
