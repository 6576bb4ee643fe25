/**
 * The reliability soak's harness (bench/reliability/): the fault plan, the retry budget read from
 * the ASL, and the soak CI runs — N = 12 at the fixed seed — end to end, which must report no
 * violation, with every kind injected at least twice (missed faults are re-dealt to fresh
 * rollouts). About 45-60 s on a quiet 2-core machine: the sustained outage is 3 × Rollback's
 * compressed budget (370 × 20 ms); on a loaded one the soak's 1-second steps starve.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ASL_PATH, compressedRetryOverrides, retryBudget, sustainedOutageMs } from '../bench/reliability/budget.ts';
import { FAULT_KINDS, OUTSIDE_ENGINE, OWN_ENGINE, planFaults } from '../bench/reliability/faults.ts';
import { DEFAULT_N, DEFAULT_SEED, INVARIANTS, runSoak } from '../bench/reliability/soak.ts';

describe('reliability soak: the fault plan', () => {
  it.each([1, 2, 3, 20261206])('deals every fault kind at least twice at N = 12 (seed %i)', (seed) => {
    const plans = planFaults(12, seed);
    const counts = new Map<string, number>();
    for (const plan of plans) for (const fault of plan.faults) counts.set(fault.kind, (counts.get(fault.kind) ?? 0) + 1);
    for (const kind of FAULT_KINDS) expect(counts.get(kind), kind).toBeGreaterThanOrEqual(2);
  });

  it('never gives one rollout the same kind twice, and a rollout in its own engine (killed, store locked) only faults injected from outside it', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      for (const plan of planFaults(20, seed)) {
        const kinds = plan.faults.map((f) => f.kind);
        expect(new Set(kinds).size).toBe(kinds.length);
        if (kinds.some((k) => OWN_ENGINE.has(k))) expect(kinds.every((k) => OUTSIDE_ENGINE.has(k) || OWN_ENGINE.has(k))).toBe(true);
      }
    }
  });

  it.each([1, 2, 3, 4, 5])('deals the bench size, N = 50, at seed %i (every kind at least twice)', (seed) => {
    const counts = new Map<string, number>();
    for (const plan of planFaults(50, seed)) for (const fault of plan.faults) counts.set(fault.kind, (counts.get(fault.kind) ?? 0) + 1);
    for (const kind of FAULT_KINDS) expect(counts.get(kind), kind).toBeGreaterThanOrEqual(2);
  });

  it('plans the same soak for the same seed and a different one for another seed', () => {
    expect(planFaults(12, 7)).toEqual(planFaults(12, 7));
    expect(planFaults(12, 7)).not.toEqual(planFaults(12, 8));
  });
});

describe('reliability soak: the retry budget comes from the ASL file', () => {
  it('sums Rollback, the longest retrier, as the ASL spec computes backoff (2+4+8+16+32 s, then 60 s capped, 370 attempts)', () => {
    const budget = retryBudget(20);
    expect(budget.longest.state).toBe('Rollback');
    expect(budget.longest.realSeconds).toBe(2 + 4 + 8 + 16 + 32 + 365 * 60);
    expect(budget.longest.compressedMs).toBe(370 * 20);
    // A sustained outage lasts three times that (plus the safety net's, zero locally).
    expect(sustainedOutageMs(budget, 0)).toBe(3 * 370 * 20);
  });

  it('compresses the pause of every state that has a Retry block, not only a hand-kept list', () => {
    const overrides = compressedRetryOverrides(20);
    const asl = JSON.parse(readFileSync(ASL_PATH, 'utf8')) as { States: Record<string, { Retry?: unknown[] }> };
    const retrying = Object.entries(asl.States)
      .filter(([, state]) => (state.Retry ?? []).length > 0)
      .map(([name]) => name);
    expect(Object.keys(overrides).sort()).toEqual(retrying.sort());
    expect(overrides).toMatchObject({ CheckCanary: 20, CheckPrimary: 20, Switch: 20, Rollback: 20 });
  });

  it('follows an edited Retry block', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-asl-'));
    try {
      const asl = JSON.parse(readFileSync(ASL_PATH, 'utf8')) as { States: Record<string, { Retry?: Array<Record<string, unknown>> }> };
      const rollback = asl.States.Rollback?.Retry?.[0];
      if (!rollback) throw new Error('the ASL has no Rollback retrier');
      rollback.MaxAttempts = 12;
      const path = join(dir, 'rollout.asl.json');
      writeFileSync(path, JSON.stringify(asl));
      const budget = retryBudget(100, path);
      expect(budget.longest.compressedMs).toBe(1200);
      expect(budget.longest.realSeconds).toBe(2 + 4 + 8 + 16 + 32 + 7 * 60);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('reliability soak: end to end at N = 12, the fixed seed (what CI runs)', () => {
  it("ends every rollout on a safe side (or someone else's) with every invariant holding: violations []", {
    timeout: 150_000,
  }, async () => {
    const report = await runSoak({ n: DEFAULT_N, seed: DEFAULT_SEED });

    expect(report.violations).toEqual([]);
    expect(report.reconciler).toEqual({ ran: true });
    // The 12 planned rollouts, then fresh ones carrying the faults whose moment never came in them.
    expect(report.rollouts.filter((r) => r.round === 0)).toHaveLength(12);
    expect(Object.keys(report.invariants).sort()).toEqual(Object.keys(INVARIANTS).sort());
    // Every kind was dealt at least twice and injected at least twice: the soak is not soft.
    for (const kind of FAULT_KINDS) {
      expect(report.kinds[kind]?.planned, kind).toBeGreaterThanOrEqual(2);
      expect(report.kinds[kind]?.injected, `${kind} injected`).toBeGreaterThanOrEqual(2);
    }
    for (const rollout of report.rollouts) {
      expect(['promoted', 'primary', 'canary-held', 'taken-over']).toContain(rollout.endState);
      // A group someone else wrote last is only ever found where the soak wrote foreign weights.
      if (rollout.endState === 'taken-over') expect(rollout.faults.map((f) => f.kind)).toContain('foreign-weights');
      expect(rollout.reported.outcome).not.toBe('running');
    }
    expect(report.budget.longestState).toBe('Rollback');
    expect(report.budget.sustainedOutageMs).toBeGreaterThanOrEqual(3 * report.budget.longestCompressedMs);
  });
});
