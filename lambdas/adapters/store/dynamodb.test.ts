import { Readable } from 'node:stream';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { HttpResponse } from '@smithy/protocol-http';
import type { HttpRequest } from '@smithy/protocol-http';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { describeRolloutStoreContract } from '../../../test/store-contract.ts';
import { DynamoRolloutStore, STORE_TABLE_KEYS, openDynamoStore } from './dynamodb.ts';

const TABLE = 'sluice-store';

// ---------------------------------------------------------------------------------------------
// A small in-memory DynamoDB: the operations and expression forms the store uses, with
// DynamoDB's behaviour where it matters (conditions checked atomically per write,
// ConditionalCheckFailedException, all-or-nothing transactions, paged queries, unused
// expression names/values rejected).
// ---------------------------------------------------------------------------------------------

type Item = Record<string, unknown>;
interface ExpressionInput {
  ExpressionAttributeNames?: Record<string, string> | undefined;
  ExpressionAttributeValues?: Record<string, unknown> | undefined;
}

class ValidationException extends Error {
  override name = 'ValidationException';
}

function tokenize(expression: string): string[] {
  const tokens: string[] = [];
  const pattern = /\s*(#\w+|:\w+|[A-Za-z_][\w.]*|<=|>=|<>|[=<>(),])/y;
  let match: RegExpExecArray | null;
  while (pattern.lastIndex < expression.length && (match = pattern.exec(expression)) !== null) tokens.push(match[1] ?? '');
  if (pattern.lastIndex < expression.trimEnd().length) throw new ValidationException(`cannot parse expression: ${expression}`);
  return tokens;
}

class ExpressionContext {
  readonly usedNames = new Set<string>();
  readonly usedValues = new Set<string>();
  readonly input: ExpressionInput;
  constructor(input: ExpressionInput) {
    this.input = input;
  }

  name(token: string): string {
    if (!token.startsWith('#')) return token;
    const name = this.input.ExpressionAttributeNames?.[token];
    if (name === undefined) throw new ValidationException(`undefined attribute name ${token}`);
    this.usedNames.add(token);
    return name;
  }

  value(token: string): unknown {
    if (!token.startsWith(':')) throw new ValidationException(`expected a value placeholder, got ${token}`);
    if (!(token in (this.input.ExpressionAttributeValues ?? {}))) throw new ValidationException(`undefined attribute value ${token}`);
    this.usedValues.add(token);
    return this.input.ExpressionAttributeValues?.[token];
  }

  /** DynamoDB refuses names and values that no expression uses. */
  checkAllUsed(): void {
    for (const key of Object.keys(this.input.ExpressionAttributeNames ?? {})) {
      if (!this.usedNames.has(key))
        throw new ValidationException(`Value provided in ExpressionAttributeNames unused in expressions: keys: {${key}}`);
    }
    for (const key of Object.keys(this.input.ExpressionAttributeValues ?? {})) {
      if (!this.usedValues.has(key))
        throw new ValidationException(`Value provided in ExpressionAttributeValues unused in expressions: keys: {${key}}`);
    }
  }
}

/** Evaluates a condition / key-condition expression against an item (undefined = no item). */
function evaluate(expression: string, item: Item | undefined, context: ExpressionContext): boolean {
  const tokens = tokenize(expression);
  let at = 0;
  const peek = (): string | undefined => tokens[at];
  const take = (expected?: string): string => {
    const token = tokens[at++];
    if (token === undefined || (expected !== undefined && token.toUpperCase() !== expected)) {
      throw new ValidationException(`expected ${expected ?? 'a token'} in: ${expression}`);
    }
    return token;
  };
  const operand = (): unknown => {
    const token = take();
    if (token.startsWith(':')) return context.value(token);
    const name = context.name(token); // resolved even without an item, so it counts as used
    return item?.[name];
  };
  const primary = (): boolean => {
    if (peek() === '(') {
      take('(');
      const result = or();
      take(')');
      return result;
    }
    if (peek()?.toUpperCase() === 'NOT') {
      take();
      return !primary();
    }
    const first = peek() ?? '';
    if (['attribute_exists', 'attribute_not_exists', 'begins_with'].includes(first)) {
      take();
      take('(');
      const path = context.name(take());
      const value = item?.[path];
      let result: boolean;
      if (first === 'begins_with') {
        take(',');
        const prefix = operand();
        result = typeof value === 'string' && typeof prefix === 'string' && value.startsWith(prefix);
      } else {
        result = (value !== undefined) === (first === 'attribute_exists');
      }
      take(')');
      return result;
    }
    const left = operand();
    const op = take();
    const right = operand();
    if (left === undefined || right === undefined) return false;
    switch (op) {
      case '=':
        return JSON.stringify(left) === JSON.stringify(right);
      case '<>':
        return JSON.stringify(left) !== JSON.stringify(right);
      case '<':
        return (left as number) < (right as number);
      case '<=':
        return (left as number) <= (right as number);
      case '>':
        return (left as number) > (right as number);
      case '>=':
        return (left as number) >= (right as number);
      default:
        throw new ValidationException(`unsupported operator ${op}`);
    }
  };
  const and = (): boolean => {
    let result = primary();
    while (peek()?.toUpperCase() === 'AND') {
      take();
      const right = primary();
      result = result && right;
    }
    return result;
  };
  const or = (): boolean => {
    let result = and();
    while (peek()?.toUpperCase() === 'OR') {
      take();
      const right = and();
      result = result || right;
    }
    return result;
  };
  const result = or();
  if (at !== tokens.length) throw new ValidationException(`trailing tokens in: ${expression}`);
  return result;
}

function applyUpdate(expression: string, item: Item, context: ExpressionContext): void {
  for (const clause of expression.split(/\b(?=SET\b|ADD\b|REMOVE\b)/)) {
    const [keyword = '', ...rest] = clause.trim().split(/\s+/);
    for (const action of rest.join(' ').split(',')) {
      const tokens = tokenize(action);
      if (keyword === 'SET' && tokens.length === 3 && tokens[1] === '=') {
        item[context.name(tokens[0] ?? '')] = structuredClone(context.value(tokens[2] ?? ''));
      } else if (keyword === 'ADD' && tokens.length === 2) {
        const name = context.name(tokens[0] ?? '');
        item[name] = Number(item[name] ?? 0) + Number(context.value(tokens[1] ?? ''));
      } else {
        throw new ValidationException(`unsupported update action "${keyword} ${action}"`);
      }
    }
  }
}

function assertNoUndefined(value: unknown, path: string): void {
  if (value === undefined) throw new Error(`Pass options.removeUndefinedValues=true to remove undefined values (at ${path})`);
  if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) assertNoUndefined(inner, `${path}.${key}`);
  }
}

