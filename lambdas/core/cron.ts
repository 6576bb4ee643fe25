/**
 * Five-field cron (minute hour day-of-month month day-of-week) evaluated in an IANA zone. Pure.
 *
 * Parsing is ours, for error messages that name the field ("minute 60 is outside 0-59"); the
 * occurrences come from croner, which walks wall-clock time in the zone and applies Vixie cron's
 * rule on clock-change nights:
 * - a start at a fixed time (no `*`, range or step in the minute and hour fields) that falls in the
 *   hour the clock skips happens when the clock jumps; one in the hour the clock repeats happens
 *   once, the first time;
 * - a start from a stepped or wildcard minute or hour field (`*\/15 2 * * *`) follows the wall
 *   clock: it does not happen in a skipped hour and happens in both passes of a repeated hour.
 * docs/scheduling.md states the same rule for users.
 *
 * Syntax: `*`, numbers, ranges `a-b`, lists `a,b`, steps `*\/n` and `a-b/n` and `a/n`, names
 * JAN-DEC and SUN-SAT (7 is Sunday too). When both day-of-month and day-of-week are restricted, a
 * day matching either one matches (the POSIX rule).
 */
import { Cron as Croner } from 'croner';

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
  /** The evaluator: croner, paused (it never schedules anything, it only answers). */
  evaluator: (timeZone: string) => Croner;
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
  if (!/^\d+$/.test(text))
    throw new CronError(`"${source}": ${rule.name} "${text}" is not a number${rule.names ? ` or a name (${rule.names[0]}…)` : ''}`);
  const n = Number(text);
  if (n < rule.min || n > rule.max) throw new CronError(`"${source}": ${rule.name} ${n} is outside ${rule.min}-${rule.max}`);
  return n;
}

function parseField(text: string, rule: FieldRule, source: string): Set<number> {
  const out = new Set<number>();
  for (const item of text.split(',')) {
    const [range, stepText, extra] = item.split('/');
    if (range === undefined || range === '' || extra !== undefined)
      throw new CronError(`"${source}": ${rule.name} "${item}" is not a value, range or step`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0)
        throw new CronError(`"${source}": ${rule.name} step "${stepText}" must be a whole number of at least 1`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = rule.min;
      hi = rule.name === 'day-of-week' ? 6 : rule.max;
    } else if (range.includes('-')) {
      const [a, b, more] = range.split('-');
      if (a === undefined || b === undefined || more !== undefined)
        throw new CronError(`"${source}": ${rule.name} range "${range}" is not a-b`);
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
    throw new CronError(
      `"${source}" has ${fields.length} field${fields.length === 1 ? '' : 's'}: expected 5 (minute hour day-of-month month day-of-week), e.g. "0 9 * * 1-5"`,
    );
  }
  const [minute, hour, day, month, weekday] = fields.map((field, i) => parseField(field, FIELDS[i] as FieldRule, source)) as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
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
    evaluator: evaluatorFor(source),
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

/** One paused croner per zone; `legacyMode` keeps the POSIX day-of-month OR day-of-week rule. */
function evaluatorFor(source: string): (timeZone: string) => Croner {
  const byZone = new Map<string, Croner>();
  return (timeZone) => {
    let cron = byZone.get(timeZone);
    if (!cron) {
      cron = new Croner(source.trim(), { timezone: timeZone, paused: true, legacyMode: true });
      byZone.set(timeZone, cron);
    }
    return cron;
  };
}

/** Starts in [fromMs, toMs), ascending. */
export function* occurrences(cron: Cron, timeZone: string, fromMs: number, toMs: number): Generator<number> {
  const evaluator = cron.evaluator(timeZone);
  // croner answers "strictly after": start one millisecond early so a start at fromMs counts.
  let next = evaluator.nextRun(new Date(fromMs - 1));
  while (next && next.getTime() < toMs) {
    yield next.getTime();
    next = evaluator.nextRun(next);
  }
}

/** The first start at or after `fromMs`, looking at most `horizonMs` ahead. */
export function nextOccurrence(cron: Cron, timeZone: string, fromMs: number, horizonMs: number): number | null {
  for (const instant of occurrences(cron, timeZone, fromMs, fromMs + horizonMs)) return instant;
  return null;
}

/** The last start at or before `atMs`, looking back at most `lookbackMs`. */
export function previousOccurrence(cron: Cron, timeZone: string, atMs: number, lookbackMs: number): number | null {
  // croner answers "strictly before" at second precision: ask from the next whole second, keep what is <= atMs.
  const reference = new Date(Math.floor(atMs / 1000) * 1000 + 1000);
  const last = cron
    .evaluator(timeZone)
    .previousRuns(2, reference)
    .map((d) => d.getTime())
    .find((t) => t <= atMs);
  return last !== undefined && last >= atMs - lookbackMs ? last : null;
}
