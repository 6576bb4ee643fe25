/** The ChatState contract, for the sqlite backend and the DynamoDB backend (through a small in-memory stub of the commands it uses). */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DeleteCommandInput, GetCommandInput, PutCommandInput } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { ChatState } from './chat-state.ts';
import { DynamoChatState } from './chat-state-dynamodb.ts';
import { SqliteChatState } from './chat-state-sqlite.ts';

let clock = new Date('2026-11-27T10:00:00Z');
const now = () => clock;

/** Conditions as DynamoChatState writes them, evaluated against a Map. */
function dynamoStub() {
  const items = new Map<string, Record<string, unknown>>();
  const id = (key: Record<string, unknown> | undefined) => `${String(key?.['pk'])}|${String(key?.['sk'])}`;
  const fail = () => {
    throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
  };
  return {
    send: async (command: unknown) => {
      if (command instanceof PutCommand) {
        const input = command.input as PutCommandInput;
        const existing = items.get(id(input.Item));
        if (input.ConditionExpression === 'attribute_not_exists(pk) OR expiresMs <= :now') {
          const expires = existing?.['expiresMs'];
          if (existing && !(typeof expires === 'number' && expires <= Number(input.ExpressionAttributeValues?.[':now']))) fail();
        } else if (input.ConditionExpression) throw new Error(`unexpected condition ${input.ConditionExpression}`);
        items.set(id(input.Item), { ...input.Item });
        return {};
      }
      if (command instanceof GetCommand) return { Item: items.get(id((command.input as GetCommandInput).Key)) };
      if (command instanceof DeleteCommand) {
        const input = command.input as DeleteCommandInput;
        if (items.get(id(input.Key))?.['value'] !== input.ExpressionAttributeValues?.[':v']) fail();
        items.delete(id(input.Key));
        return {};
      }
      throw new Error('unexpected command');
    },
  };
}

const backends: [string, () => ChatState][] = [
  ['sqlite', () => new SqliteChatState(':memory:', { now })],
  ['dynamodb', () => new DynamoChatState({ tableName: 't', client: dynamoStub() as never, now })],
];

describe.each(backends)('ChatState contract: %s', (_name, make) => {
  it('first claim wins; later claims get the winner', async () => {
    const state = make();
    expect(await state.claim('click:e1:rollout', 'alice')).toEqual({ claimed: true });
    expect(await state.claim('click:e1:rollout', 'bob')).toEqual({ claimed: false, value: 'alice' });
  });

  it('an expired claim may be taken again; an unexpired one may not', async () => {
    const state = make();
    clock = new Date('2026-11-27T10:00:00Z');
    expect(await state.claim('delivery:t1', 'first', new Date('2026-11-28T10:00:00Z'))).toEqual({ claimed: true });
    expect(await state.claim('delivery:t1', 'again', new Date('2026-11-28T10:00:00Z'))).toEqual({ claimed: false, value: 'first' });
    clock = new Date('2026-11-29T10:00:00Z');
    expect(await state.claim('delivery:t1', 'later', new Date('2026-11-30T10:00:00Z'))).toEqual({ claimed: true });
    clock = new Date('2026-11-27T10:00:00Z');
  });

  it('release frees a claim only for its holder; set and get keep values', async () => {
    const state = make();
    await state.claim('k', 'alice');
    await state.release('k', 'bob');
    expect(await state.get('k')).toBe('alice');
    await state.release('k', 'alice');
    expect(await state.claim('k', 'bob')).toEqual({ claimed: true });
    await state.set('thread:e1', '{"channel":"C1","ts":"1.2"}');
    await state.set('thread:e1', '{"channel":"C1","ts":"1.3"}');
    expect(await state.get('thread:e1')).toBe('{"channel":"C1","ts":"1.3"}');
    expect(await state.get('missing')).toBeNull();
    await state.close();
  });
});
