/**
 * ChatState in the rollout store's DynamoDB table, under its own partition prefix
 * (`pk = CHAT#<key>`, `sk = STATE`). Claims are conditional puts; deliveries carry the table's
 * TTL attribute so DynamoDB sweeps them, while the condition itself compares `expiresMs`
 * (TTL deletes lazily). Click and thread records never expire: they are part of the audit trail.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DocumentClientLike } from '../store/dynamodb.ts';
import type { ChatState, Claim } from './chat-state.ts';

const key = (name: string) => ({ pk: `CHAT#${name}`, sk: 'STATE' });

export class DynamoChatState implements ChatState {
  readonly #table: string;
  readonly #client: DocumentClientLike;
  readonly #now: () => Date;

  constructor(options: { tableName: string; client: DocumentClientLike; now?: () => Date }) {
    this.#table = options.tableName;
    this.#client = options.client;
    this.#now = options.now ?? (() => new Date());
  }

  async claim(name: string, value: string, expiresAt?: Date): Promise<Claim> {
    const expiry = expiresAt ? { expiresMs: expiresAt.getTime(), ttl: Math.ceil(expiresAt.getTime() / 1000) + 86_400 } : {};
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#table,
          Item: { ...key(name), value, ...expiry },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresMs <= :now',
          ExpressionAttributeValues: { ':now': this.#now().getTime() },
        }),
      );
      return { claimed: true };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException || (error as { name?: string }).name === 'ConditionalCheckFailedException') {
        return { claimed: false, value: (await this.get(name)) ?? '' };
      }
      throw new Error(`chat state claim ${name} in ${this.#table} failed`, { cause: error });
    }
  }

  async get(name: string): Promise<string | null> {
    const out = await this.#client.send(new GetCommand({ TableName: this.#table, Key: key(name), ConsistentRead: true }));
    const value = out.Item?.['value'];
    return typeof value === 'string' ? value : null;
  }

  async set(name: string, value: string): Promise<void> {
    await this.#client.send(new PutCommand({ TableName: this.#table, Item: { ...key(name), value } }));
  }

  async release(name: string, value: string): Promise<void> {
    try {
      await this.#client.send(
        new DeleteCommand({
          TableName: this.#table,
          Key: key(name),
          ConditionExpression: '#v = :v',
          ExpressionAttributeNames: { '#v': 'value' },
          ExpressionAttributeValues: { ':v': value },
        }),
      );
    } catch (error) {
      if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw error;
    }
  }

  async close(): Promise<void> {}
}
