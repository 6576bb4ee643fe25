/**
 * @slack/web-api clients with retries chosen per path:
 * - `ack`: runs inside Slack's 3-second window, so no retries, a short timeout, and a 429 is
 *   an immediate error (the caller is told to try again) rather than a wait;
 * - `background`: thread updates after the ack; honours Retry-After (the client pauses its queue
 *   for the advertised seconds) and retries a few times with backoff, then gives up: the next
 *   event re-renders the thread from the store, so nothing is lost by giving up.
 */
import { WebClient, LogLevel } from '@slack/web-api';

export type SlackPath = 'ack' | 'background';

export interface SlackClientOptions {
  /** A fake Web API in tests (must end with `/`); Slack's by default. */
  slackApiUrl?: string | undefined;
  path: SlackPath;
}

export function slackClient(token: string, options: SlackClientOptions): WebClient {
  const ack = options.path === 'ack';
  return new WebClient(token, {
    ...(options.slackApiUrl ? { slackApiUrl: options.slackApiUrl } : {}),
    logLevel: LogLevel.ERROR,
    timeout: ack ? 1500 : 10_000,
    rejectRateLimitedCalls: ack,
    retryConfig: ack ? { retries: 0 } : { retries: 4, factor: 2, minTimeout: 500, maxTimeout: 8000, randomize: true },
  });
}

/** Slack's error code from a Web API error (`not_in_channel`, `ratelimited`, …), if any. */
export function slackErrorCode(error: unknown): string | undefined {
  const data = (error as { data?: { error?: unknown } } | null)?.data;
  return typeof data?.error === 'string' ? data.error : undefined;
}
