/**
 * Deploy events end to end against the local engine: hand-written fixtures from
 * AWS's documented samples (ECR push, the custom `Rollout Requested` event), a schedule's input and
 * Flux / Argo CD notifications go through the start handler and the GitOps webhook handler into the
 * same state machine the deployed stack runs. Each starts exactly one rollout; duplicates and
 * replays start nothing; a wrong signature or a re-pushed mutable tag is refused.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StartPathDeps } from '../lambdas/adapters/control/start-path.ts';
import { parseSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpecInput } from '../lambdas/core/spec.ts';
import { executionInputSchema } from '../lambdas/core/task.ts';
import { handleGitopsRequest } from '../lambdas/handlers/gitops-webhook.ts';
import { handleStartEvent } from '../lambdas/handlers/start.ts';
import { eventCommand, folderRegistry } from '../local/commands/event.ts';
import { loadSpecFile } from '../local/control.ts';
import type { ControlPlane } from '../local/control.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import type { LocalRuntime } from '../local/runtime.ts';
import { RecordingRouter, recordingCluster, scriptedMetrics, successRate } from './support/recording-router.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'events');
const fixture = (name: string): unknown => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));
const fixtureText = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');

const root = mkdtempSync(join(tmpdir(), 'sluice-deploy-events-'));
const registryDir = join(root, 'rollouts');
const router = new RecordingRouter();
let runtime: LocalRuntime;
let control: ControlPlane;
let deps: StartPathDeps;

const FLUX_KEY = 'flux-hmac-key-for-tests';
const ARGO_TOKEN = 'argo-bearer-token-for-tests';

function webSpec(extra: Partial<RolloutSpecInput['spec']> = {}): unknown {
  return {
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
      strategy: { stepWeights: [50], interval: '1s', lookInterval: '1s', deadline: '1m' },
      analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9' } },
      triggers: { ecr: { repository: 'web' }, overrides: ['strategy.stepWeights'] },
      ...extra,
    },
  };
}

beforeAll(async () => {
  mkdirSync(registryDir);
  writeFileSync(join(registryDir, 'web.yaml'), JSON.stringify(parseSpec(webSpec())));
  runtime = await startLocalRuntime({
    dir: join(root, 'state'),
    advertise: false,
    overrides: { ...recordingCluster(router), ...scriptedMetrics(() => [successRate(99.9)]) },
  });
  control = {
    kind: 'local',
    sfn: runtime.sfn,
    stateMachineArn: runtime.engine.stateMachineArn,
    store: runtime.deps.store,
    loadTarget: async (target) => {
      const { existsSync } = await import('node:fs');
      const path = join(registryDir, `${target}.yaml`);
      if (!existsSync(path)) {
        const { ControlError } = await import('../local/control.ts');
        throw new ControlError(`no spec for target ${target}: ${path} does not exist (pass --spec FILE)`);
      }
      return loadSpecFile(path);
    },
    close: async () => {},
  };
  deps = {
    store: runtime.deps.store,
    sfn: runtime.sfn,
    stateMachineArn: runtime.engine.stateMachineArn,
    registry: folderRegistry(control, registryDir),
    now: () => new Date(),
  };
}, 30_000);

afterAll(async () => {
  await runtime.close();
  rmSync(root, { recursive: true, force: true });
});

async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const executions = (prefix: string) =>
  runtime.engine.listExecutions().executions.filter((e) => e.name === prefix || e.name.startsWith(`${prefix}-a`));

/** Every test leaves the target free: the short healthy rollouts promote within seconds. */
afterEach(async () => {
  await until(() => runtime.engine.listExecutions({ statusFilter: 'RUNNING' }).executions.length === 0, 'every rollout to finish');
  await until(async () => (await runtime.deps.store.getLock('web')) === null, 'the lock to be released');
  // Route promotion leaves all traffic on the canary: put the group back where the next rollout starts.
  router.weights = { primary: 100, canary: 0 };
}, 30_000);

function signedFlux(body: string, fn = 'sha256', key = FLUX_KEY): APIGatewayProxyEventV2 {
  const signature = `${fn}=${createHmac(fn, key).update(body).digest('hex')}`;
  return webhook('/flux', body, { 'x-signature': signature });
}

function webhook(path: string, body: string, headers: Record<string, string>, base64 = false): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...headers },
    body: base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: base64,
    requestContext: { http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' } },
  } as unknown as APIGatewayProxyEventV2;
}

