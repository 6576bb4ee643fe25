/**
 * Secrets by reference through a whole local rollout: the real ASL in the local
 * engine, the real web metric provider, analysis webhooks and notification webhooks against a
 * loopback server that demands the secrets. The spec carries only references (an env variable and
 * a file); the values must reach the server and nothing else: not the execution input or
 * history, the store, the events, the log lines, the summary or the HTML report.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSpec } from '../lambdas/core/spec.ts';
import type { SluiceEvent } from '../lambdas/core/records.ts';
import { defaultSecretResolver, useSecretResolver } from '../lambdas/adapters/secrets/resolver.ts';
import { startRollout } from '../local/commands/run.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import { reportDataFromStore } from '../local/report/report-data.ts';
import { renderReport } from '../local/report/render.ts';
import { RecordingRouter, recordingCluster } from './support/recording-router.ts';
import { SHORT_RETRIES } from './support/flow.ts';

const API_KEY = 'k3y-7f1e9a0b2c4d6e8f';
const HOOK_TOKEN = 'h00k-5a6b7c8d9e0f1a2b';
const CHAT_PATH = 'T0000000/B0000000/chatsecret9x8y7z';

interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
}

let dir: string;
let server: Server;
let base: string;
const seen: Seen[] = [];
let restoreResolver: () => void;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-secrets-'));
  seen.length = 0;
  // The metric answers only with the API key; the webhook only with its bearer token; the chat URL's path is its secret.
  server = createServer((request, response) => {
    seen.push({ path: request.url ?? '', headers: request.headers });
    request.resume();
    request.on('end', () => {
      if (request.url === '/apdex') {
        if (request.headers['x-api-key'] !== API_KEY) return void response.writeHead(401).end('no key');
        return void response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ value: 0.99 }));
      }
      if (request.url === '/load')
        return void response.writeHead(request.headers.authorization === `Bearer ${HOOK_TOKEN}` ? 200 : 403).end();
      if (request.url === `/chat/${CHAT_PATH}`) return void response.writeHead(200).end();
      response.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tokenFile = join(dir, 'hook-token');
  writeFileSync(tokenFile, `${HOOK_TOKEN}\n`);
  // Env references resolve from this map, not from the shell's environment.
  restoreResolver = useSecretResolver(
    defaultSecretResolver({ env: { SLUICE_TEST_API_KEY: API_KEY, SLUICE_TEST_CHAT_URL: `${base}/chat/${CHAT_PATH}` } }),
  );
});

afterEach(async () => {
  restoreResolver();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('secrets by reference through a whole local rollout', () => {
  it('sends the values where they belong and writes them nowhere else', async () => {
    // Prepare
    const spec = parseSpec({
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
        strategy: { stepWeights: [10, 50], interval: '1s', lookInterval: '1s', threshold: 2, deadline: '5m' },
        analysis: {
          judge: 'threshold',
          metrics: [
            {
              name: 'apdex',
              provider: {
                type: 'web',
                url: `${base}/apdex`,
                jsonPath: '$.value',
                headers: { 'X-Api-Key': { secretRef: { env: 'SLUICE_TEST_API_KEY' } } },
              },
              thresholdRange: { min: 0.9 },
            },
          ],
          webhooks: [
            {
              name: 'load',
              type: 'rollout',
              url: `${base}/load`,
              timeout: '2s',
              headers: { Authorization: { secretRef: { file: join(dir, 'bearer') } } },
            },
          ],
        },
        notifications: { webhooks: [{ url: { secretRef: { env: 'SLUICE_TEST_CHAT_URL' } } }] },
      },
    });
    writeFileSync(join(dir, 'bearer'), `Bearer ${HOOK_TOKEN}`);
    const router = new RecordingRouter();
    const logs: string[] = [];
    const events: SluiceEvent[] = [];
    const runtime = await startLocalRuntime({
      dir: join(dir, 'state'),
      advertise: false,
      retryIntervalOverrides: SHORT_RETRIES,
      env: {},
      log: (line) => logs.push(line),
      onEvent: (event) => events.push(event),
      overrides: recordingCluster(router),
    });
    const stdout: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      stdout.push(String(chunk));
      return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stdout.write;
    try {
      // Act
      const summary = await (await startRollout(runtime, spec, { version: 'v2' })).done;

      // Assess: the rollout used the secrets (the server refuses without them) ...
      expect(summary.outcome).toBe('promoted');
      expect(seen.filter((s) => s.path === '/apdex').every((s) => s.headers['x-api-key'] === API_KEY)).toBe(true);
      expect(seen.filter((s) => s.path === '/load').length).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(seen.some((s) => s.path === `/chat/${CHAT_PATH}`)).toBe(true);

      // ... and wrote them nowhere.
      const execution = summary.execution;
      const arn = runtime.engine.describeExecution(
        `${runtime.engine.stateMachineArn.replace(':stateMachine:', ':execution:')}:${execution}`,
      );
      const history = runtime.engine.getExecutionHistory(arn.executionArn).events;
      const store = runtime.deps.store;
      const report = renderReport((await reportDataFromStore(store, execution))!);
      const places: Record<string, string> = {
        'execution input': arn.input ?? '',
        history: JSON.stringify(history),
        'store: rollout': JSON.stringify(await store.getRollout(execution)),
        'store: steps': JSON.stringify(await store.listSteps(execution)),
        'store: events': JSON.stringify(await store.listEvents(execution)),
        events: JSON.stringify(events),
        'log lines': logs.join('\n') + stdout.join(''),
        summary: JSON.stringify(summary),
        report,
      };
      expect(places['execution input']).toContain('SLUICE_TEST_API_KEY');
      for (const [place, text] of Object.entries(places)) {
        for (const secret of [API_KEY, HOOK_TOKEN, CHAT_PATH]) expect(text.includes(secret), `${place} holds a secret`).toBe(false);
      }
    } finally {
      process.stdout.write = write;
      await runtime.close();
    }
  });
});
