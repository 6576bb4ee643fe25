/**
 * A local engine in its own process, for the `sigkill-engine` fault: it starts one rollout through
 * the start path and prints one JSON line per milestone on stdout. The soak SIGKILLs it mid-rollout,
 * as a laptop closing or `kill -9` of `sluice run` would.
 *
 * argv[2]: JSON { dir, kubeconfigPath, spec, version, pauseMs, statusSettleMs, requestTimeoutMs, storeBusyTimeoutMs }.
 */
import { GetExecutionHistoryCommand } from '@aws-sdk/client-sfn';
import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { KubeConfig } from '@kubernetes/client-node';
import { requestStart, staticRegistry } from '../../lambdas/adapters/control/start-path.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import { waitForEnd } from '../../local/commands/run.ts';
import { startLocalRuntime } from '../../local/runtime.ts';
import { summarize } from '../../local/summary.ts';
import { compressedRetryOverrides } from './budget.ts';
import type { CompressedPauses } from './budget.ts';
import { healthyMetrics } from './metrics.ts';

interface ChildArgs {
  dir: string;
  kubeconfigPath: string;
  spec: RolloutSpec;
  version: string;
  pauseMs: CompressedPauses;
  statusSettleMs: number;
  requestTimeoutMs: number;
  storeBusyTimeoutMs: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ChildArgs;
const say = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

const runtime = await startLocalRuntime({
  dir: args.dir,
  advertise: false,
  env: {},
  log: () => {},
  kubeConfigOf: async () => {
    const config = new KubeConfig();
    config.loadFromFile(args.kubeconfigPath);
    return config;
  },
  retryIntervalOverrides: compressedRetryOverrides(args.pauseMs),
  routerTuning: { statusSettleMs: args.statusSettleMs, requestTimeoutMs: args.requestTimeoutMs },
  overrides: healthyMetrics(),
  storeBusyTimeoutMs: args.storeBusyTimeoutMs,
});
const answer = await requestStart(
  {
    store: runtime.deps.store,
    sfn: runtime.sfn,
    stateMachineArn: runtime.engine.stateMachineArn,
    registry: staticRegistry([args.spec]),
    now: () => new Date(),
  },
  {
    target: args.spec.metadata.name,
    version: args.version,
    requestedBy: 'soak@local',
    trigger: { source: 'cli', key: `soak-${args.spec.metadata.name}-main`, identity: 'soak' },
  },
);
say({ started: answer });
if (answer.outcome === 'started') {
  const ended = await waitForEnd(runtime.sfn, answer.executionArn);
  await runtime.engine.waitForExecution(answer.executionArn);
  // The engine keeps histories in memory: the soak judges (d) and (f) on this copy.
  const history: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await runtime.sfn.send(
      new GetExecutionHistoryCommand({ executionArn: answer.executionArn, maxResults: 1000, ...(nextToken ? { nextToken } : {}) }),
    );
    history.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  say({ history });
  const summary = await summarize({
    store: runtime.deps.store,
    execution: ended,
    target: args.spec.metadata.name,
    version: args.version,
    weightScale: args.spec.spec.router.weightScale,
    transitions: 0,
  });
  say({ summary });
}
await runtime.close();
