/**
 * Calls Flagger-style analysis webhooks: HTTP POST of the JSON payload, each hook bounded by its
 * own `timeout`. A call never throws: the answer (2xx or not, or unreachable) is a result the
 * handlers judge by the hook's type (lambdas/core/webhooks.ts). Only the host is logged: a
 * webhook URL's path or query may hold a secret.
 */
import { RefusedError, TransientError } from '../../core/errors.ts';
import { describeWebhookResult, eventHookPayload, hooksOf, webhookPayload, webhookTimeoutMs } from '../../core/webhooks.ts';
import type { Webhook, WebhookPayload, WebhookPhase, WebhookResult, WebhookType } from '../../core/webhooks.ts';
import type { EventPublisher } from '../../core/ports.ts';
import type { SluiceEvent } from '../../core/records.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import { logger } from '../logging/logger.ts';
import { redactKnownSecrets, resolveHeaders, resolveSecret } from '../secrets/resolver.ts';

export interface WebhookCallOptions {
  fetch?: typeof fetch;
  /** Upper bound on the hook's own timeout (informational hooks: they must not eat a Task's time budget). */
  maxTimeoutMs?: number;
}

/** `post-rollout` and `event` hooks only inform: at most this long each, so Finish (60 s) and Rollback stay well inside their Task timeouts. */
export const INFORM_TIMEOUT_MS = 15_000;

/** POSTs one payload; the hook's timeout covers the whole exchange, body included. */
export async function callWebhook(hook: Webhook, payload: WebhookPayload, options: WebhookCallOptions = {}): Promise<WebhookResult> {
  const send = options.fetch ?? fetch;
  const base = { name: hook.name, type: hook.type };
  try {
    // A URL or header given by reference is resolved here, for this one call, and goes nowhere else.
    const url = await resolveSecret(hook.url, `webhook ${hook.name} url`);
    const headers = await resolveHeaders(hook.headers, `webhook ${hook.name} headers`);
    const response = await send(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(Math.min(webhookTimeoutMs(hook), options.maxTimeoutMs ?? Infinity)),
    });
    // Drain the body so the connection is released; its content decides nothing (Flagger reads only the status).
    await response.arrayBuffer().catch(() => undefined);
    return { ...base, ok: response.ok, status: response.status };
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
    const limit = Math.min(webhookTimeoutMs(hook), options.maxTimeoutMs ?? Infinity);
    const message = timedOut
      ? `no answer within ${limit < webhookTimeoutMs(hook) ? `${limit / 1000}s` : hook.timeout}`
      : error instanceof Error
        ? (causeText(error) ?? error.message)
        : String(error);
    return { ...base, ok: false, error: redactKnownSecrets(message) };
  }
}

function causeText(error: Error): string | undefined {
  const cause = error.cause;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : undefined;
}

/** Calls every hook of a type, in parallel, with the payload of the phase. */
export async function callHooks(
  spec: RolloutSpec,
  type: WebhookType,
  phase: WebhookPhase,
  options?: WebhookCallOptions,
): Promise<WebhookResult[]> {
  return Promise.all(hooksOf(spec, type).map((hook) => callWebhook(hook, webhookPayload(spec, hook, phase), options)));
}

function logFailures(spec: RolloutSpec, results: WebhookResult[]): void {
  for (const result of results.filter((r) => !r.ok)) {
    const hook = (spec.spec.analysis.webhooks ?? []).find((h) => h.name === result.name);
    logger.warn(describeWebhookResult(result), {
      target: spec.metadata.name,
      host: hook && typeof hook.url === 'string' ? new URL(hook.url).host : undefined,
    });
  }
}

/**
 * `pre-rollout`: every hook must answer 2xx before any traffic moves. A non-2xx refuses the
 * rollout; an unreachable hook is transient (the state machine retries Prepare, then refuses).
 */
export async function runPreRolloutHooks(spec: RolloutSpec, options?: WebhookCallOptions): Promise<void> {
  const results = await callHooks(spec, 'pre-rollout', 'Progressing', options);
  const refused = results.filter((r) => !r.ok && r.status !== undefined);
  const unreachable = results.filter((r) => r.status === undefined);
  if (refused.length) throw new RefusedError(`pre-rollout ${refused.map(describeWebhookResult).join('; ')}`);
  if (unreachable.length) throw new TransientError(`pre-rollout ${unreachable.map(describeWebhookResult).join('; ')}`);
}

/** Hooks that only inform (`post-rollout`): failures are logged, never fail the rollout. */
export async function fireHooks(spec: RolloutSpec, type: WebhookType, phase: WebhookPhase, options?: WebhookCallOptions): Promise<void> {
  logFailures(spec, await callHooks(spec, type, phase, { maxTimeoutMs: INFORM_TIMEOUT_MS, ...options }));
}

/** `event` hooks for one published event: fire and log. */
export async function fireEventHooks(
  spec: RolloutSpec,
  event: Omit<SluiceEvent, 'sequence' | 'at'>,
  now: Date,
  options?: WebhookCallOptions,
): Promise<void> {
  const hooks = hooksOf(spec, 'event');
  if (!hooks.length) return;
  const results = await Promise.all(
    hooks.map((hook) => callWebhook(hook, eventHookPayload(spec, hook, event, now), { maxTimeoutMs: INFORM_TIMEOUT_MS, ...options })),
  );
  logFailures(spec, results);
}

/** Publishes an event, then calls the spec's `event` hooks with it (their failures only logged). */
export async function publishWithHooks(
  deps: { events: EventPublisher; now: () => Date },
  spec: RolloutSpec,
  event: Omit<SluiceEvent, 'sequence' | 'at'>,
  options?: WebhookCallOptions,
): Promise<void> {
  await deps.events.publish(event);
  await fireEventHooks(spec, event, deps.now(), options);
}
