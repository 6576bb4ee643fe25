/**
 * The local runtime: the real state machine file in the local engine, the real handlers called
 * in-process with local adapters (sqlite store, kubeconfig, the same Gloo and metric adapters),
 * and the Step Functions endpoint the CLI drives through @aws-sdk/client-sfn.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { RolloutStore } from '../lambdas/core/ports.ts';
import type { SluiceEvent } from '../lambdas/core/records.ts';
import { kubeConfigFor } from '../lambdas/adapters/kube/eks-auth.ts';
import { LocalEventPublisher } from '../lambdas/adapters/events/publisher.ts';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import { clusterDeps, metricDeps } from '../lambdas/wiring/seams.ts';
import type { KubeConfigSource } from '../lambdas/wiring/seams.ts';
import type { RouterTuning } from '../lambdas/adapters/router/factory.ts';
import type { HandlerDeps } from '../lambdas/app/deps.ts';
import { createAnalyzeHandler } from '../lambdas/handlers/analyze.ts';
import { createBakeHandler } from '../lambdas/handlers/bake.ts';
import { createFinishHandler } from '../lambdas/handlers/finish.ts';
import { createApprovalExpiredHandler } from '../lambdas/handlers/approval-expired.ts';
import { createPrepareHandler } from '../lambdas/handlers/prepare.ts';
import { createPromoteHandler } from '../lambdas/handlers/promote.ts';
import { createPromotionReadyHandler } from '../lambdas/handlers/promotion-ready.ts';
import { createShadowHandler } from '../lambdas/handlers/shadow.ts';
import { createWebhookGateHandler } from '../lambdas/handlers/webhook-gate.ts';
import { createSwitchTrafficHandler } from '../lambdas/handlers/switch-traffic.ts';
import { createRollbackHandler } from '../lambdas/handlers/rollback.ts';
import { safetyNet } from '../lambdas/handlers/safety-net.ts';
import { createSetWeightHandler } from '../lambdas/handlers/set-weight.ts';
import { LocalEngine } from './engine/engine.ts';
import type { LocalHandler } from './engine/engine.ts';
import { localSfnClient, removeEngineStateFile, startSfnEndpoint, writeEngineStateFile } from './engine/sfn-endpoint.ts';
import { localNotifications } from './notifications.ts';
import { registerEngine } from './recovery.ts';

/** Where the local engine keeps its store and state file: `.sluice/` in the working directory. */
export function stateDir(): string {
  return resolve(process.env.SLUICE_STATE_DIR ?? '.sluice');
}

export function storePath(dir = stateDir()): string {
  return join(dir, 'sluice.db');
}

export function engineStatePath(dir = stateDir()): string {
  return join(dir, 'engine.json');
}

/** A kubeconfig file (or the default one) and the spec's context. */
export function kubeconfigSource(kubeconfigPath?: string): KubeConfigSource {
  return async (spec) => {
    if (!kubeconfigPath) return kubeConfigFor(spec.spec.cluster);
    const config = new KubeConfig();
    config.loadFromFile(kubeconfigPath);
    if ('kubeconfigContext' in spec.spec.cluster) config.setCurrentContext(spec.spec.cluster.kubeconfigContext);
    return config;
  };
}

/**
 * The handlers' dependencies over a local store: the local composition root. The engine, `sluice
 * recover` and the commands that reconcile a target first all build them here, from the same
 * adapters the Lambdas use (lambdas/wiring/seams.ts) and the sqlite store.
 */
export function localHandlerDeps(
  store: RolloutStore,
  options: { onEvent?: (event: SluiceEvent) => void; kubeConfigOf?: KubeConfigSource; routerTuning?: RouterTuning } = {},
): HandlerDeps {
  return {
    store,
    events: new LocalEventPublisher(store, (line) => options.onEvent?.(JSON.parse(line) as SluiceEvent)),
    now: () => new Date(),
    ...clusterDeps(options.kubeConfigOf ?? kubeconfigSource(), options.routerTuning),
    ...metricDeps(),
  };
}

export interface LocalRuntimeOptions {
  /** Default: `.sluice/` (SLUICE_STATE_DIR). */
  dir?: string;
  /** How the handlers reach the cluster. Default: the spec's cluster (EKS or kubeconfig context). */
  kubeConfigOf?: KubeConfigSource;
  /** The Gloo routers' knobs (a stand-in with a short status lag pairs with a short `statusSettleMs`). */
  routerTuning?: RouterTuning;
  /** Replaces parts of the handlers' dependencies (tests inject a recording router, canned metrics). */
  overrides?: Partial<HandlerDeps>;
  /** Every published event, as it happens (live progress). */
  onEvent?: (event: SluiceEvent) => void;
  /** Shorter Retry pauses, per state (tests). */
  retryIntervalOverrides?: Record<string, number | number[]>;
  /** Shorter Wait states (the promotion's readiness loops), in ms per state (tests). */
  waitTimeOverrides?: Record<string, number>;
  /** How long a store write waits for another connection's write lock before failing (default 10 s; the soak's store-busy fault shortens it). */
  storeBusyTimeoutMs?: number;
  /** Write the state file so `sluice abort` in another process finds this engine (default true). */
  advertise?: boolean;
  /** Where `spec.notifications` deliveries are announced or reported (default: stderr). */
  log?: (line: string) => void;
  /** The environment the notifiers read (SLACK_BOT_TOKEN, SLACK_API_URL); default process.env. */
  env?: Record<string, string | undefined>;
}

