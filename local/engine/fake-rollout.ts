/**
 * Test support: small fake handlers, keyed by substitution name, that play a rollout through the
 * real statemachine/rollout.asl.json (the shapes of lambdas/core/task.ts, no cluster, no store).
 * Each records its calls; the Bake fake hands out the task tokens it receives.
 */
import type { LocalHandler } from './engine.ts';
import type { BakeInput, RollbackInput, RollbackResult, RunState, StepInput } from '../../lambdas/core/task.ts';

export type HandlerName =
  | 'PrepareFunctionArn'
  | 'SetWeightFunctionArn'
  | 'BakeFunctionArn'
  | 'AnalyzeFunctionArn'
  | 'PromoteFunctionArn'
  | 'PromotionReadyFunctionArn'
  | 'SwitchTrafficFunctionArn'
  | 'FinishFunctionArn'
  | 'ApprovalExpiredFunctionArn'
  | 'WebhookGateFunctionArn'
  | 'ShadowFunctionArn'
  | 'RollbackFunctionArn';

export interface FakeRollout {
  handlers: Record<HandlerName, LocalHandler>;
  /** Handler names in call order. */
  calls: HandlerName[];
  /** Canary weights SetWeight routed, in order. */
  weights: number[];
  rollbacks: RollbackInput[];
  /** Resolves with the next task token the Bake handler stores (tokens already stored first). */
  nextToken(): Promise<string>;
  /** Time (Date.now()) of the first Rollback call. */
  rollbackAt?: number;
}

export interface FakeRolloutOptions {
  weights?: number[];
  bakeSeconds?: number;
  /** Replaces a handler; `calls` still records it. */
  override?: Partial<Record<HandlerName, (payload: never) => Promise<unknown>>>;
}

export function rolloutInput(version = 'v2'): { spec: { metadata: { name: string } }; version: string; requestedBy: string } {
  return { spec: { metadata: { name: 'podinfo' } }, version, requestedBy: 'test' };
}

export function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

export function fakeRollout(options: FakeRolloutOptions = {}): FakeRollout {
  const plan = options.weights ?? [10, 50];
  const tokens: string[] = [];
  const waiters: Array<(token: string) => void> = [];
  const rollout: FakeRollout = {
    calls: [],
    weights: [],
    rollbacks: [],
    handlers: {} as Record<HandlerName, LocalHandler>,
    nextToken: () => {
      const stored = tokens.shift();
      return stored ? Promise.resolve(stored) : new Promise((resolve) => waiters.push(resolve));
    },
  };

  const defaults: Record<HandlerName, (payload: never) => Promise<unknown>> = {
    PrepareFunctionArn: async (): Promise<RunState> => ({
      stepIndex: 0,
      weights: plan,
      weightScale: 100,
      bakeSeconds: options.bakeSeconds ?? 1,
      looksPerStep: 1,
      lookInStep: 0,
      failedChecks: 0,
      next: 'bake',
      startedAt: new Date().toISOString(),
      deadlineAt: new Date(Date.now() + 3_600_000).toISOString(),
    }),
    SetWeightFunctionArn: async (input: StepInput): Promise<RunState> => {
      rollout.weights.push(input.run.weights[input.run.stepIndex] ?? -1);
      return input.run;
    },
    BakeFunctionArn: async (input: BakeInput) => {
      const waiter = waiters.shift();
      if (waiter) waiter(input.taskToken);
      else tokens.push(input.taskToken);
      return {};
    },
    AnalyzeFunctionArn: async (input: StepInput): Promise<RunState> => {
      const { run } = input;
      if (input.wake?.command === 'promote' || run.stepIndex + 1 >= run.weights.length) return { ...run, next: 'promote' };
      return { ...run, stepIndex: run.stepIndex + 1, next: 'advance' };
    },
    PromoteFunctionArn: async (input: StepInput): Promise<RunState> => ({
      ...input.run,
      promotion: { side: 'primary', ready: true, readyBy: input.run.deadlineAt, checks: 0, copied: false },
    }),
    PromotionReadyFunctionArn: async (input: StepInput): Promise<RunState> => ({
      ...input.run,
      promotion: { side: 'canary', ready: true, readyBy: input.run.deadlineAt, checks: 1, copied: false },
    }),
    SwitchTrafficFunctionArn: async (input: StepInput): Promise<RunState> => input.run,
    FinishFunctionArn: async (input: StepInput): Promise<RunState> => input.run,
    ApprovalExpiredFunctionArn: async (input: StepInput): Promise<RunState> => ({
      ...input.run,
      ...(input.run.approval ? { approval: { ...input.run.approval, expired: 'abort' as const } } : {}),
    }),
    WebhookGateFunctionArn: async (input: StepInput): Promise<RunState> => ({
      ...input.run,
      gate: { open: true, rollbackHook: false, deadlinePassed: false },
    }),
    ShadowFunctionArn: async (input: StepInput): Promise<RunState> => ({ ...input.run, next: 'bake' }),
    RollbackFunctionArn: async (input: RollbackInput): Promise<RollbackResult> => {
      rollout.rollbacks.push(input);
      rollout.rollbackAt ??= Date.now();
      const error = input.state.error;
      if (error?.Error === 'Sluice.Aborted') return { outcome: 'aborted', reason: `aborted: ${error.Cause ?? ''}` };
      return { outcome: 'rolled-back', reason: `rolled back after ${error?.Error ?? 'a failed analysis'}: ${error?.Cause ?? ''}` };
    },
  };

  for (const name of Object.keys(defaults) as HandlerName[]) {
    const implementation = options.override?.[name] ?? defaults[name];
    rollout.handlers[name] = async (payload: never) => {
      rollout.calls.push(name);
      return implementation(payload);
    };
  }
  return rollout;
}
