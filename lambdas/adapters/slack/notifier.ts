/**
 * The Slack Notifier: one thread per rollout. The head message (channel + ts in ChatState) is
 * re-rendered from the store — not from the event — so it always shows the latest state, and
 * updates are coalesced: while one render for an execution runs, further events only mark it
 * dirty, and one more render follows. Events may arrive out of order; the sequence number decides
 * what is new (`rendered:<execution>` holds the highest shown). Notable events (commands,
 * outcomes, approvals) also become replies in the thread, in sequence order.
 *
 * A fleet release is one thread (fleet-view.ts, core/chatops/fleet-blocks.ts): its members' events
 * (`web@eu-1`, execution target-cluster-version) re-render the fleet's head message and put their
 * notable events in the fleet's thread, named by cluster; no member opens a thread of its own. The
 * fleet's own events (its buttons' audits) and its end (`fleetEnded`, from the fleet execution's
 * status change) do the same.
 *
 * A Slack error never slows or fails a rollout: notify() logs and resolves; the next event
 * renders the whole state again, so the thread catches up. The bot joins a public channel it is
 * not in (`not_in_channel`) once and tries again.
 */
import type { KnownBlock } from '@slack/types';
import type { WebClient } from '@slack/web-api';
import { ROLLOUT_GATE, headBlocks, headText, verdictLines } from '../../core/chatops/blocks.ts';
import { lookWord } from '../../core/look-word.ts';
import type { Acted, RolloutView } from '../../core/chatops/blocks.ts';
import type { EventType, SluiceEvent } from '../../core/records.ts';
import type { Notifier } from '../../core/ports.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import { clusterOf, targetOf } from '../../core/fleet-member.ts';
import { memberSpec } from '../../core/fleet.ts';
import { fleetHeadBlocks, fleetHeadText } from '../../core/chatops/fleet-blocks.ts';
import { fleetAttempt, releaseOfMember } from '../control/fleet-control.ts';
import type { FleetReleaseRef } from '../control/fleet-control.ts';
import { buildFleetView, fleetEndKey } from './fleet-view.ts';
import type { FleetEnd, FleetViewStore } from './fleet-view.ts';
import { logger } from '../logging/logger.ts';
import { chatKeys } from './chat-state.ts';
import type { ChatState, ThreadRef } from './chat-state.ts';
import { slackErrorCode } from './client.ts';

const REPLY_EVENTS: ReadonlySet<EventType> = new Set([
  'Command Audited',
  'Approval Requested',
  'Approval Given',
  'Rollout Held',
  'Rollout Promoted',
  'Rollout Rolled Back',
  'Rollout Aborted',
  'Rollout Stuck',
  'Rollout Recovered',
]);

export interface SlackNotifierOptions {
  client: Pick<WebClient, 'chat' | 'conversations'>;
  store: FleetViewStore;
  chat: ChatState;
  loadTarget(target: string): Promise<RolloutSpec | null>;
  /** Failures are reported here (default: the Powertools logger at warn). */
  onError?: (message: string, context: Record<string, unknown>) => void;
}

export function replyText(event: SluiceEvent): string {
  const lines = [`*${event.detailType}*${event.reason ? `: ${event.reason}` : ''}`];
  if (event.verdict) lines.push(`${lookWord(event.verdict)} — ${event.verdict.summary}`, ...verdictLines(event.verdict));
  return lines.join('\n').slice(0, 3000);
}

/** How a fleet execution ended, as its thread says it (lambdas/handlers/slack-worker.ts reads it from the status change). */
export interface FleetEnded extends FleetEnd {
  release: FleetReleaseRef;
}

/** A reply of the thread: an event's text (in sequence order), or a fleet's end. */
interface Reply {
  sequence: number;
  text: string;
}

export class SlackNotifier implements Notifier {
  readonly #options: SlackNotifierOptions;
  readonly #running = new Map<string, Promise<void>>();
  readonly #dirty = new Set<string>();
  readonly #want = new Map<string, number>();
  readonly #replies = new Map<string, Reply[]>();
  /** Threads that are a fleet release's (keyed by the fleet execution). */
  readonly #fleets = new Map<string, FleetReleaseRef>();

