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
import { EVENT_TYPES } from '../core/records.ts';
import type { EventType, SluiceEvent } from '../core/records.ts';
import { logger } from '../adapters/logging/logger.ts';
import type { FollowUp } from '../adapters/slack/ack.ts';
import type { DepsSource } from '../app/deps.ts';
import type { WorkerDeps } from '../adapters/slack/deps.ts';

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

/** The worker's input: follow-ups from the ack, or a Sluice event from the EventBridge rule. */
export type WorkerEvent = { followUps: FollowUp[] } | { source: string; 'detail-type': string; detail: Omit<SluiceEvent, 'detailType'> };

export async function work(deps: WorkerDeps, event: WorkerEvent): Promise<void> {
  if ('followUps' in event) return postFollowUps(event.followUps, deps.send);
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
  createWorkerHandler(async () => (await import('../wiring/aws-slack.ts')).awsWorkerDeps()),
  async () => {
    const { slackSecrets } = await import('../wiring/aws-slack.ts');
    // SLACK_TEAM_ID: the workspace the stack serves; the bot token must belong to it.
    return { slackToken: (await slackSecrets()).botToken, slackTeamId: process.env.SLACK_TEAM_ID };
  },
);
