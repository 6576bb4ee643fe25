/**
 * Five-field cron (minute hour day-of-month month day-of-week) evaluated in an IANA zone. Pure.
 *
 * Written here rather than taken from a library because change windows need two things the cron
 * libraries do not expose together: occurrences *before* an instant (is a window that opened at
 * 09:00 still open at 15:00?) and a DST rule stated in the same terms as the one-off times
 * (zoned-time.ts). The rule, as in Vixie cron: a start in the hour the clock skips happens when
 * the clock jumps; a start in the hour the clock repeats happens once, the first time.
 *
 * Syntax: `*`, numbers, ranges `a-b`, lists `a,b`, steps `*\/n` and `a-b/n` and `a/n`, names
 * JAN-DEC and SUN-SAT (7 is Sunday too). When both day-of-month and day-of-week are restricted, a
 * day matching either one matches (the POSIX rule).
 */
import { addDays, instantToWall, wallToEpoch, wallToInstant, zoneOffsetMs } from './zoned-time.ts';
import type { WallTime } from './zoned-time.ts';

const DAY_MS = 86_400_000;

export interface Cron {
  source: string;
  minutes: number[];
  hours: number[];
  days: ReadonlySet<number>;
  months: ReadonlySet<number>;
  weekdays: ReadonlySet<number>;
  /** Both day fields restricted: either may match. */
  dayOr: boolean;
  dayRestricted: boolean;
  weekdayRestricted: boolean;
}

export class CronError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CronError';
  }
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldRule {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** Offset of names[0] (months start at 1). */
  nameBase?: number;
}

const FIELDS: FieldRule[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { name: 'day-of-week', min: 0, max: 7, names: WEEKDAYS, nameBase: 0 },
];

function value(text: string, rule: FieldRule, source: string): number {
  const upper = text.toUpperCase();
  const named = rule.names?.indexOf(upper) ?? -1;
  if (named >= 0) return named + (rule.nameBase ?? 0);
  if (!/^\d+$/.test(text)) throw new CronError(`"${source}": ${rule.name} "${text}" is not a number${rule.names ? ` or a name (${rule.names[0]}…)` : ''}`);
  const n = Number(text);
  if (n < rule.min || n > rule.max) throw new CronError(`"${source}": ${rule.name} ${n} is outside ${rule.min}-${rule.max}`);
  return n;
}

function parseField(text: string, rule: FieldRule, source: string): Set<number> {
  const out = new Set<number>();
  for (const item of text.split(',')) {
    const [range, stepText, extra] = item.split('/');
    if (range === undefined || range === '' || extra !== undefined) throw new CronError(`"${source}": ${rule.name} "${item}" is not a value, range or step`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) throw new CronError(`"${source}": ${rule.name} step "${stepText}" must be a whole number of at least 1`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = rule.min;
      hi = rule.name === 'day-of-week' ? 6 : rule.max;
    } else if (range.includes('-')) {
      const [a, b, more] = range.split('-');
      if (a === undefined || b === undefined || more !== undefined) throw new CronError(`"${source}": ${rule.name} range "${range}" is not a-b`);
      lo = value(a, rule, source);
      hi = value(b, rule, source);
      if (hi < lo) throw new CronError(`"${source}": ${rule.name} range ${range} runs backwards: write it as two ranges (e.g. 22-23,0-5)`);
    } else {
      lo = value(range, rule, source);
      // `a/n` means from a to the field's end in steps of n.
      hi = stepText === undefined ? lo : rule.max;
    }
    for (let n = lo; n <= hi; n += step) out.add(rule.name === 'day-of-week' && n === 7 ? 0 : n);
  }
  return out;
}

