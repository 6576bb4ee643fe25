/**
 * Event publishers: every decision goes out as an event with source `sluice`.
 * Locally the events go to the log and the store; in AWS to one EventBridge bus.
 *
 * Events are read by Slack channels, audit tooling and anyone with access to the bus, so a guard
 * removes anything that would let a reader steer a rollout: task tokens and Slack response URLs.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { TransientError } from '../../core/errors.ts';
import type { EventLog, EventPublisher } from '../../core/ports.ts';
import type { SluiceEvent } from '../../core/records.ts';

export const EVENT_SOURCE = 'sluice';

type Unsent = Omit<SluiceEvent, 'sequence' | 'at'>;

/** The fields an event may carry; anything else a caller spreads in is dropped. */
const EVENT_FIELDS = ['detailType', 'target', 'version', 'execution', 'sequence', 'at', 'weights', 'verdict', 'outcome', 'reason'] as const;

/** Names of secrets that must never leave in an event: taskToken, task_token, token, responseUrl, response_url, … */
const FORBIDDEN_KEY = /token|response_?url/i;
/** Slack response URLs (and webhook URLs) grant posting rights to whoever holds them. */
const SLACK_URL = /https:\/\/hooks\.slack\.com\/\S*/g;
const REDACTED = '[redacted]';

function scrub(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(SLACK_URL, REDACTED);
  if (Array.isArray(value)) return value.map(scrub);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key, inner]) => !FORBIDDEN_KEY.test(key) && inner !== undefined)
        .map(([key, inner]) => [key, scrub(inner)]),
    );
  }
  return value;
}

/**
 * Keeps only the known event fields, drops any key named like a task token or response URL at
 * any depth, redacts Slack hook URLs inside text, and removes undefined fields.
 */
export function sanitizeEvent(event: SluiceEvent): SluiceEvent {
  const known: Record<string, unknown> = {};
  for (const field of EVENT_FIELDS) {
    if (event[field] !== undefined) known[field] = event[field];
  }
  return scrub(known) as SluiceEvent;
}

/** Stamps the event with its per-execution sequence number and time, and sanitizes it. */
async function stamp(store: EventLog, event: Unsent, now: () => Date): Promise<SluiceEvent> {
  const sequence = await store.nextSequence(event.execution);
  return sanitizeEvent({ ...event, sequence, at: now().toISOString() });
}

export interface LocalEventPublisherOptions {
  now?: () => Date;
}

/** The local engine's publisher: the store keeps the events, the log gets one JSON line each. */
export class LocalEventPublisher implements EventPublisher {
  readonly #store: EventLog;
  readonly #log: (line: string) => void;
  readonly #now: () => Date;

  constructor(
    store: EventLog,
    log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
    options: LocalEventPublisherOptions = {},
  ) {
    this.#store = store;
    this.#log = log;
    this.#now = options.now ?? (() => new Date());
  }

  async publish(event: Unsent): Promise<void> {
    const stamped = await stamp(this.#store, event, this.#now);
    await this.#store.appendEvent(stamped);
    this.#log(JSON.stringify({ source: EVENT_SOURCE, ...stamped }));
  }
}

/** Only `send` is used, so tests can hand in a stub. */
export type EventBridgeClientLike = Pick<EventBridgeClient, 'send'>;

export interface EventBridgePublisherOptions {
  /** The one bus Sluice publishes to (the Lambda role may put events on it only). */
  busName: string;
  client?: EventBridgeClientLike;
  /** Hands out the sequence numbers and keeps the audit copy of each event. */
  store: EventLog;
  now?: () => Date;
}

/** Error codes of a failed entry that are worth a retry (the ASL retries Sluice.Transient). */
const TRANSIENT_ENTRY_ERRORS = new Set(['ThrottlingException', 'InternalException', 'InternalFailure', 'ServiceUnavailable']);

function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return TRANSIENT_ENTRY_ERRORS.has(error.name) || (status !== undefined && status >= 500);
}

/** The AWS publisher: PutEvents on one bus, source `sluice`; a failed entry is an error, never dropped. */
export class EventBridgePublisher implements EventPublisher {
  readonly #bus: string;
  readonly #client: EventBridgeClientLike;
  readonly #store: EventLog;
  readonly #now: () => Date;

  constructor(options: EventBridgePublisherOptions) {
    this.#bus = options.busName;
    this.#client = options.client ?? new EventBridgeClient({});
    this.#store = options.store;
    this.#now = options.now ?? (() => new Date());
  }

  async publish(event: Unsent): Promise<void> {
    const stamped = await stamp(this.#store, event, this.#now);
    // The store keeps the audit copy first: subscribers never see an event the history lacks.
    await this.#store.appendEvent(stamped);
    const { detailType, ...detail } = stamped;
    const what = `event "${detailType}" #${stamped.sequence} of ${stamped.execution} to bus ${this.#bus}`;
    let out;
    try {
      out = await this.#client.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: this.#bus,
              Source: EVENT_SOURCE,
              DetailType: detailType,
              Detail: JSON.stringify(detail),
              Time: new Date(stamped.at),
            },
          ],
        }),
      );
    } catch (error) {
      // The SDK has already retried; what is left is worth a state-machine retry only if throttled or a 5xx.
      if (isTransient(error)) throw new TransientError(`publishing ${what} failed`, { cause: error });
      throw new Error(`publishing ${what} failed`, { cause: error });
    }
    if ((out.FailedEntryCount ?? 0) > 0) {
      const entry = out.Entries?.find((e) => e.ErrorCode !== undefined);
      const message = `publishing ${what} failed: ${entry?.ErrorCode ?? 'unknown error'} ${entry?.ErrorMessage ?? ''}`.trim();
      if (entry?.ErrorCode !== undefined && TRANSIENT_ENTRY_ERRORS.has(entry.ErrorCode)) throw new TransientError(message);
      throw new Error(message);
    }
  }
}
