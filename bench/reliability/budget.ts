/**
 * Retry budgets read from the state machine file itself, so the soak's "sustained" outage stays
 * longer than what the ASL can ride out even when someone edits a Retry block.
 *
 * Step Functions' retrier (ASL spec, "Retrying after an error"): attempt n (0-based) waits
 * IntervalSeconds × BackoffRate^n, capped by MaxDelaySeconds; with JitterStrategy FULL the wait
 * is drawn from [0, that], so the sum below is the longest a state can keep retrying.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';

const retrierSchema = z.object({
  ErrorEquals: z.array(z.string()),
  IntervalSeconds: z.number().default(1),
  MaxAttempts: z.number().int().default(3),
  BackoffRate: z.number().default(2),
  MaxDelaySeconds: z.number().optional(),
  JitterStrategy: z.enum(['FULL', 'NONE']).optional(),
});
const aslSchema = z.object({
  States: z.record(z.string(), z.object({ Type: z.string(), Retry: z.array(retrierSchema).optional() }).loose()),
});

export const ASL_PATH = fileURLToPath(new URL('../../statemachine/rollout.asl.json', import.meta.url));

export interface StateBudget {
  state: string;
  /** Attempts after the first call, summed over the state's retriers. */
  retries: number;
  /** The longest the real ASL waits between attempts, in seconds (no jitter drawn). */
  realSeconds: number;
  /** The same retries with the soak's compressed pause (retryIntervalOverrides), in ms. */
  compressedMs: number;
}

export interface RetryBudget {
  states: StateBudget[];
  longest: StateBudget;
  /**
   * The safety net's own retries. AWS: the async Lambda invocation retries twice (Lambda docs,
   * "Asynchronous invocation": up to two retries, about one and two minutes apart). Locally the
   * engine calls it once, so the compressed budget is 0.
   */
  safetyNet: { realSeconds: number; compressedMs: number };
}

/** Sums every state's Retry blocks (the ASL's own numbers) with the soak's compressed pause. */
export function retryBudget(compressedPauseMs: number | CompressedPauses, aslPath = ASL_PATH): RetryBudget {
  const pauseOf = (state: string) =>
    typeof compressedPauseMs === 'number' ? compressedPauseMs : (compressedPauseMs.byState[state] ?? compressedPauseMs.defaultMs);
  const asl = aslSchema.parse(JSON.parse(readFileSync(aslPath, 'utf8')));
  const states: StateBudget[] = Object.entries(asl.States).flatMap(([state, definition]) => {
    const retriers = definition.Retry ?? [];
    if (retriers.length === 0) return [];
    let retries = 0;
    let realSeconds = 0;
    for (const retrier of retriers) {
      retries += retrier.MaxAttempts;
      for (let attempt = 0; attempt < retrier.MaxAttempts; attempt++) {
        const wait = retrier.IntervalSeconds * retrier.BackoffRate ** attempt;
        realSeconds += retrier.MaxDelaySeconds === undefined ? wait : Math.min(wait, retrier.MaxDelaySeconds);
      }
    }
    return [{ state, retries, realSeconds, compressedMs: retries * pauseOf(state) }];
  });
  // The outage must outlast what the soak's engine can ride out, so "longest" is by compressed time.
  const longest = states.reduce((a, b) =>
    b.compressedMs > a.compressedMs || (b.compressedMs === a.compressedMs && b.realSeconds > a.realSeconds) ? b : a,
  );
  return { states, longest, safetyNet: { realSeconds: 60 + 120, compressedMs: 0 } };
}

/**
 * The soak engine's retry pauses: every state of the ASL that has a Retry block waits `pauseMs`
 * between attempts (MaxAttempts unchanged), read from the file so a state added later is compressed
 * too instead of waiting the real 1-60 s backoff inside a CI run.
 */
export function compressedRetryOverrides(pauseMs: number | CompressedPauses, aslPath = ASL_PATH): Record<string, number> {
  return Object.fromEntries(
    retryBudget(pauseMs, aslPath).states.map((s) => [
      s.state,
      typeof pauseMs === 'number' ? pauseMs : (pauseMs.byState[s.state] ?? pauseMs.defaultMs),
    ]),
  );
}

/** A pause per state (`byState`), `defaultMs` for the rest. */
export interface CompressedPauses {
  defaultMs: number;
  byState: Record<string, number>;
}

/** How long a sustained outage lasts in the soak: three times the longest compressed budget plus the safety net's. */
export function sustainedOutageMs(budget: RetryBudget, floorMs: number): number {
  return Math.max(floorMs, 3 * (budget.longest.compressedMs + budget.safetyNet.compressedMs));
}
