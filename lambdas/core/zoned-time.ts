/**
 * Wall-clock time in IANA zones, without a date library: Intl.DateTimeFormat knows every zone's
 * offsets (the tz database the runtime ships), and everything else is arithmetic. Pure: no I/O.
 *
 * A local time maps to zero instants (the hour skipped when clocks go forward), one, or two (the
 * hour repeated when clocks go back). `localTimeToInstant` refuses the first and the last: a
 * rollout scheduled "at 02:30" on such a night has no single meaning, and guessing would start it
 * an hour early or late. Recurring windows (cron) use `wallToInstant(…, 'compatible')` instead.
 */

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** A wall-clock reading: calendar fields as written on a clock in some zone. */
export interface WallTime {
  year: number;
  /** 1-12 */
  month: number;
  /** 1-31 */
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch (error) {
      throw new Error(`"${timeZone}" is not an IANA time zone (expected a name such as Europe/Berlin, America/New_York or UTC)`, {
        cause: error,
      });
    }
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** True when the runtime knows the zone. */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock reading of an instant in a zone. */
export function instantToWall(instantMs: number, timeZone: string): WallTime {
  const parts = formatterFor(timeZone).formatToParts(new Date(instantMs));
  const field = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((part) => part.type === type)?.value ?? NaN);
  return {
    year: field('year'),
    month: field('month'),
    day: field('day'),
    hour: field('hour'),
    minute: field('minute'),
    second: field('second'),
  };
}

/** The wall time as if it were UTC, in ms: the arithmetic form used for offsets. */
export function wallToEpoch(wall: WallTime): number {
  const date = new Date(0);
  date.setUTCFullYear(wall.year, wall.month - 1, wall.day);
  date.setUTCHours(wall.hour, wall.minute, wall.second, 0);
  return date.getTime();
}

/** The zone's offset from UTC at an instant, in ms (+02:00 = 7,200,000). Whole seconds. */
export function zoneOffsetMs(instantMs: number, timeZone: string): number {
  const whole = Math.floor(instantMs / 1000) * 1000;
  return wallToEpoch(instantToWall(whole, timeZone)) - whole;
}

