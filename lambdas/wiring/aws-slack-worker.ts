/**
 * The Slack worker's AWS wiring (a module of its own, so the bot's Function URL bundle — the ack
 * path — carries none of the notifiers): the Slack thread and the webhooks, fed by Sluice's events
 * and by the fleet executions' ends. Environment as lambdas/wiring/aws-slack.ts describes it.
 */
import type { WorkerDeps } from '../adapters/slack/deps.ts';
import { slackClient } from '../adapters/slack/client.ts';
import { SlackNotifier, fanOut } from '../adapters/slack/notifier.ts';
import { WebhookNotifier } from '../adapters/webhooks/notify.ts';
import { awsStoreDeps } from './aws-store.ts';
import { dynamoChatState, requiredEnv, slackSecrets, ssmTargetLoader } from './aws-slack.ts';

let workerDeps: Promise<WorkerDeps> | undefined;
export function awsWorkerDeps(): Promise<WorkerDeps> {
  workerDeps ??= (async () => {
    const { store } = await awsStoreDeps();
    const { botToken } = await slackSecrets();
    const loadTarget = ssmTargetLoader(requiredEnv('SLUICE_REGISTRY_PARAMETER_PREFIX'));
    const slack = new SlackNotifier({ client: slackClient(botToken, { path: 'background' }), store, chat: dynamoChatState(), loadTarget });
    const webhooks = new WebhookNotifier({ urlsFor: async (target) => (await loadTarget(target))?.spec.notifications?.webhooks ?? [] });
    const all = fanOut([slack, webhooks]);
    return {
      notify: async (event) => {
        await all(event);
        await slack.idle();
      },
      fleetEnded: async (ended) => {
        await slack.fleetEnded(ended);
        await slack.idle();
      },
    };
  })();
  workerDeps.catch(() => (workerDeps = undefined));
  return workerDeps;
}
