/**
 * The middy chain every handler shares: Powertools' Lambda context, the parser (zod schema at
 * the edge, typed event), and the rollout's keys on every log line.
 */
import middy from '@middy/core';
import type { MiddlewareObj } from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { logger } from '../adapters/logging/logger.ts';

interface RolloutKeys {
  execution?: string;
  version?: string;
  spec?: { metadata?: { name?: string } };
  target?: string;
  state?: { version?: string; spec?: { metadata?: { name?: string } } };
}

/**
 * Appends target, version and execution to every log line of the invocation; logs failures with
 * them. Powertools' `resetKeys` (in the chain below) drops the keys after each invocation, errors included.
 */
export function rolloutLogContext(): MiddlewareObj<unknown, unknown> {
  return {
    before: (request) => {
      const event = (request.event ?? {}) as RolloutKeys;
      logger.appendKeys({
        execution: event.execution,
        version: event.version ?? event.state?.version,
        target: event.target ?? event.spec?.metadata?.name ?? event.state?.spec?.metadata?.name,
      });
    },
    onError: (request) => {
      logger.error('task failed', { error: request.error ?? undefined });
    },
  };
}

/** A handler: the shared chain around `work`, which gets the parsed event. */
export function rolloutHandler<S extends z.ZodType, R>(schema: S, work: (event: z.infer<S>) => Promise<R>) {
  return middy<z.infer<S>, R, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(rolloutLogContext() as MiddlewareObj<z.infer<S>, R, Error, Context>)
    .use(parser({ schema }) as unknown as MiddlewareObj<z.infer<S>, R, Error, Context>)
    .handler((event) => work(event));
}
