/**
 * The sandbox app: what it serves comes from its Deployment's template in the API, a new template
 * takes effect once rolled out, and the process never outlives its parent.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AppsV1Api } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { startKubeStandIn } from '../kube/stand-in.ts';
import type { KubeObject, KubeStandIn } from '../kube/stand-in.ts';
import { startApp } from './app.ts';
import { burst, eventually } from './sandbox.fixtures.ts';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function deployment(env: Record<string, string>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'podinfo', namespace: 'default' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'podinfo' } },
      template: {
        metadata: { labels: { app: 'podinfo' } },
        spec: { containers: [{ name: 'podinfo', env: Object.entries(env).map(([name, value]) => ({ name, value })) }] },
      },
    },
  };
}

async function cluster(env: Record<string, string>): Promise<{ standIn: KubeStandIn; kubeconfigPath: string }> {
  const standIn = await startKubeStandIn();
  closers.push(() => standIn.close());
  const dir = mkdtempSync(join(tmpdir(), 'sluice-app-test-'));
  closers.push(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfigPath = join(dir, 'kubeconfig');
  standIn.writeKubeconfigFile(kubeconfigPath);
  standIn.apply(deployment(env));
  return { standIn, kubeconfigPath };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('sandbox app', () => {
  it('serves the version and error rate its Deployment template says, and follows a template change', async () => {
    // Prepare
    const { standIn, kubeconfigPath } = await cluster({ VERSION: 'v1', ERROR_RATE: '0' });
    const app = await startApp({ kubeconfigPath, namespace: 'default', deployment: 'podinfo', seed: 5 });
    closers.push(() => app.close());
    expect((await burst(`${app.url}/`, 20)).versions).toEqual({ v1: 20 });

    // Act: what promotion does to the primary — a new template through the API.
    const apps = standIn.kubeConfig().makeApiClient(AppsV1Api);
    const current = await apps.readNamespacedDeployment({ namespace: 'default', name: 'podinfo' });
    const container = current.spec?.template.spec?.containers[0];
    if (!container) throw new Error('no container');
    container.env = [
      { name: 'VERSION', value: 'v2' },
      { name: 'ERROR_RATE', value: '1' },
    ];
    await apps.replaceNamespacedDeployment({ namespace: 'default', name: 'podinfo', body: current });
    await app.waitForBehaviour((b) => b.version === 'v2', 2000);

    // Assess
    const seen = await burst(`${app.url}/`, 20);
    expect(seen.codes).toEqual({ 500: 20 });
    expect(seen.versions).toEqual({ v2: 20 });
  });

  it('adds LATENCY_MS to its answers and answers 503 when scaled to zero', async () => {
    const { standIn, kubeconfigPath } = await cluster({ VERSION: 'v2', LATENCY_MS: '300' });
    const app = await startApp({ kubeconfigPath, namespace: 'default', deployment: 'podinfo' });
    closers.push(() => app.close());
    const started = Date.now();
    expect((await burst(`${app.url}/`, 3, 1)).versions).toEqual({ v2: 3 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 300);

    const apps = standIn.kubeConfig().makeApiClient(AppsV1Api);
    await apps.patchNamespacedDeploymentScale({
      namespace: 'default',
      name: 'podinfo',
      body: [{ op: 'replace', path: '/spec/replicas', value: 0 }],
    });
    await app.waitForBehaviour((b) => b.replicas === 0, 2000);
    expect((await burst(`${app.url}/`, 5)).codes).toEqual({ 503: 5 });
  });

  it('exits on close and when its parent is killed', async () => {
    const { kubeconfigPath } = await cluster({ VERSION: 'v1' });
    const app = await startApp({ kubeconfigPath, namespace: 'default', deployment: 'podinfo' });
    await app.close();
    expect(alive(app.pid)).toBe(false);

    const fixture = fileURLToPath(new URL('./app-parent.fixture.ts', import.meta.url));
    const parent = spawn(process.execPath, ['--no-warnings', fixture, kubeconfigPath, 'default', 'podinfo'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    closers.push(() => void parent.kill('SIGKILL'));
    const line = await new Promise<string>((resolve) => createInterface({ input: parent.stdout }).once('line', resolve));
    const { pid } = JSON.parse(line) as { pid: number };
    expect(alive(pid)).toBe(true);

    parent.kill('SIGKILL');

    await eventually(() => !alive(pid), 'the app exits after its parent died', 5000);
  });

  it('refuses to start without its Deployment, naming it', async () => {
    const { kubeconfigPath } = await cluster({ VERSION: 'v1' });
    await expect(startApp({ kubeconfigPath, namespace: 'default', deployment: 'missing', startTimeoutMs: 3000 })).rejects.toThrow(
      /default\/missing/,
    );
  });
});