class FakeTable {
  readonly items = new Map<string, Item>();
  readonly name: string;
  /** Small pages, so the store's paging through LastEvaluatedKey is exercised. */
  readonly pageSize: number;
  constructor(name: string, pageSize = 3) {
    this.name = name;
    this.pageSize = pageSize;
  }

  #id(key: Item | undefined): string {
    if (key === undefined || typeof key['pk'] !== 'string' || typeof key['sk'] !== 'string' || Object.keys(key).length !== 2) {
      throw new ValidationException(`key must be exactly { pk: S, sk: S }: ${JSON.stringify(key)}`);
    }
    return `${key['pk']}\u0000${key['sk']}`;
  }

  #check(tableName: string | undefined): void {
    if (tableName !== this.name) throw new Error(`ResourceNotFoundException: table ${String(tableName)}`);
  }

  #condition(
    input: ExpressionInput & { ConditionExpression?: string | undefined },
    current: Item | undefined,
    context: ExpressionContext,
  ): void {
    if (input.ConditionExpression !== undefined && !evaluate(input.ConditionExpression, current, context)) {
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    }
  }

  put(
    input: { TableName?: string | undefined; Item?: Item | undefined; ConditionExpression?: string | undefined } & ExpressionInput,
  ): void {
    this.#check(input.TableName);
    assertNoUndefined(input.Item, 'Item');
    const item = structuredClone(input.Item ?? {});
    const id = this.#id({ pk: item['pk'], sk: item['sk'] });
    const context = new ExpressionContext(input);
    this.#condition(input, this.items.get(id), context);
    context.checkAllUsed();
    this.items.set(id, item);
  }

  get(input: { TableName?: string | undefined; Key?: Item | undefined }): Item | undefined {
    this.#check(input.TableName);
    const item = this.items.get(this.#id(input.Key));
    return item === undefined ? undefined : structuredClone(item);
  }

  delete(
    input: { TableName?: string | undefined; Key?: Item | undefined; ConditionExpression?: string | undefined } & ExpressionInput,
  ): void {
    this.#check(input.TableName);
    const id = this.#id(input.Key);
    const context = new ExpressionContext(input);
    this.#condition(input, this.items.get(id), context);
    context.checkAllUsed();
    this.items.delete(id);
  }

  update(
    input: {
      TableName?: string | undefined;
      Key?: Item | undefined;
      UpdateExpression?: string | undefined;
      ConditionExpression?: string | undefined;
      ReturnValues?: string | undefined;
    } & ExpressionInput,
  ): Item | undefined {
    this.#check(input.TableName);
    assertNoUndefined(input.ExpressionAttributeValues, 'ExpressionAttributeValues');
    const id = this.#id(input.Key);
    const current = this.items.get(id);
    const context = new ExpressionContext(input);
    this.#condition(input, current, context);
    const next = structuredClone(current ?? { ...input.Key });
    applyUpdate(input.UpdateExpression ?? '', next, context);
    context.checkAllUsed();
    this.items.set(id, next);
    if (input.ReturnValues === 'ALL_NEW') return structuredClone(next);
    if (input.ReturnValues === 'UPDATED_NEW') {
      return Object.fromEntries(Object.entries(next).filter(([name]) => JSON.stringify(next[name]) !== JSON.stringify(current?.[name])));
    }
    return undefined;
  }

  query(
    input: {
      TableName?: string | undefined;
      KeyConditionExpression?: string | undefined;
      ScanIndexForward?: boolean | undefined;
      Limit?: number | undefined;
      ExclusiveStartKey?: Item | undefined;
    } & ExpressionInput,
  ): { Items: Item[]; LastEvaluatedKey?: Item } {
    this.#check(input.TableName);
    const context = new ExpressionContext(input);
    const matching = [...this.items.values()]
      .filter((item) => evaluate(input.KeyConditionExpression ?? '', item, context))
      .sort((a, b) => String(a['sk']).localeCompare(String(b['sk'])) * (input.ScanIndexForward === false ? -1 : 1));
    context.checkAllUsed();
    const startId = input.ExclusiveStartKey === undefined ? undefined : this.#id(input.ExclusiveStartKey);
    const from = startId === undefined ? 0 : matching.findIndex((item) => this.#id({ pk: item['pk'], sk: item['sk'] }) === startId) + 1;
    const size = Math.min(this.pageSize, input.Limit ?? Number.POSITIVE_INFINITY);
    const page = matching.slice(from, from + size).map((item) => structuredClone(item));
    const last = page.at(-1);
    return from + size < matching.length && last !== undefined
      ? { Items: page, LastEvaluatedKey: { pk: last['pk'], sk: last['sk'] } }
      : { Items: page };
  }

  /** All-or-nothing: every condition is checked before anything is written. */
  transactWrite(input: { TransactItems?: Array<{ Put?: Parameters<FakeTable['put']>[0] }> | undefined }): void {
    const puts = (input.TransactItems ?? []).map((entry) => {
      if (entry.Put === undefined) throw new ValidationException('only Put is emulated in transactions');
      return entry.Put;
    });
    const reasons = puts.map((put) => {
      const current = this.items.get(this.#id({ pk: put.Item?.['pk'], sk: put.Item?.['sk'] }));
      return put.ConditionExpression === undefined || evaluate(put.ConditionExpression, current, new ExpressionContext(put))
        ? { Code: 'None' }
        : { Code: 'ConditionalCheckFailed' };
    });
    if (reasons.some((reason) => reason.Code !== 'None')) {
      throw new TransactionCanceledException({ message: 'Transaction cancelled', $metadata: {}, CancellationReasons: reasons });
    }
    for (const put of puts) this.put(put);
  }
}

function emulate(table: FakeTable) {
  const client = DynamoDBDocumentClient.from(
    new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }),
  );
  const mock = mockClient(client);
  mock.on(PutCommand).callsFake(async (input: Parameters<FakeTable['put']>[0]) => (table.put(input), {}));
  mock.on(GetCommand).callsFake(async (input: Parameters<FakeTable['get']>[0]) => ({ Item: table.get(input) }));
  mock.on(DeleteCommand).callsFake(async (input: Parameters<FakeTable['delete']>[0]) => (table.delete(input), {}));
  mock.on(UpdateCommand).callsFake(async (input: Parameters<FakeTable['update']>[0]) => ({ Attributes: table.update(input) }));
  mock.on(QueryCommand).callsFake(async (input: Parameters<FakeTable['query']>[0]) => table.query(input));
  mock.on(TransactWriteCommand).callsFake(async (input: Parameters<FakeTable['transactWrite']>[0]) => (table.transactWrite(input), {}));
  return { client, mock };
}