  constructor(options: SlackNotifierOptions) {
    this.#options = options;
  }

  async notify(event: SluiceEvent): Promise<void> {
    // Commands outside any rollout have no thread.
    if (event.execution.startsWith('chatops-')) return;
    const release = await this.#fleetOf(event).catch(() => undefined);
    const key = release?.execution ?? event.execution;
    if (release) this.#fleets.set(key, release);
    // A member's sequence counts per member: the fleet's head is re-rendered on every member event.
    const sequence = release ? Number.MAX_SAFE_INTEGER : event.sequence;
    const cluster = release ? clusterOf(event.target) : undefined;
    const reply = REPLY_EVENTS.has(event.detailType)
      ? [{ sequence: event.sequence, text: `${cluster ? `*${cluster}* · ` : ''}${replyText(event)}`.slice(0, 3000) }]
      : [];
    return this.#schedule(key, sequence, reply);
  }

  /** The fleet execution ended: its thread says how, once, and its head loses its buttons. */
  async fleetEnded(ended: FleetEnded): Promise<void> {
    const { release, ...end } = ended;
    await this.#options.chat.set(fleetEndKey(release.execution), JSON.stringify(end));
    this.#fleets.set(release.execution, release);
    const word =
      end.state === 'promoted'
        ? 'Fleet promoted'
        : end.state === 'refused'
          ? 'Fleet refused'
          : end.state === 'stopped'
            ? 'Fleet stopped'
            : 'Fleet halted';
    const text = `*${word}*${end.reason ? `: ${end.reason}` : ''}`.slice(0, 3000);
    return this.#schedule(release.execution, Number.MAX_SAFE_INTEGER, [{ sequence: Number.MAX_SAFE_INTEGER, text }]);
  }

