/**
 * RolloutStore on `node:sqlite` (Node 24 built-in): the store of the local engine and the CLI.
 *
 * Several processes share one file (the engine, and `sluice abort` from another terminal), so
 * the database runs in WAL mode with a busy timeout, and every read-modify-write happens inside a
 * `BEGIN IMMEDIATE` transaction: it takes the write lock up front, so two processes cannot both
 * read "free" and both write "mine".
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type {
  AbortRequest,
  LockHolder,
  PendingToken,
  RolloutRecord,
  SluiceEvent,
  StepRecord,
  TriggerRecord,
  WindowOverride,
} from '../../core/records.ts';
import type { AbortAnswer, PromotionCommit, RolloutStore } from '../../core/ports.ts';
import { transientWhen } from './transient.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS locks (
  target TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rollouts (
  execution TEXT PRIMARY KEY,
  target TEXT NOT NULL,
  started_ms INTEGER NOT NULL,
  record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rollouts_by_target ON rollouts (target, started_ms);
CREATE TABLE IF NOT EXISTS task_tokens (
  target TEXT PRIMARY KEY,
  token TEXT NOT NULL,
  pending TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS analysis_state (
  execution TEXT PRIMARY KEY,
  state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS aborts (
  execution TEXT PRIMARY KEY,
  request TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS promotion_commits (
  execution TEXT PRIMARY KEY,
  at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
  execution TEXT NOT NULL,
  seq INTEGER NOT NULL,
  step TEXT NOT NULL,
  PRIMARY KEY (execution, seq)
);
CREATE TABLE IF NOT EXISTS events (
  execution TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  event TEXT NOT NULL,
  PRIMARY KEY (execution, sequence)
);
CREATE TABLE IF NOT EXISTS triggers (
  key TEXT PRIMARY KEY,
  record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS overrides (
  target TEXT PRIMARY KEY,
  override TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sequences (
  execution TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
`;

export interface SqliteStoreOptions {
  /** The clock deciding whether a lock has expired (tests pin it). */
  now?: () => Date;
  /** How long a statement waits for another process's write lock before failing. */
  busyTimeoutMs?: number;
}

type Row = Record<string, unknown>;

function text(row: Row | undefined, column: string): string {
  const value = row?.[column];
  if (typeof value !== 'string') throw new Error(`sqlite store: column ${column} is not text`);
  return value;
}

function parse<T>(row: Row | undefined, column: string): T {
  return JSON.parse(text(row, column)) as T;
}

function epochMs(iso: string, what: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`sqlite store: ${what} is not a date: "${iso}"`);
  return ms;
}

