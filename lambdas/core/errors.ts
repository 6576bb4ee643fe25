/**
 * Errors the state machine branches on. The `name` is what Step Functions matches in
 * Retry/Catch (`ErrorEquals`), so these strings are part of the ASL contract.
 */

export const ERROR_NAMES = {
  /** Worth retrying with backoff: API 5xx, timeouts, dropped connections, throttling. */
  transient: 'Sluice.Transient',
  /** Refused before any change: invalid spec, failed preflight, target locked. Exit 2. */
  refused: 'Sluice.Refused',
  /** A person (or an alarm-free abort command) stopped the rollout. Exit 4. */
  aborted: 'Sluice.Aborted',
  /** A CloudWatch alarm went to ALARM during the rollout: a hard stop. Exit 3. */
  alarm: 'Sluice.Alarm',
  /** Someone else changed the weights or the primary template mid-rollout. */
  conflict: 'Sluice.Conflict',
  /** The canary passed but promotion failed: traffic held on the canary. Exit 5. */
  promotionFailed: 'Sluice.PromotionFailed',
} as const;

export type SluiceErrorName = (typeof ERROR_NAMES)[keyof typeof ERROR_NAMES];

interface ErrorContext {
  cause?: unknown;
}

class NamedError extends Error {
  constructor(name: SluiceErrorName, message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = name;
  }
}

export class TransientError extends NamedError {
  constructor(message: string, context?: ErrorContext) {
    super(ERROR_NAMES.transient, message, context);
  }
}

export class RefusedError extends NamedError {
  constructor(message: string, context?: ErrorContext) {
    super(ERROR_NAMES.refused, message, context);
  }
}

export class AbortedError extends NamedError {
  constructor(message: string, context?: ErrorContext) {
    super(ERROR_NAMES.aborted, message, context);
  }
}

export class AlarmError extends NamedError {
  constructor(message: string, context?: ErrorContext) {
    super(ERROR_NAMES.alarm, message, context);
  }
}

export class ConflictError extends NamedError {
  constructor(message: string, context?: ErrorContext) {
    super(ERROR_NAMES.conflict, message, context);
  }
}

export class PromotionFailedError extends NamedError {
  constructor(message: string, context?: ErrorContext) {
    super(ERROR_NAMES.promotionFailed, message, context);
  }
}

/** The message of an unknown thrown value, with its causes, for logs and summaries. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause === undefined ? '' : `: ${describeError(error.cause)}`;
  return `${error.message}${cause}`;
}
