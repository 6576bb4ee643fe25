/**
 * Notifications in the local engine (`sluice run`, `serve`, `demo`): in AWS the worker feeds the
 * Notifiers from EventBridge; locally the runtime feeds them from its event stream, the same way.
 *
 * - generic webhooks (`spec.notifications.webhooks`): always;
 * - the Slack thread (`spec.notifications.slack`): when SLACK_BOT_TOKEN is set (SLACK_API_URL may
 *   point at another Web API); otherwise one line says it is skipped, once per target.
 *
 * The specs come from the tasks' own input (every task carries the spec), so the runtime needs no
 * registry. Delivery is never awaited by the rollout: a slow or failing receiver only logs.
 */
import { join } from 'node:path';
import type { AnalysisStates, RolloutLog, RolloutRecords, TaskTokens } from '../lambdas/core/ports.ts';
import type { SluiceEvent } from '../lambdas/core/records.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import { WebhookNotifier } from '../lambdas/adapters/webhooks/notify.ts';
import { SqliteChatState } from '../lambdas/adapters/slack/chat-state-sqlite.ts';
import { slackClient } from '../lambdas/adapters/slack/client.ts';
import { SlackNotifier, fanOut } from '../lambdas/adapters/slack/notifier.ts';

export interface LocalNotifications {
  /** Learns the target's spec from a task's input (anything else is ignored). */
  remember(input: unknown): void;
  /** Hands an event to the notifiers without waiting for them. */
  notify(event: SluiceEvent): void;
  /** Waits for deliveries in flight (each bounded by its notifier's timeout), then closes. */
  close(): Promise<void>;
}

export interface LocalNotificationsOptions {
  store: RolloutRecords & RolloutLog & TaskTokens & AnalysisStates;
  /** The engine's state folder (the Slack thread ids go to `chat.db` there). */
  dir: string;
  env?: Record<string, string | undefined>;
  log?: (line: string) => void;
  fetch?: typeof fetch;
}

function specOf(input: unknown): RolloutSpec | null {
  const spec = (input as { spec?: { metadata?: { name?: unknown }; spec?: unknown } } | null)?.spec;
  return spec && typeof spec.metadata?.name === 'string' && typeof spec.spec === 'object' && spec.spec !== null
    ? (spec as RolloutSpec)
    : null;
}

export function localNotifications(options: LocalNotificationsOptions): LocalNotifications {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const specs = new Map<string, RolloutSpec>();
  const noticed = new Set<string>();
  const pending = new Set<Promise<void>>();
  const webhooks = new WebhookNotifier({
    urlsFor: async (target) => specs.get(target)?.spec.notifications?.webhooks ?? [],
    ...(options.fetch ? { fetch: options.fetch } : {}),
    onError: (message, context) =>
      log(`webhook: ${message} (${String(context['host'] ?? '')}: ${String(context['status'] ?? context['error'] ?? '')})`),
  });
  const token = env['SLACK_BOT_TOKEN'];
  let chat: SqliteChatState | undefined;
  let slack: SlackNotifier | undefined;
  if (token) {
    chat = new SqliteChatState(join(options.dir, 'chat.db'));
    const apiUrl = env['SLACK_API_URL'];
    slack = new SlackNotifier({
      client: slackClient(token, { path: 'background', ...(apiUrl ? { slackApiUrl: apiUrl } : {}) }),
      store: options.store,
      chat,
      loadTarget: async (target) => specs.get(target) ?? null,
      onError: (message, context) => log(`slack: ${message} (${String(context['slackError'] ?? context['error'] ?? '')})`),
    });
  }
  const deliver = fanOut(slack ? [webhooks, slack] : [webhooks]);
  return {
    remember(input) {
      const spec = specOf(input);
      if (!spec) return;
      specs.set(spec.metadata.name, spec);
      if (!slack && spec.spec.notifications?.slack && !noticed.has(spec.metadata.name)) {
        noticed.add(spec.metadata.name);
        log(`${spec.metadata.name}: Slack notifications are skipped locally (set SLACK_BOT_TOKEN to post the thread)`);
      }
    },
    notify(event) {
      const delivery = deliver(event).catch(() => {});
      pending.add(delivery);
      void delivery.finally(() => pending.delete(delivery));
    },
    async close() {
      while (pending.size) await Promise.allSettled([...pending]);
      await slack?.idle();
      await chat?.close();
    },
  };
}
