/**
 * The start path's AWS wiring, for the start Lambda (deploy events, ECR, schedules) and the GitOps
 * webhook Lambda, from the environment the CDK construct sets. Built once per warm Lambda.
 */
import { SFNClient } from '@aws-sdk/client-sfn';
import type { GitopsDeps } from '../app/deps.ts';
import { ssmRegistry } from '../adapters/control/start-path.ts';
import type { StartPathDeps } from '../adapters/control/start-path.ts';
import { EventBridgeRolloutScheduler } from '../adapters/events/scheduler.ts';
import { secretsManagerSecrets } from '../adapters/secrets/gitops.ts';
import { awsStoreDeps, requiredEnv } from './aws-store.ts';

let built: Promise<StartPathDeps> | undefined;

/** SLUICE_FLEET_STATE_MACHINE_ARN: set only when the registry holds a fleet target (the fleet state machine exists then). */
function fleetMachine(env: Record<string, string | undefined> = process.env): { fleetStateMachineArn?: string } {
  const arn = env['SLUICE_FLEET_STATE_MACHINE_ARN'];
  return arn ? { fleetStateMachineArn: arn } : {};
}

/** Deps in AWS, from the environment the CDK construct sets; the function's own ARN is where queued schedules point. */
export function awsStartDeps(functionArn: string): Promise<StartPathDeps> {
  built ??= (async () => {
    const { store } = await awsStoreDeps();
    return {
      store,
      sfn: new SFNClient({}),
      stateMachineArn: requiredEnv('SLUICE_STATE_MACHINE_ARN'),
      ...fleetMachine(),
      registry: ssmRegistry({
        prefix: requiredEnv('SLUICE_REGISTRY_PREFIX'),
        ecrTargets: JSON.parse(process.env.SLUICE_ECR_TARGETS ?? '{}') as Record<string, string[]>,
      }),
      now: () => new Date(),
      scheduler: new EventBridgeRolloutScheduler({
        groupName: requiredEnv('SLUICE_SCHEDULE_GROUP'),
        roleArn: requiredEnv('SLUICE_SCHEDULER_ROLE_ARN'),
        deadLetterArn: requiredEnv('SLUICE_SCHEDULER_DLQ_ARN'),
        // Unqualified: a schedule outlives the version that created it.
        startFunctionArn: functionArn.split(':').slice(0, 7).join(':'),
      }),
    };
  })();
  return built;
}

let builtGitops: Promise<GitopsDeps> | undefined;

/** Deps in AWS; a start outside the change windows is queued through the start Lambda like any other. */
export function awsGitopsDeps(): Promise<GitopsDeps> {
  builtGitops ??= (async () => {
    const { store } = await awsStoreDeps();
    return {
      start: {
        store,
        sfn: new SFNClient({}),
        stateMachineArn: requiredEnv('SLUICE_STATE_MACHINE_ARN'),
        ...fleetMachine(),
        registry: ssmRegistry({ prefix: requiredEnv('SLUICE_REGISTRY_PREFIX'), ecrTargets: {} }),
        now: () => new Date(),
        scheduler: new EventBridgeRolloutScheduler({
          groupName: requiredEnv('SLUICE_SCHEDULE_GROUP'),
          roleArn: requiredEnv('SLUICE_SCHEDULER_ROLE_ARN'),
          deadLetterArn: requiredEnv('SLUICE_SCHEDULER_DLQ_ARN'),
          startFunctionArn: requiredEnv('SLUICE_START_FUNCTION_ARN'),
        }),
      },
      secrets: secretsManagerSecrets(requiredEnv('SLUICE_GITOPS_SECRET_ARN')),
    };
  })();
  return builtGitops;
}