const gitops = () => ({ start: deps, secrets: async () => ({ flux: FLUX_KEY, argocd: ARGO_TOKEN }) });

describe('EventBridge events through the start handler', () => {
  it('a Rollout Requested event starts exactly one rollout; the same event again starts nothing', async () => {
    const first = await handleStartEvent(fixture('rollout-requested.json'), deps);
    const again = await handleStartEvent(fixture('rollout-requested.json'), deps);

    expect(first.answers).toEqual([
      expect.objectContaining({ outcome: 'started', target: 'web', version: 'v2.0.0', execution: 'web-v2-0-0' }),
    ]);
    expect(again.answers).toEqual([expect.objectContaining({ outcome: 'duplicate', execution: 'web-v2-0-0' })]);
    expect(again.answers[0]?.message).toContain('it started web-v2-0-0; nothing started again');
    expect(executions('web-v2-0-0')).toHaveLength(1);
    // The claimed requester is recorded as a claim, next to what Sluice verified.
    const input = executionInputSchema.parse(
      JSON.parse(runtime.engine.describeExecution(runtime.engine.executionArn('web-v2-0-0')).input ?? '{}'),
    );
    expect(input.requestedBy).toBe('github:acme/web@refs/heads/main run 4242 (claimed) via event:account 111122223333');
  });

  it('an ECR push of a matching tag starts one rollout; a replay of the same digest starts nothing', async () => {
    const pushed = await handleStartEvent(fixture('ecr-push.json'), deps);
    const replay = { ...(fixture('ecr-push.json') as Record<string, unknown>), id: 'a-replayed-event-with-a-new-id' };
    const replayed = await handleStartEvent(replay, deps);

    expect(pushed.answers).toEqual([expect.objectContaining({ outcome: 'started', version: 'v2.1.0', execution: 'web-v2-1-0' })]);
    expect(replayed.answers).toEqual([expect.objectContaining({ outcome: 'duplicate', execution: 'web-v2-1-0' })]);
    expect(executions('web-v2-1-0')).toHaveLength(1);
  });

  it('an ECR delete, or a push to a repository no target watches, starts nothing', async () => {
    const deleted = await handleStartEvent(fixture('ecr-delete.json'), deps);
    const other = fixture('ecr-push.json') as { detail: Record<string, unknown> };
    other.detail['repository-name'] = 'someone-elses';
    const elsewhere = await handleStartEvent(other, deps);

    expect(deleted).toEqual({ answers: [], ignored: ['not a successful push (DELETE SUCCESS)'] });
    expect(elsewhere).toEqual({ answers: [], ignored: ['no target watches ECR repository someone-elses'] });
  });

  it('a mutable tag pushed again with a new digest is refused, saying why', async () => {
    const first = await handleStartEvent(fixture('ecr-push-latest.json'), deps);
    await until(() => runtime.engine.listExecutions({ statusFilter: 'RUNNING' }).executions.length === 0, 'the first rollout of latest');
    await until(async () => (await runtime.deps.store.getLock('web')) === null, 'the lock');
    const repushed = await handleStartEvent(fixture('ecr-push-latest-repushed.json'), deps);

    expect(first.answers).toEqual([expect.objectContaining({ outcome: 'started', execution: 'web-latest' })]);
    expect(repushed.answers).toEqual([expect.objectContaining({ outcome: 'refused' })]);
    expect(repushed.answers[0]?.message).toContain('tag latest of ECR repository web was pushed before as sha256:1111');
    expect(repushed.answers[0]?.message).toContain('a re-pushed (mutable) tag starts nothing');
    expect(executions('web-latest')).toHaveLength(1);
  });

  it('a schedule firing starts one rollout; Scheduler delivering it twice starts nothing more', async () => {
    const fired = await handleStartEvent(fixture('scheduled-start.json'), deps);
    const twice = await handleStartEvent(fixture('scheduled-start.json'), deps);

    expect(fired.answers).toEqual([expect.objectContaining({ outcome: 'started', execution: 'web-v2-2-0' })]);
    expect(twice.answers).toEqual([expect.objectContaining({ outcome: 'duplicate' })]);
    const input = executionInputSchema.parse(
      JSON.parse(runtime.engine.describeExecution(runtime.engine.executionArn('web-v2-2-0')).input ?? '{}'),
    );
    expect(input.requestedBy).toBe('slack:U0ALICE');
  });

  it('a start while another rollout holds the target is refused, naming the running one', async () => {
    const first = await handleStartEvent(
      { target: 'web', version: 'v3.0.0', requestedBy: 'slack:U0ALICE', idempotencyKey: 'web_v3.0.0_aaaa' },
      deps,
    );
    expect(first.answers).toEqual([expect.objectContaining({ outcome: 'started' })]);
    await until(async () => (await runtime.deps.store.getLock('web')) !== null, 'the first rollout to take the lock');

    const second = await handleStartEvent(
      { target: 'web', version: 'v3.0.1', requestedBy: 'slack:U0BOB', idempotencyKey: 'web_v3.0.1_bbbb' },
      deps,
    );

    expect(second.answers).toEqual([
      expect.objectContaining({
        outcome: 'refused',
        reason: 'locked by web-v3-0-0: web runs one rollout at a time; abort it or wait for it to finish',
      }),
    ]);
    expect(executions('web-v3-0-1')).toHaveLength(0);
  });

  it('five different triggers for one target at once: one is started and passes Prepare, four are refused "locked by" it', async () => {
    const triggers = ['v7.0.0', 'v7.0.1', 'v7.0.2', 'v7.0.3', 'v7.0.4'].map((version, i) => ({
      target: 'web',
      version,
      requestedBy: `slack:U0USER${i}`,
      idempotencyKey: `web_${version}_${i}`,
    }));

    const results = await Promise.all(triggers.map((t) => handleStartEvent(t, deps)));

    const answers = results.flatMap((r) => r.answers);
    const started = answers.filter((a) => a.outcome === 'started');
    expect(started).toHaveLength(1);
    const winner = started[0]?.outcome === 'started' ? started[0].execution : '';
    expect(answers.filter((a) => a.outcome === 'refused')).toEqual(
      Array.from({ length: 4 }, () => expect.objectContaining({ reason: expect.stringMatching(new RegExp(`^locked by ${winner}: `)) })),
    );
    // Only the started one became an execution, and it got past Prepare (its rollout record exists).
    expect(runtime.engine.listExecutions({}).executions.filter((e) => e.name.startsWith('web-v7-0-'))).toHaveLength(1);
    await until(async () => (await runtime.deps.store.getRollout(winner)) !== null, 'Prepare of the started rollout');
  });

  it('overrides pass only the allow-list the target declares', async () => {
    const event = fixture('rollout-requested.json') as { id: string; detail: Record<string, unknown> };
    event.id = 'overrides-refused';
    event.detail.version = 'v4.0.0';
    event.detail.overrides = { strategy: { stepWeights: [20, 60] }, analysis: { noData: 'pass' } };
    const refused = await handleStartEvent(event, deps);
    event.id = 'overrides-allowed';
    event.detail.overrides = { strategy: { stepWeights: [20] } };
    const allowed = await handleStartEvent(event, deps);

    expect(refused.answers[0]).toMatchObject({ outcome: 'refused' });
    expect(refused.answers[0]?.message).toContain(
      'web does not allow overriding spec.analysis.noData from a trigger: it allows only strategy.stepWeights',
    );
    expect(allowed.answers[0]).toMatchObject({ outcome: 'started', execution: 'web-v4-0-0' });
    const input = executionInputSchema.parse(
      JSON.parse(runtime.engine.describeExecution(runtime.engine.executionArn('web-v4-0-0')).input ?? '{}'),
    );
    expect(input.spec.spec.strategy.stepWeights).toEqual([20]);
  });

  it('sluice event <file.json> delivers a file through the same handler, and a second delivery is a no-op', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) };
    const file = join(root, 'requested.json');
    const event = fixture('rollout-requested.json') as { id: string; detail: Record<string, unknown> };
    event.detail.version = 'v5.0.0';
    event.detail.idempotencyKey = 'cli-file-1';
    writeFileSync(file, JSON.stringify(event));

    const first = await eventCommand(control, file, { rollouts: registryDir }, io);
    const second = await eventCommand(control, file, { rollouts: registryDir }, io);
    const bad = join(root, 'bad.json');
    writeFileSync(bad, '{"source":"somewhere"}');
    const invalid = await eventCommand(control, bad, { rollouts: registryDir }, io);

    expect([first, second, invalid]).toEqual([0, 0, 2]);
    expect(out.join('')).toContain('started web-v5-0-0 (event:cli-file-1)');
    expect(out.join('')).toContain('event:cli-file-1 was already handled');
    expect(err.join('')).toContain('not a start event');
    expect(executions('web-v5-0-0')).toHaveLength(1);
  });
});

