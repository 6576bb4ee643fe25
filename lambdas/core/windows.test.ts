import { describe, expect, it } from 'vitest';
import { CronError, occurrences, parseCron } from './cron.ts';
import { decideAfterLook, initialRun } from './rollout.ts';
import { validateSpec } from './spec.ts';
import type { RolloutSpecInput } from './spec.ts';
import type { Verdict } from './verdict.ts';
import type { ChangeWindow } from './windows.ts';
import { LocalTimeError, localTimeToInstant, parseStartTime, planStart, windowState } from './windows.ts';

const iso = (ms: number) => new Date(ms).toISOString();
const at = (text: string) => new Date(text);

describe('local time to instant', () => {
  it('refuses a time the clocks skip (DST gap), saying which hour', () => {
    expect(() => localTimeToInstant('2026-03-29 02:30', 'Europe/Berlin')).toThrow(LocalTimeError);
    expect(() => localTimeToInstant('2026-03-29 02:30', 'Europe/Berlin')).toThrow(
      '2026-03-29 02:30 does not exist in Europe/Berlin: that night the clocks jump from 02:00 to 03:00 (UTC+01:00 to UTC+02:00)',
    );
    expect(() => localTimeToInstant('2026-03-08T02:15', 'America/New_York')).toThrow(
      'clocks jump from 02:00 to 03:00 (UTC-05:00 to UTC-04:00)',
    );
  });

  it('refuses a time the clocks repeat (DST overlap) and offers both offsets', () => {
    expect(() => localTimeToInstant('2026-10-25 02:30', 'Europe/Berlin')).toThrow(
      '2026-10-25 02:30 is ambiguous in Europe/Berlin: the clocks go back that night, so it happens twice (UTC+02:00, then UTC+01:00); ' +
        'write it with its offset: 2026-10-25T02:30+02:00 or 2026-10-25T02:30+01:00',
    );
    expect(() => localTimeToInstant('2026-11-01 01:30', 'America/New_York')).toThrow('happens twice (UTC-04:00, then UTC-05:00)');
  });

  it('converts times either side of the change, and in a +05:45 zone', () => {
    expect(localTimeToInstant('2026-03-29 01:59', 'Europe/Berlin').toISOString()).toBe('2026-03-29T00:59:00.000Z');
    expect(localTimeToInstant('2026-03-29 03:00', 'Europe/Berlin').toISOString()).toBe('2026-03-29T01:00:00.000Z');
    expect(localTimeToInstant('2026-10-25 03:00', 'Europe/Berlin').toISOString()).toBe('2026-10-25T02:00:00.000Z');
    expect(localTimeToInstant('2026-06-01 09:00', 'Asia/Kathmandu').toISOString()).toBe('2026-06-01T03:15:00.000Z');
    expect(localTimeToInstant('2026-01-01T00:10:30', 'Asia/Kathmandu').toISOString()).toBe('2025-12-31T18:25:30.000Z');
    // Lord Howe moves by 30 minutes: 02:30 exists on its spring-forward night, 02:15 does not.
    expect(localTimeToInstant('2026-10-04 02:30', 'Australia/Lord_Howe').toISOString()).toBe('2026-10-03T15:30:00.000Z');
    expect(() => localTimeToInstant('2026-10-04 02:15', 'Australia/Lord_Howe')).toThrow('clocks jump from 02:00 to 02:30');
  });

  it('refuses unknown zones and impossible dates with what was expected', () => {
    expect(() => localTimeToInstant('2026-06-01 09:00', 'Mars/Olympus')).toThrow('"Mars/Olympus" is not an IANA time zone');
    expect(() => localTimeToInstant('2026-02-30 09:00', 'UTC')).toThrow('is not a calendar time');
    expect(() => localTimeToInstant('tomorrow 9am', 'UTC')).toThrow('expected YYYY-MM-DD HH:MM');
  });
});