export interface LocalRuntime {
  /** The state folder (store, engine registrations). */
  dir: string;
  engine: LocalEngine;
  deps: HandlerDeps;
  sfn: SFNClient;
  endpoint: string;
  close(): Promise<void>;
}

export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const dir = options.dir ?? stateDir();
  mkdirSync(dir, { recursive: true });
  const store = openSqliteStore(
    storePath(dir),
    options.storeBusyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.storeBusyTimeoutMs },
  );
  // spec.notifications (webhooks, the Slack thread), fed by the events as the worker does in AWS.
  const notifications = localNotifications({
    store,
    dir,
    ...(options.log ? { log: options.log } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  const deps: HandlerDeps = {
    ...localHandlerDeps(store, {
      onEvent: (event) => {
        notifications.notify(event);
        options.onEvent?.(event);
      },
      ...(options.kubeConfigOf ? { kubeConfigOf: options.kubeConfigOf } : {}),
      ...(options.routerTuning ? { routerTuning: options.routerTuning } : {}),
    }),
    ...options.overrides,
  };
  const source = async () => deps;
  const tasks: Record<string, LocalHandler> = {
    PrepareFunctionArn: createPrepareHandler(source),
    SetWeightFunctionArn: createSetWeightHandler(source),
    BakeFunctionArn: createBakeHandler(source),
    AnalyzeFunctionArn: createAnalyzeHandler(source),
    PromoteFunctionArn: createPromoteHandler(source),
    PromotionReadyFunctionArn: createPromotionReadyHandler(source),
    SwitchTrafficFunctionArn: createSwitchTrafficHandler(source),
    FinishFunctionArn: createFinishHandler(source),
    ApprovalExpiredFunctionArn: createApprovalExpiredHandler(source),
    WebhookGateFunctionArn: createWebhookGateHandler(source),
    ShadowFunctionArn: createShadowHandler(source),
    RollbackFunctionArn: createRollbackHandler(source),
  };
  // Every task's input carries the spec: the notifiers learn each target's notifications from it.
  const handlers: Record<string, LocalHandler> = Object.fromEntries(
    Object.entries(tasks).map(([name, handler]): [string, LocalHandler] => [
      name,
      (payload, context) => {
        notifications.remember(payload);
        return handler(payload, context);
      },
    ]),
  );
  const engine = await LocalEngine.create({
    handlers,
    // Like the EventBridge rule in AWS: a stopped, failed or timed-out execution gets the safety net.
    onExecutionStopped: async (stopped) => {
      notifications.remember(stopped.input);
      await safetyNet(deps, {
        detail: {
          name: stopped.name,
          status: stopped.status,
          input: JSON.stringify(stopped.input),
          error: stopped.error ?? null,
          cause: stopped.cause ?? null,
        },
      });
    },
    safetyNetStatuses: ['ABORTED', 'FAILED', 'TIMED_OUT'],
    ...(options.retryIntervalOverrides ? { retryIntervalOverrides: options.retryIntervalOverrides } : {}),
    ...(options.waitTimeOverrides ? { waitTimeOverrides: options.waitTimeOverrides } : {}),
  });
  const endpoint = await startSfnEndpoint(engine);
  // Every engine registers, advertised or not: the reconciler asks each live one whether an execution runs.
  const unregister = registerEngine(dir, {
    pid: process.pid,
    url: endpoint.url,
    stateMachineArn: engine.stateMachineArn,
    startedAt: new Date().toISOString(),
  });
  const advertise = options.advertise ?? true;
  if (advertise)
    await writeEngineStateFile(engineStatePath(dir), { url: endpoint.url, pid: process.pid, stateMachineArn: engine.stateMachineArn });
  const sfn = localSfnClient(endpoint.url);
  return {
    dir,
    engine,
    deps,
    sfn,
    endpoint: endpoint.url,
    close: async () => {
      unregister();
      if (advertise) await removeEngineStateFile(engineStatePath(dir));
      sfn.destroy();
      await endpoint.close();
      await engine.close();
      await notifications.close();
      await store.close();
    },
  };
}
