/**
 * The Slack bot's AWS wiring, from the environment the CDK construct sets:
 *   SLUICE_TABLE_NAME, SLUICE_EVENT_BUS_NAME     the store and the bus (awsStoreDeps)
 *   SLUICE_STATE_MACHINE_ARN                     where start/abort/promote act
 *   SLUICE_FLEET_STATE_MACHINE_ARN               where a fleet target starts (only when a fleet is deployed)
 *   SLUICE_REGISTRY_PARAMETER_PREFIX             target specs (SSM parameters <prefix>/<target>)
 *   SLACK_SECRET_ARN                             Secrets Manager JSON { signingSecret, botToken }
 *   SLACK_TEAM_ID, SLACK_API_APP_ID              the one workspace and app this deployment serves
 *   SLUICE_SLACK_WORKER_FUNCTION                 the worker (async invoke after the ack)
 *   SLUICE_SCHEDULE_GROUP, SLUICE_SCHEDULER_ROLE_ARN, SLUICE_SCHEDULER_DLQ_ARN, SLUICE_START_FUNCTION_ARN
 *                                                `/sluice schedule …` (optional: without them the bot says
 *                                                scheduling is not set up); SLUICE_SCHEDULE_TIME_ZONE its default zone
 * Secrets and specs are cached per warm Lambda by Powertools Parameters (secrets 5 minutes, specs 1 minute);
 * a failed read is not cached (Powertools caches only values it got).
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { getParameter } from '@aws-lambda-powertools/parameters/ssm';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { RolloutScheduler } from '../core/schedule.ts';
import { EventBridgeRolloutScheduler } from '../adapters/events/scheduler.ts';
import { parseSpec } from '../core/spec.ts';
import type { RolloutSpec } from '../core/spec.ts';
import type { SlackHandlerDeps } from '../adapters/slack/deps.ts';
import { awsStoreDeps } from './aws-store.ts';
import { SECRET_CACHE_SECONDS } from '../adapters/secrets/resolver.ts';
import { DynamoChatState } from '../adapters/slack/chat-state-dynamodb.ts';
import { slackClient } from '../adapters/slack/client.ts';
import { WebApiDirectory } from '../adapters/slack/directory.ts';

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set: the Lambda was not deployed by the Sluice construct`);
  return value;
}

export interface SlackSecrets {
  signingSecret: string;
  botToken: string;
}

/** The bot's secrets, read through Powertools' getSecret (cached SECRET_CACHE_SECONDS, 5 minutes, per warm Lambda). */
export async function slackSecrets(): Promise<SlackSecrets> {
  const arn = requiredEnv('SLACK_SECRET_ARN');
  const raw = await getSecret(arn, { maxAge: SECRET_CACHE_SECONDS });
  const text = raw === undefined || typeof raw === 'string' ? (raw ?? '{}') : Buffer.from(raw).toString('utf8');
  const parsed = JSON.parse(text) as Partial<SlackSecrets>;
  if (!parsed.signingSecret || !parsed.botToken) throw new Error(`secret ${arn} must be JSON with signingSecret and botToken`);
  return { signingSecret: parsed.signingSecret, botToken: parsed.botToken };
}

/** Seconds a target spec stays cached (Powertools' maxAge): a registry update reaches the bot within a minute. */
const SPEC_CACHE_SECONDS = 60;

/** Whether a Powertools read failed because SSM has no such parameter (GetParameterError wraps the SDK's ParameterNotFound). */
function isParameterNotFound(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  return (
    (cause as { name?: string } | undefined)?.name === 'ParameterNotFound' ||
    (error as { name?: string } | null)?.name === 'ParameterNotFound'
  );
}

/** Target specs from the deployed registry (what the stack validated at synth); null when there is no such target. */
export function ssmTargetLoader(prefix: string): (target: string) => Promise<RolloutSpec | null> {
  return async (target) => {
    const name = `${prefix}/${target}`;
    let value: string | undefined;
    try {
      value = await getParameter(name, { maxAge: SPEC_CACHE_SECONDS });
    } catch (error) {
      if (!isParameterNotFound(error)) throw error;
      return null;
    }
    return parseSpec(JSON.parse(value ?? '{}'), name);
  };
}

/** The one-off schedule seam when the construct handed the bot the schedule group (else undefined). */
export function slackScheduler(env: Record<string, string | undefined> = process.env): RolloutScheduler | undefined {
  const groupName = env['SLUICE_SCHEDULE_GROUP'];
  const roleArn = env['SLUICE_SCHEDULER_ROLE_ARN'];
  const deadLetterArn = env['SLUICE_SCHEDULER_DLQ_ARN'];
  const startFunctionArn = env['SLUICE_START_FUNCTION_ARN'];
  if (!groupName || !roleArn || !deadLetterArn || !startFunctionArn) return undefined;
  return new EventBridgeRolloutScheduler({ groupName, roleArn, deadLetterArn, startFunctionArn }, new SchedulerClient({}));
}

let chatState: DynamoChatState | undefined;
/** The chat state in the store's table (one per warm Lambda). */
export function dynamoChatState(): DynamoChatState {
  chatState ??= new DynamoChatState({
    tableName: requiredEnv('SLUICE_TABLE_NAME'),
    client: DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
  });
  return chatState;
}

let slackDeps: Promise<SlackHandlerDeps> | undefined;
export function awsSlackDeps(): Promise<SlackHandlerDeps> {
  slackDeps ??= (async () => {
    const { store, events, now } = await awsStoreDeps();
    const { signingSecret, botToken } = await slackSecrets();
    const teamId = requiredEnv('SLACK_TEAM_ID');
    const lambda = new LambdaClient({});
    const worker = requiredEnv('SLUICE_SLACK_WORKER_FUNCTION');
    const scheduler = slackScheduler();
    const timeZone = process.env.SLUICE_SCHEDULE_TIME_ZONE;
    return {
      signingSecret,
      ack: {
        store,
        events,
        now,
        sfn: new SFNClient({}),
        stateMachineArn: requiredEnv('SLUICE_STATE_MACHINE_ARN'),
        ...(process.env.SLUICE_FLEET_STATE_MACHINE_ARN ? { fleetStateMachineArn: process.env.SLUICE_FLEET_STATE_MACHINE_ARN } : {}),
        chat: dynamoChatState(),
        directory: new WebApiDirectory({ client: slackClient(botToken, { path: 'ack' }), teamId }),
        loadTarget: ssmTargetLoader(requiredEnv('SLUICE_REGISTRY_PARAMETER_PREFIX')),
        config: { teamId, apiAppId: requiredEnv('SLACK_API_APP_ID') },
        ...(scheduler ? { scheduler } : {}),
        ...(timeZone ? { timeZone } : {}),
      },
      // Event invocation: queued by Lambda, so the ack returns at once.
      awaitAfterAck: true,
      afterAck: async (followUps) => {
        await lambda.send(
          new InvokeCommand({
            FunctionName: worker,
            InvocationType: 'Event',
            Payload: new TextEncoder().encode(JSON.stringify({ followUps })),
          }),
        );
      },
    };
  })();
  slackDeps.catch(() => (slackDeps = undefined));
  return slackDeps;
}
