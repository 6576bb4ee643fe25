/**
 * The chat-ops bot's own small state, kept beside the rollout store (same sqlite file / same
 * DynamoDB table, under its own table / key prefix):
 * - `delivery:<trigger_id|action_ts>`: Slack retries a request it thinks timed out; the first
 *   delivery wins, later ones are no-ops (expire after a day).
 * - `click:<execution>:<gate>`: first click wins; later clickers are told who acted.
 * - `thread:<execution>`: the channel and ts of the rollout's thread head message.
 * - `channel:<execution>`: where a rollout started from Slack should open its thread.
 * - `rendered:<execution>`: the highest event sequence the head message shows.
 */
export type Claim = { claimed: true } | { claimed: false; value: string };

export interface ChatState {
  /** Conditional put: the first claim of `key` (until it expires) wins; later ones get the winner's value. */
  claim(key: string, value: string, expiresAt?: Date): Promise<Claim>;
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
  /** Removes `key` if it still holds `value` (a claim whose action could not be done). */
  release(key: string, value: string): Promise<void>;
  close(): Promise<void>;
}

export interface ThreadRef {
  channel: string;
  ts: string;
}

export const chatKeys = {
  delivery: (id: string) => `delivery:${id}`,
  click: (execution: string, gate: string) => `click:${execution}:${gate}`,
  thread: (execution: string) => `thread:${execution}`,
  channel: (execution: string) => `channel:${execution}`,
  rendered: (execution: string) => `rendered:${execution}`,
};

/** Deliveries are deduplicated for a day: Slack retries within minutes. */
export const DELIVERY_TTL_MS = 24 * 3600_000;
