/**
 * Change windows (`strategy.windows`): allow and deny entries, each a 5-field cron
 * `schedule` that opens the window for `duration` in an IANA `timeZone`, or an absolute
 * `from`/`to` (a holiday freeze). Deny overrides allow; with no allow entry, every moment not
 * denied is open; with no entries at all, always open. Pure: the caller passes the time.
 *
 * Outside a window a new rollout is queued until the next opening (`planStart`), and a running one
 * holds at its weight (rollout.ts `decideAfterLook`).
 */
import { CronError, nextOccurrence, occurrences, parseCron, previousOccurrence } from './cron.ts';
import type { Cron } from './cron.ts';
import { parseDuration } from './duration.ts';
import type { StrategySpec } from './spec-schema.ts';
import { isTimeZone } from './zoned-time.ts';

export { localTimeToInstant, parseStartTime, LocalTimeError } from './zoned-time.ts';

export type ChangeWindow = NonNullable<StrategySpec['windows']>[number];

export interface WindowState {
  open: boolean;
  /** Which window decided, in words a user reads in `sluice status` and Slack. */
  reason: string;
  /** Closed: the first moment it opens again (absent when nothing opens within a year). */
  nextOpening?: Date;
  /** Open: the moment it closes (absent when nothing closes it within a year). */
  closesAt?: Date;
}

/** How far ahead (and, for chained occurrences, how far along) the windows are searched. */
const HORIZON_MS = 366 * 86_400_000;

interface CompiledWindow {
  kind: 'allow' | 'deny';
  label: string;
  /** When `t` lies in the window: the end of its unbroken stretch from `t` (Infinity past the horizon); else null. */
  coverEnd(t: number): number | null;
  /** The first opening at or after `t`, within the horizon. */
  nextStart(t: number): number | null;
}

function cronWindow(kind: 'allow' | 'deny', label: string, cron: Cron, timeZone: string, durationMs: number): CompiledWindow {
  return {
    kind,
    label,
    coverEnd(t) {
      const start = previousOccurrence(cron, timeZone, t, durationMs);
      if (start === null || start + durationMs <= t) return null;
      // Later openings that begin before this one ends extend the stretch (e.g. every hour for 90m).
      let end = start + durationMs;
      for (const next of occurrences(cron, timeZone, start + 1, t + HORIZON_MS)) {
        if (next > end) return end;
        end = Math.max(end, next + durationMs);
      }
      return Number.POSITIVE_INFINITY;
    },
    nextStart: (t) => nextOccurrence(cron, timeZone, t, HORIZON_MS),
  };
}

function absoluteWindow(kind: 'allow' | 'deny', label: string, from: number, to: number): CompiledWindow {
  return {
    kind,
    label,
    coverEnd: (t) => (t >= from && t < to ? to : null),
    nextStart: (t) => (from >= t && from - t <= HORIZON_MS ? from : null),
  };
}

function compile(window: ChangeWindow, index: number): CompiledWindow {
  if ('schedule' in window) {
    const label = `${window.kind} window #${index + 1} ("${window.schedule}" for ${window.duration}, ${window.timeZone})`;
    return cronWindow(window.kind, label, parseCron(window.schedule), window.timeZone, parseDuration(window.duration));
  }
  const label = `${window.kind} window #${index + 1} (${window.from} to ${window.to})`;
  return absoluteWindow(window.kind, label, Date.parse(window.from), Date.parse(window.to));
}

/** Where the union of `windows` covering `t` stops covering (Infinity past the horizon), or null when none covers `t`. */
function unionEnd(windows: CompiledWindow[], t: number): { end: number; first: CompiledWindow } | null {
  let cursor = t;
  let first: CompiledWindow | undefined;
  for (let hops = 0; hops < 10_000; hops++) {
    let end: number | null = null;
    for (const window of windows) {
      const covered = window.coverEnd(cursor);
      if (covered === null) continue;
      first ??= window;
      end = Math.max(end ?? covered, covered);
    }
    if (end === null || first === undefined) return first ? { end: cursor, first } : null;
    if (!Number.isFinite(end) || end - t > HORIZON_MS) return { end: Number.POSITIVE_INFINITY, first };
    cursor = end;
  }
  return first ? { end: Number.POSITIVE_INFINITY, first } : null;
}

