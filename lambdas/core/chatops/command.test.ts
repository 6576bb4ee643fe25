import { describe, expect, it } from 'vitest';
import { actionOf, parseCommand } from './command.ts';

describe('parseCommand', () => {
  it('reads every command', () => {
    expect(parseCommand('start web v1.2.3')).toEqual({ ok: true, command: { kind: 'start', target: 'web', version: 'v1.2.3' } });
    expect(parseCommand('  STATUS   web ')).toEqual({ ok: true, command: { kind: 'status', target: 'web' } });
    expect(parseCommand('abort web canary &lt;broken&gt;')).toEqual({
      ok: true,
      command: { kind: 'abort', target: 'web', reason: 'canary <broken>' },
    });
    expect(parseCommand('abort web')).toEqual({ ok: true, command: { kind: 'abort', target: 'web', reason: 'aborted from Slack' } });
    expect(parseCommand('retry web')).toEqual({ ok: true, command: { kind: 'retry', target: 'web' } });
    expect(parseCommand('schedule list')).toEqual({ ok: true, command: { kind: 'schedule', action: 'list', args: [] } });
    expect(parseCommand('')).toEqual({ ok: true, command: { kind: 'help' } });
  });

  it('turns malformed text into usage that names what was expected', () => {
    const cases: [string, string][] = [
      ['start', 'Which target?'],
      ['start web', 'Which version of web?'],
      ['start web v1 now', 'Unexpected `now` after the version.'],
      ['start web v1<script>', 'is not a version'],
      ['promote ../etc', 'is not a target name'],
      ['deploy web', "I don't know `deploy`."],
      ['schedule', 'Expected `list`'],
      ['status web x'.padEnd(1200, 'x'), 'That command is too long.'],
    ];
    for (const [text, expected] of cases) {
      const parsed = parseCommand(text);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.usage).toContain(expected);
    }
  });

  it('reads override with its reason and schedule create with its time and zone', () => {
    expect(parseCommand('override web hotfix INC-1')).toEqual({
      ok: true,
      command: { kind: 'override', target: 'web', reason: 'hotfix INC-1' },
    });
    expect(parseCommand('schedule web v1.2 at 2026-12-01 09:00 tz Europe/Berlin')).toEqual({
      ok: true,
      command: {
        kind: 'schedule',
        action: 'create',
        target: 'web',
        args: ['v1.2', 'at', '2026-12-01', '09:00', 'tz', 'Europe/Berlin'],
        version: 'v1.2',
        at: '2026-12-01 09:00',
        timeZone: 'Europe/Berlin',
      },
    });
    const cases: [string, string][] = [
      ['override web', 'needs a reason'],
      ['schedule web', 'Which version of web?'],
      ['schedule web v1 at', 'When? Give an ISO time'],
      ['schedule web v1 at 09:00 tz', '`tz` takes one IANA zone'],
    ];
    for (const [text, expected] of cases) {
      const parsed = parseCommand(text);
      expect(parsed.ok ? 'parsed' : parsed.usage).toContain(expected);
    }
  });

  it('maps override to the approvers and listing schedules to reading', () => {
    const override = parseCommand('override web why');
    const list = parseCommand('schedule list web');
    if (!override.ok || !list.ok) throw new Error('did not parse');
    expect(actionOf(override.command)).toBe('approve');
    expect(actionOf(list.command)).toBe('status');
  });

  it('maps retry and schedule to the start permission', () => {
    const retry = parseCommand('retry web');
    if (!retry.ok) throw new Error('retry did not parse');
    expect(actionOf(retry.command)).toBe('start');
  });
});
