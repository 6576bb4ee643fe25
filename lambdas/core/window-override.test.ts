import { describe, expect, it } from 'vitest';
import { DEFAULT_OVERRIDE_MS, planOverride, withOverride } from './window-override.ts';
import { windowState } from './windows.ts';

const NOW = new Date('2026-12-24T10:00:00Z');
const freeze = [{ kind: 'deny' as const, from: '2026-12-23T00:00:00Z', to: '2027-01-02T00:00:00Z' }];
const override = { target: 'web', by: 'alice@cli', reason: 'hotfix', at: NOW.toISOString(), until: '2026-12-24T11:00:00.000Z' };

describe('window overrides', () => {
  it('last until the windows open again unless a duration is given', () => {
    const closed = windowState(freeze, NOW);

    const untilOpening = planOverride({ target: 'web', by: 'alice@cli', reason: ' hotfix ', now: NOW, state: closed });
    const forTwoHours = planOverride({ target: 'web', by: 'alice@cli', reason: 'hotfix', now: NOW, state: closed, forMs: 2 * 3_600_000 });
    const nothingOpens = planOverride({
      target: 'web',
      by: 'alice@cli',
      reason: 'hotfix',
      now: NOW,
      state: { open: false, reason: 'deny forever' },
    });

    expect(untilOpening).toEqual({ ok: true, override: { ...override, until: '2027-01-02T00:00:00.000Z' } });
    expect(forTwoHours.ok && forTwoHours.override.until).toBe('2026-12-24T12:00:00.000Z');
    expect(nothingOpens.ok && Date.parse(nothingOpens.override.until) - NOW.getTime()).toBe(DEFAULT_OVERRIDE_MS);
  });

  it('are refused without a reason or with a duration that is not positive', () => {
    const closed = windowState(freeze, NOW);

    expect(planOverride({ target: 'web', by: 'a', reason: '   ', now: NOW, state: closed })).toEqual({
      ok: false,
      message: "an override of web's change windows needs a reason (it is audited)",
    });
    expect(planOverride({ target: 'web', by: 'a', reason: 'x', now: NOW, state: closed, forMs: 0 }).ok).toBe(false);
  });

  it('open a closed window only while in force', () => {
    const closed = windowState(freeze, NOW);

    const during = withOverride(closed, override, NOW);
    const after = withOverride(closed, override, new Date('2026-12-24T11:00:00Z'));

    expect(during.open).toBe(true);
    expect(during.reason).toMatch(/^window override by alice@cli until 2026-12-24T11:00:00.000Z \(hotfix\); deny window #1/);
    expect(after).toEqual(closed);
    expect(withOverride(closed, null, NOW)).toEqual(closed);
  });
});
