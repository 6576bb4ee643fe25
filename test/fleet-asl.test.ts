/** statemachine/fleet.asl.json's own promises, checked on the file itself (as test/asl.test.ts does for the rollout's). */
import { readFileSync } from 'node:fs';
import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';
import { EXECUTION_TIMEOUT_SECONDS } from '../lambdas/core/limits.ts';

interface State {
  Type: string;
  Variable?: string;
  StringEquals?: string;
  Next?: string;
  Default?: string;
  End?: boolean;
  Choices?: { Next: string; Variable?: string; StringEquals?: string }[];
  Resource?: string;
  TimeoutSeconds?: number;
  Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string | null }[];
  Retry?: { ErrorEquals: string[]; JitterStrategy?: string }[];
  Parameters?: Record<string, unknown>;
  ItemsPath?: string;
  MaxConcurrencyPath?: string;
  ItemProcessor?: Machine;
}
interface Machine {
  StartAt: string;
  TimeoutSeconds?: number;
  States: Record<string, State>;
}

const text = readFileSync(new URL('../statemachine/fleet.asl.json', import.meta.url), 'utf8');
const fleet = JSON.parse(text) as Machine;
const runWave = fleet.States.RunWave as State;
const iteration = runWave.ItemProcessor as Machine;
const allStates = (machine: Machine): Array<[string, State]> =>
  Object.entries(machine.States).flatMap(([name, state]) => [
    [name, state] as [string, State],
    ...(state.ItemProcessor ? allStates(state.ItemProcessor) : []),
  ]);

describe('statemachine/fleet.asl.json', () => {
  it('passes asl-validator as JSONPath', () => {
    const result = aslValidator(fleet as never, { checkPaths: true, checkArn: true });
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('runs each wave as a Map of nested rollout executions, bounded by the wave maxParallel', () => {
    expect(runWave.Type).toBe('Map');
    expect(runWave.ItemsPath).toBe('$.fleet.members');
    expect(runWave.MaxConcurrencyPath).toBe('$.fleet.maxParallel');
    const nested = allStates(fleet).filter(([, state]) => state.Resource?.startsWith('arn:aws:states:::states:'));
    expect(nested.map(([name, state]) => [name, state.Resource, state.Parameters?.StateMachineArn])).toEqual([
      ['RunMember', 'arn:aws:states:::states:startExecution.sync:2', '${RolloutStateMachineArn}'],
      ['RunRevert', 'arn:aws:states:::states:startExecution.sync:2', '${RolloutStateMachineArn}'],
    ]);
  });

  it('carries cluster names, never resolved specs: each member resolves its own spec inside its iteration', () => {
    const runMember = iteration.States.RunMember as State;
    expect(runMember.Parameters?.Input).toMatchObject({ 'spec.$': '$.child.input.spec' });
    expect(iteration.StartAt).toBe('ResolveMember');
    // The Map's results are the members' small answers, not their outputs.
    expect(
      Object.entries(iteration.States)
        .filter(([, s]) => s.Type === 'Pass')
        .map(([, s]) => Object.keys(s.Parameters ?? {}).sort()),
    ).toEqual([
      ['cluster.$', 'promoted'],
      ['cluster.$', 'promoted'],
      ['cluster.$', 'promoted', 'skipped'],
    ]);
    expect((iteration.States.RunMember as State).Catch?.[0]?.Next).toBe('HaltWave');
  });

  it('decides after every wave and every watch in one Choice, and ends in the read-back outcome', () => {
    const route = fleet.States.Route as State;
    expect(route.Type).toBe('Choice');
    expect(new Set([...(route.Choices ?? []).map((c) => c.Next), route.Default])).toEqual(
      new Set(['KeepTemplates', 'Pause', 'PlanRevert', 'Finish']),
    );
    expect((fleet.States.KeepTemplates as State).Next).toBe('RunWave');
    for (const name of ['WaveDone', 'Watch']) expect((fleet.States[name] as State).Next).toBe('Route');
    expect((fleet.States.Pause as State).Next).toBe('Watch');
    expect((fleet.States.Outcome as State).Default).toBe('FleetHalted');
  });

  it('sends every failure after Plan to the halt (the promoted waves rolled back if the spec says so), then Finish; retries only transient errors', () => {
    const expected: Record<string, string | undefined> = {
      ResolveMember: undefined, // fails its iteration: the Map's Catch halts the fleet
      Plan: 'Refused',
      KeepTemplates: 'PlanRevert',
      RunWave: 'PlanRevert',
      WaveDone: 'PlanRevert',
      Watch: 'PlanRevert',
      RunMember: 'HaltWave',
      HaltWave: 'MemberNotPromoted',
      PlanRevert: 'Finish',
      RevertPromoted: 'Finish',
      RevertMember: 'RevertFailed',
      CheckRevert: 'RevertFailed',
      RunRevert: 'RevertFailed',
      RevertFailed: 'RevertDone',
      Finish: 'FinishFailed',
    };
    const checked: string[] = [];
    for (const [name, state] of allStates(fleet)) {
      if (state.Type !== 'Task' && state.Type !== 'Map') continue;
      const catchAll = state.Catch?.find((c) => c.ErrorEquals.includes('States.ALL'));
      expect(catchAll?.Next, name).toBe(expected[name]);
      checked.push(name);
      for (const retrier of state.Retry ?? []) {
        expect(retrier.ErrorEquals, name).not.toContain('States.ALL');
        expect(retrier.ErrorEquals, name).not.toContain('States.TaskFailed');
      }
    }
    expect(checked.sort()).toEqual(Object.keys(expected).sort());
  });

  it('rolls the promoted waves back only after a halt: a Map over the promoted clusters, each restored or judged by a nested rollout', () => {
    const route = fleet.States.Route as State;
    expect(route.Choices?.find((c) => c.Next === 'PlanRevert')).toMatchObject({ Variable: '$.fleet.next', StringEquals: 'halt' });
    expect((fleet.States.PlanRevert as State).Next).toBe('RevertNeeded');
    const needed = fleet.States.RevertNeeded as State;
    expect([needed.Choices?.[0]?.Next, needed.Default]).toEqual(['RevertPromoted', 'Finish']);
    const revert = fleet.States.RevertPromoted as State;
    expect([revert.Type, revert.ItemsPath, revert.MaxConcurrencyPath, revert.Next]).toEqual([
      'Map',
      '$.revert.members',
      '$.revert.maxParallel',
      'Finish',
    ]);
    const steps = revert.ItemProcessor as Machine;
    expect(steps.StartAt).toBe('RevertMember');
    expect((steps.States.RunRevert as State).Parameters?.Input).toMatchObject({ 'spec.$': '$.child.input.spec' });
    // The Kubernetes work is the step Lambda's (the one fleet Lambda with cluster access).
    for (const name of ['KeepTemplates', 'PlanRevert'])
      expect((fleet.States[name] as State).Resource, name).toBe('${FleetStepFunctionArn}');
    for (const name of ['RevertMember', 'RevertFailed'])
      expect((steps.States[name] as State).Resource, name).toBe('${FleetStepFunctionArn}');
  });

  it('bounds every Task in time; a member may run as long as the rollout state machine lets it', () => {
    for (const [name, state] of allStates(fleet)) if (state.Type === 'Task') expect(state.TimeoutSeconds, name).toBeGreaterThan(0);
    expect((iteration.States.RunMember as State).TimeoutSeconds).toBeGreaterThan(EXECUTION_TIMEOUT_SECONDS);
    expect(fleet.TimeoutSeconds).toBeGreaterThan(EXECUTION_TIMEOUT_SECONDS);
  });
});
