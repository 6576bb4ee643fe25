/**
 * The Slack worker's Lambda entry : follow-ups
 * and the Notifiers fed by Sluice's events, and `sluice doctor --stack`'s `{ doctor: 'notify', spec }`
 * (doctor-notify.ts), which probes the notification endpoints from here — the function, role and
 * network that send them — posting nothing. An entry of its own so the bot's Function URL bundle
 * (the ack path) carries none of the probes.
 */
import { withNotifyDoctor } from '../app/doctor-notify.ts';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { EVENT_TYPES } from '../core/records.ts';
import type { EventType, SluiceEvent } from '../core/records.ts';
import { logger } from '../adapters/logging/logger.ts';
import type { FollowUp } from '../adapters/slack/ack.ts';
import type { DepsSource } from '../app/deps.ts';
import type { WorkerDeps } from '../adapters/slack/deps.ts';
import type { FleetEnded } from '../adapters/slack/notifier.ts';

/** Posts follow-ups to their response_url (valid 30 minutes, 5 uses); failures are logged without the URL. */
export async function postFollowUps(followUps: readonly FollowUp[], send: typeof fetch = fetch): Promise<void> {
  for (const { responseUrl, message } of followUps) {
    try {
      const response = await send(responseUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(message),
        signal: AbortSignal.timeout(5000),
      });
      if (!response.ok) logger.warn('Slack response_url refused the follow-up', { status: response.status });
    } catch (error) {
      logger.warn('Slack response_url unreachable', { error: error instanceof Error ? error.name : 'error' });
    }
  }
}

/** The worker's input: follow-ups from the ack, or a Sluice event (or a fleet execution's status change) from the EventBridge rules. */
export type WorkerEvent = { followUps: FollowUp[] } | { source: string; 'detail-type': string; detail: Omit<SluiceEvent, 'detailType'> };

/**
 * A fleet execution's end, as Step Functions reports it on the default bus ("Step Functions
 * Execution Status Change": name, status, input and output as JSON text, error and cause).
 * https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html
 */
const fleetStatusChangeSchema = z.object({
  source: z.literal('aws.states'),
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    name: z.string().min(1),
    status: z.enum(['SUCCEEDED', 'FAILED', 'ABORTED', 'TIMED_OUT']),
    input: z.string().nullish(),
    output: z.string().nullish(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});

const fleetInputTextSchema = z.object({
  spec: z.object({ metadata: z.object({ name: z.string().min(1) }) }),
  version: z.string().min(1),
  attempt: z.number().int().min(1).default(1),
});

function jsonOf(text: string | null | undefined): unknown {
  try {
    return text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    return undefined;
  }
}

/** What the fleet's thread says of its end: Finish's outcome and reason, or how the execution stopped. */
export function fleetEndOf(event: z.infer<typeof fleetStatusChangeSchema>): FleetEnded | undefined {
  const input = fleetInputTextSchema.safeParse(jsonOf(event.detail.input));
  if (!input.success) return undefined;
  const release = {
    target: input.data.spec.metadata.name,
    execution: event.detail.name,
    version: input.data.version,
    attempt: input.data.attempt,
  };
  const { status, error, cause } = event.detail;
  const summary = (jsonOf(event.detail.output) as { summary?: { reason?: unknown } } | undefined)?.summary;
  switch (status) {
    case 'SUCCEEDED':
      return { release, state: 'promoted', ...(typeof summary?.reason === 'string' ? { reason: summary.reason } : {}) };
    case 'FAILED':
      if (error === 'Sluice.Refused') return { release, state: 'refused', reason: cause ?? 'refused' };
      return {
        release,
        state: 'halted',
        reason: error === 'Sluice.FleetHalted' ? (cause ?? 'halted') : `${error ?? 'failed'}: ${cause ?? ''}`,
      };
    case 'ABORTED':
      return { release, state: 'stopped', reason: `the fleet execution was stopped${cause ? ` (${cause})` : ''}` };
    case 'TIMED_OUT':
      return { release, state: 'halted', reason: 'the fleet execution timed out' };
    default: {
      const never: never = status;
      throw new Error(`unknown status ${String(never)}`);
    }
  }
}

export async function work(deps: WorkerDeps, event: WorkerEvent): Promise<void> {
  if ('followUps' in event) return postFollowUps(event.followUps, deps.send);
  if (event.source === 'aws.states') {
    const change = fleetStatusChangeSchema.safeParse(event);
    const ended = change.success ? fleetEndOf(change.data) : undefined;
    if (!ended) {
      logger.warn('not a fleet execution status change: ignored', { detailType: event['detail-type'] });
      return;
    }
    await deps.fleetEnded?.(ended);
    return;
  }
  const detailType = event['detail-type'];
  if (event.source !== 'sluice' || !(EVENT_TYPES as readonly string[]).includes(detailType)) return;
  await deps.notify({ ...event.detail, detailType: detailType as EventType });
}

export function createWorkerHandler(deps: DepsSource<WorkerDeps>) {
  return middy<WorkerEvent, void, Error, Context>()
    .use(injectLambdaContext(logger))
    .handler(async (event) => work(await deps(), event));
}

export const workerHandler = withNotifyDoctor(
  createWorkerHandler(async () => (await import('../wiring/aws-slack-worker.ts')).awsWorkerDeps()),
  async () => {
    const { slackSecrets } = await import('../wiring/aws-slack.ts');
    // SLACK_TEAM_ID: the workspace the stack serves; the bot token must belong to it.
    return { slackToken: (await slackSecrets()).botToken, slackTeamId: process.env.SLACK_TEAM_ID };
  },
);
