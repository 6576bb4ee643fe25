/** The alarm Lambda's AWS wiring: the store and the bus, and Step Functions to fail a pending bake token. */
import { SFNClient } from '@aws-sdk/client-sfn';
import { once } from '../core/once.ts';
import type { StoreDeps } from '../app/deps.ts';
import { awsStoreDeps } from './aws-store.ts';

export const awsAlarmDeps = once(
  async (): Promise<StoreDeps & { sfn: Pick<SFNClient, 'send'> }> => ({ ...(await awsStoreDeps()), sfn: new SFNClient({}) }),
);
