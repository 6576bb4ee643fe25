/** The reconciler Lambda: one pass on EventBridge's schedule (every minute while a rollout is open) or on `sluice recover --stack`. */
import { createReconcileHandler } from '../app/reconcile.ts';
import type { ReconcileReport } from '../app/reconcile.ts';
import { RECONCILER_FINDING_MESSAGE } from '../core/recovery.ts';
import { logger } from '../adapters/logging/logger.ts';
import { awsReconcilerDeps } from '../wiring/aws-reconciler.ts';

const pass = createReconcileHandler(awsReconcilerDeps);

/** The Lambda entry point: one pass; every finding is logged (the stack's metric filter and alarm count them). */
export const handler = async (event: unknown): Promise<ReconcileReport> => {
  const report = await pass(event);
  for (const finding of report.findings) {
    if (finding.found === 'running') continue;
    logger.warn(RECONCILER_FINDING_MESSAGE, { finding });
  }
  return report;
};
