import { Logger } from '@aws-lambda-powertools/logger';

/**
 * One structured JSON logger for every handler. Each invocation appends the rollout's keys
 * (target, version, execution) through the `rolloutLogContext` middleware.
 * Locally the CLI quietens it with POWERTOOLS_LOG_LEVEL before loading the handlers.
 */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'sluice' });
