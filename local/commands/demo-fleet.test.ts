import { describe, expect, it } from 'vitest';
import { runFleetDemo } from './demo-fleet.ts';

describe('sluice demo --fleet', () => {
  it('refuses a scenario the fleet demo does not run, naming the option and the choices, and starts nothing', async () => {
    // Prepare
    const out: string[] = [];
    const err: string[] = [];

    // Act
    const { code } = await runFleetDemo({ scenario: 'blue-green' }, { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });

    // Assess
    expect(code).toBe(2);
    expect(err.join('')).toBe('--scenario: --fleet runs healthy, errors, latency; got "blue-green"\n');
    expect(out).toEqual([]);
  });
});