function earliest(values: Array<number | null>): number | null {
  const present = values.filter((value): value is number => value !== null);
  return present.length ? Math.min(...present) : null;
}

function finite(ms: number | null): Date | undefined {
  return ms !== null && Number.isFinite(ms) ? new Date(ms) : undefined;
}

/** The first moment at or after `t` that an allow window covers and no deny window does. */
function nextOpen(allows: CompiledWindow[], denies: CompiledWindow[], t: number): number | null {
  let cursor = t;
  for (let hops = 0; hops < 10_000 && cursor - t <= HORIZON_MS; hops++) {
    const denied = unionEnd(denies, cursor);
    if (denied) {
      if (!Number.isFinite(denied.end)) return null;
      cursor = denied.end;
      continue;
    }
    if (allows.length && !unionEnd(allows, cursor)) {
      const opening = earliest(allows.map((window) => window.nextStart(cursor)));
      if (opening === null) return null;
      cursor = opening;
      continue;
    }
    return cursor;
  }
  return null;
}

/** Whether rollouts may move at `at`, why, and when that changes. */
export function windowState(windows: readonly ChangeWindow[] | undefined, at: Date): WindowState {
  if (!windows?.length) return { open: true, reason: 'no change windows: always open' };
  const compiled = windows.map(compile);
  const allows = compiled.filter((window) => window.kind === 'allow');
  const denies = compiled.filter((window) => window.kind === 'deny');
  const t = at.getTime();
  const denied = unionEnd(denies, t);
  const allowed = allows.length ? unionEnd(allows, t) : null;

  if (!denied && (allowed || !allows.length)) {
    const nextDeny = earliest(denies.map((window) => window.nextStart(t)));
    const closes = Math.min(allowed?.end ?? Number.POSITIVE_INFINITY, nextDeny ?? Number.POSITIVE_INFINITY);
    const closesAt = finite(closes);
    const why = allowed ? `inside ${allowed.first.label}` : 'no deny window in force';
    return { open: true, reason: closesAt ? `${why} until ${closesAt.toISOString()}` : why, ...(closesAt ? { closesAt } : {}) };
  }

  const nextOpening = finite(nextOpen(allows, denies, t));
  const why = denied
    ? `${denied.first.label} is in force${Number.isFinite(denied.end) ? ` until ${new Date(denied.end).toISOString()}` : ''}`
    : 'outside every allow window';
  const when = nextOpening ? `; next opening ${nextOpening.toISOString()}` : '; no window opens within a year';
  return { open: false, reason: `${why}${when}`, ...(nextOpening ? { nextOpening } : {}) };
}

/** What to do with a start request at `now`: start, queue until the next opening, or refuse. */
export type StartPlan =
  | { action: 'start'; reason: string }
  | { action: 'queue'; queueUntil: Date; reason: string }
  | { action: 'refuse'; reason: string };

export function planStart(windows: readonly ChangeWindow[] | undefined, now: Date): StartPlan {
  const state = windowState(windows, now);
  if (state.open) return { action: 'start', reason: state.reason };
  if (state.nextOpening) return { action: 'queue', queueUntil: state.nextOpening, reason: `outside the change windows: ${state.reason}` };
  return { action: 'refuse', reason: `outside the change windows: ${state.reason}` };
}

/** Problems with `strategy.windows` that the schema's shape cannot see: cron syntax, zones, from before to. */
export function windowProblems(windows: readonly ChangeWindow[] | undefined): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  (windows ?? []).forEach((window, i) => {
    const at = `spec.strategy.windows[${i}]`;
    if ('schedule' in window) {
      try {
        parseCron(window.schedule);
      } catch (error) {
        if (!(error instanceof CronError)) throw error;
        problems.push({ path: `${at}.schedule`, message: error.message });
      }
      if (!isTimeZone(window.timeZone))
        problems.push({
          path: `${at}.timeZone`,
          message: `"${window.timeZone}" is not an IANA time zone (expected a name such as Europe/Berlin or UTC)`,
        });
    } else if (Date.parse(window.from) >= Date.parse(window.to)) {
      problems.push({ path: `${at}.to`, message: `must be after from (${window.from})` });
    }
  });
  return problems;
}
