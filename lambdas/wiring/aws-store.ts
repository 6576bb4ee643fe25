/** The store and the event bus in AWS, from the Lambda's environment (set by the CDK construct). */
import { once } from '../core/once.ts';
import type { StoreDeps } from '../app/deps.ts';
import { EventBridgePublisher } from '../adapters/events/publisher.ts';
import { openDynamoStore } from '../adapters/store/dynamodb.ts';

/** A variable the CDK construct sets on the function; its absence means the Lambda was deployed some other way. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set: the Lambda was not deployed by the Sluice construct`);
  return value;
}

export const awsStoreDeps = once(async (): Promise<StoreDeps> => {
  const store = openDynamoStore({ tableName: requiredEnv('SLUICE_TABLE_NAME') });
  const events = new EventBridgePublisher({ busName: requiredEnv('SLUICE_EVENT_BUS_NAME'), store });
  // Set on Prepare and the reconciler: the reconciler's schedule runs only while a rollout is open.
  const rule = process.env['SLUICE_RECONCILER_RULE'];
  if (!rule) return { store, events, now: () => new Date() };
  const { EventBridgeClient } = await import('@aws-sdk/client-eventbridge');
  const { EventBridgeReconcileSchedule } = await import('../adapters/control/reconcile-aws.ts');
  return { store, events, now: () => new Date(), reconcileSchedule: new EventBridgeReconcileSchedule(new EventBridgeClient({}), rule) };
});
