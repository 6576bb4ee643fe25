/**
 * A generic webhook Notifier (Microsoft Teams workflows, Google Chat relays, anything that takes
 * JSON): POSTs each event with its numbers, plus a one-line `text` for chat tools that show only
 * that. URLs come from the target's `spec.notifications.webhooks`. A failing webhook is logged
 * and skipped: it never slows or fails a rollout (bounded by a short timeout).
 */
import { verdictLines } from '../../core/chatops/blocks.ts';
import type { Notifier } from '../../core/ports.ts';
import type { SluiceEvent } from '../../core/records.ts';
import { logger } from '../logging/logger.ts';
import type { SecretString, SecretUrl } from '../../core/secrets.ts';
import { redactKnownSecrets, resolveHeaders, resolveSecret } from '../secrets/resolver.ts';

export interface WebhookNotifierOptions {
  /** The webhooks of a target (from its spec): URLs, or `{ url, headers }` whose parts may be secret references. */
  urlsFor(target: string): Promise<NotifyWebhook[]>;
  fetch?: typeof fetch;
  timeoutMs?: number;
  onError?: (message: string, context: Record<string, unknown>) => void;
}

export type NotifyWebhook = string | { url: SecretUrl; headers?: Record<string, SecretString> | undefined };

export interface WebhookPayload extends SluiceEvent {
  source: 'sluice';
  text: string;
}

export function webhookPayload(event: SluiceEvent): WebhookPayload {
  const canary = event.weights ? `, canary weight ${event.weights.canary} / primary ${event.weights.primary}` : '';
  const verdict = event.verdict
    ? `; ${event.verdict.result}: ${verdictLines(event.verdict)
        .map((line) => line.replace(/^:[a-z_]+: /, ''))
        .join('; ')}`
    : '';
  const text = `${event.detailType}: ${event.target} ${event.version} (${event.execution})${canary}${event.outcome ? `, outcome ${event.outcome}` : ''}${event.reason ? ` — ${event.reason}` : ''}${verdict}`;
  return { source: 'sluice', ...event, text };
}

export class WebhookNotifier implements Notifier {
  readonly #options: WebhookNotifierOptions;

  constructor(options: WebhookNotifierOptions) {
    this.#options = options;
  }

  async notify(event: SluiceEvent): Promise<void> {
    const report = this.#options.onError ?? ((message, context) => logger.warn(message, context));
    let urls: NotifyWebhook[];
    try {
      urls = await this.#options.urlsFor(event.target);
    } catch (error) {
      report('webhook targets could not be read', { target: event.target, error: String(error) });
      return;
    }
    const body = JSON.stringify(webhookPayload(event));
    const send = this.#options.fetch ?? fetch;
    await Promise.all(
      urls.map(async (webhook, i) => {
        const spec = typeof webhook === 'string' ? { url: webhook } : webhook;
        // The path of a webhook URL is its secret: only the host is logged, and not even that for a referenced URL.
        const host = typeof spec.url === 'string' ? new URL(spec.url).host : `webhook ${i} (by reference)`;
        try {
          const url = await resolveSecret(spec.url, `notification webhook ${i} url`);
          const headers = await resolveHeaders(spec.headers, `notification webhook ${i} headers`);
          const response = await send(url, {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body,
            signal: AbortSignal.timeout(this.#options.timeoutMs ?? 5000),
          });
          if (!response.ok) report('webhook refused the notification', { host, status: response.status, execution: event.execution });
        } catch (error) {
          report('webhook unreachable', {
            host,
            execution: event.execution,
            error: redactKnownSecrets(error instanceof Error ? error.message : String(error)),
          });
        }
      }),
    );
  }
}