// ---------------------------------------------------------------------------------------------

const shared = emulate(new FakeTable(TABLE));
describeRolloutStoreContract('DynamoDB (SDK stub)', async () => openDynamoStore({ tableName: TABLE, client: shared.client }));

describe('DynamoRolloutStore requests', () => {
  const now = new Date('2026-03-01T10:00:00.000Z');
  const expiresAt = new Date('2026-03-01T12:00:00.000Z');
  let table: FakeTable;
  let env: ReturnType<typeof emulate>;
  let store: DynamoRolloutStore;

  beforeEach(() => {
    table = new FakeTable(TABLE);
    env = emulate(table);
    store = new DynamoRolloutStore({ tableName: TABLE, client: env.client, now: () => now });
  });

  it('exports the key schema the CDK table must use', () => {
    expect(STORE_TABLE_KEYS).toEqual({ partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'ttl' });
  });

  it('marks the target in the LOCKS partition, then takes the lock with one conditional PutItem: free, expired, or already ours', async () => {
    await store.acquireLock('podinfo', 'podinfo-v2', expiresAt);

    expect(env.mock.commandCalls(PutCommand).map((call) => call.args[0].input)).toEqual([
      { TableName: TABLE, Item: { pk: 'LOCKS', sk: 'podinfo', target: 'podinfo' } },
      {
        TableName: TABLE,
        Item: {
          pk: 'TARGET#podinfo',
          sk: 'LOCK',
          target: 'podinfo',
          owner: 'podinfo-v2',
          expiresAt: expiresAt.getTime(),
          ttl: expiresAt.getTime() / 1000 + 86_400,
        },
        ConditionExpression: 'attribute_not_exists(#pk) OR #expiresAt < :now OR #owner = :owner',
        ExpressionAttributeNames: { '#pk': 'pk', '#expiresAt': 'expiresAt', '#owner': 'owner' },
        ExpressionAttributeValues: { ':now': now.getTime(), ':owner': 'podinfo-v2' },
      },
    ]);
    expect(env.mock.commandCalls(GetCommand)).toHaveLength(0);
  });

  it('reads the holder with a consistent GetItem when the conditional put is refused', async () => {
    await store.acquireLock('podinfo', 'podinfo-v1', expiresAt);
    env.mock.resetHistory();

    const result = await store.acquireLock('podinfo', 'podinfo-v2', expiresAt);

    expect(result).toEqual({ acquired: false, holder: { target: 'podinfo', owner: 'podinfo-v1', expiresAt: expiresAt.toISOString() } });
    expect(env.mock.commandCalls(GetCommand).map((call) => call.args[0].input)).toEqual([
      { TableName: TABLE, Key: { pk: 'TARGET#podinfo', sk: 'LOCK' }, ConsistentRead: true },
    ]);
  });

  it('releases with a DeleteItem conditioned on the owner', async () => {
    await store.acquireLock('podinfo', 'podinfo-v2', expiresAt);

    await store.releaseLock('podinfo', 'podinfo-v2');

    expect(env.mock.commandCalls(DeleteCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: TABLE,
        Key: { pk: 'TARGET#podinfo', sk: 'LOCK' },
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': 'podinfo-v2' },
      },
    ]);
    // Only the target's marker stays (never deleted, so no race can leave a lock without one).
    expect([...table.items.values()]).toEqual([{ pk: 'LOCKS', sk: 'podinfo', target: 'podinfo' }]);
  });

  it('lists held locks with one consistent Query on the LOCKS partition (no Scan), then a consistent GetItem per target', async () => {
    await store.acquireLock('podinfo', 'podinfo-v2', expiresAt);
    await store.acquireLock('web', 'web-v3', expiresAt);
    await store.releaseLock('web', 'web-v3');
    env.mock.resetHistory();

    const locks = await store.listLocks();

    expect(locks).toEqual([{ target: 'podinfo', owner: 'podinfo-v2', expiresAt: expiresAt.toISOString() }]);
    expect(env.mock.commandCalls(QueryCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: TABLE,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': 'pk' },
        ExpressionAttributeValues: { ':pk': 'LOCKS' },
        ConsistentRead: true,
      },
    ]);
    expect(env.mock.commandCalls(GetCommand).map((call) => call.args[0].input)).toEqual([
      { TableName: TABLE, Key: { pk: 'TARGET#podinfo', sk: 'LOCK' }, ConsistentRead: true },
      { TableName: TABLE, Key: { pk: 'TARGET#web', sk: 'LOCK' }, ConsistentRead: true },
    ]);
  });

  it('hands out sequence numbers with UpdateItem ADD', async () => {
    const first = await store.nextSequence('podinfo-v2');
    const second = await store.nextSequence('podinfo-v2');

    expect([first, second]).toEqual([1, 2]);
    expect(env.mock.commandCalls(UpdateCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: 'EXEC#podinfo-v2', sk: 'COUNTER#EVENT' },
      UpdateExpression: 'ADD #value :one',
      ExpressionAttributeNames: { '#value': 'value' },
      ExpressionAttributeValues: { ':one': 1 },
      ReturnValues: 'UPDATED_NEW',
    });
  });

  it('puts an expiry only on leftovers (lock, task token), never on the audit trail', async () => {
    await store.acquireLock('podinfo', 'podinfo-v2', expiresAt);
    await store.putTaskToken({ target: 'podinfo', execution: 'podinfo-v2', token: 't', gate: 'bake', createdAt: now.toISOString() });
    await store.createRollout({
      execution: 'podinfo-v2',
      target: 'podinfo',
      version: 'v2',
      requestedBy: 'alice',
      startedAt: now.toISOString(),
      safeSide: 'primary',
      lastWeights: { primary: 100, canary: 0 },
      status: 'running',
    });
    await store.appendStep({ execution: 'podinfo-v2', at: now.toISOString(), kind: 'note' });
    await store.appendEvent({
      detailType: 'Rollout Started',
      target: 'podinfo',
      version: 'v2',
      execution: 'podinfo-v2',
      sequence: 1,
      at: now.toISOString(),
    });
    await store.requestAbort({ execution: 'podinfo-v2', by: 'bob', reason: 'stop', at: now.toISOString() });

    const expiring = [...table.items.values()].filter((item) => 'ttl' in item).map((item) => item['sk']);

    expect(expiring.sort()).toEqual(['LOCK', 'TOKEN']);
  });

  it('fails loudly, naming the target, when DynamoDB throws anything but a condition failure', async () => {
    env.mock.on(PutCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));

    await expect(store.acquireLock('podinfo', 'podinfo-v2', expiresAt)).rejects.toThrow(
      'lock of podinfo could not be taken for podinfo-v2',
    );
  });

  it('reports throttling and server faults left after the SDK retries as Sluice.Transient, so the ASL retries them', async () => {
    // Prepare: the store the Lambdas use, with DynamoDB throttling every write.
    const opened = openDynamoStore({ tableName: TABLE, client: env.client, now: () => now });
    env.mock.on(PutCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));

    // Act
    const error: unknown = await opened.acquireLock('podinfo', 'podinfo-v2', expiresAt).catch((e: unknown) => e);

    // Assess: the retryable name, the store's own context and the SDK error as the cause.
    expect(error).toMatchObject({ name: 'Sluice.Transient' });
    expect((error as Error).message).toBe(
      'lock of podinfo could not be taken for podinfo-v2: its marker was not written: DynamoDB asked to retry later (ProvisionedThroughputExceededException: slow down)',
    );
  });

  it('keeps a non-retryable DynamoDB error as it is: a validation error is no reason to retry', async () => {
    const opened = openDynamoStore({ tableName: TABLE, client: env.client, now: () => now });
    env.mock
      .on(PutCommand)
      .rejects(Object.assign(new Error('One or more parameter values were invalid'), { name: 'ValidationException', $fault: 'client' }));

    const error: unknown = await opened.acquireLock('podinfo', 'podinfo-v2', expiresAt).catch((e: unknown) => e);

    expect((error as Error).message).toContain('lock of podinfo could not be taken for podinfo-v2');
    expect((error as Error).name).not.toBe('Sluice.Transient');
  });
});

