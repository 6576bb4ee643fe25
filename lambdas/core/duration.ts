import * as z from 'zod';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const DURATION = /^(\d+)(ms|s|m|h)$/;

/** Parses `500ms`, `30s`, `5m`, `1h` into milliseconds; throws on anything else. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a duration: expected a whole number with ms, s, m or h (e.g. 30s, 5m, 1h)`);
  const unit = match[2] as keyof typeof UNIT_MS;
  return Number(match[1]) * UNIT_MS[unit];
}

/** Whole seconds, rounded up: Step Functions timeouts are integer seconds. */
export function durationSeconds(text: string): number {
  return Math.max(1, Math.ceil(parseDuration(text) / 1000));
}

/** Formats milliseconds the way users write them (`90s`, `2m`, `1h`). */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A duration field: a string such as `30s`, `5m` or `1h`, at least `min`. */
export function durationField(min = '1s') {
  const minMs = parseDuration(min);
  return z
    .string()
    .regex(DURATION, { message: 'expected a duration such as 30s, 5m or 1h' })
    .refine((text) => !DURATION.test(text.trim()) || parseDuration(text) >= minMs, { message: `must be at least ${min}` });
}
