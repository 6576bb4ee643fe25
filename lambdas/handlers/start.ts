/**
 * The start Lambda: every EventBridge-borne trigger goes through here to the one start path
 * (lambdas/adapters/control/start-path.ts) — the custom `Rollout Requested` event (Sluice bus), ECR
 * `ECR Image Action` pushes (default bus) and one-off schedules (EventBridge Scheduler invokes it
 * with the schedule's input). Locally `sluice event <file.json>` calls `handleStartEvent` with the
 * local engine's deps.
 *
 * ECR: the digest is the version's identity. A tag that matches the target's tagPattern is
 * remembered with its digest the first time; the same tag pushed again with another digest (a
 * mutable tag such as `latest`) is refused with a message saying so, never started and never
 * silently taken for a duplicate.
 */
import middy from '@middy/core';
import type { MiddlewareObj } from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import {
  ecrKeys,
  ecrMismatch,
  ecrToStart,
  isEcrEvent,
  isRolloutRequested,
  rolloutRequestedToStart,
  scheduledToStart,
  startEventSchema,
} from '../core/deploy-events.ts';
import type { EcrImageActionEvent } from '../core/deploy-events.ts';
import { ledgerKey } from '../core/start.ts';
import type { StartAnswer } from '../core/start.ts';
import { awsStartDeps } from '../wiring/aws-start.ts';
import { logger } from '../adapters/logging/logger.ts';
import { requestStart } from '../adapters/control/start-path.ts';
import type { StartPathDeps } from '../adapters/control/start-path.ts';
import { rolloutLogContext } from '../app/middleware.ts';

export interface StartEventResult {
  /** One answer per start the event asked for (an ECR push may concern several targets). */
  answers: StartAnswer[];
  /** Why (parts of) the event started nothing without being a refusal: another repository, a tag off pattern. */
  ignored: string[];
}

async function ecrStarts(deps: StartPathDeps, event: EcrImageActionEvent): Promise<StartEventResult> {
  const result: StartEventResult = { answers: [], ignored: [] };
  const repository = event.detail['repository-name'];
  const targets = await deps.registry.targetsForRepository(repository);
  if (!targets.length) result.ignored.push(`no target watches ECR repository ${repository}`);
  for (const target of targets) {
    const spec = await deps.registry.get(target);
    if (!spec) {
      result.ignored.push(`target ${target} is no longer in the registry`);
      continue;
    }
    const mismatch = ecrMismatch(spec, event);
    if (mismatch) {
      result.ignored.push(mismatch);
      continue;
    }
    const keys = ecrKeys(target, event);
    const digest = event.detail['image-digest'];
    const tag = event.detail['image-tag'] ?? '';
    const claim = await deps.store.recordTrigger(ledgerKey({ source: 'ecr', key: keys.tag }), {
      source: 'ecr',
      at: deps.now().toISOString(),
      detail: { target, repository, tag, digest },
    });
    const firstDigest = claim.first ? digest : claim.existing.detail?.['digest'];
    if (firstDigest !== digest) {
      const reason = `tag ${tag} of ECR repository ${repository} was pushed before as ${String(firstDigest)} and now points to ${digest}: Sluice identifies a version by its digest, so a re-pushed (mutable) tag starts nothing. Push a new immutable tag that matches tagPattern ${spec.spec.triggers?.ecr?.tagPattern ?? ''}`;
      result.answers.push({ outcome: 'refused', target, version: tag, reason, message: `refused: ${reason}` });
      continue;
    }
    result.answers.push(await requestStart(deps, ecrToStart(target, event)));
  }
  return result;
}

/** One trigger event through the start path. Throws only when the event is not one it knows (-> retries, then the DLQ). */
export async function handleStartEvent(event: unknown, deps: StartPathDeps): Promise<StartEventResult> {
  const parsed = startEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new Error(
      `not a start event (Rollout Requested, ECR Image Action or a schedule's input): ${parsed.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ')}`,
    );
  }
  const start = parsed.data;
  if (isEcrEvent(start)) return ecrStarts(deps, start);
  if (isRolloutRequested(start)) return { answers: [await requestStart(deps, rolloutRequestedToStart(start))], ignored: [] };
  return { answers: [await requestStart(deps, scheduledToStart(start))], ignored: [] };
}

export function createStartHandler(deps: (context: Context) => Promise<StartPathDeps>) {
  return middy<unknown, StartEventResult, Error, Context>()
    .use(injectLambdaContext(logger))
    .use(rolloutLogContext() as MiddlewareObj<unknown, StartEventResult, Error, Context>)
    .handler(async (event, context) => {
      const result = await handleStartEvent(event, await deps(context));
      for (const answer of result.answers)
        logger.info(answer.message, { outcome: answer.outcome, target: answer.target, version: answer.version });
      for (const reason of result.ignored) logger.info(`ignored: ${reason}`);
      return result;
    });
}

/** The Lambda entry point. */
export const handler = createStartHandler((context) => awsStartDeps(context.invokedFunctionArn));