export class SqliteRolloutStore implements RolloutStore {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.#now = options.now ?? (() => new Date());
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.#db = new DatabaseSync(path, { timeout: options.busyTimeoutMs ?? 10_000 });
    // WAL lets readers (the CLI's status) run while the engine writes; NORMAL sync is the WAL default trade-off.
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
    this.#transaction(() => this.#db.exec(SCHEMA));
  }

  /** Runs `work` under the database's write lock (taken at BEGIN, not at the first write). */
  #transaction<T>(work: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  async recordTrigger(key: string, record: TriggerRecord): Promise<{ first: true } | { first: false; existing: TriggerRecord }> {
    // One statement: the insert either happens or finds the first record; no read-then-write race.
    const inserted = this.#db
      .prepare('INSERT INTO triggers (key, record) VALUES (?, ?) ON CONFLICT (key) DO NOTHING')
      .run(key, JSON.stringify(record));
    if (Number(inserted.changes) > 0) return { first: true };
    const row = this.#db.prepare('SELECT record FROM triggers WHERE key = ?').get(key);
    return { first: false, existing: parse<TriggerRecord>(row, 'record') };
  }

  async acquireLock(target: string, owner: string, expiresAt: Date): Promise<{ acquired: true } | { acquired: false; holder: LockHolder }> {
    const nowMs = this.#now().getTime();
    return this.#transaction(() => {
      // One conditional upsert: insert when free, take over when expired, extend when already ours.
      const taken = this.#db
        .prepare(
          `INSERT INTO locks (target, owner, expires_ms) VALUES (?, ?, ?)
           ON CONFLICT (target) DO UPDATE SET owner = excluded.owner, expires_ms = excluded.expires_ms
           WHERE locks.expires_ms <= ? OR locks.owner = excluded.owner
           RETURNING owner`,
        )
        .get(target, owner, expiresAt.getTime(), nowMs);
      if (taken !== undefined) return { acquired: true } as const;
      const holder = this.#db.prepare('SELECT owner, expires_ms FROM locks WHERE target = ?').get(target);
      return {
        acquired: false,
        holder: { target, owner: text(holder, 'owner'), expiresAt: new Date(Number(holder?.['expires_ms'])).toISOString() },
      } as const;
    });
  }

  async releaseLock(target: string, owner: string): Promise<void> {
    this.#db.prepare('DELETE FROM locks WHERE target = ? AND owner = ?').run(target, owner);
  }

  async getLock(target: string): Promise<LockHolder | null> {
    const row = this.#db
      .prepare('SELECT owner, expires_ms FROM locks WHERE target = ? AND expires_ms > ?')
      .get(target, this.#now().getTime());
    if (row === undefined) return null;
    return { target, owner: text(row, 'owner'), expiresAt: new Date(Number(row['expires_ms'])).toISOString() };
  }

  async listLocks(): Promise<LockHolder[]> {
    return this.#db
      .prepare('SELECT target, owner, expires_ms FROM locks WHERE expires_ms > ? ORDER BY target')
      .all(this.#now().getTime())
      .map((row) => ({
        target: text(row, 'target'),
        owner: text(row, 'owner'),
        expiresAt: new Date(Number(row['expires_ms'])).toISOString(),
      }));
  }

  async createRollout(record: RolloutRecord): Promise<void> {
    const startedMs = epochMs(record.startedAt, `rollout ${record.execution} startedAt`);
    this.#transaction(() => {
      const existing = this.#db.prepare('SELECT record FROM rollouts WHERE execution = ?').get(record.execution);
      if (existing !== undefined) {
        const current = parse<RolloutRecord>(existing, 'record');
        // A retried Prepare writes the same rollout again: keep what is recorded since.
        if (current.target === record.target && current.version === record.version) return;
        throw new Error(
          `rollout ${record.execution} already exists for ${current.target} ${current.version}; refusing to record ${record.target} ${record.version} under the same execution name`,
        );
      }
      this.#db
        .prepare('INSERT INTO rollouts (execution, target, started_ms, record) VALUES (?, ?, ?, ?)')
        .run(record.execution, record.target, startedMs, JSON.stringify(record));
    });
  }

  async getRollout(execution: string): Promise<RolloutRecord | null> {
    const row = this.#db.prepare('SELECT record FROM rollouts WHERE execution = ?').get(execution);
    return row === undefined ? null : parse<RolloutRecord>(row, 'record');
  }

  async updateRollout(execution: string, patch: Partial<Omit<RolloutRecord, 'execution' | 'target'>>): Promise<void> {
    this.#transaction(() => {
      const row = this.#db.prepare('SELECT record FROM rollouts WHERE execution = ?').get(execution);
      if (row === undefined) throw new Error(`rollout ${execution} not found: cannot update it`);
      const current = parse<RolloutRecord>(row, 'record');
      const defined = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
      const next: RolloutRecord = { ...current, ...defined, execution: current.execution, target: current.target };
      this.#db
        .prepare('UPDATE rollouts SET record = ?, started_ms = ? WHERE execution = ?')
        .run(JSON.stringify(next), epochMs(next.startedAt, `rollout ${execution} startedAt`), execution);
    });
  }

  async listRollouts(target: string, limit = 1000): Promise<RolloutRecord[]> {
    const rows = this.#db
      .prepare('SELECT record FROM rollouts WHERE target = ? ORDER BY started_ms DESC, rowid DESC LIMIT ?')
      .all(target, limit);
    return rows.map((row) => parse<RolloutRecord>(row, 'record'));
  }

  async listOpenRollouts(): Promise<RolloutRecord[]> {
    // json_extract keeps the schema as it is: an open rollout is one whose record says running.
    const rows = this.#db
      .prepare("SELECT record FROM rollouts WHERE json_extract(record, '$.status') = 'running' ORDER BY started_ms ASC, rowid ASC")
      .all();
    return rows.map((row) => parse<RolloutRecord>(row, 'record'));
  }

  async putTaskToken(pending: PendingToken): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO task_tokens (target, token, pending) VALUES (?, ?, ?)
         ON CONFLICT (target) DO UPDATE SET token = excluded.token, pending = excluded.pending`,
      )
      .run(pending.target, pending.token, JSON.stringify(pending));
  }

  async getTaskToken(target: string): Promise<PendingToken | null> {
    const row = this.#db.prepare('SELECT pending FROM task_tokens WHERE target = ?').get(target);
    return row === undefined ? null : parse<PendingToken>(row, 'pending');
  }

  async clearTaskToken(target: string, token: string): Promise<void> {
    this.#db.prepare('DELETE FROM task_tokens WHERE target = ? AND token = ?').run(target, token);
  }

  async requestAbort(request: AbortRequest): Promise<AbortAnswer> {
    // Under the write lock: the commit check and the flag are one step, as commitPromotion's are.
    return this.#transaction(() => {
      const committed = this.#db.prepare('SELECT at FROM promotion_commits WHERE execution = ?').get(request.execution);
      if (committed !== undefined) return { flagged: false, committedAt: text(committed, 'at') } as const;
      this.#db
        .prepare('INSERT INTO aborts (execution, request) VALUES (?, ?) ON CONFLICT (execution) DO UPDATE SET request = excluded.request')
        .run(request.execution, JSON.stringify(request));
      return { flagged: true } as const;
    });
  }

  async commitPromotion(execution: string, at: string): Promise<PromotionCommit> {
    return this.#transaction(() => {
      const abort = this.#db.prepare('SELECT request FROM aborts WHERE execution = ?').get(execution);
      if (abort !== undefined) return { committed: false, abort: parse<AbortRequest>(abort, 'request') } as const;
      this.#db.prepare('INSERT INTO promotion_commits (execution, at) VALUES (?, ?) ON CONFLICT (execution) DO NOTHING').run(execution, at);
      return {
        committed: true,
        at: text(this.#db.prepare('SELECT at FROM promotion_commits WHERE execution = ?').get(execution), 'at'),
      } as const;
    });
  }

  async putOverride(override: WindowOverride): Promise<void> {
    this.#db
      .prepare('INSERT INTO overrides (target, override) VALUES (?, ?) ON CONFLICT (target) DO UPDATE SET override = excluded.override')
      .run(override.target, JSON.stringify(override));
  }

  async getOverride(target: string): Promise<WindowOverride | null> {
    const row = this.#db.prepare('SELECT override FROM overrides WHERE target = ?').get(target);
    return row === undefined ? null : parse<WindowOverride>(row, 'override');
  }

  async putAnalysisState(execution: string, state: unknown): Promise<void> {
    this.#db
      .prepare('INSERT INTO analysis_state (execution, state) VALUES (?, ?) ON CONFLICT (execution) DO UPDATE SET state = excluded.state')
      .run(execution, JSON.stringify(state));
  }

  async getAnalysisState(execution: string): Promise<unknown> {
    const row = this.#db.prepare('SELECT state FROM analysis_state WHERE execution = ?').get(execution);
    return row === undefined ? null : (JSON.parse(String(row['state'])) as unknown);
  }

  async getPromotionCommit(execution: string): Promise<string | null> {
    const row = this.#db.prepare('SELECT at FROM promotion_commits WHERE execution = ?').get(execution);
    return row === undefined ? null : text(row, 'at');
  }

  async getAbort(execution: string): Promise<AbortRequest | null> {
    const row = this.#db.prepare('SELECT request FROM aborts WHERE execution = ?').get(execution);
    return row === undefined ? null : parse<AbortRequest>(row, 'request');
  }

  async appendStep(step: Omit<StepRecord, 'seq'>): Promise<StepRecord> {
    return this.#transaction(() => {
      const row = this.#db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM steps WHERE execution = ?').get(step.execution);
      const record: StepRecord = { ...step, seq: Number(row?.['next']) };
      this.#db
        .prepare('INSERT INTO steps (execution, seq, step) VALUES (?, ?, ?)')
        .run(record.execution, record.seq, JSON.stringify(record));
      return record;
    });
  }

  async listSteps(execution: string): Promise<StepRecord[]> {
    const rows = this.#db.prepare('SELECT step FROM steps WHERE execution = ? ORDER BY seq').all(execution);
    return rows.map((row) => parse<StepRecord>(row, 'step'));
  }

  async appendEvent(event: SluiceEvent): Promise<void> {
    // Keyed by sequence: a publisher retrying the same event replaces it instead of doubling it.
    this.#db
      .prepare('INSERT OR REPLACE INTO events (execution, sequence, event) VALUES (?, ?, ?)')
      .run(event.execution, event.sequence, JSON.stringify(event));
  }

  async listEvents(execution: string): Promise<SluiceEvent[]> {
    const rows = this.#db.prepare('SELECT event FROM events WHERE execution = ? ORDER BY sequence').all(execution);
    return rows.map((row) => parse<SluiceEvent>(row, 'event'));
  }

  async nextSequence(execution: string): Promise<number> {
    const row = this.#db
      .prepare(
        `INSERT INTO sequences (execution, value) VALUES (?, 1)
         ON CONFLICT (execution) DO UPDATE SET value = value + 1
         RETURNING value`,
      )
      .get(execution);
    return Number(row?.['value']);
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}

/** SQLITE_BUSY (5) and SQLITE_LOCKED (6): another connection held the write lock past the busy timeout. */
const BUSY_CODES = new Set([5, 6]);

function isBusy(error: unknown): boolean {
  const errcode = (error as { errcode?: unknown } | null)?.errcode;
  return typeof errcode === 'number' && BUSY_CODES.has(errcode);
}

/**
 * A locked database (another process — `sluice abort`, a backup, a second engine — held the write
 * lock longer than the busy timeout) is the local analogue of DynamoDB throttling: worth a retry.
 * node:sqlite throws `database is locked` with `errcode` 5 (SQLite result codes).
 */
function busyIsTransient(store: SqliteRolloutStore): SqliteRolloutStore {
  return transientWhen(store, isBusy, (method) => `the store is busy (${method}): another connection holds the database's write lock`);
}

/** Opens (and creates when missing) a store file, or an in-memory store for one process. */
export function openSqliteStore(path: string | ':memory:', options?: SqliteStoreOptions): SqliteRolloutStore {
  return busyIsTransient(new SqliteRolloutStore(path, options));
}
