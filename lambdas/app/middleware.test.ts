/** The shared handler chain: a rollout's keys on every log line of its invocation, and never on the next one. */
import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as z from 'zod';
import { logger } from '../adapters/logging/logger.ts';
import { rolloutHandler } from './middleware.ts';

const context = {
  functionName: 'sluice-test',
  awsRequestId: 'req-1',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:sluice-test',
} as Context;
const eventSchema = z.object({ execution: z.string().optional(), target: z.string().optional(), fail: z.boolean().optional() });

describe('rolloutHandler', () => {
  let lines: Record<string, unknown>[];
  beforeEach(() => {
    lines = [];
    logger.setLogLevel('INFO');
    const capture = (chunk: string | Uint8Array) => {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    logger.setLogLevel('SILENT');
  });

  it("logs the rollout's keys during its invocation and drops them afterwards, also after a failure", async () => {
    // Prepare
    const handler = rolloutHandler(eventSchema, async (event) => {
      // Powertools restores the configured (silent) level at each invocation's start.
      logger.setLogLevel('INFO');
      logger.info('working');
      if (event.fail) throw new Error('boom');
      return 'ok';
    });
    // Act
    await expect(handler({ execution: 'podinfo-v2', target: 'podinfo', fail: true }, context)).rejects.toThrow('boom');
    await handler({}, context);
    // Assess
    const working = lines.filter((line) => line.message === 'working');
    expect(working).toHaveLength(2);
    expect(working[0]).toMatchObject({ execution: 'podinfo-v2', target: 'podinfo' });
    expect(working[1]).not.toHaveProperty('execution');
    expect(working[1]).not.toHaveProperty('target');
    expect(lines.some((line) => line.message === 'task failed' && line.execution === 'podinfo-v2')).toBe(true);
  });
});
