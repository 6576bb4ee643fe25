/**
 * The whole sandbox: it starts on free ports with traffic flowing and the primary measured by the
 * real Prometheus, hands out a valid spec, and leaves no process or temp dir behind — after
 * close() and after a failed start.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PrometheusProvider } from '../../lambdas/adapters/metrics/prometheus.ts';
import { metricQueries } from '../../lambdas/core/queries.ts';
import { eventually } from './sandbox.fixtures.ts';
import { DEMO_SPEC_PATH, startSandbox } from './sandbox.ts';
import type { Sandbox } from './sandbox.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Live child processes of `parent` (Linux /proc). */
function children(parent = process.pid): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === parent && fields[0] !== 'Z') pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

const open: Sandbox[] = [];
const originalTmp = process.env.TMPDIR;
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  if (originalTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = originalTmp;
});

describe('sandbox', () => {
  it('starts with traffic on the primary measured by Prometheus, and closes leaving nothing behind', async () => {
    // Prepare
    const before = new Set(children());
    // Act
    const sandbox = await startSandbox({ rps: 40, seed: 1, prometheus: 'required', signals: 'ignore' });
    open.push(sandbox);
    // Assess: the spec points at this sandbox and the preflight's data is there.
    expect(sandbox.metricsSource).toBe('prometheus');
    expect(sandbox.spec.spec.analysis.prometheus?.address).toBe(sandbox.prometheusUrl);
    expect(sandbox.spec.spec.router.name).toBe('demo');
    expect(readFileSync(sandbox.kubeconfigPath, 'utf8')).toContain('stand-in');
    const provider = new PrometheusProvider({ address: sandbox.prometheusUrl ?? '' });
    for (const metric of sandbox.spec.spec.analysis.metrics) {
      expect(await provider.runQuery(metricQueries(sandbox.spec, metric).primary ?? '')).toBeGreaterThan(0);
    }
    expect(sandbox.gateway.weights()).toEqual({ 'demo-primary': 100, 'demo-canary': 0 });
    expect(sandbox.apps.primary.behaviour().version).toBe('v1');
    expect(sandbox.apps.canary.behaviour().version).toBe('v2');
    expect(sandbox.load.stats().versions.v1).toBeGreaterThan(0);
    expect(sandbox.traffic().requests.canary).toBe(0);
    const started = children().filter((pid) => !before.has(pid));
    expect(started).toEqual(expect.arrayContaining([sandbox.apps.primary.pid, sandbox.apps.canary.pid]));
    expect(started.length).toBe(3); // two apps and Prometheus

    await sandbox.close();

    expect(children().filter((pid) => !before.has(pid))).toEqual([]);
    expect(existsSync(dirname(sandbox.kubeconfigPath))).toBe(false);
    await expect(fetch(sandbox.gatewayUrl)).rejects.toThrow();
    await expect(fetch(`${sandbox.prometheusUrl ?? ''}/-/ready`)).rejects.toThrow();
  });

  it('tears down everything it started when the start fails', async () => {
    // Prepare: a "Prometheus" that exits at once fails the start after the stand-in, the apps,
    // the gateway and the load are up; temp dirs go to a directory of the test's own.
    const tmp = mkdtempSync(join(tmpdir(), 'sluice-sandbox-test-'));
    const before = new Set(children());
    process.env.TMPDIR = tmp;
    process.env.SLUICE_PROMETHEUS_BIN = '/bin/false';
    vi.resetModules();
    try {
      const fresh = await import('./sandbox.ts');
      // Act
      const failed = fresh.startSandbox({ rps: 20, prometheus: 'required', signals: 'ignore' });
      // Assess
      await expect(failed).rejects.toThrow(/Prometheus exited during startup/);
      expect(children().filter((pid) => !before.has(pid))).toEqual([]);
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      delete process.env.SLUICE_PROMETHEUS_BIN;
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('refuses a spec the sandbox cannot run before starting anything', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'sluice-sandbox-spec-'));
    const specPath = join(tmp, 'spec.yaml');
    writeFileSync(specPath, readFileSync(DEMO_SPEC_PATH, 'utf8').replace('threshold: 2', 'threshold: 0'));
    const before = new Set(children());
    try {
      await expect(startSandbox({ specPath, signals: 'ignore' })).rejects.toThrow(/spec\.strategy\.threshold/);
      expect(children().filter((pid) => !before.has(pid))).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('on SIGTERM closes everything and exits 143', async () => {
    // Prepare
    const fixture = fileURLToPath(new URL('./sandbox-parent.fixture.ts', import.meta.url));
    const parent = spawn(process.execPath, ['--no-warnings', fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((resolve) => parent.once('exit', (code) => resolve(code)));
    try {
      const line = await new Promise<string>((resolve) => createInterface({ input: parent.stdout }).once('line', resolve));
      const { pids, dir, gatewayUrl } = JSON.parse(line) as { pids: number[]; dir: string; gatewayUrl: string };
      const started = children(parent.pid ?? -1);
      expect(started.length).toBe(3); // two apps and Prometheus
      expect((await fetch(gatewayUrl)).status).toBe(200);
      // Act
      parent.kill('SIGTERM');
      // Assess
      expect(await exited).toBe(143);
      for (const pid of [...pids, ...started]) expect(alive(pid)).toBe(false);
      expect(existsSync(dir)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('leaves no process behind when its process is killed with SIGKILL', async () => {
    const fixture = fileURLToPath(new URL('./sandbox-parent.fixture.ts', import.meta.url));
    const parent = spawn(process.execPath, ['--no-warnings', fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
    let dir = '';
    try {
      const line = await new Promise<string>((resolve) => createInterface({ input: parent.stdout }).once('line', resolve));
      dir = (JSON.parse(line) as { dir: string }).dir;
      const started = children(parent.pid ?? -1);
      expect(started.length).toBe(3);

      parent.kill('SIGKILL');

      await eventually(() => started.every((pid) => !alive(pid)), 'the apps and Prometheus exit after their parent died', 5000);
    } finally {
      parent.kill('SIGKILL');
      // SIGKILL leaves no chance to clean up files: that much is the caller's.
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a canary error rate outside 0..1 before starting anything', async () => {
    await expect(startSandbox({ canaryErrorRate: 10, signals: 'ignore' })).rejects.toThrow(/fraction between 0 and 1/);
  });
});
