/**
 * Where the CLI's control commands (`start`, `status`, `abort`) act: the local engine (its
 * endpoint from SLUICE_ENDPOINT or `.sluice/engine.json`, its sqlite store) or a deployed stack
 * (state machine and table from the stack's outputs or flags). Both are driven through
 * @aws-sdk/client-sfn and the RolloutStore interface: one code path for both engines.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { EventPublisher, RolloutStore } from '../lambdas/core/ports.ts';
import type { RolloutScheduler } from '../lambdas/core/schedule.ts';
import { LocalEventPublisher } from '../lambdas/adapters/events/publisher.ts';
import { LocalScheduleBook, schedulesPath } from './scheduler.ts';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import { localSfnClient, readEngineStateFile } from './engine/sfn-endpoint.ts';
import { engineStatePath, stateDir, storePath } from './runtime.ts';
import { SpecFileError, validateSpecFile } from './spec-file.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';

/** The stack's output keys (a contract with infra/sluice-stack.ts, kept here so the CLI never loads CDK). */
export const STACK_OUTPUTS = {
  stateMachineArn: 'StateMachineArn',
  tableName: 'TableName',
  eventBusName: 'EventBusName',
  registryParameterPrefix: 'RegistryParameterPrefix',
  scheduleGroupName: 'ScheduleGroupName',
  startFunctionArn: 'StartFunctionArn',
  schedulerRoleArn: 'SchedulerRoleArn',
  schedulerDeadLetterArn: 'SchedulerDeadLetterArn',
} as const;

export interface ControlOptions {
  local?: boolean;
  stack?: string;
  stateMachineArn?: string;
  table?: string;
  region?: string;
}

export interface ControlPlane {
  kind: 'local' | 'aws';
  sfn: SFNClient;
  stateMachineArn: string;
  store: RolloutStore;
  /** Announces what a person did (Approval Given, …): the local store's log, or the deployed bus. */
  events?: EventPublisher;
  /** One-off scheduled rollouts: the local schedule book, or EventBridge Scheduler (when the stack's outputs name it). */
  scheduler?: RolloutScheduler;
  /** Reads a target's spec: from the registry of the deployed stack, or from `rollouts/<target>.yaml`. */
  loadTarget(target: string, specPath?: string): Promise<RolloutSpec>;
  close(): Promise<void>;
}

export class ControlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlError';
  }
}

/** Reads a spec file, turning every problem into one ControlError (exit 2). */
export async function loadSpecFile(path: string): Promise<RolloutSpec> {
  try {
    const result = await validateSpecFile(path);
    if (!result.ok) throw new ControlError(`${path} is invalid:\n${result.problems.map((p) => `${p.path}: ${p.message}`).join('\n')}`);
    return result.spec;
  } catch (error) {
    if (error instanceof SpecFileError) throw new ControlError(error.message);
    throw error;
  }
}

export function localTargetLoader(registryDir: string) {
  return async (target: string, specPath?: string) => {
    const path = specPath ?? join(registryDir, `${target}.yaml`);
    if (!existsSync(path)) throw new ControlError(`no spec for target ${target}: ${path} does not exist (pass --spec FILE)`);
    const spec = await loadSpecFile(path);
    if (spec.metadata.name !== target) throw new ControlError(`${path} describes target ${spec.metadata.name}, not ${target}`);
    return spec;
  };
}

async function connectLocal(registryDir: string): Promise<ControlPlane> {
  const dir = stateDir();
  const state = await readEngineStateFile(engineStatePath(dir));
  const url = process.env.SLUICE_ENDPOINT?.trim() || state?.url;
  if (!url)
    throw new ControlError(
      `no local engine is running (no ${engineStatePath(dir)} and no SLUICE_ENDPOINT): start one with \`sluice serve\``,
    );
  if (!existsSync(storePath(dir))) throw new ControlError(`no local store in ${dir} (set SLUICE_STATE_DIR to the engine's folder)`);
  const stateMachineArn = state?.stateMachineArn;
  if (!stateMachineArn) throw new ControlError(`the local engine's state file ${engineStatePath(dir)} names no state machine`);
  const store = openSqliteStore(storePath(dir));
  const sfn = localSfnClient(url);
  const scheduler = new LocalScheduleBook(schedulesPath(dir));
  return {
    kind: 'local',
    sfn,
    stateMachineArn,
    store,
    events: new LocalEventPublisher(store, () => {}),
    scheduler,
    loadTarget: localTargetLoader(registryDir),
    close: async () => {
      sfn.destroy();
      scheduler.close();
      await store.close();
    },
  };
}

