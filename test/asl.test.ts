/** The state machine file's own promises, checked on the file itself. */
import { readFileSync } from 'node:fs';
import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';

interface Catcher { ErrorEquals: string[]; Next: string }
interface Retrier { ErrorEquals: string[]; JitterStrategy?: string; BackoffRate?: number }
interface State { Type: string; Resource?: string; TimeoutSeconds?: number; TimeoutSecondsPath?: string; Catch?: Catcher[]; Retry?: Retrier[]; Parameters?: Record<string, unknown> }

const definition = JSON.parse(readFileSync(new URL('../statemachine/rollout.asl.json', import.meta.url), 'utf8')) as { States: Record<string, State> };
const tasks = Object.entries(definition.States).filter(([, state]) => state.Type === 'Task');

describe('statemachine/rollout.asl.json', () => {
  it('passes asl-validator as JSONPath', () => {
    const result = aslValidator(definition, { checkPaths: true, checkArn: true });
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('sends every unexpected error of every Task except Rollback itself to Rollback (after the copy, relabelled promotion-failed on the way)', () => {
    const afterCopy = ['CheckPrimary', 'Switch'];
    for (const [name, state] of tasks) {
      if (name === 'Rollback') continue;
      const last = state.Catch?.at(-1);
      expect(last, name).toEqual(expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: afterCopy.includes(name) ? 'PromotionFailedAfterCopy' : 'Rollback' }));
    }
    const relabel = definition.States.PromotionFailedAfterCopy as State & { Choices: { Next: string }[]; Default: string };
    expect([relabel.Default, ...relabel.Choices.map((c) => c.Next)]).toEqual(['Rollback', 'HeldOnCanary']);
    expect(definition.States.HeldOnCanary).toMatchObject({ Type: 'Pass', Parameters: { Error: 'Sluice.PromotionFailed' }, ResultPath: '$.error', Next: 'Rollback' });
  });

  it('lets only a bake or approval timeout and a refusal (or a preflight that stayed unreachable) bypass Rollback', () => {
    const bypass = tasks.flatMap(([name, state]) => (state.Catch ?? []).filter((c) => c.Next !== 'Rollback' && name !== 'Rollback').map((c) => `${name}:${c.ErrorEquals.join()}->${c.Next}`));
    expect(bypass).toEqual([
      'Prepare:Sluice.Refused,Sluice.Transient->Refused',
      'ApproveStart:States.Timeout->StartApprovalTimedOut',
      'Bake:States.Timeout->Analyze',
      'ApprovePromotion:States.Timeout->PromotionApprovalTimedOut',
      'CheckPrimary:States.ALL->PromotionFailedAfterCopy',
      'Switch:States.ALL->PromotionFailedAfterCopy',
    ]);
  });

  it('retries only named transient errors, with backoff and jitter', () => {
    for (const [name, state] of tasks) {
      expect(state.Retry?.length, name).toBeGreaterThan(0);
      for (const retrier of state.Retry ?? []) {
        expect(retrier.ErrorEquals, name).not.toContain('States.ALL');
        expect(retrier.ErrorEquals, name).toContain('Sluice.Transient');
        expect(retrier.JitterStrategy, name).toBe('FULL');
        expect(retrier.BackoffRate, name).toBeGreaterThan(1);
      }
    }
  });

  it('bounds every Task in time', () => {
    for (const [name, state] of tasks) expect(state.TimeoutSeconds ?? state.TimeoutSecondsPath, name).toBeDefined();
  });

  it('takes every Lambda from a substitution that CDK fills in', () => {
    const functions = tasks.map(([, state]) => (state.Resource?.startsWith('${') ? state.Resource : (state.Parameters?.FunctionName as string)));
    for (const fn of functions) expect(fn).toMatch(/^\$\{[A-Za-z]+FunctionArn\}$/);
  });
});