describe('DynamoRolloutStore through the real SDK serializer', () => {
  it('sends items DynamoDB accepts on the wire, with undefined fields of the evidence dropped', async () => {
    // A request handler in place of the network: the document client marshals, the SDK serializes, we read the JSON.
    const sent: Array<{ target: string | undefined; body: Record<string, unknown> }> = [];
    const requestHandler = {
      async handle(request: HttpRequest) {
        const target = request.headers['x-amz-target'];
        sent.push({ target, body: JSON.parse(String(request.body)) as Record<string, unknown> });
        const answer = target === 'DynamoDB_20120810.UpdateItem' ? { Attributes: { value: { N: '1' } } } : {};
        return {
          response: new HttpResponse({
            statusCode: 200,
            headers: { 'content-type': 'application/x-amz-json-1.0' },
            body: Readable.from([Buffer.from(JSON.stringify(answer))]),
          }),
        };
      },
    };
    const low = new DynamoDBClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      requestHandler,
      maxAttempts: 1,
    });
    const store = new DynamoRolloutStore({ tableName: TABLE, client: DynamoDBDocumentClient.from(low) });

    const step = await store.appendStep({
      execution: 'podinfo-v2',
      at: '2026-03-01T10:00:00.000Z',
      kind: 'analysis',
      verdict: {
        result: 'pass',
        summary: 'ok',
        checks: [{ name: 'request-duration', value: 120, min: undefined, max: 500, result: 'pass' }],
      },
    });

    expect(step.seq).toBe(1);
    expect(sent.map((request) => request.target)).toEqual(['DynamoDB_20120810.UpdateItem', 'DynamoDB_20120810.PutItem']);
    expect(sent[1]?.body).toEqual({
      TableName: TABLE,
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk' },
      Item: {
        pk: { S: 'EXEC#podinfo-v2' },
        sk: { S: 'STEP#000001' },
        execution: { S: 'podinfo-v2' },
        at: { S: '2026-03-01T10:00:00.000Z' },
        kind: { S: 'analysis' },
        seq: { N: '1' },
        verdict: {
          M: {
            result: { S: 'pass' },
            summary: { S: 'ok' },
            checks: { L: [{ M: { name: { S: 'request-duration' }, value: { N: '120' }, max: { N: '500' }, result: { S: 'pass' } } }] },
          },
        },
      },
    });
  });
});
