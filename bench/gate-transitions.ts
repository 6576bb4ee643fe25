/**
 * What the stages before traffic and the webhook gates cost in Step Functions state transitions,
 * measured by running whole rollouts through the real statemachine/rollout.asl.json in the local
 * engine.
 *
 *   node bench/gate-transitions.ts
 *
 * Each case is the same healthy two-step rollout (threshold judge, 1-second looks, a recording
 * router, a loopback webhook receiver) with one gate or stage added; a closed gate answers 403 for
 * its first `closed` calls. Transitions count every state entered (Step Functions Standard bills
 * $0.025 per 1,000, us-east-1 list price), so they do not depend on time. The `extra` column is
 * the cost over the rollout without any gate. Prints a table and writes
 * bench/results/gate-transitions.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRollout } from '../local/commands/run.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import { webSpec } from '../test/support/flow.ts';
import { RecordingRouter, recordingCluster, scriptedMetrics, successRate } from '../test/support/recording-router.ts';
import { startWebhookServer } from '../test/support/webhook-server.ts';
import type { WebhookServer } from '../test/support/webhook-server.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PRICE_PER_TRANSITION = 0.025 / 1000;

interface Case {
  name: string;
  /** The webhook hooks of the case: type and how many first calls answer 403. */
  hooks?: Array<{ type: 'confirm-rollout' | 'pre-rollout' | 'confirm-promotion'; closed: number }>;
  shadow?: boolean;
}

const CASES: Case[] = [
  { name: 'no gate' },
  { name: 'confirm-rollout, open at once', hooks: [{ type: 'confirm-rollout', closed: 0 }] },
  { name: 'confirm-rollout, closed for 2 looks', hooks: [{ type: 'confirm-rollout', closed: 2 }] },
  { name: 'pre-rollout', hooks: [{ type: 'pre-rollout', closed: 0 }] },
  { name: 'confirm-promotion, open at once', hooks: [{ type: 'confirm-promotion', closed: 0 }] },
  { name: 'confirm-promotion, closed for 2 looks', hooks: [{ type: 'confirm-promotion', closed: 2 }] },
  { name: 'shadow stage (2 looks)', shadow: true },
];

interface Row {
  name: string;
  outcome: string;
  transitions: number;
  extra: number;
  costUsd: number;
}

async function measure(entry: Case, server: WebhookServer): Promise<Omit<Row, 'extra'>> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-gates-'));
  const router = new RecordingRouter();
  const runtime = await startLocalRuntime({
    dir,
    advertise: false,
    env: {},
    log: () => {},
    overrides: { ...recordingCluster(router), ...scriptedMetrics(() => [successRate(99.9)]) },
  });
  try {
    const hooks = (entry.hooks ?? []).map((hook, i) => {
      const path = `/${entry.name.replace(/\W+/g, '-')}-${i}`;
      server.answer(path, (n) => (n < hook.closed ? 403 : 200));
      return { name: `${hook.type}-gate`, type: hook.type, url: server.url(path), timeout: '2s' };
    });
    const spec = webSpec({
      analysis: hooks.length ? { webhooks: hooks } : {},
      ...(entry.shadow ? { strategy: { shadow: { percentage: 50, duration: '2s' } } } : {}),
      ...(entry.shadow
        ? {
            spec: {
              router: {
                name: 'web',
                namespace: 'gloo-system',
                primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
                canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
                route: { virtualService: 'web', namespace: 'gloo-system', name: 'main' },
              },
            },
          }
        : {}),
    });
    const summary = await (await startRollout(runtime, spec, { version: 'v2' })).done;
    return {
      name: entry.name,
      outcome: summary.outcome,
      transitions: summary.transitions,
      costUsd: Number((summary.transitions * PRICE_PER_TRANSITION).toFixed(6)),
    };
  } finally {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const server = await startWebhookServer();
const measured: Array<Omit<Row, 'extra'>> = [];
try {
  for (const entry of CASES) {
    measured.push(await measure(entry, server));
    console.error(`measured: ${entry.name}`);
  }
} finally {
  await server.close();
}
const base = measured[0]?.transitions ?? 0;
const rows: Row[] = measured.map((row) => ({ ...row, extra: row.transitions - base }));

console.log('case                                  | outcome  | transitions | extra | cost per rollout');
for (const r of rows) {
  console.log(
    `${r.name.padEnd(37)} | ${r.outcome.padEnd(8)} | ${String(r.transitions).padStart(11)} | ${String(r.extra).padStart(5)} | $${r.costUsd.toFixed(6)}`,
  );
}
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(
  join(ROOT, 'bench', 'results', 'gate-transitions.json'),
  `${JSON.stringify({ pricePerTransitionUsd: PRICE_PER_TRANSITION, rows }, null, 2)}\n`,
);
if (rows.some((r) => r.outcome !== 'promoted')) {
  console.error('a case did not promote: the counts are not comparable');
  process.exit(1);
}
