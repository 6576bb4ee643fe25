/**
 * RolloutStore on DynamoDB: one on-demand table, partition key `pk` (S), sort key `sk` (S),
 * TTL attribute `ttl` (epoch seconds). Key layout:
 *
 *   pk                sk                                  holds                                  ttl
 *   TARGET#<target>   LOCK                                owner, expiresAt (epoch ms)            expiry + 1 day
 *   TARGET#<target>   TOKEN                               the pending task token (one per target) 1 year
 *   TARGET#<target>   OVERRIDE                            the window override in force          until + 1 day
 *   TARGET#<target>   ROLLOUT#<startedAt ISO>#<execution> the rollout record (lists newest first)  none
 *   EXEC#<execution>  ROLLOUT                             pointer: target, version, rolloutSk    none
 *   EXEC#<execution>  ABORT                               the abort request                      none
 *   EXEC#<execution>  STEP#000001 …                       step history                           none
 *   EXEC#<execution>  EVENT#000001 …                      published events                       none
 *   EXEC#<execution>  COUNTER#STEP / COUNTER#EVENT        sequence counters (ADD)                none
 *   TRIGGER#<key>     TRIGGER                             idempotency ledger: what a trigger did none
 *   OPEN              <execution>                         marker of a running rollout (target)   deleted when it finishes
 *   LOCKS             <target>                            marker: this target has been locked    none
 *
 * History (rollouts, steps, events, aborts) is the audit trail and never expires. TTL only sweeps
 * leftovers; correctness never depends on it (DynamoDB deletes expired items lazily), so the lock
 * condition compares `expiresAt` itself.
 */
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { QueryCommandInput } from '@aws-sdk/lib-dynamodb';
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

/** The table's key schema: the CDK table (infra/) uses these same names. */
export const STORE_TABLE_KEYS = { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'ttl' } as const;

const DAY_SECONDS = 86_400;
const TOKEN_TTL_SECONDS = 366 * DAY_SECONDS; // a Standard execution lives at most one year
const KEY_ATTRIBUTES = new Set(['pk', 'sk', 'ttl']);

/** The partitions the reconciler queries (open rollouts, held locks): its IAM Query grant names only these. */
export const RECONCILER_PARTITIONS = ['OPEN', 'LOCKS'] as const;

export const storeKeys = {
  lock: (target: string) => ({ pk: `TARGET#${target}`, sk: 'LOCK' }),
  token: (target: string) => ({ pk: `TARGET#${target}`, sk: 'TOKEN' }),
  override: (target: string) => ({ pk: `TARGET#${target}`, sk: 'OVERRIDE' }),
  rollout: (target: string, startedAt: string, execution: string) => ({
    pk: `TARGET#${target}`,
    sk: `ROLLOUT#${new Date(startedAt).toISOString()}#${execution}`,
  }),
  rolloutPointer: (execution: string) => ({ pk: `EXEC#${execution}`, sk: 'ROLLOUT' }),
  /** A sparse index of open rollouts: one small item per running record, deleted when it finishes (the reconciler queries it). */
  open: (execution: string) => ({ pk: 'OPEN', sk: execution }),
  /**
   * One item per target ever locked, so the reconciler finds every held lock with one Query on one
   * partition (no Scan, no index): written before the lock and never deleted, so no race can leave
   * a lock without its marker; there are only as many as targets.
   */
  lockMarker: (target: string) => ({ pk: 'LOCKS', sk: target }),
  abort: (execution: string) => ({ pk: `EXEC#${execution}`, sk: 'ABORT' }),
  analysis: (execution: string) => ({ pk: `EXEC#${execution}`, sk: 'ANALYSIS' }),
  step: (execution: string, seq: number) => ({ pk: `EXEC#${execution}`, sk: `STEP#${String(seq).padStart(6, '0')}` }),
  event: (execution: string, sequence: number) => ({ pk: `EXEC#${execution}`, sk: `EVENT#${String(sequence).padStart(6, '0')}` }),
  counter: (execution: string, of: 'STEP' | 'EVENT') => ({ pk: `EXEC#${execution}`, sk: `COUNTER#${of}` }),
  trigger: (key: string) => ({ pk: `TRIGGER#${key}`, sk: 'TRIGGER' }),
};

