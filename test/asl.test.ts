/** The state machine file's own promises, checked on the file itself. */
import { readFileSync } from 'node:fs';
import aslValidator from 'asl-validator';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  EXECUTION_TIMEOUT_SECONDS,
  HISTORY_EVENTS_FOR_ROLLBACK,
  HISTORY_EVENTS_PER_ROLLBACK_RETRY,
  MAX_DEADLINE_SECONDS,
  MAX_READY_TIMEOUT_SECONDS,
  READY_CHECK_SECONDS,
  RECOVERY_WINDOW_MAX_SECONDS,
} from '../lambdas/core/limits.ts';

interface Catcher {
  ErrorEquals: string[];
  Next: string;
}
interface Retrier {
  ErrorEquals: string[];
  JitterStrategy?: string;
  BackoffRate?: number;
  MaxAttempts?: number;
}
interface State {
  Type: string;
  Next?: string;
  Default?: string;
  Seconds?: number;
  Choices?: { Variable?: string; Next: string }[];
  Resource?: string;
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
  Catch?: Catcher[];
  Retry?: Retrier[];
  Parameters?: Record<string, unknown>;
}

const definition = JSON.parse(readFileSync(new URL('../statemachine/rollout.asl.json', import.meta.url), 'utf8')) as {
  TimeoutSeconds?: number;
  States: Record<string, State>;
};
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
      expect(last, name).toEqual(
        expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: afterCopy.includes(name) ? 'PromotionFailedAfterCopy' : 'Rollback' }),
      );
    }
    const relabel = definition.States.PromotionFailedAfterCopy as State & { Choices: { Next: string }[]; Default: string };
    expect([relabel.Default, ...relabel.Choices.map((c) => c.Next)]).toEqual(['Rollback', 'HeldOnCanary', 'HeldOnCanaryNoCause']);
    for (const pass of ['HeldOnCanary', 'HeldOnCanaryNoCause']) {
      expect(definition.States[pass], pass).toMatchObject({
        Type: 'Pass',
        Parameters: { Error: 'Sluice.PromotionFailed' },
        ResultPath: '$.error',
        Next: 'Rollback',
      });
    }
  });

  it('lets only a bake or approval timeout and a refusal (or a preflight that stayed unreachable) bypass Rollback', () => {
    const bypass = tasks.flatMap(([name, state]) =>
      (state.Catch ?? [])
        .filter((c) => c.Next !== 'Rollback' && name !== 'Rollback')
        .map((c) => `${name}:${c.ErrorEquals.join()}->${c.Next}`),
    );
    expect(bypass).toEqual([
      'Prepare:Sluice.Refused,Sluice.Transient->Refused',
      'ApproveStart:States.Timeout->StartApprovalExpired',
      'Bake:States.Timeout->Analyze',
      'ApprovePromotion:States.Timeout->PromotionApprovalExpired',
      'CheckPrimary:States.ALL->PromotionFailedAfterCopy',
      'Switch:States.ALL->PromotionFailedAfterCopy',
    ]);
  });

  it('retries only named transient errors, with backoff and jitter (Rollback: no jitter, so its reach is a fixed number)', () => {
    for (const [name, state] of tasks) {
      expect(state.Retry?.length, name).toBeGreaterThan(0);
      for (const retrier of state.Retry ?? []) {
        expect(retrier.ErrorEquals, name).not.toContain('States.ALL');
        expect(retrier.ErrorEquals, name).toContain('Sluice.Transient');
        expect(retrier.JitterStrategy, name).toBe(name === 'Rollback' ? 'NONE' : 'FULL');
        expect(retrier.BackoffRate, name).toBeGreaterThan(1);
      }
      // Every error the Lambda service itself may answer (the Step Functions docs' list for Lambda tasks), client timeouts included.
      const lambdaErrors = [
        'Lambda.ServiceException',
        'Lambda.AWSLambdaException',
        'Lambda.SdkClientException',
        'Lambda.TooManyRequestsException',
        'Lambda.ClientExecutionTimeoutException',
      ];
      expect(state.Retry?.[0]?.ErrorEquals, name).toEqual(expect.arrayContaining(lambdaErrors));
    }
  });

  it('bounds every Task in time', () => {
    for (const [name, state] of tasks) expect(state.TimeoutSeconds ?? state.TimeoutSecondsPath, name).toBeDefined();
  });

  it('takes every Lambda from a substitution that CDK fills in', () => {
    const functions = tasks.map(([, state]) =>
      state.Resource?.startsWith('${') ? state.Resource : (state.Parameters?.FunctionName as string),
    );
    for (const fn of functions) expect(fn).toMatch(/^\$\{[A-Za-z]+FunctionArn\}$/);
  });

  it('waits for the canary and the primary in named Wait/Task/Choice loops, at least 10 s between checks', () => {
    const S = definition.States;
    for (const [wait, check, choice] of [
      ['WaitForCanary', 'CheckCanary', 'CanaryReady'],
      ['WaitForPrimary', 'CheckPrimary', 'PrimaryReady'],
    ] as const) {
      expect(S[wait], wait).toMatchObject({ Type: 'Wait', Seconds: READY_CHECK_SECONDS, Next: check });
      expect(S[wait]?.Seconds).toBeGreaterThanOrEqual(10);
      expect(S[check], check).toMatchObject({ Type: 'Task', Resource: '${PromotionReadyFunctionArn}', Next: choice });
      expect(S[choice], choice).toMatchObject({ Type: 'Choice', Default: wait });
    }
    // The whole promotion: canary loop, the copy, primary loop, the switch, Finish.
    expect(S.PromotionGate?.Default).toBe('CheckCanary');
    expect(S.CanaryReady?.Choices?.[0]?.Next).toBe('Promote');
    expect(S.Promote?.Next).toBe('PrimaryReady');
    expect(S.PrimaryReady?.Choices?.[0]?.Next).toBe('Switch');
    expect(S.Switch?.Next).toBe('Finish');
    // No Task may run long: the waits are Wait states, not a Lambda polling.
    for (const name of ['CheckCanary', 'Promote', 'CheckPrimary', 'Switch']) expect(S[name]?.TimeoutSeconds, name).toBeLessThanOrEqual(120);
  });

  it('no handler sleeps or polls: every wait is a state of the state machine', () => {
    const dir = new URL('../lambdas/handlers/', import.meta.url);
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
      // The one fixed pause: Prepare's two counter snapshots 2 s apart measure the request rate (not a wait for a state).
      const source = readFileSync(new URL(file, dir), 'utf8').replace('await new Promise((resolve) => setTimeout(resolve, pauseMs));', '');
      expect(source, file).not.toMatch(/setTimeout|setInterval|waitReady|waitUntil|\bsleep\(/);
    }
  });

  it('has a top-level TimeoutSeconds longer than the longest deadline, readiness loops and recovery window validation accepts', () => {
    expect(definition.TimeoutSeconds).toBe(EXECUTION_TIMEOUT_SECONDS);
    expect(definition.TimeoutSeconds).toBeGreaterThanOrEqual(
      MAX_DEADLINE_SECONDS + 2 * MAX_READY_TIMEOUT_SECONDS + RECOVERY_WINDOW_MAX_SECONDS,
    );
  });

  it('bounds both approval gates by the deadline (their wait is computed, never the raw approval timeout)', () => {
    for (const gate of ['ApproveStart', 'ApprovePromotion']) {
      expect(definition.States[gate]?.TimeoutSecondsPath, gate).toBe('$.run.approval.waitSeconds');
    }
  });

  it("counts Rollback's retries against the history budget the deadline check leaves free", () => {
    // Step Functions' default MaxAttempts is 3; each failed attempt costs scheduled/started/failed.
    const attempts = (definition.States.Rollback?.Retry ?? []).reduce((total, r) => total + (r.MaxAttempts ?? 3), 0);
    expect(attempts * HISTORY_EVENTS_PER_ROLLBACK_RETRY).toBeLessThanOrEqual(HISTORY_EVENTS_FOR_ROLLBACK);
  });
});