/** Parses a 5-field expression; throws a CronError naming the field that is wrong. */
export function parseCron(source: string): Cron {
  const fields = source.trim().split(/\s+/);
  if (fields.length !== 5) {
    throw new CronError(`"${source}" has ${fields.length} field${fields.length === 1 ? '' : 's'}: expected 5 (minute hour day-of-month month day-of-week), e.g. "0 9 * * 1-5"`);
  }
  const [minute, hour, day, month, weekday] = fields.map((field, i) => parseField(field, FIELDS[i] as FieldRule, source)) as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  const dayRestricted = !(fields[2] ?? '').startsWith('*');
  const weekdayRestricted = !(fields[4] ?? '').startsWith('*');
  const cron: Cron = {
    source,
    minutes: [...minute].sort((a, b) => a - b),
    hours: [...hour].sort((a, b) => a - b),
    days: day,
    months: month,
    weekdays: weekday,
    dayOr: dayRestricted && weekdayRestricted,
    dayRestricted,
    weekdayRestricted,
  };
  if (!hasAnyDay(cron)) throw new CronError(`"${source}" never matches a calendar day (day-of-month and month exclude each other)`);
  return cron;
}

/** Rejects e.g. `0 0 30 2 *` (February never has a 30th). */
function hasAnyDay(cron: Cron): boolean {
  if (cron.dayOr || !cron.dayRestricted) return true;
  const longest = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  return [...cron.months].some((month) => [...cron.days].some((day) => day <= (longest[month - 1] ?? 0)));
}

function matchesDay(cron: Cron, wall: WallTime): boolean {
  if (!cron.months.has(wall.month)) return false;
  const weekday = new Date(wallToEpoch({ ...wall, hour: 12, minute: 0, second: 0 })).getUTCDay();
  const byDay = cron.days.has(wall.day);
  const byWeekday = cron.weekdays.has(weekday);
  if (cron.dayOr) return byDay || byWeekday;
  return byDay && byWeekday;
}

/** The instants of one local calendar day's matches, ascending and without repeats. */
function dayOccurrences(cron: Cron, date: WallTime, timeZone: string): number[] {
  if (!matchesDay(cron, date)) return [];
  const midnight = wallToEpoch({ ...date, hour: 0, minute: 0, second: 0 });
  // One offset for the whole day unless it changes within a day either side: plain arithmetic then.
  const before = zoneOffsetMs(midnight - DAY_MS, timeZone);
  const after = zoneOffsetMs(midnight + 2 * DAY_MS, timeZone);
  const steady = before === after && zoneOffsetMs(midnight - before, timeZone) === before;
  const out: number[] = [];
  for (const hour of cron.hours) {
    for (const minute of cron.minutes) {
      const instant = steady ? midnight + hour * 3_600_000 + minute * 60_000 - before : wallToInstant({ ...date, hour, minute, second: 0 }, timeZone);
      // Skipped starts collapse onto the jump: keep one.
      if (out.at(-1) !== instant) out.push(instant);
    }
  }
  return out.sort((a, b) => a - b);
}

/** Starts in [fromMs, toMs), ascending. */
export function* occurrences(cron: Cron, timeZone: string, fromMs: number, toMs: number): Generator<number> {
  // Local days overlapping the range, one extra either side for zones far from UTC.
  let date = addDays(instantToWall(fromMs, timeZone), -1);
  const lastDay = wallToEpoch({ ...addDays(instantToWall(toMs, timeZone), 1), hour: 0, minute: 0, second: 0 });
  let previous = -Infinity;
  while (wallToEpoch({ ...date, hour: 0, minute: 0, second: 0 }) <= lastDay) {
    for (const instant of dayOccurrences(cron, date, timeZone)) {
      if (instant >= fromMs && instant < toMs && instant > previous) {
        previous = instant;
        yield instant;
      }
    }
    date = addDays(date, 1);
  }
}

/** The first start at or after `fromMs`, looking at most `horizonMs` ahead. */
export function nextOccurrence(cron: Cron, timeZone: string, fromMs: number, horizonMs: number): number | null {
  // Walk in month-sized chunks so a rare schedule does not enumerate a year at once.
  const chunk = 31 * DAY_MS;
  for (let start = fromMs; start < fromMs + horizonMs; start += chunk) {
    const end = Math.min(start + chunk, fromMs + horizonMs);
    for (const instant of occurrences(cron, timeZone, start, end)) return instant;
  }
  return null;
}

/** The last start at or before `atMs`, looking back at most `lookbackMs`. */
export function previousOccurrence(cron: Cron, timeZone: string, atMs: number, lookbackMs: number): number | null {
  let last: number | null = null;
  for (const instant of occurrences(cron, timeZone, atMs - lookbackMs, atMs + 1)) last = instant;
  return last;
}