export function formatOffset(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  const minutes = Math.round(Math.abs(offsetMs) / MINUTE_MS);
  return `${sign}${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `2026-03-29 02:30` (seconds shown only when set). */
export function formatWall(wall: WallTime): string {
  return `${pad(wall.year, 4)}-${pad(wall.month)}-${pad(wall.day)} ${pad(wall.hour)}:${pad(wall.minute)}${wall.second ? `:${pad(wall.second)}` : ''}`;
}

/** `2026-03-29T02:30:00`: the form EventBridge Scheduler's `at()` takes. */
export function formatWallIso(wall: WallTime): string {
  return `${pad(wall.year, 4)}-${pad(wall.month)}-${pad(wall.day)}T${pad(wall.hour)}:${pad(wall.minute)}:${pad(wall.second)}`;
}

/** Where a wall time lands: one instant, none (skipped by a forward jump), or two (repeated by a backward one). */
export type WallResolution =
  | { kind: 'unique'; instantMs: number; offsetMs: number }
  | { kind: 'gap'; transitionMs: number; offsetBeforeMs: number; offsetAfterMs: number }
  | { kind: 'overlap'; earlierMs: number; laterMs: number; offsetBeforeMs: number; offsetAfterMs: number };

/**
 * Every instant a wall time names in the zone. Assumes at most one offset change within a day of
 * it, which holds for every zone in the tz database since 1970.
 */
export function resolveWall(wall: WallTime, timeZone: string): WallResolution {
  const local = wallToEpoch(wall);
  const before = zoneOffsetMs(local - DAY_MS, timeZone);
  const after = zoneOffsetMs(local + DAY_MS, timeZone);
  const valid = [...new Set([before, after])].filter((offset) => zoneOffsetMs(local - offset, timeZone) === offset);
  if (valid.length === 2) {
    const [a, b] = [local - before, local - after].sort((x, y) => x - y) as [number, number];
    return { kind: 'overlap', earlierMs: a, laterMs: b, offsetBeforeMs: before, offsetAfterMs: after };
  }
  const [offset] = valid;
  if (offset !== undefined) return { kind: 'unique', instantMs: local - offset, offsetMs: offset };
  // Skipped: the change happened between (local - after) and (local - before); find it to the second.
  let lo = local - after;
  let hi = local - before;
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (zoneOffsetMs(mid, timeZone) === before) lo = mid;
    else hi = mid;
  }
  return { kind: 'gap', transitionMs: hi, offsetBeforeMs: before, offsetAfterMs: after };
}

/**
 * The instant of a wall time, the way recurring schedules treat the odd nights: a time skipped by
 * a forward jump happens at the jump (cron runs a skipped job when the clock jumps); a repeated
 * time happens once, the first time.
 */
export function wallToInstant(wall: WallTime, timeZone: string): number {
  const resolved = resolveWall(wall, timeZone);
  switch (resolved.kind) {
    case 'unique':
      return resolved.instantMs;
    case 'gap':
      return resolved.transitionMs;
    case 'overlap':
      return resolved.earlierMs;
    default: {
      const never: never = resolved;
      throw new Error(`unknown wall resolution ${JSON.stringify(never)}`);
    }
  }
}

/** A local time that names no instant or two: the message says which night and what to write instead. */
export class LocalTimeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocalTimeError';
  }
}

const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/;
const OFFSET_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** Parses `2026-03-29 02:30` or `2026-03-29T02:30[:SS]` (no offset) into wall fields. */
export function parseWall(text: string): WallTime {
  const match = LOCAL_TIME.exec(text.trim());
  if (!match) throw new LocalTimeError(`"${text}" is not a local time: expected YYYY-MM-DD HH:MM (or YYYY-MM-DDTHH:MM:SS)`);
  const [year, month, day, hour, minute, second] = match.slice(1).map((part) => Number(part ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const wall = { year, month, day, hour, minute, second };
  const roundTrip = new Date(wallToEpoch(wall));
  if (
    month < 1 ||
    month > 12 ||
    roundTrip.getUTCDate() !== day ||
    roundTrip.getUTCMonth() !== month - 1 ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    throw new LocalTimeError(`"${text}" is not a calendar time (month 1-12, a day the month has, hour 0-23, minute and second 0-59)`);
  }
  return wall;
}

/**
 * The one instant a local time names in an IANA zone. Refuses a time the zone skips (clocks go
 * forward) or repeats (clocks go back), with the way out in the message.
 */
export function localTimeToInstant(text: string, timeZone: string): Date {
  const wall = parseWall(text);
  formatterFor(timeZone);
  const resolved = resolveWall(wall, timeZone);
  const shown = formatWall(wall);
  switch (resolved.kind) {
    case 'unique':
      return new Date(resolved.instantMs);
    case 'gap': {
      // The clock reads `from` just before the change and `to` just after it.
      const clock = (ms: number) => new Date(ms).toISOString().slice(11, 16);
      const from = clock(resolved.transitionMs + resolved.offsetBeforeMs);
      const to = clock(resolved.transitionMs + resolved.offsetAfterMs);
      throw new LocalTimeError(
        `${shown} does not exist in ${timeZone}: that night the clocks jump from ${from} to ${to} ` +
          `(UTC${formatOffset(resolved.offsetBeforeMs)} to UTC${formatOffset(resolved.offsetAfterMs)}); choose a time outside the skipped hour`,
      );
    }
    case 'overlap': {
      const date = `${pad(wall.year, 4)}-${pad(wall.month)}-${pad(wall.day)}T${pad(wall.hour)}:${pad(wall.minute)}${wall.second ? `:${pad(wall.second)}` : ''}`;
      throw new LocalTimeError(
        `${shown} is ambiguous in ${timeZone}: the clocks go back that night, so it happens twice ` +
          `(UTC${formatOffset(resolved.offsetBeforeMs)}, then UTC${formatOffset(resolved.offsetAfterMs)}); ` +
          `write it with its offset: ${date}${formatOffset(resolved.offsetBeforeMs)} or ${date}${formatOffset(resolved.offsetAfterMs)}`,
      );
    }
    default: {
      const never: never = resolved;
      throw new Error(`unknown wall resolution ${JSON.stringify(never)}`);
    }
  }
}

/** True when the text carries its own offset (`Z`, `+05:45`): such a time is taken as written. */
export function hasOffset(text: string): boolean {
  return OFFSET_TIME.test(text.trim());
}

/**
 * A start time as a user types it (`sluice start --at`, Slack `/sluice schedule`): an ISO time with
 * an offset is taken as-is; a local time needs a zone and must name exactly one instant; either
 * way it must lie in the future.
 */
export function parseStartTime(text: string, options: { timeZone?: string; now: Date }): Date {
  let at: Date;
  if (hasOffset(text)) {
    at = new Date(text.trim().replace(' ', 'T'));
    if (Number.isNaN(at.getTime())) throw new LocalTimeError(`"${text}" is not a valid ISO time`);
  } else if (options.timeZone) {
    at = localTimeToInstant(text, options.timeZone);
  } else {
    throw new LocalTimeError(`"${text}" has no offset: write it as 2026-05-04T09:00+02:00, or give a time zone (--tz Europe/Berlin)`);
  }
  if (at.getTime() <= options.now.getTime()) {
    throw new LocalTimeError(`${text} is in the past (it is now ${options.now.toISOString()}): a rollout can only be scheduled ahead`);
  }
  return at;
}