describe('start times as users type them', () => {
  const now = at('2026-05-01T12:00:00Z');

  it('takes an ISO time with an offset as written, with or without a zone', () => {
    expect(parseStartTime('2026-05-04T09:00+05:45', { now }).toISOString()).toBe('2026-05-04T03:15:00.000Z');
    expect(parseStartTime('2026-05-04T09:00:00Z', { now, timeZone: 'Europe/Berlin' }).toISOString()).toBe('2026-05-04T09:00:00.000Z');
  });

  it('needs a zone for a local time, and refuses past times', () => {
    expect(parseStartTime('2026-05-04 09:00', { now, timeZone: 'Europe/Berlin' }).toISOString()).toBe('2026-05-04T07:00:00.000Z');
    expect(() => parseStartTime('2026-05-04 09:00', { now })).toThrow(
      'has no offset: write it as 2026-05-04T09:00+02:00, or give a time zone (--tz Europe/Berlin)',
    );
    expect(() => parseStartTime('2026-04-30T09:00Z', { now })).toThrow('is in the past (it is now 2026-05-01T12:00:00.000Z)');
    expect(() => parseStartTime('2026-10-25 02:30', { now, timeZone: 'Europe/Berlin' })).toThrow('is ambiguous');
  });
});

describe('cron', () => {
  it('reads ranges, lists, steps and names', () => {
    const cron = parseCron('*/20 9-11,14 * jan-MAR MON-FRI');
    expect(cron.minutes).toEqual([0, 20, 40]);
    expect(cron.hours).toEqual([9, 10, 11, 14]);
    expect([...cron.months].sort((a, b) => a - b)).toEqual([1, 2, 3]);
    expect([...cron.weekdays].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(parseCron('0 0 * * 7').weekdays.has(0)).toBe(true);
    expect(parseCron('5/15 * * * *').minutes).toEqual([5, 20, 35, 50]);
  });

  it('names the field that is wrong', () => {
    expect(() => parseCron('0 9 * *')).toThrow('has 4 fields: expected 5 (minute hour day-of-month month day-of-week)');
    expect(() => parseCron('60 * * * *')).toThrow('minute 60 is outside 0-59');
    expect(() => parseCron('0 17-9 * * *')).toThrow('hour range 17-9 runs backwards');
    expect(() => parseCron('0 9 * * FUNDAY')).toThrow(CronError);
    expect(() => parseCron('*/0 * * * *')).toThrow('step "0" must be a whole number of at least 1');
    expect(() => parseCron('0 0 30 2 *')).toThrow('never matches a calendar day');
  });

  it('matches either day field when both are restricted (POSIX)', () => {
    const starts = [
      ...occurrences(parseCron('0 12 13 * FRI'), 'UTC', Date.parse('2026-11-01T00:00Z'), Date.parse('2026-11-21T00:00Z')),
    ].map(iso);
    // Fridays 6, 13 (also the 13th) and 20 November 2026.
    expect(starts).toEqual(['2026-11-06T12:00:00.000Z', '2026-11-13T12:00:00.000Z', '2026-11-20T12:00:00.000Z']);
  });

  it('starts a skipped time when the clock jumps, and a repeated time once', () => {
    const nightly = parseCron('30 2 * * *');
    const spring = [...occurrences(nightly, 'Europe/Berlin', Date.parse('2026-03-28T00:00Z'), Date.parse('2026-03-31T00:00Z'))].map(iso);
    expect(spring).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    const autumn = [...occurrences(nightly, 'Europe/Berlin', Date.parse('2026-10-24T00:00Z'), Date.parse('2026-10-27T00:00Z'))].map(iso);
    expect(autumn).toEqual(['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
  });

  it('follows the wall clock for stepped minutes on clock-change nights (Vixie cron: no start in a skipped hour, both passes of a repeated one)', () => {
    // Prepare
    const everyQuarter = parseCron('*/15 2 * * *');
    // Act
    const spring = [...occurrences(everyQuarter, 'Europe/Berlin', Date.parse('2026-03-28T23:00Z'), Date.parse('2026-03-29T23:00Z'))].map(
      iso,
    );
    const autumn = [...occurrences(everyQuarter, 'Europe/Berlin', Date.parse('2026-10-24T23:00Z'), Date.parse('2026-10-25T23:00Z'))].map(
      iso,
    );
    // Assess: 02:00-02:59 does not exist on 29 March; it happens twice on 25 October.
    expect(spring).toEqual([]);
    expect(autumn).toEqual([
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T00:15:00.000Z',
      '2026-10-25T00:30:00.000Z',
      '2026-10-25T00:45:00.000Z',
      '2026-10-25T01:00:00.000Z',
      '2026-10-25T01:15:00.000Z',
      '2026-10-25T01:30:00.000Z',
      '2026-10-25T01:45:00.000Z',
    ]);
  });

  it('starts a fixed time in a half-hour jump when the clock jumps (Lord Howe: 02:00 -> 02:30)', () => {
    const starts = [
      ...occurrences(parseCron('15 2 * * *'), 'Australia/Lord_Howe', Date.parse('2026-10-03T00:00Z'), Date.parse('2026-10-05T00:00Z')),
    ].map(iso);
    expect(starts).toEqual(['2026-10-03T15:30:00.000Z', '2026-10-04T15:15:00.000Z']);
  });

  it('keeps local 09:00 at 09:00 across the change (the UTC time moves)', () => {
    const starts = [
      ...occurrences(parseCron('0 9 * * *'), 'America/New_York', Date.parse('2026-03-07T00:00Z'), Date.parse('2026-03-10T00:00Z')),
    ].map(iso);
    expect(starts).toEqual(['2026-03-07T14:00:00.000Z', '2026-03-08T13:00:00.000Z', '2026-03-09T13:00:00.000Z']);
    const kathmandu = [
      ...occurrences(parseCron('0 9 * * *'), 'Asia/Kathmandu', Date.parse('2026-06-01T00:00Z'), Date.parse('2026-06-02T00:00Z')),
    ].map(iso);
    expect(kathmandu).toEqual(['2026-06-01T03:15:00.000Z']);
  });
});

const officeHours: ChangeWindow = { kind: 'allow', schedule: '0 9 * * 1-5', duration: '8h', timeZone: 'Europe/Berlin' };

describe('window state', () => {
  it('is always open without windows', () => {
    expect(windowState(undefined, at('2026-11-28T03:00Z'))).toEqual({ open: true, reason: 'no change windows: always open' });
    expect(windowState([], at('2026-11-28T03:00Z')).open).toBe(true);
  });

  it('opens inside an allow window and says when it closes', () => {
    // Friday 27 Nov 2026, 10:30 in Berlin (UTC+1).
    const state = windowState([officeHours], at('2026-11-27T09:30Z'));
    expect(state).toEqual({
      open: true,
      reason: 'inside allow window #1 ("0 9 * * 1-5" for 8h, Europe/Berlin) until 2026-11-27T16:00:00.000Z',
      closesAt: at('2026-11-27T16:00:00.000Z'),
    });
  });

  it('is closed outside every allow window, naming the next opening (Monday after a weekend)', () => {
    const state = windowState([officeHours], at('2026-11-28T10:00Z'));
    expect(state.open).toBe(false);
    expect(state.nextOpening?.toISOString()).toBe('2026-11-30T08:00:00.000Z');
    expect(state.reason).toBe('outside every allow window; next opening 2026-11-30T08:00:00.000Z');
  });

  it('follows the window across DST: 09:00 Berlin is 08:00Z in winter and 07:00Z in summer', () => {
    expect(windowState([officeHours], at('2026-03-27T07:30Z')).nextOpening?.toISOString()).toBe('2026-03-27T08:00:00.000Z');
    expect(windowState([officeHours], at('2026-03-30T07:30Z')).open).toBe(true);
    expect(windowState([officeHours], at('2026-03-30T07:30Z')).closesAt?.toISOString()).toBe('2026-03-30T15:00:00.000Z');
    expect(windowState([officeHours], at('2026-03-30T06:30Z')).nextOpening?.toISOString()).toBe('2026-03-30T07:00:00.000Z');
  });

  it('lets deny override allow, and opens again when the deny ends', () => {
    const lunch: ChangeWindow = { kind: 'deny', schedule: '0 12 * * *', duration: '1h', timeZone: 'Europe/Berlin' };
    const before = windowState([officeHours, lunch], at('2026-11-27T10:30Z'));
    expect(before).toMatchObject({ open: true, closesAt: at('2026-11-27T11:00:00Z') });
    const during = windowState([officeHours, lunch], at('2026-11-27T11:30Z'));
    expect(during.open).toBe(false);
    expect(during.reason).toBe(
      'deny window #2 ("0 12 * * *" for 1h, Europe/Berlin) is in force until 2026-11-27T12:00:00.000Z; next opening 2026-11-27T12:00:00.000Z',
    );
  });

  it('holds a holiday freeze given as absolute from/to, and skips to the first allowed time after it', () => {
    const freeze: ChangeWindow = { kind: 'deny', from: '2026-12-23T00:00:00+01:00', to: '2027-01-02T00:00:00+01:00' };
    const state = windowState([officeHours, freeze], at('2026-12-24T10:00Z'));
    expect(state.open).toBe(false);
    expect(state.reason).toContain(
      'deny window #2 (2026-12-23T00:00:00+01:00 to 2027-01-02T00:00:00+01:00) is in force until 2027-01-01T23:00:00.000Z',
    );
    // 2 Jan 2027 is a Saturday: the next weekday morning is Monday 4 Jan.
    expect(state.nextOpening?.toISOString()).toBe('2027-01-04T08:00:00.000Z');
    // With only the freeze, everything outside it is open.
    expect(windowState([freeze], at('2026-12-20T10:00Z'))).toMatchObject({ open: true, closesAt: at('2026-12-22T23:00:00Z') });
  });

  it('joins overlapping openings into one stretch', () => {
    const hourly: ChangeWindow = { kind: 'allow', schedule: '0 8-10 * * *', duration: '90m', timeZone: 'UTC' };
    expect(windowState([hourly], at('2026-11-27T08:10Z')).closesAt?.toISOString()).toBe('2026-11-27T11:30:00.000Z');
  });

  it('says so when nothing opens within a year', () => {
    const leapDay: ChangeWindow = { kind: 'allow', schedule: '0 9 29 2 *', duration: '1h', timeZone: 'UTC' };
    expect(windowState([leapDay], at('2026-11-27T10:00Z'))).toEqual({
      open: false,
      reason: 'outside every allow window; no window opens within a year',
    });
  });
});

describe('planStart', () => {
  it('starts now inside a window', () => {
    expect(planStart([officeHours], at('2026-11-27T09:30Z')).action).toBe('start');
  });

  it('queues a request outside a window until the next opening', () => {
    expect(planStart([officeHours], at('2026-11-28T10:00Z'))).toEqual({
      action: 'queue',
      queueUntil: at('2026-11-30T08:00:00.000Z'),
      reason: 'outside the change windows: outside every allow window; next opening 2026-11-30T08:00:00.000Z',
    });
  });

  it('refuses when no window opens ahead', () => {
    const never: ChangeWindow = { kind: 'deny', from: '2026-01-01T00:00:00Z', to: '2099-01-01T00:00:00Z' };
    expect(planStart([never], at('2026-11-28T10:00Z')).action).toBe('refuse');
  });
});

function spec(strategy: Partial<RolloutSpecInput['spec']['strategy']>) {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'web' },
    spec: {
      cluster: { kubeconfigContext: 'kind' },
      router: {
        name: 'web',
        namespace: 'gloo-system',
        primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
        canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
      },
      strategy: { stepWeights: [10, 50], interval: '10s', threshold: 2, deadline: '10m', ...strategy },
      analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
    },
  };
}

describe('windows in the spec', () => {
  it('are accepted (no longer "not supported yet")', () => {
    const result = validateSpec(
      spec({ windows: [officeHours, { kind: 'deny', from: '2026-12-23T00:00:00+01:00', to: '2027-01-02T00:00:00+01:00' }] }),
    );
    expect(result.ok).toBe(true);
  });

  it('report a bad cron, zone or from/to by field path', () => {
    const result = validateSpec(
      spec({
        windows: [
          { kind: 'allow', schedule: '0 25 * * *', duration: '1h', timeZone: 'Europe/Berlin' },
          { kind: 'allow', schedule: '0 9 * * *', duration: '1h', timeZone: 'Europe/Atlantis' },
          { kind: 'deny', from: '2027-01-02T00:00:00Z', to: '2026-12-23T00:00:00Z' },
        ],
      }),
    );
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.problems).toEqual([
      { path: 'spec.strategy.windows[0].schedule', message: '"0 25 * * *": hour 25 is outside 0-23' },
      {
        path: 'spec.strategy.windows[1].timeZone',
        message: '"Europe/Atlantis" is not an IANA time zone (expected a name such as Europe/Berlin or UTC)',
      },
      { path: 'spec.strategy.windows[2].to', message: 'must be after from (2027-01-02T00:00:00Z)' },
    ]);
  });
});

