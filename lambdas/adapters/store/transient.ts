/**
 * A store whose backend says "not now" (SQLite's write lock held past the busy timeout, DynamoDB
 * throttling or a server fault after the SDK's own retries) surfaces that as Sluice.Transient, so the
 * ASL's one retry policy retries it and Rollback keeps retrying, instead of an unexpected error that
 * would end the rollout. Every method is wrapped; the message keeps the store's own context.
 */
import { TransientError } from '../../core/errors.ts';

/** Yields an error and each of its `cause`s, outermost first (the store wraps SDK errors with context). */
function* causeChain(error: unknown): Generator<unknown> {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== undefined && current !== null && !seen.has(current)) {
    seen.add(current);
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}

export function transientWhen<T extends object>(
  store: T,
  isTransient: (error: unknown) => boolean,
  describe: (method: string, error: unknown, transientCause: unknown) => string,
): T {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'constructor') return value;
      return async (...args: unknown[]) => {
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (error) {
          const transientCause = [...causeChain(error)].find(isTransient);
          if (transientCause === undefined) throw error;
          throw new TransientError(describe(String(property), error, transientCause), { cause: error });
        }
      };
    },
  });
}
