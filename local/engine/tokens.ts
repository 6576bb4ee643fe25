/**
 * Task tokens for `.waitForTaskToken` Tasks. A token is minted when the Parameters read
 * `$$.Task.Token`, becomes pending when the Task starts, and is closed when SendTaskSuccess /
 * SendTaskFailure settles it, the Task times out, or the execution ends. As on AWS: a token that
 * is not a token -> InvalidToken; one this engine never issued -> TaskDoesNotExist; one whose task
 * is already closed -> TaskTimedOut.
 */
import { randomUUID } from 'node:crypto';
import { SfnServiceError, TaskError } from './errors.ts';

interface TokenEntry {
  executionArn: string;
  state: 'minted' | 'pending' | 'closed';
  stateName?: string;
  resolve?: (output: unknown) => void;
  reject?: (error: TaskError) => void;
}

const TOKEN_PREFIX = 'AQsluice';
/** Closed tokens are remembered (to answer TaskTimedOut) up to this many, oldest forgotten first. */
const MAX_CLOSED = 10_000;

export class TaskTokens {
  readonly #entries = new Map<string, TokenEntry>();
  #closedCount = 0;

  /** A fresh token for a Task of this execution (the `$$.Task.Token` getter). */
  mint(executionArn: string): string {
    const payload = Buffer.from(JSON.stringify({ v: 1, id: randomUUID() })).toString('base64url');
    const token = `${TOKEN_PREFIX}${payload}`;
    this.#entries.set(token, { executionArn, state: 'minted' });
    return token;
  }

  /**
   * The Task started: finds the token its Parameters carry (any string field holding a token
   * minted for this execution), marks it pending and returns the promise SendTask* settles.
   */
  claim(executionArn: string, stateName: string, parameters: unknown): { token: string; settled: Promise<unknown> } {
    const token = findMintedToken(parameters, (candidate) => {
      const entry = this.#entries.get(candidate);
      return entry?.state === 'minted' && entry.executionArn === executionArn;
    });
    if (!token)
      throw new TaskError('States.Runtime', `Task ${stateName} waits for a task token but its Parameters do not pass $$.Task.Token`, {
        terminal: true,
      });
    // Tokens minted but not used (a getter read twice) are dropped.
    for (const [other, entry] of this.#entries)
      if (entry.state === 'minted' && entry.executionArn === executionArn && other !== token) this.#entries.delete(other);
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    // Settled before anyone awaits it (an abort while the Lambda still runs): not an unhandled rejection.
    promise.catch(() => undefined);
    this.#entries.set(token, { executionArn, stateName, state: 'pending', resolve, reject });
    return { token, settled: promise };
  }

  /** The pending tokens of an execution (for tests and diagnostics). */
  pending(executionArn: string): string[] {
    return [...this.#entries]
      .filter(([, entry]) => entry.state === 'pending' && entry.executionArn === executionArn)
      .map(([token]) => token);
  }

  succeed(token: string, output: unknown): void {
    this.#close(token, this.#open(token)).resolve?.(output);
  }

  fail(token: string, error: TaskError): void {
    this.#close(token, this.#open(token)).reject?.(error);
  }

  heartbeat(token: string): void {
    this.#open(token);
  }

  /** Closes one token (its Task timed out or ended another way); `reason` rejects it if pending. */
  close(token: string, reason?: TaskError): void {
    const entry = this.#entries.get(token);
    if (!entry || entry.state === 'closed') return;
    const { reject } = this.#close(token, entry);
    if (reason) reject?.(reason);
  }

  /** Closes the open tokens of an execution (of one state, when given); `reason` rejects pending ones. */
  closeAll(executionArn: string, options: { stateName?: string; reason?: TaskError } = {}): void {
    for (const [token, entry] of this.#entries) {
      if (entry.executionArn !== executionArn || entry.state === 'closed') continue;
      if (options.stateName !== undefined && entry.stateName !== options.stateName) continue;
      const { reject } = this.#close(token, entry);
      if (options.reason) reject?.(options.reason);
    }
  }

  #open(token: string): TokenEntry {
    if (!isWellFormed(token)) throw new SfnServiceError('InvalidToken', 'Invalid Token: the task token is malformed');
    const entry = this.#entries.get(token);
    if (!entry || entry.state === 'minted')
      throw new SfnServiceError('TaskDoesNotExist', 'Task Does Not Exist: no task is waiting for this token');
    if (entry.state === 'closed') throw new SfnServiceError('TaskTimedOut', 'Task Timed Out: the task of this token is already closed');
    return entry;
  }

  /** Marks the token closed and returns its settlers (dropped from the entry so a closed token holds nothing). */
  #close(token: string, entry: TokenEntry): Pick<TokenEntry, 'resolve' | 'reject'> {
    const { resolve, reject } = entry;
    entry.state = 'closed';
    delete entry.resolve;
    delete entry.reject;
    this.#closedCount += 1;
    if (this.#closedCount > MAX_CLOSED) {
      for (const [old, oldEntry] of this.#entries) {
        if (oldEntry.state !== 'closed') continue;
        this.#entries.delete(old);
        this.#closedCount -= 1;
        if (this.#closedCount <= MAX_CLOSED) break;
      }
    }
    this.#entries.set(token, entry);
    return { resolve, reject };
  }
}

function isWellFormed(token: string): boolean {
  if (!token.startsWith(TOKEN_PREFIX)) return false;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8'));
    return (
      typeof decoded === 'object' &&
      decoded !== null &&
      (decoded as { v?: unknown }).v === 1 &&
      typeof (decoded as { id?: unknown }).id === 'string'
    );
  } catch {
    return false;
  }
}

function findMintedToken(value: unknown, isMinted: (candidate: string) => boolean): string | undefined {
  if (typeof value === 'string') return value.startsWith(TOKEN_PREFIX) && isMinted(value) ? value : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  for (const child of Array.isArray(value) ? value : Object.values(value)) {
    const found = findMintedToken(child, isMinted);
    if (found) return found;
  }
  return undefined;
}