describe('GitOps notifications through the webhook handler', () => {
  it('a Flux generic-hmac event starts one rollout at the version it names; the re-send starts nothing', async () => {
    const body = fixtureText('flux-kustomization.json');

    const first = await handleGitopsRequest(signedFlux(body), gitops());
    const again = await handleGitopsRequest(signedFlux(body, 'sha512'), gitops());

    expect(first.statusCode).toBe(202);
    expect(JSON.parse(String(first.body))).toMatchObject({ outcome: 'started', version: 'v2.3.0', execution: 'web-v2-3-0' });
    expect(again.statusCode).toBe(200);
    expect(JSON.parse(String(again.body))).toMatchObject({ outcome: 'duplicate', execution: 'web-v2-3-0' });
    expect(executions('web-v2-3-0')).toHaveLength(1);
  });

  it('refuses a wrong HMAC, a wrong key, sha1 and a missing signature, starting nothing', async () => {
    const body = fixtureText('flux-kustomization.json').replace('v2.3.0', 'v9.9.9').replace('5a7d3c9e', '00000000');
    const tampered = signedFlux(body);
    tampered.body = String(tampered.body).replace('v9.9.9', 'v9.9.8');

    const answers = await Promise.all([
      handleGitopsRequest(tampered, gitops()),
      handleGitopsRequest(signedFlux(body, 'sha256', 'another-key'), gitops()),
      handleGitopsRequest(signedFlux(body, 'sha1'), gitops()),
      handleGitopsRequest(webhook('/flux', body, {}), gitops()),
    ]);

    expect(answers.map((a) => a.statusCode)).toEqual([401, 401, 401, 401]);
    expect(answers.map((a) => JSON.parse(String(a.body)).error)).toEqual([
      'signature mismatch',
      'signature mismatch',
      'X-Signature must be <sha224|sha256|sha384|sha512>=<hex>',
      'X-Signature header missing',
    ]);
    expect(runtime.engine.listExecutions().executions.filter((e) => e.name.startsWith('web-v9-9'))).toEqual([]);
  });

  it('verifies the raw bytes of a base64-encoded body, with each accepted hash function', async () => {
    const body = fixtureText('flux-kustomization.json').replace('v2.3.0', 'v2.3.1').replace('5a7d3c9e', '11111111');
    for (const fn of ['sha224', 'sha384']) {
      const request = signedFlux(body, fn);
      const encoded = webhook('/flux', body, { 'x-signature': String(request.headers['x-signature']) }, true);
      const answer = await handleGitopsRequest(encoded, gitops());
      expect(answer.statusCode, fn).toBeLessThan(300);
    }
    expect(executions('web-v2-3-1')).toHaveLength(1);
  });

  it('ignores a failed Flux reconciliation and refuses a body over the size cap', async () => {
    const failed = await handleGitopsRequest(signedFlux(fixtureText('flux-failed.json')), gitops());
    const huge = await handleGitopsRequest(signedFlux(JSON.stringify({ padding: 'x'.repeat(70_000) })), gitops());

    expect(failed.statusCode).toBe(200);
    expect(JSON.parse(String(failed.body))).toEqual({
      outcome: 'ignored',
      reason: 'Kustomization/flux-system/web error ReconciliationFailed: not a successful reconciliation',
    });
    expect(huge.statusCode).toBe(413);
  });

  it('an Argo CD notification with the bearer secret starts one rollout; a wrong token is refused', async () => {
    const body = fixtureText('argocd-deployed.json');

    const wrong = await handleGitopsRequest(webhook('/argocd', body, { authorization: 'Bearer not-the-token' }), gitops());
    const first = await handleGitopsRequest(webhook('/argocd', body, { authorization: `Bearer ${ARGO_TOKEN}` }), gitops());
    const again = await handleGitopsRequest(webhook('/argocd', body, { authorization: `Bearer ${ARGO_TOKEN}` }), gitops());

    expect(wrong.statusCode).toBe(401);
    expect(first.statusCode).toBe(202);
    expect(JSON.parse(String(first.body))).toMatchObject({ outcome: 'started', execution: 'web-v2-4-0' });
    expect(JSON.parse(String(again.body))).toMatchObject({ outcome: 'duplicate' });
    expect(executions('web-v2-4-0')).toHaveLength(1);
  });
});
