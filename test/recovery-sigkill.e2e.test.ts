/**
 * The key test: `sluice run` (a real child process: the real CLI, the real ASL in the local
 * engine, the real Gloo router through @kubernetes/client-node against the API stand-in, real
 * Prometheus) is SIGKILLed at 50/50. Before this issue traffic stayed 50/50, `status` said running,
 * `run` was refused until the lock expired two hours later, and no command restored traffic. Now
 * `status` names the orphan and the fix, `sluice recover podinfo --local` restores 100/0, closes
 * the record and frees the lock, and an immediate `sluice run` of the same target starts.
 *
 * A second case: SIGTERM is handled like Ctrl-C (abort, rollback, exit 4), not a silent death.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startKubeStandIn } from '../local/kube/stand-in.ts';
import type { KubeStandIn } from '../local/kube/stand-in.ts';
import { startPrometheus } from '../local/sandbox/prometheus.ts';
import type { RunningPrometheus } from '../local/sandbox/prometheus.ts';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import { APP_NS, GLOO_NS, deployment, glooSettled, seedGloo, testSpec } from '../lambdas/adapters/kube/cluster.fixtures.ts';

let kube: KubeStandIn;
let prometheus: RunningPrometheus;
let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  kube = await startKubeStandIn({ deploymentReadyDelayMs: 50 });
  seedGloo(kube);
  kube.apply(deployment('podinfo-primary', { app: 'podinfo-primary', env: { VERSION: 'v1' } }));
  kube.apply(deployment('podinfo', { app: 'podinfo', env: { VERSION: 'v2' } }));
  await glooSettled(kube);
  // Real Prometheus answering a constant query: the metric only has to pass; the faults here are the process's.
  prometheus = await startPrometheus({ scrapeTargets: [] });
  dir = mkdtempSync(join(tmpdir(), 'sluice-sigkill-'));
}, 60_000);

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await prometheus.close();
  await kube.close();
  rmSync(dir, { recursive: true, force: true });
});

const groupWeights = () => {
  const destinations = (kube.get('gloo.solo.io/v1', 'UpstreamGroup', GLOO_NS, 'podinfo')?.spec as { destinations: { weight: number }[] })
    .destinations;
  return { primary: destinations[0]?.weight, canary: destinations[1]?.weight };
};

function writeFiles(): { specPath: string; kubeconfigPath: string } {
  const spec = testSpec({
    workload: { namespace: APP_NS, primary: 'podinfo-primary', canary: 'podinfo' },
    // One step at 50%, held for ten minutes: the process is killed while traffic is split.
    strategy: { stepWeights: [50], interval: '10m', lookInterval: '1s', threshold: 2, deadline: '30m' },
    analysis: {
      judge: 'threshold',
      prometheus: { address: prometheus.url },
      metrics: [{ name: 'always-fine', query: 'vector(100)', thresholdRange: { min: 99 } }],
    },
  });
  const specPath = join(dir, 'podinfo.json');
  writeFileSync(specPath, JSON.stringify(spec));
  const kubeconfigPath = join(dir, 'kubeconfig');
  kube.writeKubeconfigFile(kubeconfigPath);
  return { specPath, kubeconfigPath };
}

function sluice(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  // The repository is the working directory (the engine reads statemachine/rollout.asl.json); the state lives in the temp dir.
  const child = spawn(process.execPath, ['bin/sluice.mjs', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SLUICE_STATE_DIR: join(dir, 'state') },
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('a killed `sluice run` is recovered by one command', () => {
  it('SIGKILL at 50/50: status names the orphan, `sluice recover podinfo --local` restores 100/0, closes the record, frees the lock; the next run starts', async () => {
    const { specPath, kubeconfigPath } = writeFiles();
    const first = sluice(['run', specPath, '--local', '--version', 'v2', '--kubeconfig', kubeconfigPath]);
    await until(() => groupWeights().canary === 50, 'the first run to reach 50/50');
    first.child.kill('SIGKILL');
    await first.exited;
    expect(groupWeights()).toEqual({ primary: 50, canary: 50 });

    const status = sluice(['status', 'podinfo', '--local']);
    await status.exited;
    expect(status.output()).toMatch(/orphan: podinfo-v2\S* is open but its execution is not running/);
    expect(status.output()).toContain('sluice recover podinfo --local');

    const history = sluice(['history', 'podinfo', '--local']);
    await history.exited;
    expect(history.output()).toContain('sluice recover podinfo --local');

    const recover = sluice(['recover', 'podinfo', '--local', '--kubeconfig', kubeconfigPath]);
    const recoverCode = await recover.exited;
    expect(recover.output()).toMatch(/podinfo podinfo-v2\S*: orphan, restored → rolled-back/);
    expect(recoverCode).toBe(0);
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
    const store = openSqliteStore(join(dir, 'state', 'sluice.db'));
    try {
      const [record] = await store.listRollouts('podinfo', 1);
      expect(record).toMatchObject({ status: 'finished', outcome: 'rolled-back' });
      expect(await store.getLock('podinfo')).toBeNull();
    } finally {
      await store.close();
    }

    const second = sluice(['run', specPath, '--local', '--version', 'v2', '--kubeconfig', kubeconfigPath]);
    await until(() => /rollout started/.test(second.output()), 'the second run to start');
    expect(second.output()).not.toMatch(/locked by/);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(4);
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
  }, 120_000);

  it('SIGKILL at 50/50, then `sluice abort podinfo --local` (before: ECONNREFUSED) restores the orphan first and exits 0', async () => {
    const { specPath, kubeconfigPath } = writeFiles();
    const run = sluice(['run', specPath, '--local', '--version', 'v2', '--kubeconfig', kubeconfigPath]);
    await until(() => groupWeights().canary === 50, 'the run to reach 50/50');
    run.child.kill('SIGKILL');
    await run.exited;

    // abort reads the kubeconfig like any local command: KUBECONFIG points at the stand-in.
    const abort = spawn(process.execPath, ['bin/sluice.mjs', 'abort', 'podinfo', '--local'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SLUICE_STATE_DIR: join(dir, 'state'), KUBECONFIG: kubeconfigPath },
    });
    let output = '';
    abort.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    abort.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => abort.on('exit', resolve));

    expect(output).toMatch(/recovered first: podinfo podinfo-v2\S*: orphan, restored/);
    expect(code).toBe(0);
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
  }, 120_000);

  it('SIGKILL at 50/50, then `sluice serve` restores the orphan on its own (its reconcile pass), without being asked', async () => {
    const { specPath, kubeconfigPath } = writeFiles();
    const run = sluice(['run', specPath, '--local', '--version', 'v2', '--kubeconfig', kubeconfigPath]);
    await until(() => groupWeights().canary === 50, 'the run to reach 50/50');
    run.child.kill('SIGKILL');
    await run.exited;

    const serve = sluice(['serve', '--kubeconfig', kubeconfigPath]);
    await until(() => groupWeights().canary === 0, 'sluice serve to restore 100/0');
    await until(() => /reconciler: podinfo podinfo-v2\S*: orphan, restored/.test(serve.output()), 'serve to report what it did');
    serve.child.kill('SIGINT');
    expect(await serve.exited).toBe(0);
  }, 120_000);

  it('SIGTERM is handled like Ctrl-C: the rollout is aborted and traffic is back on the primary (exit 4)', async () => {
    const { specPath, kubeconfigPath } = writeFiles();
    const run = sluice(['run', specPath, '--local', '--version', 'v2', '--kubeconfig', kubeconfigPath]);
    await until(() => groupWeights().canary === 50, 'the run to reach 50/50');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(4);
    expect(run.output()).toContain('interrupted: aborting the rollout');
    expect(groupWeights()).toEqual({ primary: 100, canary: 0 });
  }, 120_000);
});
