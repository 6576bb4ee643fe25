import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { describeRolloutStoreContract } from '../../../test/store-contract.ts';
import { openSqliteStore } from './sqlite.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-store-'));
const file = join(dir, 'store.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Every call opens another connection on the same file, as the engine and the CLI do.
describeRolloutStoreContract('sqlite file', async () => openSqliteStore(file));

const run = promisify(execFile);
const storeModule = fileURLToPath(new URL('./sqlite.ts', import.meta.url));

/** Runs `body` in a fresh Node process (the same Node 24 binary) with `store` opened on `path`. */
async function inAnotherProcess(path: string, body: string): Promise<string> {
  const script = `
    import { openSqliteStore } from ${JSON.stringify(storeModule)};
    const store = openSqliteStore(${JSON.stringify(path)});
    const result = await (async () => { ${body} })();
    await store.close();
    process.stdout.write(JSON.stringify(result ?? null));
  `;
  const { stdout } = await run(process.execPath, ['--no-warnings', '--input-type=module', '-e', script]);
  return stdout;
}

describe('SqliteRolloutStore across processes', () => {
  it("lets exactly one of several processes take a target's lock", async () => {
    const path = join(dir, 'race.db');
    await openSqliteStore(path).close();
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();

    const outputs = await Promise.all(
      ['exec-a', 'exec-b', 'exec-c', 'exec-d'].map((owner) =>
        inAnotherProcess(path, `return store.acquireLock('podinfo', ${JSON.stringify(owner)}, new Date(${JSON.stringify(expiresAt)}));`),
      ),
    );

    const results = outputs.map((out) => JSON.parse(out) as { acquired: boolean; holder?: { owner: string } });
    const store = openSqliteStore(path);
    const holder = await store.getLock('podinfo');
    await store.close();
    expect(results.filter((r) => r.acquired)).toHaveLength(1);
    expect(results.filter((r) => !r.acquired).map((r) => r.holder?.owner)).toEqual([holder?.owner, holder?.owner, holder?.owner]);
  });

  it('sees an abort requested by another process (sluice abort from a second terminal)', async () => {
    const path = join(dir, 'abort.db');
    const engine = openSqliteStore(path);

    await inAnotherProcess(
      path,
      `await store.requestAbort({ execution: 'podinfo-v2', by: 'bob', reason: 'stop', at: '2026-03-01T10:00:00.000Z' });`,
    );

    expect(await engine.getAbort('podinfo-v2')).toEqual({
      execution: 'podinfo-v2',
      by: 'bob',
      reason: 'stop',
      at: '2026-03-01T10:00:00.000Z',
    });
    await engine.close();
  });

  it('answers a database locked by another connection past the busy timeout as Sluice.Transient, and writes nothing', async () => {
    const path = join(dir, 'busy.db');
    const engine = openSqliteStore(path, { busyTimeoutMs: 50 });
    // Another connection (a backup, a second engine) holds the write lock, as SQLite's BEGIN IMMEDIATE takes it.
    const other = new DatabaseSync(path);
    other.exec('BEGIN IMMEDIATE');

    const failed = await engine.acquireLock('podinfo', 'exec-1', new Date(Date.now() + 60_000)).catch((error: unknown) => error);
    const reads = await engine.getLock('podinfo');
    other.exec('COMMIT');
    other.close();
    const afterwards = await engine.acquireLock('podinfo', 'exec-1', new Date(Date.now() + 60_000));
    await engine.close();

    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).name).toBe('Sluice.Transient');
    expect((failed as Error).message).toMatch(/store is busy \(acquireLock\)/);
    expect(((failed as Error).cause as { errcode?: number }).errcode).toBe(5);
    expect(reads).toBeNull();
    expect(afterwards).toEqual({ acquired: true });
  });

  it('keeps its data when the file is opened again', async () => {
    const path = join(dir, 'reopen.db');
    const first = openSqliteStore(path);
    await first.appendStep({ execution: 'podinfo-v2', at: '2026-03-01T10:00:00.000Z', kind: 'note', detail: 'hello' });
    await first.close();

    const second = openSqliteStore(path);
    const steps = await second.listSteps('podinfo-v2');
    await second.close();

    expect(steps).toEqual([{ execution: 'podinfo-v2', seq: 1, at: '2026-03-01T10:00:00.000Z', kind: 'note', detail: 'hello' }]);
  });
});

describe('SqliteRolloutStore clock and memory mode', () => {
  it('judges lock expiry by the injected clock', async () => {
    let now = new Date('2026-03-01T10:00:00.000Z');
    const store = openSqliteStore(':memory:', { now: () => now });
    await store.acquireLock('podinfo', 'exec-1', new Date('2026-03-01T11:00:00.000Z'));

    const whileHeld = await store.acquireLock('podinfo', 'exec-2', new Date('2026-03-01T12:00:00.000Z'));
    now = new Date('2026-03-01T11:00:01.000Z');
    const afterExpiry = await store.acquireLock('podinfo', 'exec-2', new Date('2026-03-01T12:00:00.000Z'));

    expect(whileHeld.acquired).toBe(false);
    expect(afterExpiry.acquired).toBe(true);
    await store.close();
  });
});