  /**
   * The fleet release an event belongs to: a member's (`web@eu-1` whose execution is one of the
   * release's member names), or the fleet's own (an audit on the fleet execution of a fleet target).
   */
  async #fleetOf(event: SluiceEvent): Promise<FleetReleaseRef | undefined> {
    const target = targetOf(event.target);
    const cluster = clusterOf(event.target);
    const spec = await this.#options.loadTarget(target);
    if (!spec?.spec.fleet) return undefined;
    if (cluster !== undefined) return releaseOfMember(target, cluster, event.version, event.execution);
    const attempt = fleetAttempt(target, event.version, event.execution);
    return attempt === undefined ? undefined : { target, execution: event.execution, version: event.version, attempt };
  }

  #schedule(key: string, sequence: number, replies: Reply[]): Promise<void> {
    this.#want.set(key, Math.max(this.#want.get(key) ?? 0, sequence));
    if (replies.length) this.#replies.set(key, [...(this.#replies.get(key) ?? []), ...replies]);
    this.#dirty.add(key);
    const running = this.#running.get(key);
    if (running) return running;
    const loop = (async () => {
      try {
        while (this.#dirty.delete(key)) await this.#renderSafely(key);
      } finally {
        this.#running.delete(key);
      }
    })();
    this.#running.set(key, loop);
    return loop;
  }

  /** Resolves when every pending render has run (tests, and a Lambda before it returns). */
  async idle(): Promise<void> {
    while (this.#running.size) await Promise.all([...this.#running.values()]);
  }

  async #renderSafely(execution: string): Promise<void> {
    try {
      await this.#render(execution);
    } catch (error) {
      const report = this.#options.onError ?? ((message, context) => logger.warn(message, context));
      report('Slack thread update failed; the next event catches up', {
        execution,
        slackError: slackErrorCode(error),
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  async #view(execution: string): Promise<{ view: RolloutView; spec: RolloutSpec | null } | null> {
    const { store, chat } = this.#options;
    const record = await store.getRollout(execution);
    if (!record) return null;
    const spec = await this.#specOf(record.target).catch(() => null);
    const look = (await store.listSteps(execution)).filter((s) => s.kind === 'analysis' && s.verdict).at(-1);
    const actedText = await chat.get(chatKeys.click(execution, ROLLOUT_GATE));
    const pending = record.status === 'running' ? await store.getTaskToken(record.target) : null;
    const scale = spec?.spec.router.weightScale ?? (record.lastWeights.primary + record.lastWeights.canary || 100);
    const view: RolloutView = {
      target: record.target,
      version: record.version,
      execution,
      state: record.status === 'running' ? 'running' : (record.outcome ?? 'finished'),
      weights: record.lastWeights,
      scale,
      startedAt: record.startedAt,
      requestedBy: record.requestedBy,
      reason: record.reason,
      lastLook: look?.verdict ? { at: look.at, verdict: look.verdict } : undefined,
      acted: actedText ? (JSON.parse(actedText) as Acted) : undefined,
      approvalGate: pending && pending.execution === execution && pending.gate !== 'bake' ? pending.gate : undefined,
    };
    return { view, spec };
  }

  /** A fleet cluster's rollout (`podinfo@eu-1`): the registry holds the fleet's spec under the target; resolve it for the cluster. */
  async #specOf(address: string): Promise<RolloutSpec | null> {
    const cluster = clusterOf(address);
    const spec = await this.#options.loadTarget(targetOf(address));
    return spec && cluster !== undefined && spec.spec.fleet ? memberSpec(spec, cluster) : spec;
  }

  async #post(channel: string, message: Parameters<WebClient['chat']['postMessage']>[0]): Promise<string> {
    const { client } = this.#options;
    try {
      return (await client.chat.postMessage(message)).ts ?? '';
    } catch (error) {
      if (slackErrorCode(error) !== 'not_in_channel') throw error;
      await client.conversations.join({ channel });
      return (await client.chat.postMessage(message)).ts ?? '';
    }
  }

  async #render(execution: string): Promise<void> {
    const release = this.#fleets.get(execution);
    if (release) return this.#renderFleet(release);
    const built = await this.#view(execution);
    if (!built) return;
    const { view, spec } = built;
    await this.#publish(execution, headText(view), headBlocks(view), spec?.spec.notifications?.slack?.channel);
  }

  async #renderFleet(release: FleetReleaseRef): Promise<void> {
    const spec = await this.#options.loadTarget(release.target);
    if (!spec?.spec.fleet) return;
    const view = await buildFleetView(this.#options.store, this.#options.chat, spec, release);
    await this.#publish(release.execution, fleetHeadText(view), fleetHeadBlocks(view), spec.spec.notifications?.slack?.channel);
  }

  /** Posts or updates the thread's head message under `execution`, then the queued replies in order. */
  async #publish(execution: string, text: string, blocks: KnownBlock[], specChannel: string | undefined): Promise<void> {
    const { client, chat } = this.#options;
    const want = this.#want.get(execution) ?? 0;
    const threadText = await chat.get(chatKeys.thread(execution));
    let thread = threadText ? (JSON.parse(threadText) as ThreadRef) : null;
    const rendered = Number((await chat.get(chatKeys.rendered(execution))) ?? 0);
    if (!thread) {
      const channel = (await chat.get(chatKeys.channel(execution))) ?? specChannel;
      if (!channel) return;
      const ts = await this.#post(channel, { channel, text, blocks });
      thread = { channel, ts };
      await chat.set(chatKeys.thread(execution), JSON.stringify(thread));
    } else if (want > rendered) {
      await client.chat.update({ channel: thread.channel, ts: thread.ts, text, blocks });
    }
    // A fleet's head renders on every event (its members count their own sequences): nothing to remember.
    if (want > rendered && want !== Number.MAX_SAFE_INTEGER) await chat.set(chatKeys.rendered(execution), String(want));
    const replies = (this.#replies.get(execution) ?? []).sort((a, b) => a.sequence - b.sequence);
    while (replies.length) {
      const next = replies[0] as Reply;
      await this.#post(thread.channel, { channel: thread.channel, thread_ts: thread.ts, text: next.text });
      replies.shift();
    }
  }
}

/** Calls every notifier for an event without letting one's failure reach the caller or the others. */
export function fanOut(notifiers: readonly Notifier[]): (event: SluiceEvent) => Promise<void> {
  return async (event) => {
    await Promise.all(
      notifiers.map((notifier) =>
        notifier
          .notify(event)
          .catch((error: unknown) => logger.warn('notifier failed', { error: error instanceof Error ? error.message : String(error) })),
      ),
    );
  };
}