describe('a running rollout outside a window', () => {
  const pass: Verdict = { result: 'pass', checks: [], summary: 'all checks passed' };
  const fail: Verdict = { result: 'fail', checks: [], summary: 'request-success-rate 90.00 < min 99' };
  const closed = { open: false, reason: 'outside every allow window; next opening 2026-11-30T08:00:00.000Z' };
  const start = at('2026-11-27T10:00:00Z');
  const validated = validateSpec(spec({}));
  if (!validated.ok) throw new Error('test spec is invalid');
  const run = initialRun(validated.spec, start);
  const look = (state: typeof run, verdict: Verdict, seconds: number, extra: { window?: typeof closed; promoteNow?: boolean } = {}) =>
    decideAfterLook(state, { verdict, noData: 'fail', threshold: 2, now: new Date(start.getTime() + seconds * 1000), ...extra });

  it('holds at its weight with passing looks, and its deadline pauses', () => {
    let state = run;
    for (let i = 1; i <= 3; i++) state = look(state, pass, i * 10, { window: closed });
    expect(state).toMatchObject({ next: 'bake', stepIndex: 0, lookInStep: 0, heldSeconds: 30 });
    expect(state.reason).toBe(`holding at this weight outside the change windows: ${closed.reason}`);
    // 10m deadline + 30 s held: a look at 10m20s is still in time.
    expect(look(state, pass, 620)).toMatchObject({ next: 'advance', stepIndex: 1 });
    expect(look(state, pass, 631).reason).toBe(
      'deadline passed at 2026-11-27T10:10:30.000Z (extended by 30s held outside the change windows) before the rollout finished',
    );
  });

  it('still rolls back a failing canary while held', () => {
    const once = look(run, fail, 10, { window: closed });
    expect(once).toMatchObject({ next: 'bake', failedChecks: 1 });
    expect(look(once, fail, 20, { window: closed })).toMatchObject({ next: 'rollback', failedChecks: 2 });
  });

  it('does not promote on request while held', () => {
    const last = { ...run, stepIndex: 1 };
    expect(look(last, pass, 10, { window: closed, promoteNow: true })).toMatchObject({ next: 'bake', stepIndex: 1 });
    expect(look(last, pass, 10, { window: { open: true, reason: 'inside' }, promoteNow: true }).next).toBe('promote');
  });

  it('rolls back before holding longer than the execution history allows', () => {
    // 10m deadline at 10 s looks = 60 looks; 0.9 × 25,000 / 16 = 1406 looks in all: 1346 held looks fit.
    const longHeld = { ...run, heldSeconds: 1346 * 10 };
    const decided = look(longHeld, pass, 10, { window: closed });
    expect(decided.next).toBe('rollback');
    expect(decided.reason).toMatch(/^held outside the change windows for 13470s, longer than Step Functions' execution history allows/);
  });
});
