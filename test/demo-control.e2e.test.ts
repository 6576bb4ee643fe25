/**
 * `sluice demo` end to end (real Prometheus, see demo.e2e.test.ts): a shadowing stage before any
 * user traffic moves, an abort through the Step Functions API mid-bake, and Ctrl-C on the CLI.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../local/sandbox/sandbox.ts';
import { SANDBOX_NAMES } from '../local/sandbox/sandbox.ts';
import { demoRunner } from './support/demo-e2e.ts';

const demo = demoRunner('demo-control-e2e');
const dir = mkdtempSync(join(tmpdir(), 'sluice-demo-control-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Wall-clock demos beside other files' sandboxes: one retry absorbs a starved moment (demo.e2e.test.ts).
describe('sluice demo end to end (real Prometheus): shadowing, abort, Ctrl-C', { retry: 1 }, () => {
  it('shadows first: the canary sees mirrored traffic while users only get primary answers', async () => {
    let sandbox: Sandbox | undefined;
    let versionsDuringShadow: Record<string, number> | undefined;
    let mirroredDuringShadow = 0;
    const { code, summary } = await demo({ scenario: 'shadow' }, (s) => {
      sandbox = s;
      const timer = setInterval(() => {
        const live = s.gateway.stats().weightChanges.some((c) => (c.weights[SANDBOX_NAMES.upstreams.canary] ?? 0) > 0);
        if (live) {
          clearInterval(timer);
          return;
        }
        if (s.gateway.shadowing()) {
          versionsDuringShadow = { ...s.load.stats().versions };
          mirroredDuringShadow = s.traffic().requests.canaryShadow;
        }
      }, 200);
    });
    expect(code, `${summary.outcome}: ${summary.reason}`).toBe(0);
    expect(summary.outcome).toBe('promoted');
    expect(mirroredDuringShadow).toBeGreaterThan(0);
    expect(Object.keys(versionsDuringShadow ?? {})).toEqual(['v1']);
    expect(sandbox!.gateway.shadowing()).toBeUndefined();
  });

  it('rolls back within 2 seconds when aborted mid-bake through the Step Functions API', async () => {
    const { code, summary, output } = await demo({ scenario: 'abort', interval: 5 });
    expect(code).toBe(4);
    expect(summary.outcome).toBe('aborted');
    expect(summary.reason).toContain('the abort scenario stopped it mid-bake');
    expect(summary.weights).toEqual({ primary: 100, canary: 0 });
    // The abort lands 1.5 s into the second step's 5-second bake; the rollback follows within 2 s.
    const lines = output.split('\n');
    const second = lines.filter((l) => l.includes('→ [')).at(1) ?? '';
    const aborted = lines.find((l) => l.includes('■ aborted')) ?? '';
    const seconds = (line: string) => {
      const [h, m, s] = (/^(\d\d):(\d\d):(\d\d)/.exec(line)?.slice(1) ?? []).map(Number);
      return (h ?? 0) * 3600 + (m ?? 0) * 60 + (s ?? 0);
    };
    expect(seconds(aborted) - seconds(second)).toBeLessThanOrEqual(1.5 + 2 + 1); // +1: whole-second timestamps
  });

  it('releases its processes and ports when interrupted with Ctrl-C mid-rollout', async () => {
    const child = spawn(process.execPath, ['bin/sluice.mjs', 'demo', '--interval', '10', '--rps', '40', '--judge', 'threshold'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SLUICE_STATE_DIR: join(dir, 'sigint') },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    while (!output.includes('→ [') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    const engineUrl = /state machine at (http:\/\/127\.0\.0\.1:(\d+))/.exec(output)?.[2];
    expect(engineUrl).toBeDefined();
    // This demo's own processes (apps, Prometheus and its shell wrapper), by ancestry: other test
    // files run sandboxes of their own at the same time, so a match on command lines would see theirs.
    const { execSync } = await import('node:child_process');
    const table = execSync('ps -eo pid=,ppid=,args=')
      .toString()
      .trim()
      .split('\n')
      .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] ?? '' }));
    const spawned: Array<{ pid: number; args: string }> = [];
    for (let queue = [child.pid ?? -1]; queue.length > 0; ) {
      const parent = queue.shift();
      for (const row of table.filter((r) => r.ppid === parent)) {
        spawned.push(row);
        queue.push(row.pid);
      }
    }
    expect(spawned.some((p) => p.args.includes('app-main.ts'))).toBe(true);
    child.kill('SIGINT');
    const code = await exited;
    expect(output).toContain('interrupted: aborting the rollout');
    expect(code).toBe(4);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(Number(engineUrl), '127.0.0.1');
      socket.on('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.on('error', () => resolve(true));
    });
    expect(refused).toBe(true);
    // Alive means running: a zombie (exited, not yet reaped by a container's init) holds no port.
    const alive = (pid: number) => {
      const stat = execSync(`ps -o stat= -p ${pid} || true`).toString().trim();
      return stat !== '' && !stat.startsWith('Z');
    };
    // Processes get a moment to finish their own shutdown after the demo exits.
    for (let waited = 0; waited < 5_000 && spawned.some((p) => alive(p.pid)); waited += 100)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(spawned.filter((p) => alive(p.pid)).map((p) => `${p.pid} ${p.args}`)).toEqual([]);
  });
});
