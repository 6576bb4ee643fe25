/**
 * Which local executions run: every engine that shares the state folder registers itself; a dead
 * pid, or nothing listening where the engine said it would (a reused pid), runs nothing; an engine
 * that answers but not sensibly makes the answer `unknown`, and the reconciler leaves it alone.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalLiveness, enginesDir, registerEngine } from '../local/recovery.ts';

const ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:sluice-rollout';
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-liveness-'));
  dirs.push(dir);
  return dir;
};

describe('LocalLiveness', () => {
  it("says not running when the only registered engine's process is gone, and forgets it", async () => {
    const dir = tempDir();
    registerEngine(dir, { pid: 2_147_483_646, url: 'http://127.0.0.1:9/', stateMachineArn: ARN, startedAt: '' });

    const answer = await new LocalLiveness(dir).of('web-v2');

    expect(answer.state).toBe('not-running');
    expect(existsSync(join(enginesDir(dir), '2147483646-9.json'))).toBe(false);
  });

  it("says not running when a live pid has nothing listening at the engine's address (a reused pid)", async () => {
    const dir = tempDir();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    registerEngine(dir, { pid: process.pid, url: `http://127.0.0.1:${port}/`, stateMachineArn: ARN, startedAt: '' });

    expect((await new LocalLiveness(dir).of('web-v2')).state).toBe('not-running');
  });

  it('says unknown when a live engine answers with an error it cannot read, so nothing acts on it', async () => {
    const dir = tempDir();
    const server = createServer((_request, response) =>
      response.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' }).end('{"__type":"InternalFailure"}'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      registerEngine(dir, {
        pid: process.pid,
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
        stateMachineArn: ARN,
        startedAt: '',
      });
      expect((await new LocalLiveness(dir).of('web-v2')).state).toBe('unknown');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
