/**
 * Who is calling: users.info (restricted and guest accounts, bots, deactivated users, and users of
 * another workspace in a shared channel are refused) and user-group membership
 * (usergroups.users.list). Both cached for a few minutes per warm Lambda: the ack path has one
 * second, and Slack rate-limits these methods per workspace.
 */
import type { WebClient } from '@slack/web-api';

export interface SlackDirectory {
  /** Null when the user may act at all; otherwise the reason they may not. */
  refusal(userId: string): Promise<string | null>;
  /** The groups among `groups` that `userId` belongs to. */
  memberOf(userId: string, groups: readonly string[]): Promise<Set<string>>;
}

export const DIRECTORY_TTL_MS = 5 * 60_000;

interface Cached<T> {
  value: T;
  until: number;
}

export class WebApiDirectory implements SlackDirectory {
  readonly #client: Pick<WebClient, 'users' | 'usergroups'>;
  readonly #teamId: string;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #users = new Map<string, Cached<string | null>>();
  readonly #groups = new Map<string, Cached<Set<string>>>();

  constructor(options: { client: Pick<WebClient, 'users' | 'usergroups'>; teamId: string; ttlMs?: number; now?: () => number }) {
    this.#client = options.client;
    this.#teamId = options.teamId;
    this.#ttlMs = options.ttlMs ?? DIRECTORY_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  async refusal(userId: string): Promise<string | null> {
    const hit = this.#users.get(userId);
    if (hit && hit.until > this.#now()) return hit.value;
    const { user } = await this.#client.users.info({ user: userId });
    let reason: string | null = null;
    if (!user) reason = 'Slack does not know you';
    else if (user.deleted) reason = 'your Slack account is deactivated';
    else if (user.is_bot) reason = 'bots may not control rollouts';
    else if (user.is_restricted || user.is_ultra_restricted) reason = 'guest accounts may not control rollouts';
    else if (user.team_id && user.team_id !== this.#teamId)
      reason = "users of another workspace (shared channel) may not control this workspace's rollouts";
    this.#users.set(userId, { value: reason, until: this.#now() + this.#ttlMs });
    return reason;
  }

  async memberOf(userId: string, groups: readonly string[]): Promise<Set<string>> {
    const member = new Set<string>();
    for (const group of groups) {
      let hit = this.#groups.get(group);
      if (!hit || hit.until <= this.#now()) {
        const listed = await this.#client.usergroups.users.list({ usergroup: group });
        hit = { value: new Set(listed.users ?? []), until: this.#now() + this.#ttlMs };
        this.#groups.set(group, hit);
      }
      if (hit.value.has(userId)) member.add(group);
    }
    return member;
  }
}
