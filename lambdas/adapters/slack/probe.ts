/**
 * `sluice doctor`'s check of the Slack thread (spec.notifications.slack), posting nothing:
 * Web API `auth.test` (no scope needed; "checks authentication & identity") proves the bot token
 * and, deployed, its workspace; `conversations.info` proves the channel exists and is not
 * archived when the bot has channels:read, and is a note when it lacks the scope (Sluice's manifest
 * does not ask for it: the first post proves the channel). See ../notify-probe.ts for the webhooks.
 */
import { networkReason } from '../webhooks/notify-probe.ts';
import type { NotifyProbeOptions, ProbeCheck } from '../webhooks/notify-probe.ts';
import { slackClient, slackErrorCode } from './client.ts';

/** Probes the Slack thread's bot token and channel without posting (auth.test, conversations.info). */
export async function probeSlackThread(channel: string, options: NotifyProbeOptions): Promise<ProbeCheck[]> {
  const name = 'notify slack';
  if (!options.slackToken)
    return [{ name, status: 'note', message: options.slackSkipped ?? `no bot token here: the thread in ${channel} is not checked` }];
  const client = slackClient(options.slackToken, { path: 'ack', slackApiUrl: options.slackApiUrl });
  const checks: ProbeCheck[] = [];
  try {
    const identity = await client.auth.test();
    if (options.slackTeamId && identity.team_id !== options.slackTeamId) {
      return [
        {
          name,
          status: 'failed',
          message: `the bot token belongs to workspace ${identity.team_id ?? '?'}, not ${options.slackTeamId} (the stack's -c slackTeamId)`,
          fix: "store the bot token of the app installed in the stack's workspace in the Slack secret",
        },
      ];
    }
    checks.push({
      name,
      status: 'ok',
      message: `auth.test: the bot token is live (workspace ${identity.team_id ?? '?'}, bot user ${identity.user_id ?? '?'}); nothing posted`,
    });
  } catch (error) {
    const code = slackErrorCode(error);
    return [
      {
        name,
        status: 'failed',
        message: `auth.test refused the bot token: ${code ?? networkReason(error)}`,
        fix: code
          ? 'reinstall the Slack app and store its bot token (xoxb-…) in the Slack secret (or SLACK_BOT_TOKEN locally)'
          : 'make slack.com reachable from where notifications are sent',
      },
    ];
  }
  try {
    const info = await client.conversations.info({ channel });
    const archived = (info.channel as { is_archived?: boolean } | undefined)?.is_archived === true;
    checks.push(
      archived
        ? {
            name,
            status: 'failed',
            message: `channel ${channel} is archived: the thread cannot be posted`,
            fix: 'point spec.notifications.slack.channel at a live channel',
          }
        : { name, status: 'ok', message: `conversations.info: channel ${channel} exists and is not archived` },
    );
  } catch (error) {
    const code = slackErrorCode(error);
    if (code === 'missing_scope')
      checks.push({
        name,
        status: 'note',
        message: `channel ${channel} not checked: the bot lacks channels:read (conversations.info); the first post proves it`,
      });
    else
      checks.push({
        name,
        status: 'failed',
        message: `conversations.info ${channel}: ${code ?? networkReason(error)}`,
        fix:
          code === 'channel_not_found'
            ? 'correct spec.notifications.slack.channel (a channel ID, C…), or invite the bot to the private channel'
            : 'check the channel ID and the bot token',
      });
  }
  return checks;
}
