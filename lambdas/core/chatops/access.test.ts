import { describe, expect, it } from 'vitest';
import { authorize, groupsToResolve, twoPersonCheck } from './access.ts';
import type { AccessPolicy } from './access.ts';

const policy: AccessPolicy = {
  channels: ['C0DEPLOYS'],
  start: ['S0PLATFORM'],
  approve: ['U0LEAD'],
  promote: ['S0PLATFORM'],
  abort: ['S0ONCALL'],
  twoPersonRule: true,
};
const caller = (user: string, groups: string[] = [], channel = 'C0DEPLOYS') => ({ user, channel, memberOf: new Set(groups) });

describe('access policy', () => {
  it('without a policy only status and help are allowed', () => {
    expect(authorize(undefined, 'status', caller('U1'), 'web').allowed).toBe(true);
    expect(authorize(undefined, 'help', caller('U1'), 'web').allowed).toBe(true);
    for (const action of ['history', 'start', 'abort', 'promote', 'approve'] as const)
      expect(authorize(undefined, action, caller('U1'), 'web').allowed).toBe(false);
  });

  it('checks users and user groups per action, in the listed channels only', () => {
    expect(authorize(policy, 'start', caller('U1', ['S0PLATFORM']), 'web')).toEqual({ allowed: true });
    expect(authorize(policy, 'start', caller('U1', ['S0ONCALL']), 'web')).toEqual({
      allowed: false,
      reason: 'You may not start web: ask someone listed under spec.access.start.',
    });
    expect(authorize(policy, 'start', caller('U1', ['S0PLATFORM'], 'C0OTHER'), 'web').allowed).toBe(false);
    expect(authorize(policy, 'approve', caller('U0LEAD'), 'web').allowed).toBe(true);
  });

  it('allows abort more widely than promote', () => {
    expect(authorize(policy, 'abort', caller('U1', ['S0ONCALL']), 'web').allowed).toBe(true);
    expect(authorize(policy, 'promote', caller('U1', ['S0ONCALL']), 'web').allowed).toBe(false);
    expect(authorize(policy, 'abort', caller('U0LEAD'), 'web').allowed).toBe(true);
    expect(groupsToResolve(policy, 'abort').sort()).toEqual(['S0ONCALL', 'S0PLATFORM']);
  });

  it('two-person rule: the requester may not approve or promote, but may abort', () => {
    expect(twoPersonCheck(policy, 'promote', 'U1', 'slack:U1').allowed).toBe(false);
    expect(twoPersonCheck(policy, 'approve', 'U2', 'slack:U1').allowed).toBe(true);
    expect(twoPersonCheck(policy, 'abort', 'U1', 'slack:U1').allowed).toBe(true);
    expect(twoPersonCheck({ ...policy, twoPersonRule: false }, 'promote', 'U1', 'slack:U1').allowed).toBe(true);
  });
});