/** Only `send` is used, so tests can hand in a stub. */
export type DocumentClientLike = Pick<DynamoDBDocumentClient, 'send'>;

export interface DynamoStoreOptions {
  tableName: string;
  client?: DocumentClientLike;
  /** The clock deciding whether a lock has expired (tests pin it). */
  now?: () => Date;
}

type Item = Record<string, unknown>;

/** Drops `undefined` (which the marshaller refuses unless told otherwise) from nested plain data. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function withoutKeys<T>(item: Item): T {
  return Object.fromEntries(Object.entries(item).filter(([name]) => !KEY_ATTRIBUTES.has(name))) as T;
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof Error && (error.name === 'ConditionalCheckFailedException' || error.name === 'TransactionCanceledException'))
  );
}

export class DynamoRolloutStore implements RolloutStore {
  readonly #table: string;
  readonly #client: DocumentClientLike;
  readonly #now: () => Date;

  constructor(options: DynamoStoreOptions) {
    this.#table = options.tableName;
    this.#client =
      options.client ?? DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
    this.#now = options.now ?? (() => new Date());
  }

  async #get(key: Item): Promise<Item | null> {
    const out = await this.#client.send(new GetCommand({ TableName: this.#table, Key: key, ConsistentRead: true }));
    return out.Item ?? null;
  }

  async #query(input: Omit<QueryCommandInput, 'TableName'>, limit = Number.POSITIVE_INFINITY): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const remaining = limit - items.length;
      const out = await this.#client.send(
        new QueryCommand({
          ...input,
          TableName: this.#table,
          ConsistentRead: true,
          ...(Number.isFinite(remaining) ? { Limit: remaining } : {}),
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start !== undefined && items.length < limit);
    return items;
  }

  #prefixQuery(pk: string, prefix: string, newestFirst = false): Omit<QueryCommandInput, 'TableName'> {
    return {
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
      ScanIndexForward: !newestFirst,
    };
  }

  async #increment(key: Item): Promise<number> {
    const out = await this.#client.send(
      new UpdateCommand({
        TableName: this.#table,
        Key: key,
        UpdateExpression: 'ADD #value :one',
        ExpressionAttributeNames: { '#value': 'value' },
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const value = out.Attributes?.['value'];
    if (typeof value !== 'number') throw new Error(`counter ${String(key['pk'])}/${String(key['sk'])} returned no number`);
    return value;
  }

  async recordTrigger(key: string, record: TriggerRecord): Promise<{ first: true } | { first: false; existing: TriggerRecord }> {
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#table,
          Item: { ...plain(record), ...storeKeys.trigger(key) },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': 'pk' },
        }),
      );
      return { first: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw new Error(`trigger ${key} could not be recorded`, { cause: error });
    }
    const existing = await this.#get(storeKeys.trigger(key));
    if (existing === null) throw new Error(`trigger ${key} was recorded by someone else but cannot be read back`);
    return { first: false, existing: withoutKeys<TriggerRecord>(existing) };
  }

  async acquireLock(target: string, owner: string, expiresAt: Date): Promise<{ acquired: true } | { acquired: false; holder: LockHolder }> {
    try {
      await this.#client.send(new PutCommand({ TableName: this.#table, Item: { ...storeKeys.lockMarker(target), target } }));
    } catch (error) {
      throw new Error(`lock of ${target} could not be taken for ${owner}: its marker was not written`, { cause: error });
    }
    // A refused put followed by a read can find the lock just released: try again a few times.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.#client.send(
          new PutCommand({
            TableName: this.#table,
            Item: {
              ...storeKeys.lock(target),
              target,
              owner,
              expiresAt: expiresAt.getTime(),
              ttl: Math.ceil(expiresAt.getTime() / 1000) + DAY_SECONDS,
            },
            // Free, expired, or already ours (a retried Prepare) — one conditional write, no read first.
            ConditionExpression: 'attribute_not_exists(#pk) OR #expiresAt < :now OR #owner = :owner',
            ExpressionAttributeNames: { '#pk': 'pk', '#expiresAt': 'expiresAt', '#owner': 'owner' },
            ExpressionAttributeValues: { ':now': this.#now().getTime(), ':owner': owner },
          }),
        );
        return { acquired: true };
      } catch (error) {
        if (!isConditionFailure(error)) throw new Error(`lock of ${target} could not be taken for ${owner}`, { cause: error });
      }
      const holder = await this.getLock(target);
      if (holder !== null) return { acquired: false, holder };
    }
    throw new Error(`lock of ${target} kept changing hands while ${owner} tried to take it`);
  }

  async releaseLock(target: string, owner: string): Promise<void> {
    try {
      await this.#client.send(
        new DeleteCommand({
          TableName: this.#table,
          Key: storeKeys.lock(target),
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (error) {
      // Not ours (or already gone): releasing is idempotent and never frees someone else's lock.
      if (!isConditionFailure(error)) throw new Error(`lock of ${target} could not be released by ${owner}`, { cause: error });
    }
  }

  async getLock(target: string): Promise<LockHolder | null> {
    const item = await this.#get(storeKeys.lock(target));
    if (item === null) return null;
    const expiresAt = Number(item['expiresAt']);
    if (expiresAt <= this.#now().getTime()) return null;
    return { target, owner: String(item['owner']), expiresAt: new Date(expiresAt).toISOString() };
  }

  async listLocks(): Promise<LockHolder[]> {
    const markers = await this.#query({
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'pk' },
      ExpressionAttributeValues: { ':pk': 'LOCKS' },
    });
    const locks = await Promise.all(markers.map((marker) => this.getLock(String(marker['sk']))));
    return locks.filter((lock): lock is LockHolder => lock !== null);
  }

  async createRollout(record: RolloutRecord): Promise<void> {
    const recordKey = storeKeys.rollout(record.target, record.startedAt, record.execution);
    try {
      await this.#client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.#table,
                Item: {
                  ...storeKeys.rolloutPointer(record.execution),
                  target: record.target,
                  version: record.version,
                  rolloutSk: recordKey.sk,
                },
                ConditionExpression: 'attribute_not_exists(#pk)',
                ExpressionAttributeNames: { '#pk': 'pk' },
              },
            },
            {
              Put: {
                TableName: this.#table,
                Item: { ...plain(record), ...recordKey },
                ConditionExpression: 'attribute_not_exists(#pk)',
                ExpressionAttributeNames: { '#pk': 'pk' },
              },
            },
            ...(record.status === 'running'
              ? [{ Put: { TableName: this.#table, Item: { ...storeKeys.open(record.execution), target: record.target } } }]
              : []),
          ],
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw new Error(`rollout ${record.execution} could not be recorded`, { cause: error });
      const pointer = await this.#get(storeKeys.rolloutPointer(record.execution));
      // A retried Prepare writes the same rollout again: keep what is recorded since.
      if (pointer !== null && pointer['target'] === record.target && pointer['version'] === record.version) return;
      throw new Error(
        `rollout ${record.execution} already exists for ${String(pointer?.['target'])} ${String(pointer?.['version'])}; refusing to record ${record.target} ${record.version} under the same execution name`,
        { cause: error },
      );
    }
  }

  async #recordKey(execution: string): Promise<Item | null> {
    const pointer = await this.#get(storeKeys.rolloutPointer(execution));
    if (pointer === null) return null;
    return { pk: `TARGET#${String(pointer['target'])}`, sk: String(pointer['rolloutSk']) };
  }

  async getRollout(execution: string): Promise<RolloutRecord | null> {
    const key = await this.#recordKey(execution);
    const item = key === null ? null : await this.#get(key);
    return item === null ? null : withoutKeys<RolloutRecord>(item);
  }

  async updateRollout(execution: string, patch: Partial<Omit<RolloutRecord, 'execution' | 'target'>>): Promise<void> {
    const key = await this.#recordKey(execution);
    if (key === null) throw new Error(`rollout ${execution} not found: cannot update it`);
    // The sort key keeps the original startedAt; only the attribute follows a patched one.
    const entries = Object.entries(plain(patch)).filter(([name]) => name !== 'execution' && name !== 'target' && !KEY_ATTRIBUTES.has(name));
    if (entries.length === 0) return;
    const names: Record<string, string> = { '#pk': 'pk' };
    const values: Record<string, unknown> = {};
    const sets = entries.map(([name, value], i) => {
      names[`#f${i}`] = name;
      values[`:v${i}`] = value;
      return `#f${i} = :v${i}`;
    });
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: key,
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      throw new Error(`rollout ${execution} could not be updated`, { cause: error });
    }
    if (patch.status === 'finished') await this.#client.send(new DeleteCommand({ TableName: this.#table, Key: storeKeys.open(execution) }));
  }

  async listOpenRollouts(): Promise<RolloutRecord[]> {
    const markers = await this.#query({
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'pk' },
      ExpressionAttributeValues: { ':pk': 'OPEN' },
    });
    const records = await Promise.all(markers.map((marker) => this.getRollout(String(marker['sk']))));
    return records.filter((record): record is RolloutRecord => record !== null && record.status === 'running');
  }

  async listRollouts(target: string, limit = 1000): Promise<RolloutRecord[]> {
    const items = await this.#query(this.#prefixQuery(`TARGET#${target}`, 'ROLLOUT#', true), limit);
    return items.map((item) => withoutKeys<RolloutRecord>(item));
  }

  async putTaskToken(pending: PendingToken): Promise<void> {
    const ttl = Math.floor(this.#now().getTime() / 1000) + TOKEN_TTL_SECONDS;
    await this.#client.send(
      new PutCommand({ TableName: this.#table, Item: { ...plain(pending), ...storeKeys.token(pending.target), ttl } }),
    );
  }

  async getTaskToken(target: string): Promise<PendingToken | null> {
    const item = await this.#get(storeKeys.token(target));
    return item === null ? null : withoutKeys<PendingToken>(item);
  }

  async clearTaskToken(target: string, token: string): Promise<void> {
    try {
      await this.#client.send(
        new DeleteCommand({
          TableName: this.#table,
          Key: storeKeys.token(target),
          ConditionExpression: '#token = :token',
          ExpressionAttributeNames: { '#token': 'token' },
          ExpressionAttributeValues: { ':token': token },
        }),
      );
    } catch (error) {
      // A newer token (or none) is there: leave it alone.
      if (!isConditionFailure(error)) throw new Error(`task token of ${target} could not be cleared`, { cause: error });
    }
  }

  /**
   * The abort flag and the promotion's commit share one item (EXEC#<execution> ABORT), so each is
   * one conditional write against the other: a Put refused once `committedAt` is there (PutItem
   * only, which is all the alarm path may do), and commitPromotion's Update refused once `by` is.
   */
  async requestAbort(request: AbortRequest): Promise<AbortAnswer> {
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#table,
          Item: { ...plain(request), ...storeKeys.abort(request.execution) },
          ConditionExpression: 'attribute_not_exists(committedAt)',
        }),
      );
      return { flagged: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const item = await this.#get(storeKeys.abort(request.execution));
      return { flagged: false, committedAt: String(item?.['committedAt'] ?? '') };
    }
  }

  async commitPromotion(execution: string, at: string): Promise<PromotionCommit> {
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: storeKeys.abort(execution),
          UpdateExpression: 'SET #at = :at',
          ConditionExpression: 'attribute_not_exists(#by) AND attribute_not_exists(#at)',
          ExpressionAttributeNames: { '#by': 'by', '#at': 'committedAt' },
          ExpressionAttributeValues: { ':at': at },
        }),
      );
      return { committed: true, at };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // Refused: an abort got there first, or a retried Switch finds its own commit (the first one stands).
      const item = await this.#get(storeKeys.abort(execution));
      if (item?.['by'] === undefined && item?.['committedAt'] !== undefined) return { committed: true, at: String(item['committedAt']) };
      const abort = await this.getAbort(execution);
      if (!abort) throw new Error(`the promotion of ${execution} was refused by an abort that is no longer readable`, { cause: error });
      return { committed: false, abort };
    }
  }

  async putOverride(override: WindowOverride): Promise<void> {
    // The audit of who overrode is in the steps and events (no TTL); this item only sweeps itself up.
    const ttl = Math.floor(Date.parse(override.until) / 1000) + DAY_SECONDS;
    await this.#client.send(
      new PutCommand({ TableName: this.#table, Item: { ...plain(override), ...storeKeys.override(override.target), ttl } }),
    );
  }

  async getOverride(target: string): Promise<WindowOverride | null> {
    const item = await this.#get(storeKeys.override(target));
    return item === null ? null : withoutKeys<WindowOverride>(item);
  }

  /** Kept as JSON text: the judge's floats and nested arrays round-trip exactly, whatever DynamoDB's number rules. */
  async putAnalysisState(execution: string, state: unknown): Promise<void> {
    await this.#client.send(
      new PutCommand({ TableName: this.#table, Item: { ...storeKeys.analysis(execution), state: JSON.stringify(state) } }),
    );
  }

  async getAnalysisState(execution: string): Promise<unknown> {
    const item = await this.#get(storeKeys.analysis(execution));
    return item === null ? null : (JSON.parse(String(item['state'])) as unknown);
  }

  async getPromotionCommit(execution: string): Promise<string | null> {
    const item = await this.#get(storeKeys.abort(execution));
    return typeof item?.['committedAt'] === 'string' ? item['committedAt'] : null;
  }

  async getAbort(execution: string): Promise<AbortRequest | null> {
    const item = await this.#get(storeKeys.abort(execution));
    // The item may hold only the promotion's commit marker: that is no abort.
    if (item === null || item['by'] === undefined) return null;
    const { committedAt: _commit, ...request } = withoutKeys<AbortRequest & { committedAt?: string }>(item);
    return request;
  }

  async appendStep(step: Omit<StepRecord, 'seq'>): Promise<StepRecord> {
    const seq = await this.#increment(storeKeys.counter(step.execution, 'STEP'));
    const record: StepRecord = plain({ ...step, seq });
    await this.#client.send(
      new PutCommand({
        TableName: this.#table,
        Item: { ...record, ...storeKeys.step(step.execution, seq) },
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': 'pk' },
      }),
    );
    return record;
  }

  async listSteps(execution: string): Promise<StepRecord[]> {
    const items = await this.#query(this.#prefixQuery(`EXEC#${execution}`, 'STEP#'));
    return items.map((item) => withoutKeys<StepRecord>(item)).sort((a, b) => a.seq - b.seq);
  }

  async appendEvent(event: SluiceEvent): Promise<void> {
    // Keyed by sequence: a publisher retrying the same event replaces it instead of doubling it.
    await this.#client.send(
      new PutCommand({ TableName: this.#table, Item: { ...plain(event), ...storeKeys.event(event.execution, event.sequence) } }),
    );
  }

  async listEvents(execution: string): Promise<SluiceEvent[]> {
    const items = await this.#query(this.#prefixQuery(`EXEC#${execution}`, 'EVENT#'));
    return items.map((item) => withoutKeys<SluiceEvent>(item)).sort((a, b) => a.sequence - b.sequence);
  }

  async nextSequence(execution: string): Promise<number> {
    return this.#increment(storeKeys.counter(execution, 'EVENT'));
  }

  async close(): Promise<void> {
    // The SDK client holds no connection that needs closing between Lambda invocations.
  }
}

/**
 * DynamoDB's "try again later" answers, which the SDK has already retried with backoff when they
 * reach us: throttling (ProvisionedThroughputExceededException, RequestLimitExceeded,
 * ThrottlingException — "the AWS SDKs for DynamoDB automatically retry requests that receive this
 * exception", DynamoDB API reference), 5xx server faults (InternalServerError, ServiceUnavailable)
 * and transaction conflicts with another in-flight transaction (retryable per the developer guide's
 * "Error handling with DynamoDB"). Condition failures are answers, never transient.
 */
const TRANSIENT_DYNAMO_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'ThrottlingException',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionConflictException',
  'TimeoutError',
]);

export function isDynamoTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const fault = (error as { $fault?: unknown }).$fault;
  return TRANSIENT_DYNAMO_ERRORS.has(error.name) || fault === 'server';
}

/** The store the AWS composition root and `--stack` commands use: DynamoDB's "not now" is Sluice.Transient. */
export function openDynamoStore(options: DynamoStoreOptions): DynamoRolloutStore {
  return transientWhen(new DynamoRolloutStore(options), isDynamoTransient, (method, error, transientCause) => {
    const context = error === transientCause ? `the store is busy (${method})` : String((error as Error).message);
    const cause = transientCause as Error;
    return `${context}: DynamoDB asked to retry later (${cause.name}: ${cause.message})`;
  });
}
