/**
 * The flow tests' shared pieces: the `web` target's spec (threshold judge, 1-second steps, scripted
 * metrics and a recording router injected in code) and local runtimes cleaned up after each test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { GetExecutionHistoryCommand } from '@aws-sdk/client-sfn';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { parseSpec } from '../../lambdas/core/spec.ts';
import type { RolloutSpec, RolloutSpecInput } from '../../lambdas/core/spec.ts';
import { startLocalRuntime } from '../../local/runtime.ts';
import type { LocalRuntime, LocalRuntimeOptions } from '../../local/runtime.ts';
import { recordingCluster } from './recording-router.ts';
import type { RecordingRouter, scriptedMetrics } from './recording-router.ts';

type SpecInput = RolloutSpecInput['spec'];

export type StrategyOverrides = Partial<NonNullable<SpecInput['strategy']>>;
export type AnalysisOverrides = Partial<NonNullable<SpecInput['analysis']>>;

/** The `web` target: UpstreamGroup gloo-system/web, steps 10 → 50 every second, judged by the threshold judge. */
export function webSpec(
  overrides: { strategy?: StrategyOverrides; analysis?: AnalysisOverrides; spec?: Partial<SpecInput> } = {},
): RolloutSpec {
  return parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'web' },
    spec: {
      cluster: { kubeconfigContext: 'unused' },
      router: {
        name: 'web',
        namespace: 'gloo-system',
        primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
        canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
      },
      strategy: { stepWeights: [10, 50], interval: '1s', lookInterval: '1s', threshold: 2, deadline: '5m', ...overrides.strategy },
      analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' }, ...overrides.analysis },
      ...overrides.spec,
    },
  });
}

/** Retry pauses shortened (the ASL's real backoff is 1-10 s with jitter); everything else is real time. */
export const SHORT_RETRIES = Object.fromEntries(
  [
    'Prepare',
    'ConfirmRollout',
    'WaitToStart',
    'PreRollout',
    'Shadow',
    'SetWeight',
    'Bake',
    'Analyze',
    'ConfirmPromotion',
    'CheckCanary',
    'Promote',
    'CheckPrimary',
    'PromotionStep',
    'PromotionBake',
    'PromotionLook',
    'Switch',
    'Finish',
    'StartApprovalExpired',
    'PromotionApprovalExpired',
    'Rollback',
  ].map((state) => [state, 50]),
);

/** The promotion's readiness loops wait 10 s between checks in the ASL; tests wait 100 ms. */
export const SHORT_WAITS: Record<string, number> = { WaitForCanary: 100, WaitForPrimary: 100 };

/**
 * Local runtimes for one test file, each in its own temp dir, closed and removed after each test.
 * Call at the top level of a test file.
 */
export function flowRuntimes(): (
  router: RecordingRouter,
  metrics: ReturnType<typeof scriptedMetrics>,
  options?: Partial<LocalRuntimeOptions>,
) => Promise<LocalRuntime> {
  const open: LocalRuntime[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((runtime) => runtime.close()));
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return async (router, metrics, options = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-flow-'));
    dirs.push(dir);
    const runtime = await startLocalRuntime({
      dir,
      advertise: false,
      retryIntervalOverrides: SHORT_RETRIES,
      waitTimeOverrides: SHORT_WAITS,
      // Never the shell's SLACK_BOT_TOKEN: a test must not post to a real workspace.
      env: {},
      log: () => {},
      ...options,
      overrides: { ...recordingCluster(router), ...metrics, ...options.overrides },
    });
    open.push(runtime);
    return runtime;
  };
}

/** Resolves once the rollout waits on a task token of the given gate (a bake, or an approval). */
export async function untilGate(runtime: LocalRuntime, gate = 'bake', target = 'web', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await runtime.deps.store.getTaskToken(target))?.gate === gate) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the rollout never reached the ${gate} gate`);
}

/** The states an execution entered, in order (its history's StateEntered events). */
export async function statesEntered(runtime: LocalRuntime, executionArn: string): Promise<string[]> {
  const history = await runtime.sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
  return (history.events ?? []).flatMap((e) => (e.stateEnteredEventDetails?.name ? [e.stateEnteredEventDetails.name] : []));
}

/** Polls `check` every 25 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
