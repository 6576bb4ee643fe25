/**
 * The local engine's scheduler: the stand-in for EventBridge Scheduler's one-off `at()` schedules.
 * Schedules live in `schedules.db` (node:sqlite) in the state directory, so `sluice start --at`,
 * `sluice schedule list|cancel` in another process and the engine see the same ones; the engine
 * arms a timer per schedule and, when it fires, calls the same start path every trigger uses, with
 * the schedule's name as the idempotency key. Like Scheduler with ActionAfterCompletion DELETE, a
 * schedule that fired is gone; one whose start kept failing stays, marked `failed` (the DLQ's role).
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { scheduleName } from '../lambdas/core/schedule.ts';
import type { RolloutScheduler, ScheduleRolloutRequest, ScheduledRollout } from '../lambdas/core/schedule.ts';

/** The start path: the same one deploy events, Slack and the CLI use. */
export type StartCallback = (target: string, version: string, requestedBy: string, idempotencyKey: string) => Promise<unknown>;

export function schedulesPath(dir: string): string {
  return join(dir, 'schedules.db');
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS schedules (
  name TEXT PRIMARY KEY,
  target TEXT NOT NULL,
  version TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  time_zone TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('scheduled', 'firing', 'failed')),
  last_error TEXT
);`;

type Row = Record<string, unknown>;

function toSchedule(row: Row): ScheduledRollout {
  const text = (column: string) => {
    const value = row[column];
    if (typeof value !== 'string') throw new Error(`schedules.db: column ${column} is not text`);
    return value;
  };
  const state = text('state') === 'failed' ? 'failed' : 'scheduled';
  const lastError = row['last_error'];
  return {
    name: text('name'),
    target: text('target'),
    version: text('version'),
    requestedBy: text('requested_by'),
    at: new Date(Number(row['at_ms'])).toISOString(),
    timeZone: text('time_zone'),
    state,
    ...(typeof lastError === 'string' ? { lastError } : {}),
  };
}

/** The schedules file alone: what the CLI uses to create, list and cancel without running timers. */
export class LocalScheduleBook implements RolloutScheduler {
  protected readonly db: DatabaseSync;

  constructor(path: string) {
    this.db = new DatabaseSync(path, { timeout: 10_000 });
    this.db.exec('PRAGMA journal_mode = WAL;');
    this.db.exec(SCHEMA);
  }

  async create(request: ScheduleRolloutRequest): Promise<{ schedule: ScheduledRollout; created: boolean }> {
    const name = scheduleName(request.target, request.version, request.at);
    const inserted = this.db
      .prepare(
        `INSERT INTO schedules (name, target, version, requested_by, at_ms, time_zone, state) VALUES (?, ?, ?, ?, ?, ?, 'scheduled')
         ON CONFLICT (name) DO NOTHING`,
      )
      .run(name, request.target, request.version, request.requestedBy, request.at.getTime(), request.timeZone ?? 'UTC');
    const row = this.db.prepare('SELECT * FROM schedules WHERE name = ?').get(name);
    if (!row) throw new Error(`local schedule ${name} vanished right after it was written`);
    this.changed();
    return { schedule: toSchedule(row), created: Number(inserted.changes) > 0 };
  }

  async list(target?: string): Promise<ScheduledRollout[]> {
    const rows = target
      ? this.db.prepare('SELECT * FROM schedules WHERE target = ? ORDER BY at_ms, name').all(target)
      : this.db.prepare('SELECT * FROM schedules ORDER BY at_ms, name').all();
    return rows.map(toSchedule);
  }

  async cancel(name: string): Promise<boolean> {
    // A schedule that is firing right now is past cancelling (as in Scheduler once it invoked).
    const removed = this.db.prepare("DELETE FROM schedules WHERE name = ? AND state != 'firing'").run(name);
    this.changed();
    return Number(removed.changes) > 0;
  }

  close(): void {
    this.db.close();
  }

  /** Hook for the running scheduler to re-arm after a change made through this object. */
  protected changed(): void {}
}

export interface LocalSchedulerOptions {
  /** The schedules file (`schedulesPath(stateDir)`). */
  path: string;
  start: StartCallback;
  now?: () => Date;
  /** How often the file is re-read for schedules another process added or cancelled. Default 1000 ms. */
  pollMs?: number;
  /** Further attempts after a failed start, and the pause between them. Default 2 and 1000 ms. */
  retries?: number;
  retryDelayMs?: number;
  /** Overdue schedules older than this when the engine starts are not fired but marked failed. Default 1 h (Scheduler's event age here). */
  maxLatenessMs?: number;
  /** One line per firing, for the engine's log. */
  log?: (line: string) => void;
}

/** Node's timers hold at most 2^31-1 ms (about 24.8 days): longer waits re-arm. */
const MAX_TIMER_MS = 2_147_483_647;

/** The running scheduler: the book plus a timer per pending schedule. */
export class LocalScheduler extends LocalScheduleBook {
  readonly #options: LocalSchedulerOptions;
  readonly #timers = new Map<string, { atMs: number; timer: NodeJS.Timeout }>();
  readonly #poll: NodeJS.Timeout;
  readonly #firing = new Set<Promise<void>>();
  #closed = false;

  constructor(options: LocalSchedulerOptions) {
    super(options.path);
    this.#options = options;
    // A firing the previous engine did not finish is fired again; the start path's idempotency ledger makes that safe.
    this.db.prepare("UPDATE schedules SET state = 'scheduled' WHERE state = 'firing'").run();
    this.#arm();
    this.#poll = setInterval(() => this.#arm(), options.pollMs ?? 1000);
    this.#poll.unref();
  }

  #now(): number {
    return (this.#options.now ?? (() => new Date()))().getTime();
  }

  protected override changed(): void {
    if (!this.#closed) this.#arm();
  }

  /** Matches the timers to the pending schedules in the file. */
  #arm(): void {
    if (this.#closed) return;
    const rows = this.db.prepare("SELECT name, at_ms FROM schedules WHERE state = 'scheduled'").all();
    const pending = new Map(rows.map((row) => [String(row['name']), Number(row['at_ms'])]));
    for (const [name, armed] of this.#timers) {
      if (pending.get(name) !== armed.atMs) {
        clearTimeout(armed.timer);
        this.#timers.delete(name);
      }
    }
    for (const [name, atMs] of pending) {
      if (this.#timers.has(name)) continue;
      const delay = Math.max(0, atMs - this.#now());
      const timer = setTimeout(
        () => {
          this.#timers.delete(name);
          if (atMs - this.#now() > 0) this.#arm();
          else this.#track(this.#fire(name));
        },
        Math.min(delay, MAX_TIMER_MS),
      );
      timer.unref();
      this.#timers.set(name, { atMs, timer });
    }
  }

  #track(firing: Promise<void>): void {
    this.#firing.add(firing);
    void firing.finally(() => this.#firing.delete(firing));
  }

  async #fire(name: string): Promise<void> {
    // Claim it first: one firing per schedule, even if two engines share the directory.
    const claimed = this.db.prepare("UPDATE schedules SET state = 'firing' WHERE name = ? AND state = 'scheduled' RETURNING *").get(name);
    if (!claimed || this.#closed) return;
    const schedule = toSchedule(claimed);
    const log = this.#options.log ?? (() => {});
    const lateness = this.#now() - Date.parse(schedule.at);
    if (lateness > (this.#options.maxLatenessMs ?? 3_600_000)) {
      this.#fail(name, `missed: the local engine was not running at ${schedule.at}`);
      log(`schedule ${name}: missed (due ${schedule.at}), not started`);
      return;
    }
    const attempts = 1 + (this.#options.retries ?? 2);
    let lastError = '';
    for (let attempt = 1; attempt <= attempts && !this.#closed; attempt++) {
      try {
        await this.#options.start(schedule.target, schedule.version, schedule.requestedBy, schedule.name);
        this.db.prepare('DELETE FROM schedules WHERE name = ?').run(name);
        log(`schedule ${name}: started ${schedule.target} ${schedule.version} for ${schedule.requestedBy}`);
        return;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
        log(`schedule ${name}: start attempt ${attempt}/${attempts} failed: ${lastError}`);
        if (attempt < attempts) await new Promise((resolve) => setTimeout(resolve, this.#options.retryDelayMs ?? 1000));
      }
    }
    if (!this.#closed) this.#fail(name, lastError);
  }

  #fail(name: string, error: string): void {
    this.db.prepare("UPDATE schedules SET state = 'failed', last_error = ? WHERE name = ?").run(error, name);
  }

  /** Stops the timers and waits for a firing in progress; pending schedules stay in the file for the next engine. */
  async stop(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#poll);
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await Promise.allSettled([...this.#firing]);
    this.db.prepare("UPDATE schedules SET state = 'scheduled' WHERE state = 'firing'").run();
    this.close();
  }
}