async function connectAws(options: ControlOptions, registryDir: string): Promise<ControlPlane> {
  let stateMachineArn = options.stateMachineArn ?? process.env.SLUICE_STATE_MACHINE_ARN;
  let table = options.table ?? process.env.SLUICE_TABLE_NAME;
  let registryPrefix: string | undefined;
  let outputs = new Map<string | undefined, string | undefined>();
  const region = options.region ? { region: options.region } : {};
  if (options.stack) {
    const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
    const cloudformation = new CloudFormationClient(region);
    try {
      const described = await cloudformation.send(new DescribeStacksCommand({ StackName: options.stack }));
      outputs = new Map((described.Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
      stateMachineArn ??= outputs.get(STACK_OUTPUTS.stateMachineArn);
      table ??= outputs.get(STACK_OUTPUTS.tableName);
      registryPrefix = outputs.get(STACK_OUTPUTS.registryParameterPrefix);
    } finally {
      cloudformation.destroy();
    }
  }
  if (!stateMachineArn || !table) {
    throw new ControlError(
      'no deployed Sluice named: pass --stack NAME (its outputs name the state machine and table), or --state-machine-arn and --table, or --local',
    );
  }
  const { openDynamoStore } = await import('../lambdas/adapters/store/dynamodb.ts');
  const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
  const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
  const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient(region), { marshallOptions: { removeUndefinedValues: true } });
  const store = openDynamoStore({ tableName: table, client: dynamo });
  const sfn = new SFNClient(region);
  const fromFiles = localTargetLoader(registryDir);
  const busName = outputs.get(STACK_OUTPUTS.eventBusName);
  const { EventBridgePublisher } = await import('../lambdas/adapters/events/publisher.ts');
  const group = outputs.get(STACK_OUTPUTS.scheduleGroupName);
  const startFunctionArn = outputs.get(STACK_OUTPUTS.startFunctionArn);
  const roleArn = outputs.get(STACK_OUTPUTS.schedulerRoleArn);
  const deadLetterArn = outputs.get(STACK_OUTPUTS.schedulerDeadLetterArn);
  let scheduler: RolloutScheduler | undefined;
  if (group && startFunctionArn && roleArn && deadLetterArn) {
    const { EventBridgeRolloutScheduler } = await import('../lambdas/adapters/events/scheduler.ts');
    const { SchedulerClient } = await import('@aws-sdk/client-scheduler');
    scheduler = new EventBridgeRolloutScheduler(
      { groupName: group, startFunctionArn, roleArn, deadLetterArn },
      new SchedulerClient(region),
    );
  }
  return {
    kind: 'aws',
    sfn,
    stateMachineArn,
    store,
    ...(busName ? { events: new EventBridgePublisher({ busName, store }) } : {}),
    ...(scheduler ? { scheduler } : {}),
    // The deployed registry is what the stack validated at synth; a local file is a fallback.
    loadTarget: async (target, specPath) => {
      if (specPath || !registryPrefix) return fromFiles(target, specPath);
      const { SSMClient, GetParameterCommand } = await import('@aws-sdk/client-ssm');
      const ssm = new SSMClient(region);
      try {
        const parameter = await ssm.send(new GetParameterCommand({ Name: `${registryPrefix}/${target}` }));
        const { parseSpec } = await import('../lambdas/core/spec.ts');
        return parseSpec(JSON.parse(parameter.Parameter?.Value ?? '{}'), `${registryPrefix}/${target}`);
      } catch (error) {
        if ((error as { name?: string }).name === 'ParameterNotFound')
          throw new ControlError(`target ${target} is not in the deployed registry (${registryPrefix})`);
        throw error;
      } finally {
        ssm.destroy();
      }
    },
    close: async () => {
      sfn.destroy();
      dynamo.destroy();
    },
  };
}

export async function connect(options: ControlOptions, registryDir = 'rollouts'): Promise<ControlPlane> {
  return options.local ? connectLocal(registryDir) : connectAws(options, registryDir);
}
