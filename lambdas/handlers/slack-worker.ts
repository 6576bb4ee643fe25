/**
 * The Slack worker's Lambda entry (slack.ts holds its logic, `createWorkerHandler`): follow-ups
 * and the Notifiers fed by Sluice's events, and `sluice doctor --stack`'s `{ doctor: 'notify', spec }`
 * (doctor-notify.ts), which probes the notification endpoints from here — the function, role and
 * network that send them — posting nothing. An entry of its own so the bot's Function URL bundle
 * (the ack path) carries none of the probes.
 */
import { withNotifyDoctor } from './doctor-notify.ts';
import { createWorkerHandler } from './slack.ts';

export const workerHandler = withNotifyDoctor(
  createWorkerHandler(async () => (await import('../adapters/slack/aws-deps.ts')).awsWorkerDeps()),
  async () => {
    const { slackSecrets } = await import('../adapters/slack/aws-deps.ts');
    // SLACK_TEAM_ID: the workspace the stack serves; the bot token must belong to it.
    return { slackToken: (await slackSecrets()).botToken, slackTeamId: process.env.SLACK_TEAM_ID };
  },
);
