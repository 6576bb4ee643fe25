/**
 * Doctor mode of the deployed Slack worker (`sluice doctor --stack`): an invocation
 * `{ doctor: 'notify', spec }` probes the target's notification endpoints from the function, role
 * and network that send them — the Slack thread (slack/probe.ts) and spec.notifications.webhooks
 * (notify-probe.ts) — posting and delivering nothing, and returns `{ mode: 'notify', checks }`.
 * Every other event goes to the worker unchanged. Kept apart from doctor-mode.ts so the Slack
 * bundle carries no Kubernetes code.
 */
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { rolloutSpecSchema } from '../core/spec.ts';
import { notificationWebhookChecks } from '../adapters/webhooks/notify-probe.ts';
import type { NotifyProbeOptions, ProbeCheck } from '../adapters/webhooks/notify-probe.ts';
import { probeSlackThread } from '../adapters/slack/probe.ts';

const notifyDoctorEventSchema = z.strictObject({ doctor: z.literal('notify'), spec: rolloutSpecSchema });

export interface NotifyDoctorAnswer {
  mode: 'notify';
  checks: ProbeCheck[];
}

/** The Slack thread and the notification webhooks of one target, as `sluice doctor` lines. */
export async function notificationChecks(spec: z.infer<typeof rolloutSpecSchema>, options: NotifyProbeOptions): Promise<ProbeCheck[]> {
  const slack = spec.spec.notifications?.slack;
  return [...(slack ? await probeSlackThread(slack.channel, options) : []), ...(await notificationWebhookChecks(spec, options))];
}

/** Runs the probes; a malformed doctor event is answered with one failed check naming the field. */
export async function runNotifyDoctor(event: unknown, options: () => Promise<NotifyProbeOptions>): Promise<NotifyDoctorAnswer> {
  const parsed = notifyDoctorEventSchema.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      mode: 'notify',
      checks: [
        {
          name: 'request',
          status: 'failed',
          message: `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
          fix: 'send { doctor: "notify", spec }',
        },
      ],
    };
  }
  const spec = parsed.data.spec;
  let resolved: NotifyProbeOptions;
  try {
    resolved = await options();
  } catch (error) {
    // Without the bot token the thread cannot be checked, but the webhooks still can.
    resolved = { slackSkipped: `the Slack secret could not be read: ${error instanceof Error ? error.message : String(error)}` };
    const failed: ProbeCheck = {
      name: 'notify slack',
      status: 'failed',
      message: resolved.slackSkipped ?? '',
      fix: 'store { signingSecret, botToken } in the Slack secret and allow the worker secretsmanager:GetSecretValue on it',
    };
    return { mode: 'notify', checks: [...(spec.spec.notifications?.slack ? [failed] : []), ...(await notificationWebhookChecks(spec))] };
  }
  return { mode: 'notify', checks: await notificationChecks(spec, resolved) };
}

/** Wraps the worker: doctor events are answered here, everything else passes through. */
export function withNotifyDoctor<E, R>(
  handler: (event: E, context: Context) => Promise<R>,
  options: () => Promise<NotifyProbeOptions>,
): (event: E, context: Context) => Promise<R | NotifyDoctorAnswer> {
  return async (event, context) =>
    typeof event === 'object' && event !== null && 'doctor' in event ? runNotifyDoctor(event, options) : handler(event, context);
}
