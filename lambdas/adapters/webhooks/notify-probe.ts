/**
 * `sluice doctor`'s notification checks: each Slack or webhook endpoint a target notifies is
 * probed from where the notifications are sent, and none is sent a message. What each probe
 * proves, and what it cannot:
 *
 * - the Slack thread (`spec.notifications.slack`): slack/probe.ts (`auth.test`, `conversations.info`);
 * - a Slack incoming webhook (`https://hooks.slack.com/…`): a POST of `{}` — no text, blocks or
 *   attachments, so nothing can be posted. Slack answers a live webhook `400 no_text` (or
 *   `invalid_payload`) and a dead one 403 `invalid_token` / `action_prohibited`, 404 `no_service`
 *   / `channel_not_found`, 410 `channel_is_archived` (api.slack.com changelog 2016-05-17, "Improving
 *   error conditions for Incoming Webhooks"). A 400 proves the URL is live; whether Slack checks
 *   the channel before the payload is not documented, so the channel is not proven.
 * - any other webhook: a HEAD request (a safe method, RFC 9110 §9.2.1: the client asks for no
 *   change, so a receiver that follows HTTP delivers nothing) — never an event. Any HTTP answer proves DNS, the TCP connection, TLS (Node
 *   verifies the certificate) and an HTTP server at the address; not that a POST would be accepted.
 *
 * URLs are secrets (a Slack webhook's path is its token): messages name the field and the host of
 * a URL given by value, never the path, and nothing of a URL given by reference.
 */
import type { RolloutSpec } from '../../core/spec.ts';
import { isSecretRef } from '../../core/secrets.ts';
import type { SecretString, SecretUrl } from '../../core/secrets.ts';
import { redactKnownSecrets, resolveHeaders, resolveSecret } from '../secrets/resolver.ts';

/** One line of `sluice doctor`: doctor.ts's DoctorCheck shape, not imported, so the Slack bundle carries no Kubernetes code. */
export interface ProbeCheck {
  name: string;
  status: 'ok' | 'note' | 'failed';
  message: string;
  fix?: string;
}

export interface NotifyProbeOptions {
  /** The bot token the notifier posts with; without it the Slack thread is not sent from here. */
  slackToken?: string | undefined;
  /** Another Web API (tests, a proxy); Slack's by default. Must end with `/`. */
  slackApiUrl?: string | undefined;
  /** Deployed: the workspace the stack serves (SLACK_TEAM_ID); auth.test must answer it. */
  slackTeamId?: string | undefined;
  /** Why the Slack thread is not sent from here when there is no token (a note), e.g. locally without SLACK_BOT_TOKEN. */
  slackSkipped?: string | undefined;
  /** Whether a URL is a Slack incoming webhook (tests point it at a stand-in). Default: host hooks.slack.com. */
  isSlackWebhook?: (url: URL) => boolean;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** Slack's incoming-webhook answers to a payload with nothing to post: the webhook is live. */
const SLACK_LIVE_ANSWERS = new Set(['no_text', 'invalid_payload', 'missing_text_or_fallback_or_attachments']);

const isSlackHost = (url: URL): boolean => /(^|\.)hooks\.slack\.com$/.test(url.hostname);

/** Why a fetch (or a Slack Web API call) failed, by its cause's code (ENOTFOUND, ECONNREFUSED, CERT_HAS_EXPIRED, …) or the timeout. */
export function networkReason(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'no answer before the timeout';
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  return redactKnownSecrets(cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error)));
}

interface Endpoint {
  field: string;
  url: SecretUrl;
  headers?: Record<string, SecretString> | undefined;
}

/** Probes one webhook endpoint without delivering anything (see the module comment). */
export async function probeWebhook(endpoint: Endpoint, options: NotifyProbeOptions = {}): Promise<ProbeCheck> {
  const name = `notify ${endpoint.field}`;
  let raw: string;
  let headers: Record<string, string>;
  try {
    raw = await resolveSecret(endpoint.url, `${endpoint.field}.url`);
    headers = await resolveHeaders(endpoint.headers, `${endpoint.field}.headers`);
  } catch (error) {
    return {
      name,
      status: 'failed',
      message: error instanceof Error ? error.message : String(error),
      fix: 'make the reference resolvable here (the secret check names it)',
    };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { name, status: 'failed', message: 'the referenced value is not a URL', fix: 'store the whole https:// URL in the secret' };
  }
  // The host of a URL given by value is in the spec already; a referenced URL stays unnamed.
  const where = isSecretRef(endpoint.url) ? 'the referenced URL' : url.host;
  const send = options.fetch ?? fetch;
  const signal = AbortSignal.timeout(options.timeoutMs ?? 5000);
  const slack = (options.isSlackWebhook ?? isSlackHost)(url);
  let response: Response;
  try {
    response = slack
      ? await send(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal })
      : await send(url, { method: 'HEAD', headers, signal, redirect: 'manual' });
  } catch (error) {
    return {
      name,
      status: 'failed',
      message: `${where} is unreachable from here: ${networkReason(error)}`,
      fix: 'check the address, DNS and the network path from where notifications are sent (and, for TLS, the certificate)',
    };
  }
  if (!slack) {
    await response.body?.cancel();
    return {
      name,
      status: 'ok',
      message: `${where} answered HEAD with ${response.status}: DNS, connection, TLS and HTTP work from here; nothing was delivered (a POST would deliver, so it is not tried)`,
    };
  }
  const answer = (await response.text()).trim().slice(0, 80);
  if (response.status === 400 && SLACK_LIVE_ANSWERS.has(answer))
    return {
      name,
      status: 'ok',
      message: `Slack incoming webhook (${where}) is live: it answered "${answer}" to an empty payload, so nothing was posted (the channel behind it is not checked)`,
    };
  return {
    name,
    status: 'failed',
    message: `Slack incoming webhook (${where}) answered ${response.status} "${answer}" to an empty payload: it would not post`,
    fix:
      response.status === 403 || response.status === 404
        ? 'the webhook was revoked or its app removed: create a new incoming webhook and store its URL in the secret'
        : response.status === 410
          ? 'the channel is archived: point the webhook at a live channel'
          : 'check the webhook URL (Slack documents its answers under "Handling errors" for incoming webhooks)',
  };
}

/** spec.notifications.webhooks (the Slack thread is probed by slack/probe.ts, whose client only the Slack bundle carries). */
export async function notificationWebhookChecks(spec: RolloutSpec, options: NotifyProbeOptions = {}): Promise<ProbeCheck[]> {
  const checks: ProbeCheck[] = [];
  for (const [i, hook] of (spec.spec.notifications?.webhooks ?? []).entries())
    checks.push(await probeWebhook({ field: `spec.notifications.webhooks[${i}]`, url: hook.url, headers: hook.headers }, options));
  return checks;
}

/** The `event` webhooks (spec.analysis.webhooks of type event): the rollout Lambdas send them, so they are probed there. */
export async function eventHookChecks(spec: RolloutSpec, options: NotifyProbeOptions = {}): Promise<ProbeCheck[]> {
  const checks: ProbeCheck[] = [];
  for (const [i, hook] of (spec.spec.analysis.webhooks ?? []).entries()) {
    if (hook.type !== 'event') continue;
    checks.push(await probeWebhook({ field: `spec.analysis.webhooks[${i}]`, url: hook.url, headers: hook.headers }, options));
  }
  return checks;
}
