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
  Choices?: { Variable?: string; Next: string; And?: { Variable: string }[] }[];
  Resource?: string;
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
  Catch?: Catcher[];
  Retry?: Retrier[];
  Parameters?: Record<string, unknown>;
}

const definition = JSON.parse(readFileSync(new URL('../statemachine/rollout.asl.json', import.meta.url), 'utf8')) as {
  StartAt: string;
  TimeoutSeconds?: number;
  States: Record<string, State>;
};
const tasks = Object.entries(definition.States).filter(([, state]) => state.Type === 'Task');
const ROOT = new URL('../', import.meta.url);

/** Where a state may go next: Next, Default, every Choice rule and Catch. */
function successors(name: string): string[] {
  const state = definition.States[name];
  if (!state) return [];
  return [state.Next, state.Default, ...(state.Choices ?? []).map((c) => c.Next), ...(state.Catch ?? []).map((c) => c.Next)].filter(
    (next): next is string => next !== undefined,
  );
}
const reachable = new Set<string>();
for (const queue = [definition.StartAt]; queue.length; ) {
  const name = queue.shift() as string;
  if (reachable.has(name)) continue;
  reachable.add(name);
  queue.push(...successors(name));
}

/** The shortest loop from a state back to itself, through Next/Default/Choice (no Catch), as the states it passes. */
function cycleThrough(start: string): string[] | undefined {
  const paths = new Map<string, string[]>([[start, [start]]]);
  for (const queue = [start]; queue.length; ) {
    const name = queue.shift() as string;
    const state = definition.States[name];
    const nexts = [state?.Next, state?.Default, ...(state?.Choices ?? []).map((c) => c.Next)].filter((n): n is string => n !== undefined);
    for (const next of nexts) {
      if (next === start) return paths.get(name);
      if (paths.has(next)) continue;
      paths.set(next, [...(paths.get(name) ?? []), next]);
      queue.push(next);
    }
  }
  return undefined;
}

