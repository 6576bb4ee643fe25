/**
 * What one promotion costs in Step Functions state transitions and history events, measured by
 * running the real statemachine/rollout.asl.json in the local engine.
 *
 *   node bench/promotion-transitions.ts
 *
 * Each case is a healthy two-step rollout whose promotion needs `canaryChecks` extra canary checks
 * (the canary had to be scaled up) and whose primary becomes ready at its `primaryChecks`-th check.
 * The workload is an in-memory stand-in of the port (readiness on cue), the router a recording one,
 * the Wait states shortened to 20 ms: counts do not depend on time, only on the number of checks
 * (on AWS a check happens every 10 s, so `primaryChecks` ≈ the primary's rollout time / 10 s).
 * Transitions are counted from CheckCanary to the end state (one per state entered; Step Functions
 * Standard bills $0.025 per 1,000, us-east-1 list price). Prints a table and writes
 * bench/results/promotion-transitions.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetExecutionHistoryCommand } from '@aws-sdk/client-sfn';
import type { Side } from '../lambdas/core/records.ts';
import type { Workload } from '../lambdas/core/ports.ts';
import { startRollout } from '../local/commands/run.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import { webSpec } from '../test/support/flow.ts';
import { RecordingRouter, recordingCluster, scriptedMetrics, successRate } from '../test/support/recording-router.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PRICE_PER_TRANSITION = 0.025 / 1000;

/** A Deployment pair that becomes ready on cue: the canary after `canaryChecks` more checks, the primary at its `primaryChecks`-th. */
function cuedWorkload(canaryChecks: number, primaryChecks: number): Workload {
  let canaryReadyIn = canaryChecks;
  let canaryScaled = false;
  let primaryChecked = 0;
  let copied = false;
  return {
    isReady: async (side: Side) => {
      // Ready while it serves the rollout; after the scale-up it needs `canaryChecks` more checks.
      if (side === 'canary') return !canaryScaled || canaryReadyIn-- <= 0;
      return copied && ++primaryChecked >= primaryChecks;
    },
    templateFingerprint: async (side: Side) => (side === 'primary' && copied ? 'new' : side === 'primary' ? 'old' : 'new'),
    promoteTemplate: async () => {
      copied = true;
    },
    scale: async (side: Side, replicas: number) => {
      if (side === 'canary' && replicas > 0) canaryScaled = true;
    },
    servingReplicas: async (side: Side) => (side === 'primary' ? 3 : canaryChecks > 0 ? 1 : 3),
    primaryRunsCanaryTemplate: async () => copied,
    podTemplate: async () => ({ annotations: {}, spec: {} }),
    setPodTemplate: async () => {},
  };
}

interface Row {
  canaryChecks: number;
  primaryChecks: number;
  transitions: number;
  formula: number;
  historyEvents: number;
  costUsd: number;
}

async function measure(canaryChecks: number, primaryChecks: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-promotion-'));
  const router = new RecordingRouter();
  // One workload for the whole rollout: every handler invocation asks for it again.
  const workload = cuedWorkload(canaryChecks, primaryChecks);
  const runtime = await startLocalRuntime({
    dir,
    advertise: false,
    env: {},
    log: () => {},
    waitTimeOverrides: { WaitForCanary: 20, WaitForPrimary: 20 },
    overrides: { ...recordingCluster(router), workloadFor: async () => workload, ...scriptedMetrics(() => [successRate(99.9)]) },
  });
  try {
    const spec = webSpec({ spec: { workload: { namespace: 'apps', primary: 'web-primary', canary: 'web', readyTimeout: '1h' } } });
    const rollout = await startRollout(runtime, spec, { version: 'v2' });
    const summary = await rollout.done;
    if (summary.outcome !== 'promoted')
      throw new Error(`case ${canaryChecks}/${primaryChecks} ended ${summary.outcome}: ${summary.reason}`);
    const history = await runtime.sfn.send(new GetExecutionHistoryCommand({ executionArn: rollout.executionArn, maxResults: 1000 }));
    const events = history.events ?? [];
    const entered = events.flatMap((e) => (e.stateEnteredEventDetails?.name ? [e.stateEnteredEventDetails.name] : []));
    const fromCheckCanary = entered.slice(entered.indexOf('CheckCanary'));
    // The end state (Succeed) is entered too: one more transition than the states listed before it.
    const transitions = fromCheckCanary.length;
    const firstPromotionEvent = events.findIndex((e) => e.stateEnteredEventDetails?.name === 'CheckCanary');
    return {
      canaryChecks,
      primaryChecks,
      transitions,
      formula: 7 + 3 * canaryChecks + 3 * primaryChecks,
      historyEvents: events.length - firstPromotionEvent,
      costUsd: Number((transitions * PRICE_PER_TRANSITION).toFixed(6)),
    };
  } finally {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const cases: Array<[number, number]> = [
  [0, 1],
  [0, 3],
  [0, 5],
  [1, 5],
  [3, 5],
  [0, 30],
];
const rows: Row[] = [];
for (const [canary, primary] of cases) {
  rows.push(await measure(canary, primary));
  console.error(`measured: ${canary} extra canary checks, ${primary} primary checks`);
}

console.log('extra canary checks | primary checks | transitions | 7 + 3(c+p) | history events | cost per promotion');
for (const r of rows) {
  console.log(
    `${String(r.canaryChecks).padStart(19)} | ${String(r.primaryChecks).padStart(14)} | ${String(r.transitions).padStart(11)} | ${String(r.formula).padStart(10)} | ${String(r.historyEvents).padStart(14)} | $${r.costUsd.toFixed(6)}`,
  );
}
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(
  join(ROOT, 'bench', 'results', 'promotion-transitions.json'),
  `${JSON.stringify({ pricePerTransitionUsd: PRICE_PER_TRANSITION, rows }, null, 2)}\n`,
);
if (rows.some((r) => r.transitions !== r.formula)) {
  console.error('a measured count differs from docs/reliability-flow.md: update the formula');
  process.exit(1);
}
