/**
 * A fleet spec handed to the rollout state machine (a start path that does not know fleets yet:
 * the start Lambda, GitOps, Slack /sluice start) is refused by Prepare, changing nothing: no lock,
 * no record, no weight moved — instead of rolling out on the fleet's base cluster alone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parse } from 'yaml';
import { LocalEventPublisher } from '../lambdas/adapters/events/publisher.ts';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import { RefusedError } from '../lambdas/core/errors.ts';
import { parseSpec } from '../lambdas/core/spec.ts';
import { prepare } from '../lambdas/handlers/prepare.ts';
import { prepareInputSchema } from '../lambdas/core/task.ts';
import { RecordingRouter, scriptedMetrics, successRate } from './support/recording-router.ts';

it('refuses a fleet spec on the rollout state machine, naming the fleet state machine; nothing taken, nothing moved', async () => {
  // Prepare
  const spec = parseSpec(parse(readFileSync(join(import.meta.dirname, '..', 'examples', 'fleet.yaml'), 'utf8')) as unknown);
  const store = openSqliteStore(':memory:');
  const router = new RecordingRouter();
  const deps = {
    store,
    events: new LocalEventPublisher(store, () => {}),
    now: () => new Date(),
    routerFor: async () => router,
    workloadFor: async () => null,
    ...scriptedMetrics(() => [successRate(99.9)]),
  };

  // Act
  const result = prepare(deps, prepareInputSchema.parse({ spec, version: 'v2', requestedBy: 'ci', execution: 'podinfo-v2' }));

  // Assess
  await expect(result).rejects.toThrow(RefusedError);
  await expect(result).rejects.toThrow('podinfo is a fleet (spec.fleet): start it on the fleet state machine');
  expect(await store.getLock('podinfo')).toBeNull();
  expect(await store.getRollout('podinfo-v2')).toBeNull();
  expect(router.writes).toEqual([]);
  await store.close();
});