describe('statemachine/rollout.asl.json', () => {
  it('passes asl-validator as JSONPath', () => {
    const result = aslValidator(definition, { checkPaths: true, checkArn: true });
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('sends every unexpected error of every Task except Rollback itself to Rollback (after the copy, relabelled promotion-failed on the way)', () => {
    const afterCopy = ['CheckPrimary', 'PromotionStep', 'PromotionBake', 'PromotionLook', 'Switch'];
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

  it('lets only a bake, gate-wait or approval timeout and a refusal (or a preflight that stayed unreachable) bypass Rollback', () => {
    const bypass = tasks.flatMap(([name, state]) =>
      (state.Catch ?? [])
        .filter((c) => c.Next !== 'Rollback' && name !== 'Rollback')
        .map((c) => `${name}:${c.ErrorEquals.join()}->${c.Next}`),
    );
    expect(bypass).toEqual([
      'Prepare:Sluice.Refused,Sluice.Transient->Refused',
      'WaitToStart:States.Timeout->ConfirmRollout',
      'ApproveStart:States.Timeout->StartApprovalExpired',
      'Bake:States.Timeout->Analyze',
      'ApprovePromotion:States.Timeout->PromotionApprovalExpired',
      'CheckPrimary:States.ALL->PromotionFailedAfterCopy',
      'PromotionStep:States.ALL->PromotionFailedAfterCopy',
      'PromotionBake:States.Timeout->PromotionLook',
      'PromotionBake:States.ALL->PromotionFailedAfterCopy',
      'PromotionLook:States.ALL->PromotionFailedAfterCopy',
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
    expect(S.PrimaryReady?.Choices?.map((c) => c.Next)).toEqual(['PromotionStep', 'Switch']);
    expect(S.Switch?.Next).toBe('Finish');
    // No Task may run long: the waits are Wait states, not a Lambda polling.
    for (const name of ['CheckCanary', 'Promote', 'CheckPrimary', 'Switch']) expect(S[name]?.TimeoutSeconds, name).toBeLessThanOrEqual(120);
  });

  it('steps a progressive promotion back to the primary in its own loop after the primary is ready: step → bake → look → decide', () => {
    const S = definition.States;
    // Only a run with promotionSteps (stepWeightPromotion > 0) enters it; everything else switches at once.
    expect(S.PrimaryReady?.Choices?.[0]?.And?.map((c) => c.Variable)).toEqual(['$.run.promotion.ready', '$.run.promotionSteps']);
    // The same Lambdas as the single switch and the looks, told which move or look this is.
    expect(S.PromotionStep).toMatchObject({
      Type: 'Task',
      Resource: '${SwitchTrafficFunctionArn}',
      Parameters: { move: 'step' },
      ResultPath: '$.run',
      Next: 'PromotionStepped',
    });
    expect(S.PromotionStepped).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.run.next', StringEquals: 'promote', Next: 'Switch' }],
      Default: 'PromotionBake',
    });
    expect(S.PromotionBake).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: { FunctionName: '${BakeFunctionArn}' },
      TimeoutSecondsPath: '$.run.promotionSteps.bakeSeconds',
      ResultPath: '$.wake',
      Next: 'PromotionLook',
    });
    expect(S.PromotionLook).toMatchObject({
      Type: 'Task',
      Resource: '${AnalyzeFunctionArn}',
      Parameters: { look: 'promotion', 'wake.$': '$.wake' },
      Next: 'PromotionDecide',
    });
    expect(S.PromotionDecide?.Choices?.map((c) => c.Next)).toEqual(['PromotionStep', 'PromotionBake', 'Switch']);
    expect(S.PromotionDecide?.Default).toBe('Rollback');
    expect(cycleThrough('PromotionStep')).toEqual([
      'PromotionStep',
      'PromotionStepped',
      'PromotionBake',
      'PromotionLook',
      'PromotionDecide',
    ]);
    // Any failure in the loop is after the copy: held on the canary, never a rollback to the old primary.
    for (const name of ['PromotionStep', 'PromotionBake', 'PromotionLook'])
      expect(S[name]?.Catch?.at(-1), name).toEqual({
        ErrorEquals: ['States.ALL'],
        ResultPath: '$.error',
        Next: 'PromotionFailedAfterCopy',
      });
  });

  it('no handler sleeps or polls: every wait is a state of the state machine', () => {
    const sources = (dir: string) =>
      readdirSync(new URL(dir, ROOT), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.includes('fixtures'))
        .map((f) => ({ file: `${dir}${f}`, source: readFileSync(new URL(`${dir}${f}`, ROOT), 'utf8') }));
    const waits = /setTimeout|setInterval|timers\/promises|waitReady|waitUntil|\bsleep\(|for \(;;\)|while \(true\)/;
    // The handlers and the pure step logic they call: no timer, no loop that waits for something to change.
    for (const { file, source } of [...sources('lambdas/handlers/'), ...sources('lambdas/core/')]) expect(source, file).not.toMatch(waits);
    // The ports the handlers reach the cluster through offer no wait (a Deployment's readiness is one read: isReady).
    expect(readFileSync(new URL('lambdas/core/ports.ts', ROOT), 'utf8')).not.toMatch(/waitReady|waitUntil/);
    // The adapters pause only inside one I/O exchange, bounded to seconds: the kube client's retry of a 429
    // (Retry-After) or a 409, and Gloo's verdict on Sluice's own write (its status is written asynchronously,
    // at most about once a second: docs/reliability.md). Anything new here needs a reason, or a state.
    const paused = sources('lambdas/adapters/')
      .flatMap(({ file, source }) => [...source.matchAll(/await sleep\(|setTimeout\(/g)].map(() => file.split('/').at(-1)))
      .sort();
    expect(paused).toEqual([
      'client.ts', // kube/client.ts: the sleep helper itself
      'client.ts', // kube/client.ts honourRetryAfter(): a 429's Retry-After, capped
      'client.ts', // kube/client.ts retryOnConflict(): jittered pause between 409 retries
      'gloo-route.ts', // rejection(): the settle before reading Gloo's status on the route
      'gloo-upstream-group.ts', // rejection(): the same on the group
      'gloo-weights.ts', // watchVerdict(): a status written after Sluice's write, bounded by the settle time
      'prometheus.ts', // a request timeout (destroys the request), not a pause
      'workload.ts', // kube/workload.ts waitReady(): the stand-in tests' helper, not on the Workload port
    ]);
  });

  it('makes every wait and gate a named state: the webhook gates, the shadow stage, the approvals, the readiness loops', () => {
    const S = definition.States;
    const gateTask = (name: string, gate: string, next: string) =>
      expect(S[name], name).toMatchObject({
        Type: 'Task',
        Resource: '${WebhookGateFunctionArn}',
        Parameters: { gate },
        ResultPath: '$.run',
        Next: next,
      });
    // confirm-rollout: polled, never calls back — call → Choice on the facts → wait a look (interruptible) → call again.
    gateTask('ConfirmRollout', 'confirm-rollout', 'RolloutConfirmed');
    expect(S.RolloutConfirmed?.Type).toBe('Choice');
    expect(S.RolloutConfirmed?.Choices?.slice(0, 3)).toEqual([
      { Variable: '$.run.gate.rollbackHook', BooleanEquals: true, Next: 'Rollback' },
      { Variable: '$.run.gate.deadlinePassed', BooleanEquals: true, Next: 'Rollback' },
      { Variable: '$.run.gate.open', BooleanEquals: false, Next: 'WaitToStart' },
    ]);
    expect(S.WaitToStart, 'WaitToStart').toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: { FunctionName: '${BakeFunctionArn}' },
      TimeoutSecondsPath: '$.run.bakeSeconds',
      Next: 'ConfirmRollout',
    });
    // An abort or an alarm fails the wait's token: straight to Rollback, as at a bake.
    expect(S.WaitToStart?.Catch?.map((c) => `${c.ErrorEquals.join()}->${c.Next}`)).toEqual([
      'States.Timeout->ConfirmRollout',
      'States.ALL->Rollback',
    ]);
    gateTask('PreRollout', 'pre-rollout', 'BeforeTraffic');
    // confirm-promotion: closed, the rollout bakes again and the next look (the analysis still running) asks again.
    gateTask('ConfirmPromotion', 'confirm-promotion', 'PromotionConfirmed');
    expect(S.PromotionConfirmed).toMatchObject({
      Type: 'Choice',
      Choices: [
        { Variable: '$.run.gate.deadlinePassed', BooleanEquals: true, Next: 'Rollback' },
        { Variable: '$.run.gate.open', BooleanEquals: true, Next: 'PromotionGate' },
      ],
      Default: 'Bake',
    });
    expect(S.Bake?.Next).toBe('Analyze');
    expect(S.Analyze?.Next).toBe('Decide');
    expect(S.Decide?.Choices?.map((c) => c.Next)).toEqual(['Bake', 'SetWeight', 'ConfirmPromotion', 'PromotionGate', 'Rollback']);
    expect(S.Shadow).toMatchObject({ Type: 'Task', Resource: '${ShadowFunctionArn}', Next: 'Bake' });
    // Every loop is closed through named states.
    expect(cycleThrough('WaitToStart')).toEqual(['WaitToStart', 'ConfirmRollout', 'RolloutConfirmed']);
    expect(cycleThrough('ConfirmPromotion')).toEqual(['ConfirmPromotion', 'PromotionConfirmed', 'Bake', 'Analyze', 'Decide']);
    expect(cycleThrough('WaitForCanary')).toEqual(['WaitForCanary', 'CheckCanary', 'CanaryReady']);
    expect(cycleThrough('WaitForPrimary')).toEqual(['WaitForPrimary', 'CheckPrimary', 'PrimaryReady']);
    // Nothing is left unreachable.
    expect(Object.keys(S).filter((name) => !reachable.has(name))).toEqual([]);
  });

  it('passes the stages before traffic in one order, each only where the spec has it: confirm-rollout, pre-rollout, approval, shadow, first step', () => {
    const S = definition.States;
    const order = ['ConfirmRollout', 'PreRollout', 'ApproveStart', 'Shadow', 'SetWeight'];
    const flagOf: Record<string, string> = {
      ConfirmRollout: '$.run.hooks.confirmRollout',
      PreRollout: '$.run.hooks.preRollout',
      ApproveStart: '$.run.approval.beforeStart',
      Shadow: '$.run.phase',
    };
    // After each stage, the Choice that picks the next one offers only later stages, in order, and the first step by default.
    for (const [choice, after] of [
      ['StartGate', 'Prepare'],
      ['RolloutConfirmed', 'ConfirmRollout'],
      ['BeforeTraffic', 'PreRollout'],
      ['ShadowGate', 'ApproveStart'],
    ] as const) {
      const state = S[choice];
      const rules = state?.Choices ?? [];
      const stages = rules.map((c) => c.Next).filter((next) => order.includes(next));
      expect(stages, choice).toEqual(order.slice(order.indexOf(after) + 1, -1).filter((stage) => stages.includes(stage)));
      expect(state?.Default, choice).toBe('SetWeight');
      for (const rule of rules.filter((c) => order.includes(c.Next)))
        expect(rule.And?.at(-1)?.Variable, `${choice} -> ${rule.Next}`).toBe(flagOf[rule.Next]);
    }
    expect(S.Prepare?.Next).toBe('StartGate');
    expect(S.StartGate?.Choices?.map((c) => c.Next)).toEqual(['ConfirmRollout', 'PreRollout', 'ApproveStart', 'Shadow']);
    expect(S.ApproveStart?.Next).toBe('ShadowGate');
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
