/**
 * The Slack bot behind a Lambda Function URL: ack first, report later.
 *
 * `handler` (the Function URL): a middy chain — body-size cap, then the v0 signature checked on
 * the RAW body (base64-decoded when the URL encoded it) before anything parses it, then the ack
 * path (store and Step Functions only, plus cached identity look-ups) answering with an
 * ephemeral reply. What is left for Slack (the clicker's follow-up via response_url) is handed to
 * `afterAck`: in AWS an asynchronous invoke of the worker function; locally the same work runs
 * in-process after the response is returned.
 *
 * `workerHandler` (the worker): posts those follow-ups, and is the target of the EventBridge rule
 * on source `sluice` that feeds the Notifiers (the Slack thread, webhooks).
 * Response URLs and task tokens are never logged and never put in an event.
 */
import middy from '@middy/core';
import type { MiddlewareObj } from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import { ephemeral } from '../core/chatops/blocks.ts';
import type { SlackMessage } from '../core/chatops/blocks.ts';
import { logger } from '../adapters/logging/logger.ts';
import { handleSlackRequest } from '../adapters/slack/ack.ts';
import { parseSlackBody, verifySlackRequest } from '../adapters/slack/verify.ts';
import type { DepsSource } from '../app/deps.ts';
import type { SlackHandlerDeps, WorkerDeps } from '../adapters/slack/deps.ts';

export type { SlackHandlerDeps, WorkerDeps };

/** Slack's own payloads are a few KiB; anything much larger is not Slack. */
export const MAX_BODY_BYTES = 64 * 1024;

/** The part of a Function URL event (payload format 2.0) the bot reads. */
export interface FunctionUrlEvent {
  headers?: Record<string, string | undefined>;
  body?: string | null;
  isBase64Encoded?: boolean;
  requestContext?: { http?: { method?: string } };
}

export interface FunctionUrlResult {
  statusCode: number;
  headers?: Record<string, string>;
  body: string;
}

type Request = middy.Request<FunctionUrlEvent & { verifiedBody?: string }, FunctionUrlResult, Error, Context>;

const text = (statusCode: number, body: string): FunctionUrlResult => ({ statusCode, headers: { 'content-type': 'text/plain' }, body });
const json = (message: SlackMessage): FunctionUrlResult => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(message),
});

function bodySizeCap(maxBytes: number): MiddlewareObj<FunctionUrlEvent, FunctionUrlResult, Error, Context> {
  return {
    before: (request) => {
      const body = request.event.body ?? '';
      const bytes = request.event.isBase64Encoded ? Math.floor((body.length * 3) / 4) : Buffer.byteLength(body);
      if (bytes > maxBytes) return text(413, 'request body too large');
      return undefined;
    },
  };
}

function slackSignature(
  deps: DepsSource<SlackHandlerDeps>,
): MiddlewareObj<FunctionUrlEvent & { verifiedBody?: string }, FunctionUrlResult, Error, Context> {
  return {
    before: async (request: Request) => {
      const { signingSecret, ack } = await deps();
      const verified = verifySlackRequest({
        rawBody: request.event.body ?? '',
        isBase64Encoded: request.event.isBase64Encoded,
        headers: request.event.headers ?? {},
        signingSecret,
        now: ack.now(),
      });
      if (!verified.ok) {
        logger.warn('Slack request refused', { reason: verified.reason });
        return text(verified.status, verified.reason);
      }
      request.event.verifiedBody = verified.body;
      return undefined;
    },
  };
}

export async function respond(deps: SlackHandlerDeps, body: string): Promise<FunctionUrlResult> {
  const parsed = parseSlackBody(body);
  if (!parsed.ok) return text(400, parsed.reason);
  try {
    const result = await handleSlackRequest(deps.ack, parsed.request);
    if (result.followUps.length) {
      const dispatched = deps
        .afterAck(result.followUps)
        .catch((error: unknown) =>
          logger.warn('Slack follow-up failed', { error: error instanceof Error ? error.message : String(error) }),
        );
      if (deps.awaitAfterAck) await dispatched;
    }
    return result.body ? json(result.body) : { statusCode: result.status, body: '' };
  } catch (error) {
    logger.error('Slack request failed', { error: error instanceof Error ? error.message : String(error) });
    if (parsed.request.type === 'command')
      return json(ephemeral('Sluice hit an error handling that. Check `/sluice status <target>` before trying again.'));
    return { statusCode: 200, body: '' };
  }
}

export function createSlackHandler(deps: DepsSource<SlackHandlerDeps>, maxBodyBytes = MAX_BODY_BYTES) {
  return middy<FunctionUrlEvent & { verifiedBody?: string }, FunctionUrlResult, Error, Context>()
    .use(injectLambdaContext(logger))
    .use(bodySizeCap(maxBodyBytes))
    .use(slackSignature(deps))
    .handler(async (event) => respond(await deps(), event.verifiedBody ?? ''));
}

/** The Lambda entry points (AWS wiring is loaded lazily so tests and the local engine never need it). */
export const handler = createSlackHandler(async () => (await import('../wiring/aws-slack.ts')).awsSlackDeps());
