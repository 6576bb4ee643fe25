/**
 * The one contract every RolloutStore passes (sqlite locally, DynamoDB in AWS).
 *
 * `makeStore` must return a new store over the SAME backing on every call (one sqlite file, one
 * emulated table): the race test opens two stores and lets them fight over one target, like two
 * Lambdas or the CLI and the engine would. Each test therefore uses names of its own.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { RolloutRecord, SluiceEvent, TriggerRecord } from '../lambdas/core/records.ts';
import type { RolloutStore } from '../lambdas/core/ports.ts';
import type { Verdict } from '../lambdas/core/verdict.ts';

const HOUR = 3_600_000;

function inAnHour(): Date {
  return new Date(Date.now() + HOUR);
}

function rollout(target: string, execution: string, startedAt: string): RolloutRecord {
  return {
    execution,
    target,
    version: 'v2',
    requestedBy: 'alice',
    startedAt,
    safeSide: 'primary',
    lastWeights: { primary: 100, canary: 0 },
    status: 'running',
  };
}

const verdict: Verdict = {
  result: 'fail',
  checks: [{ name: 'request-success-rate', value: 97.2, min: 99, result: 'fail' }],
  summary: 'request-success-rate 97.2 < min 99',
};

export function describeRolloutStoreContract(name: string, makeStore: () => Promise<RolloutStore>): void {
  describe(`RolloutStore contract: ${name}`, () => {
    const opened: RolloutStore[] = [];
    const open = async (): Promise<RolloutStore> => {
      const store = await makeStore();
      opened.push(store);
      return store;
    };
    const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });

    describe('lock', () => {
      it('is taken when free and reported by getLock', async () => {
        const store = await open();
        const target = unique('podinfo');
        const expiresAt = inAnHour();

        const result = await store.acquireLock(target, 'exec-1', expiresAt);

        expect(result).toEqual({ acquired: true });
        expect(await store.getLock(target)).toEqual({ target, owner: 'exec-1', expiresAt: expiresAt.toISOString() });
      });

      it('is refused while held, naming the holder', async () => {
        const store = await open();
        const target = unique('podinfo');
        const expiresAt = inAnHour();
        await store.acquireLock(target, 'exec-1', expiresAt);

        const result = await store.acquireLock(target, 'exec-2', inAnHour());

        expect(result).toEqual({ acquired: false, holder: { target, owner: 'exec-1', expiresAt: expiresAt.toISOString() } });
        expect((await store.getLock(target))?.owner).toBe('exec-1');
      });

      it('is granted again to its own holder (a retried Prepare), extending the expiry', async () => {
        const store = await open();
        const target = unique('podinfo');
        await store.acquireLock(target, 'exec-1', inAnHour());
        const later = new Date(Date.now() + 2 * HOUR);

        const result = await store.acquireLock(target, 'exec-1', later);

        expect(result).toEqual({ acquired: true });
        expect((await store.getLock(target))?.expiresAt).toBe(later.toISOString());
      });

      it('is released by its owner, so another rollout can take it', async () => {
        const store = await open();
        const target = unique('podinfo');
        await store.acquireLock(target, 'exec-1', inAnHour());

        await store.releaseLock(target, 'exec-1');

        expect(await store.getLock(target)).toBeNull();
        expect(await store.acquireLock(target, 'exec-2', inAnHour())).toEqual({ acquired: true });
      });

      it('release is idempotent: releasing twice or releasing a free lock does not throw', async () => {
        const store = await open();
        const target = unique('podinfo');
        await store.acquireLock(target, 'exec-1', inAnHour());

        await store.releaseLock(target, 'exec-1');
        await store.releaseLock(target, 'exec-1');
        await store.releaseLock(unique('never-locked'), 'exec-1');

        expect(await store.getLock(target)).toBeNull();
      });

      it('release by someone who does not hold it leaves the lock alone', async () => {
        const store = await open();
        const target = unique('podinfo');
        await store.acquireLock(target, 'exec-1', inAnHour());

        await store.releaseLock(target, 'exec-2');

        expect((await store.getLock(target))?.owner).toBe('exec-1');
      });

      it('listLocks lists every held lock of every target, and neither a released nor an expired one', async () => {
        const store = await open();
        const held = unique('held');
        const other = unique('other');
        const released = unique('released');
        const expired = unique('expired');
        const expiresAt = inAnHour();
        await store.acquireLock(held, 'exec-1', expiresAt);
        await store.acquireLock(other, 'exec-2', expiresAt);
        await store.acquireLock(released, 'exec-3', expiresAt);
        await store.releaseLock(released, 'exec-3');
        await store.acquireLock(expired, 'exec-4', new Date(Date.now() - 1000));

        const mine = (await store.listLocks()).filter((lock) => [held, other, released, expired].includes(lock.target));

        expect(mine.sort((a, b) => a.owner.localeCompare(b.owner))).toEqual([
          { target: held, owner: 'exec-1', expiresAt: expiresAt.toISOString() },
          { target: other, owner: 'exec-2', expiresAt: expiresAt.toISOString() },
        ]);
      });

      it('an expired lock is not reported as held and may be taken over', async () => {
        const store = await open();
        const target = unique('podinfo');
        await store.acquireLock(target, 'crashed-exec', new Date(Date.now() - 1000));

        const lockBefore = await store.getLock(target);
        const result = await store.acquireLock(target, 'exec-2', inAnHour());

        expect(lockBefore).toBeNull();
        expect(result).toEqual({ acquired: true });
        expect((await store.getLock(target))?.owner).toBe('exec-2');
      });

      it('the previous owner of a taken-over lock cannot release the new owner', async () => {
        const store = await open();
        const target = unique('podinfo');
        await store.acquireLock(target, 'crashed-exec', new Date(Date.now() - 1000));
        await store.acquireLock(target, 'exec-2', inAnHour());

        await store.releaseLock(target, 'crashed-exec');

        expect((await store.getLock(target))?.owner).toBe('exec-2');
      });

      it('two stores racing for one target: exactly one wins, the other is told who', async () => {
        const [first, second] = [await open(), await open()];
        const target = unique('podinfo');

        const results = await Promise.all([
          first.acquireLock(target, 'exec-a', inAnHour()),
          second.acquireLock(target, 'exec-b', inAnHour()),
          first.acquireLock(target, 'exec-c', inAnHour()),
          second.acquireLock(target, 'exec-d', inAnHour()),
        ]);

        const winners = results.filter((r) => r.acquired);
        const holder = await first.getLock(target);
        expect(winners).toHaveLength(1);
        for (const r of results) {
          if (!r.acquired) expect(r.holder.owner).toBe(holder?.owner);
        }
      });
    });

    describe('rollouts', () => {
      it('creates and reads back a rollout record', async () => {
        const store = await open();
        const record = rollout(unique('podinfo'), unique('exec'), '2026-03-01T10:00:00.000Z');

        await store.createRollout(record);

        expect(await store.getRollout(record.execution)).toEqual(record);
        expect(await store.getRollout(unique('missing'))).toBeNull();
      });

      it('a repeated create for the same target and version keeps the existing record (retried Prepare)', async () => {
        const store = await open();
        const record = rollout(unique('podinfo'), unique('exec'), '2026-03-01T10:00:00.000Z');
        await store.createRollout(record);
        await store.updateRollout(record.execution, { lastWeights: { primary: 90, canary: 10 } });

        await store.createRollout({ ...record, startedAt: '2026-03-01T10:05:00.000Z' });

        expect(await store.getRollout(record.execution)).toEqual({ ...record, lastWeights: { primary: 90, canary: 10 } });
      });

      it('refuses to reuse an execution name for a different target or version', async () => {
        const store = await open();
        const record = rollout(unique('podinfo'), unique('exec'), '2026-03-01T10:00:00.000Z');
        await store.createRollout(record);

        await expect(store.createRollout({ ...record, version: 'v3' })).rejects.toThrow(record.execution);
      });

      it('merges updates into the record', async () => {
        const store = await open();
        const record = rollout(unique('podinfo'), unique('exec'), '2026-03-01T10:00:00.000Z');
        await store.createRollout(record);

        await store.updateRollout(record.execution, { safeSide: 'canary', lastWeights: { primary: 0, canary: 100 } });
        await store.updateRollout(record.execution, {
          status: 'finished',
          outcome: 'promotion-failed',
          reason: 'primary not ready after 5m',
          finishedAt: '2026-03-01T10:30:00.000Z',
        });

        expect(await store.getRollout(record.execution)).toEqual({
          ...record,
          safeSide: 'canary',
          lastWeights: { primary: 0, canary: 100 },
          status: 'finished',
          outcome: 'promotion-failed',
          reason: 'primary not ready after 5m',
          finishedAt: '2026-03-01T10:30:00.000Z',
        });
      });

      it('updating a rollout that does not exist fails, naming it', async () => {
        const store = await open();
        const execution = unique('missing');

        await expect(store.updateRollout(execution, { status: 'finished' })).rejects.toThrow(execution);
      });

      it("lists a target's rollouts newest first, honouring the limit, and no other target's", async () => {
        const store = await open();
        const target = unique('podinfo');
        const older = rollout(target, unique('exec-old'), '2026-03-01T10:00:00.000Z');
        const newest = rollout(target, unique('exec-new'), '2026-03-03T10:00:00.000Z');
        const middle = rollout(target, unique('exec-mid'), '2026-03-02T10:00:00.000Z');
        for (const record of [older, newest, middle]) await store.createRollout(record);
        await store.createRollout(rollout(unique('other'), unique('exec'), '2026-03-04T10:00:00.000Z'));

        const all = await store.listRollouts(target);
        const two = await store.listRollouts(target, 2);

        expect(all.map((r) => r.execution)).toEqual([newest.execution, middle.execution, older.execution]);
        expect(two.map((r) => r.execution)).toEqual([newest.execution, middle.execution]);
        expect(await store.listRollouts(unique('nobody'))).toEqual([]);
      });

      it('lists updated records as they are now', async () => {
        const store = await open();
        const record = rollout(unique('podinfo'), unique('exec'), '2026-03-01T10:00:00.000Z');
        await store.createRollout(record);

        await store.updateRollout(record.execution, { status: 'finished', outcome: 'promoted' });

        expect(await store.listRollouts(record.target)).toEqual([{ ...record, status: 'finished', outcome: 'promoted' }]);
      });

      it('lists every open rollout of every target, and no finished one (what the reconciler reads)', async () => {
        const store = await open();
        const open1 = rollout(unique('podinfo'), unique('exec-a'), '2026-03-01T10:00:00.000Z');
        const open2 = rollout(unique('web'), unique('exec-b'), '2026-03-02T10:00:00.000Z');
        const closed = rollout(unique('api'), unique('exec-c'), '2026-03-03T10:00:00.000Z');
        for (const record of [open1, open2, closed]) await store.createRollout(record);

        await store.updateRollout(closed.execution, { status: 'finished', outcome: 'rolled-back' });

        const listed = (await store.listOpenRollouts()).map((r) => r.execution);
        expect(listed).toEqual(expect.arrayContaining([open1.execution, open2.execution]));
        expect(listed).not.toContain(closed.execution);
      });
    });

    describe('task tokens', () => {
      it('keeps one pending token per target, the newest replacing the older', async () => {
        const store = await open();
        const target = unique('podinfo');
        const first = { target, execution: 'exec-1', token: 'token-1', gate: 'bake', createdAt: '2026-03-01T10:00:00.000Z' };
        const second = { ...first, token: 'token-2', createdAt: '2026-03-01T10:01:00.000Z' };

        await store.putTaskToken(first);
        await store.putTaskToken(second);

        expect(await store.getTaskToken(target)).toEqual(second);
        expect(await store.getTaskToken(unique('none'))).toBeNull();
      });

      it('clears the token only if it is still the one named', async () => {
        const store = await open();
        const target = unique('podinfo');
        const pending = { target, execution: 'exec-1', token: 'token-2', gate: 'bake', createdAt: '2026-03-01T10:01:00.000Z' };
        await store.putTaskToken(pending);

        await store.clearTaskToken(target, 'token-1');
        const afterStaleClear = await store.getTaskToken(target);
        await store.clearTaskToken(target, 'token-2');
        await store.clearTaskToken(target, 'token-2');

        expect(afterStaleClear).toEqual(pending);
        expect(await store.getTaskToken(target)).toBeNull();
      });
    });

    describe('abort requests', () => {
      it('records an abort request for an execution and reads it back', async () => {
        const store = await open();
        const execution = unique('exec');
        const request = { execution, by: 'bob', reason: 'error budget burning', at: '2026-03-01T10:02:00.000Z' };

        const before = await store.getAbort(execution);
        await store.requestAbort(request);

        expect(before).toBeNull();
        expect(await store.getAbort(execution)).toEqual(request);
        expect(await store.getAbort(unique('other'))).toBeNull();
      });

      it('is seen by another store on the same backing (the CLI aborts from another process)', async () => {
        const [cli, engine] = [await open(), await open()];
        const execution = unique('exec');

        await cli.requestAbort({ execution, by: 'bob', reason: 'stop', at: '2026-03-01T10:02:00.000Z' });

        expect((await engine.getAbort(execution))?.by).toBe('bob');
      });

      it('answers an abort after the promotion passed its point of no return `too-late`, and flags nothing', async () => {
        const store = await open();
        const execution = unique('exec');

        const commit = await store.commitPromotion(execution, '2026-03-01T10:03:00.000Z');
        const retried = await store.commitPromotion(execution, '2026-03-01T10:03:05.000Z');
        const answer = await store.requestAbort({ execution, by: 'bob', reason: 'stop', at: '2026-03-01T10:03:01.000Z' });

        expect(commit).toEqual({ committed: true, at: '2026-03-01T10:03:00.000Z' });
        expect(retried).toEqual({ committed: true, at: '2026-03-01T10:03:00.000Z' });
        expect(answer).toEqual({ flagged: false, committedAt: '2026-03-01T10:03:00.000Z' });
        expect(await store.getAbort(execution)).toBeNull();
        expect(await store.getPromotionCommit(execution)).toBe('2026-03-01T10:03:00.000Z');
        expect(await store.getPromotionCommit(unique('other'))).toBeNull();
      });

      it('refuses to pass the point of no return once an abort is flagged: the abort wins', async () => {
        const [cli, engine] = [await open(), await open()];
        const execution = unique('exec');
        const request = { execution, by: 'bob', reason: 'stop', at: '2026-03-01T10:02:00.000Z' };

        const answer = await cli.requestAbort(request);
        const commit = await engine.commitPromotion(execution, '2026-03-01T10:03:00.000Z');

        expect(answer).toEqual({ flagged: true });
        expect(commit).toEqual({ committed: false, abort: request });
        expect(await engine.getAbort(execution)).toEqual(request);
        expect(await engine.getPromotionCommit(execution)).toBeNull();
      });

      it('lets exactly one of an abort and a commit win when they race', async () => {
        const [cli, engine] = [await open(), await open()];
        const results = await Promise.all(
          Array.from({ length: 8 }, async (_, i) => {
            const execution = unique(`race-${i}`);
            const [answer, commit] = await Promise.all([
              cli.requestAbort({ execution, by: 'bob', reason: 'stop', at: '2026-03-01T10:02:00.000Z' }),
              engine.commitPromotion(execution, '2026-03-01T10:02:00.000Z'),
            ]);
            return answer.flagged !== commit.committed;
          }),
        );
        expect(results).toEqual(Array.from({ length: 8 }, () => true));
      });
    });

    describe('window overrides', () => {
      it('keeps the latest override of a target, the newer replacing the older, and none for other targets', async () => {
        const [a, b] = [await open(), await open()];
        const target = unique('web');
        const first = {
          target,
          by: 'alice@cli',
          reason: 'hotfix for INC-1',
          at: '2026-03-01T10:00:00.000Z',
          until: '2026-03-01T11:00:00.000Z',
        };
        const second = { ...first, by: 'slack:U0BOB', reason: 'hotfix, take two', until: '2026-03-01T12:00:00.000Z' };

        await a.putOverride(first);
        const seen = await b.getOverride(target);
        await b.putOverride(second);

        expect(seen).toEqual(first);
        expect(await a.getOverride(target)).toEqual(second);
        expect(await a.getOverride(unique('other'))).toBeNull();
      });
    });

    describe('analysis state', () => {
      it('keeps the judge state of an execution as plain JSON, replaced whole, floats exact', async () => {
        const store = await open();
        const execution = unique('exec');
        const first = { judge: { logWealth: [0.1 + 0.2, -1e-300, 123456.789], looks: 1 }, baseline: { at: '2026-03-01T10:00:00.000Z' } };
        const second = { judge: { looks: 2 } };

        const before = await store.getAnalysisState(execution);
        await store.putAnalysisState(execution, first);
        const read = await store.getAnalysisState(execution);
        await store.putAnalysisState(execution, second);

        expect(before).toBeNull();
        expect(read).toEqual(first);
        expect(await store.getAnalysisState(execution)).toEqual(second);
        expect(await store.getAnalysisState(unique('other'))).toBeNull();
      });
    });

    describe('steps', () => {
      it('assigns seq 1, 2, 3 and lists the history in order with its evidence', async () => {
        const store = await open();
        const execution = unique('exec');

        const a = await store.appendStep({
          execution,
          at: '2026-03-01T10:00:00.000Z',
          kind: 'weight',
          stepIndex: 0,
          weights: { primary: 95, canary: 5 },
        });
        const b = await store.appendStep({ execution, at: '2026-03-01T10:01:00.000Z', kind: 'analysis', stepIndex: 0, verdict });
        const c = await store.appendStep({ execution, at: '2026-03-01T10:01:01.000Z', kind: 'decision', detail: 'rollback' });

        expect([a.seq, b.seq, c.seq]).toEqual([1, 2, 3]);
        expect(b).toEqual({ execution, seq: 2, at: '2026-03-01T10:01:00.000Z', kind: 'analysis', stepIndex: 0, verdict });
        expect(await store.listSteps(execution)).toEqual([a, b, c]);
        expect(await store.listSteps(unique('other'))).toEqual([]);
      });

      it('numbers steps per execution, without gaps or duplicates when appended concurrently', async () => {
        const [first, second] = [await open(), await open()];
        const execution = unique('exec');
        const other = unique('exec');

        const appended = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            (i % 2 === 0 ? first : second).appendStep({ execution, at: '2026-03-01T10:00:00.000Z', kind: 'note', detail: `n${i}` }),
          ),
        );
        const otherStep = await first.appendStep({ execution: other, at: '2026-03-01T10:00:00.000Z', kind: 'note' });

        expect(appended.map((s) => s.seq).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        expect((await first.listSteps(execution)).map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        expect(otherStep.seq).toBe(1);
      });
    });

    describe('events and sequences', () => {
      it('hands out increasing sequence numbers per execution, shared by stores on one backing', async () => {
        const [first, second] = [await open(), await open()];
        const execution = unique('exec');

        const numbers = await Promise.all([
          first.nextSequence(execution),
          second.nextSequence(execution),
          first.nextSequence(execution),
          second.nextSequence(execution),
        ]);
        const afterwards = await first.nextSequence(execution);

        expect([...numbers].sort((x, y) => x - y)).toEqual([1, 2, 3, 4]);
        expect(afterwards).toBe(5);
        expect(await first.nextSequence(unique('exec'))).toBe(1);
      });

      it('appends events and lists them by sequence, even when appended out of order', async () => {
        const store = await open();
        const execution = unique('exec');
        const base = { target: 'podinfo', version: 'v2', execution };
        const started: SluiceEvent = {
          ...base,
          detailType: 'Rollout Started',
          sequence: 1,
          at: '2026-03-01T10:00:00.000Z',
          weights: { primary: 100, canary: 0 },
        };
        const analysed: SluiceEvent = { ...base, detailType: 'Analysis Completed', sequence: 3, at: '2026-03-01T10:01:00.000Z', verdict };
        const rolledBack: SluiceEvent = {
          ...base,
          detailType: 'Rollout Rolled Back',
          sequence: 2,
          at: '2026-03-01T10:00:30.000Z',
          outcome: 'rolled-back',
          reason: 'request-success-rate 97.2 < min 99',
        };

        await store.appendEvent(started);
        await store.appendEvent(analysed);
        await store.appendEvent(rolledBack);

        expect(await store.listEvents(execution)).toEqual([started, rolledBack, analysed]);
        expect(await store.listEvents(unique('other'))).toEqual([]);
      });
    });

    describe('idempotency ledger', () => {
      const record = (execution: string): TriggerRecord => ({
        source: 'ecr',
        execution,
        at: '2026-03-01T10:00:00.000Z',
        detail: { target: 'podinfo', version: 'v1.2.3', digest: 'sha256:abc' },
      });

      it('records a key the first time and hands back the first record afterwards, unchanged', async () => {
        const store = await open();
        const key = unique('ecr:podinfo@sha256');

        const first = await store.recordTrigger(key, record('podinfo-v1-2-3'));
        const again = await store.recordTrigger(key, { source: 'ecr', execution: 'podinfo-v1-2-3-a2', at: '2026-03-01T10:05:00.000Z' });

        expect(first).toEqual({ first: true });
        expect(again).toEqual({ first: false, existing: record('podinfo-v1-2-3') });
      });

      it('keeps a record without an execution (a refused trigger) as it was written', async () => {
        const store = await open();
        const key = unique('event');
        const refused: TriggerRecord = {
          source: 'event',
          at: '2026-03-01T10:00:00.000Z',
          detail: { outcome: 'refused', reason: 'podinfo-v1 is running' },
        };

        await store.recordTrigger(key, refused);

        expect(await store.recordTrigger(key, record('x'))).toEqual({ first: false, existing: refused });
      });

      it('two stores racing with one key: exactly one is first, the other sees its record', async () => {
        const [a, b] = [await open(), await open()];
        const key = unique('gitops');

        const results = await Promise.all([a.recordTrigger(key, record('from-a')), b.recordTrigger(key, record('from-b'))]);

        const winners = results.filter((r) => r.first);
        expect(winners).toHaveLength(1);
        const loser = results.find((r) => !r.first);
        const winner = results[0]?.first ? 'from-a' : 'from-b';
        expect(loser).toEqual({ first: false, existing: record(winner) });
      });

      it('keys are independent: another key is first too', async () => {
        const store = await open();
        await store.recordTrigger(unique('schedule'), record('one'));
        expect(await store.recordTrigger(unique('schedule'), record('two'))).toEqual({ first: true });
      });
    });
  });
}
