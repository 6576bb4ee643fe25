/**
 * ChatState in the local store's sqlite file (its own table, its own connection: WAL lets the
 * engine and this connection share the file). `:memory:` gives a private in-process state.
 */
import { DatabaseSync } from 'node:sqlite';
import type { ChatState, Claim } from './chat-state.ts';

export class SqliteChatState implements ChatState {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(path: string, options: { now?: () => Date } = {}) {
    this.#now = options.now ?? (() => new Date());
    this.#db = new DatabaseSync(path, { timeout: 10_000 });
    if (path !== ':memory:') this.#db.exec('PRAGMA journal_mode = WAL;');
    this.#db.exec('CREATE TABLE IF NOT EXISTS chat_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_ms INTEGER)');
  }

  async claim(key: string, value: string, expiresAt?: Date): Promise<Claim> {
    // One statement: insert when free, take over only an expired claim.
    const taken = this.#db
      .prepare(
        `INSERT INTO chat_state (key, value, expires_ms) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_ms = excluded.expires_ms
         WHERE chat_state.expires_ms IS NOT NULL AND chat_state.expires_ms <= ?
         RETURNING key`,
      )
      .get(key, value, expiresAt ? expiresAt.getTime() : null, this.#now().getTime());
    if (taken !== undefined) return { claimed: true };
    return { claimed: false, value: (await this.get(key)) ?? '' };
  }

  async get(key: string): Promise<string | null> {
    const row = this.#db.prepare('SELECT value FROM chat_state WHERE key = ?').get(key);
    return typeof row?.['value'] === 'string' ? row['value'] : null;
  }

  async set(key: string, value: string): Promise<void> {
    this.#db
      .prepare('INSERT INTO chat_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
      .run(key, value);
  }

  async release(key: string, value: string): Promise<void> {
    this.#db.prepare('DELETE FROM chat_state WHERE key = ? AND value = ?').run(key, value);
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
