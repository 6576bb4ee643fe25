/**
 * `sluice doctor` against the real parts: the Kubernetes API stand-in with the
 * shipped RBAC (infra/k8s/rbac.yaml), a real Prometheus scraping Envoy-style counters, and the
 * real secret resolver. Each check fails in turn — a missing object, a 403 on patch, an
 * unreachable Prometheus, an empty query, an unresolvable secret — with a line that says how to
 * fix it, exit 2, and nothing changed. `--stack` invokes the deployed functions in doctor mode:
 * the exact Lambda Invoke requests are asserted (aws-sdk-client-mock), and each answer is the
 * real doctor mode run against the stand-in.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeAccessEntryCommand, DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { GetAccountSettingsCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { policyRulesForGroup, startKubeStandIn } from '../local/kube/stand-in.ts';
import type { KubeStandIn } from '../local/kube/stand-in.ts';
import { freePort, startPrometheus } from '../local/sandbox/prometheus.ts';
import type { RunningPrometheus } from '../local/sandbox/prometheus.ts';
import { doctorCommand } from '../local/commands/doctor.ts';
import type { DoctorSeams } from '../local/commands/doctor.ts';
import { runDoctorEvent } from '../lambdas/app/doctor-mode.ts';
import { runNotifyDoctor } from '../lambdas/app/doctor-notify.ts';
import { startFakeSlack } from '../lambdas/adapters/slack/fake-slack.fixtures.ts';
import type { FakeSlack } from '../lambdas/adapters/slack/fake-slack.fixtures.ts';
import { clusterDeps, metricDeps } from '../lambdas/wiring/seams.ts';
import { defaultSecretResolver, useSecretResolver } from '../lambdas/adapters/secrets/resolver.ts';
import {
  APP_NS,
  CANARY_UPSTREAM,
  GLOO_NS,
  PRIMARY_UPSTREAM,
  deployment,
  glooSettled,
  seedGloo,
  storedDestinations,
} from '../lambdas/adapters/kube/cluster.fixtures.ts';
import { startEnvoyMetrics } from './support/envoy-metrics.ts';
import type { EnvoyMetricsServer } from './support/envoy-metrics.ts';

const RBAC = readFileSync(join(import.meta.dirname, '..', 'infra', 'k8s', 'rbac.yaml'), 'utf8');

let api: KubeStandIn;
let envoy: EnvoyMetricsServer;
let prometheus: RunningPrometheus;
let dir: string;
let restoreResolver: () => void;

function specFile(
  overrides: { router?: Record<string, unknown>; analysis?: Record<string, unknown>; notifications?: Record<string, unknown> } = {},
): string {
  const spec = {
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'podinfo' },
    spec: {
      cluster: { kubeconfigContext: 'stand-in' },
      router: {
        name: 'podinfo',
        namespace: GLOO_NS,
        route: { virtualService: 'podinfo', namespace: GLOO_NS, name: 'main' },
        primary: { upstream: { name: PRIMARY_UPSTREAM, namespace: GLOO_NS } },
        canary: { upstream: { name: CANARY_UPSTREAM, namespace: GLOO_NS } },
        ...overrides.router,
      },
      workload: { namespace: APP_NS, primary: 'podinfo-primary', canary: 'podinfo' },
      strategy: { stepWeights: [10, 50], interval: '1m' },
      analysis: {
        judge: 'threshold',
        prometheus: { address: prometheus.url },
        metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 } }],
        ...overrides.analysis,
      },
      ...(overrides.notifications ? { notifications: overrides.notifications } : {}),
    },
  };
  const path = join(dir, `spec-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(spec));
  return path;
}

async function doctor(spec: string, token: string, seams: Omit<DoctorSeams, 'kubeConfigOf'> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await doctorCommand(
    { spec, rollouts: dir },
    { stdout: (t) => out.push(t), stderr: (t) => err.push(t) },
    { kubeConfigOf: async () => api.kubeConfig(token), env: {}, ...seams },
  );
  return { code, out: out.join(''), err: err.join('') };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-doctor-'));
  envoy = await startEnvoyMetrics();
  for (const upstream of [PRIMARY_UPSTREAM, CANARY_UPSTREAM]) envoy.declare(`${upstream}_${GLOO_NS}`);
  prometheus = await startPrometheus({ scrapeTargets: [envoy.target] });
  // The counters are scraped at zero first, so the primary's traffic is an increase its rate() sees.
  await prometheus.waitForSeries(`envoy_cluster_upstream_rq{envoy_cluster_name="${PRIMARY_UPSTREAM}_${GLOO_NS}"}`);
  envoy.record(`${PRIMARY_UPSTREAM}_${GLOO_NS}`, { requests: 500, latencyMs: 20 });
  await prometheus.waitForSeries(`sum(envoy_cluster_upstream_rq{envoy_cluster_name="${PRIMARY_UPSTREAM}_${GLOO_NS}"}) >= 500`);
  api = await startKubeStandIn({ deploymentReadyDelayMs: 10 });
  seedGloo(api);
  api.apply(deployment('podinfo-primary'));
  api.apply(deployment('podinfo'));
  await glooSettled(api);
  // The writers' identity (get + patch) and the read-only one (get): the shipped RBAC's two groups.
  api.addToken('writer', policyRulesForGroup(RBAC, 'sluice:orchestrator'));
  api.addToken('reader', policyRulesForGroup(RBAC, 'sluice:reader'));
  restoreResolver = useSecretResolver(defaultSecretResolver({ env: { PROM_TOKEN: 'p-token-123' } }));
}, 60_000);

afterAll(async () => {
  restoreResolver?.();
  await api?.close();
  await prometheus?.close();
  await envoy?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('sluice doctor (locally, against the stand-in and a real Prometheus)', () => {
  let before: unknown;
  beforeEach(() => {
    before = storedDestinations(api);
  });

  it('passes when a rollout would start: one line per check, exit 0, nothing changed', async () => {
    const { code, out } = await doctor(specFile(), 'writer');
    expect(out).toMatch(/^ok {4}kubernetes: the cluster answered with a token it accepts/m);
    expect(out).toMatch(/^ok {4}gloo: UpstreamGroup gloo-system\/podinfo lists the primary and canary upstreams/m);
    expect(out).toMatch(/^ok {4}metrics server: answers queries$/m);
    expect(out).toMatch(
      /^note {2}queries: every query runs; the canary's request-success-rate is empty, as expected before any traffic reaches it$/m,
    );
    for (const what of [
      'patch UpstreamGroup gloo-system/podinfo',
      'patch VirtualService gloo-system/podinfo',
      'patch Deployment default/podinfo-primary',
      'patch Deployment default/podinfo/scale',
    ]) {
      expect(out).toContain(`ok    rbac: may ${what} (server-side dry run: authorized, nothing stored)`);
    }
    expect(out.trim().split('\n').at(-1)).toBe('a rollout would start (locally, target podinfo)');
    expect(code).toBe(0);
    expect(storedDestinations(api)).toEqual(before);
  });

  it('a missing object: names it, says how to fix it, exit 2', async () => {
    const { code, out } = await doctor(specFile({ router: { name: 'checkout' } }), api.adminToken);
    expect(out).toMatch(/^FAIL {2}kubernetes: UpstreamGroup gloo-system\/checkout not found/m);
    expect(out).toContain('fix: create the object, or correct its name and namespace in the spec');
    expect(code).toBe(2);
  });

  it('a 403 on patch (the read-only identity): each write fails with the RBAC fix, the reads pass', async () => {
    const { code, out } = await doctor(specFile(), 'reader');
    expect(out).toMatch(/^ok {4}kubernetes:/m);
    expect(out).toContain('FAIL  rbac: cannot patch UpstreamGroup gloo-system/podinfo: the API server answered 403');
    expect(out).toContain(
      "fix: RBAC refuses it: add the object's name to the patch rule's resourceNames in infra/k8s/rbac.yaml (group sluice:orchestrator)",
    );
    expect(out.match(/^FAIL {2}rbac:/gm)).toHaveLength(4);
    expect(code).toBe(2);
    expect(storedDestinations(api)).toEqual(before);
  });

  it('an unreachable Prometheus: the metrics server check fails with the fix, the queries are not run', async () => {
    const { code, out } = await doctor(
      specFile({ analysis: { prometheus: { address: `http://127.0.0.1:${await freePort()}`, timeout: '1s' } } }),
      'writer',
    );
    expect(out).toMatch(/^FAIL {2}metrics server: Prometheus at http:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\)/m);
    expect(out).toContain('fix: make the metrics server reachable from where the rollout runs');
    expect(out).not.toMatch(/queries:/);
    expect(code).toBe(2);
  });

  it('an empty query: the primary returns no data', async () => {
    const { code, out } = await doctor(specFile({ router: { envoyClusterName: '{{upstream}}_nowhere' } }), 'writer');
    expect(out).toMatch(/^FAIL {2}queries: no data for the primary from request-success-rate$/m);
    expect(out).toContain('fix: check the query and that the primary serves traffic');
    expect(code).toBe(2);
  });

  it('an unresolvable secret: names the field and the reference, never a value', async () => {
    const { code, out } = await doctor(
      specFile({ analysis: { prometheus: { address: prometheus.url, bearerToken: { secretRef: { env: 'NOT_SET_TOKEN' } } } } }),
      'writer',
    );
    expect(out).toMatch(
      /^FAIL {2}secret spec\.analysis\.prometheus\.bearerToken: spec\.analysis\.prometheus\.bearerToken: environment variable NOT_SET_TOKEN is not set$/m,
    );
    expect(out).toContain("fix: create the secret (or the key in it) and allow this function's role secretsmanager:GetSecretValue on it");
    expect(code).toBe(2);
    const resolved = await doctor(
      specFile({ analysis: { prometheus: { address: prometheus.url, bearerToken: { secretRef: { env: 'PROM_TOKEN' } } } } }),
      'writer',
    );
    expect(resolved.out).toContain('ok    secret spec.analysis.prometheus.bearerToken: environment variable PROM_TOKEN resolves');
    expect(resolved.out).not.toContain('p-token-123');
  });

  it('refuses a target that is not a name before reading anything', async () => {
    const out: string[] = [];
    const code = await doctorCommand({ target: '../../etc/x', rollouts: dir }, { stdout: () => undefined, stderr: (t) => out.push(t) });
    expect(code).toBe(2);
    expect(out.join('')).toContain('target "../../etc/x" is not a target name');
  });
});

describe('sluice doctor --stack (the deployed functions in doctor mode)', () => {
  const cfn = mockClient(CloudFormationClient);
  const lambda = mockClient(LambdaClient);
  const ssm = mockClient(SSMClient);
  const eks = mockClient(EKSClient);
  const WRITER_ROLE = 'arn:aws:iam::123456789012:role/Sluice-KubernetesRole';
  const READER_ROLE = 'arn:aws:iam::123456789012:role/Sluice-AnalysisRole';
  const aws = () => ({
    cloudformation: new CloudFormationClient({ region: 'us-east-1' }),
    lambda: new LambdaClient({ region: 'us-east-1' }),
    ssm: new SSMClient({ region: 'us-east-1' }),
    eks: new EKSClient({ region: 'us-east-1' }),
  });
  const READ_FN = 'arn:aws:lambda:us-east-1:123456789012:function:Sluice-PrepareFunction';
  const WRITE_FN = 'arn:aws:lambda:us-east-1:123456789012:function:Sluice-SetWeightFunction';

  it("invokes Prepare (reads) then SetWeight (dry-run patches) with { doctor, spec }, and checks the account's concurrency", async () => {
    // Prepare: the stack's outputs, the registry's spec, and each function answering as its doctor mode does (here against the stand-in).
    const spec = JSON.parse(readFileSync(specFile(), 'utf8')) as unknown;
    const { parseSpec } = await import('../lambdas/core/spec.ts');
    const resolved = parseSpec(spec);
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'Sluice',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'DoctorReadFunctionArn', OutputValue: READ_FN },
            { OutputKey: 'DoctorWriteFunctionArn', OutputValue: WRITE_FN },
            { OutputKey: 'RegistryParameterPrefix', OutputValue: '/sluice/Sluice/targets' },
          ],
        },
      ],
    });
    ssm.on(GetParameterCommand, { Name: '/sluice/Sluice/targets/podinfo' }).resolves({ Parameter: { Value: JSON.stringify(resolved) } });
    const roleOf: Record<string, string> = { [READ_FN]: 'reader', [WRITE_FN]: 'writer' };
    lambda.on(InvokeCommand).callsFake(async (input: { FunctionName: string; Payload: Uint8Array }) => {
      const token = roleOf[input.FunctionName]!;
      const kubeConfigOf = async () => api.kubeConfig(token);
      const deps = async () => ({ ...clusterDeps(kubeConfigOf), ...metricDeps() }) as never;
      const answer = await runDoctorEvent(JSON.parse(new TextDecoder().decode(input.Payload)) as unknown, deps, kubeConfigOf);
      return { StatusCode: 200, Payload: new TextEncoder().encode(JSON.stringify(answer)) as never };
    });
    lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { UnreservedConcurrentExecutions: 990 } });
    const out: string[] = [];

    // Act
    const code = await doctorCommand(
      { target: 'podinfo', rollouts: dir, stack: 'Sluice' },
      { stdout: (t) => out.push(t), stderr: (t) => out.push(t) },
      {
        aws: {
          cloudformation: new CloudFormationClient({ region: 'us-east-1' }),
          lambda: new LambdaClient({ region: 'us-east-1' }),
          ssm: new SSMClient({ region: 'us-east-1' }),
        },
      },
    );

    // Assess: exactly two invocations, synchronous, each carrying the mode and the registry's spec.
    const invokes = lambda.commandCalls(InvokeCommand).map((c) => c.args[0].input);
    expect(
      invokes.map((i) => ({
        FunctionName: i.FunctionName,
        InvocationType: i.InvocationType,
        Payload: JSON.parse(new TextDecoder().decode(i.Payload as Uint8Array)) as unknown,
      })),
    ).toEqual([
      {
        FunctionName: READ_FN,
        InvocationType: 'RequestResponse',
        Payload: { doctor: 'read', spec: JSON.parse(JSON.stringify(resolved)) as unknown },
      },
      {
        FunctionName: WRITE_FN,
        InvocationType: 'RequestResponse',
        Payload: { doctor: 'write', spec: JSON.parse(JSON.stringify(resolved)) as unknown },
      },
    ]);
    expect(ssm.commandCalls(GetParameterCommand).map((c) => c.args[0].input)).toEqual([{ Name: '/sluice/Sluice/targets/podinfo' }]);
    const text = out.join('');
    expect(text).toContain('ok    rbac: may patch UpstreamGroup gloo-system/podinfo');
    expect(text).toContain('ok    lambda concurrency: 990 unreserved concurrent executions in the account');
    expect(text.trim().split('\n').at(-1)).toBe('a rollout would start (stack Sluice, target podinfo)');
    expect(code).toBe(0);
  }, 30_000);

  it('a function that fails in doctor mode is a failed check naming it, exit 2', async () => {
    cfn.reset();
    lambda.reset();
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'Sluice',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'DoctorReadFunctionArn', OutputValue: READ_FN },
            { OutputKey: 'DoctorWriteFunctionArn', OutputValue: WRITE_FN },
          ],
        },
      ],
    });
    lambda
      .on(InvokeCommand)
      .resolves({ StatusCode: 200, FunctionError: 'Unhandled', Payload: new TextEncoder().encode('{"errorMessage":"boom"}') as never });
    lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { UnreservedConcurrentExecutions: 50 } });
    const out: string[] = [];
    const code = await doctorCommand(
      { spec: specFile(), rollouts: dir, stack: 'Sluice' },
      { stdout: (t) => out.push(t), stderr: (t) => out.push(t) },
      {
        aws: {
          cloudformation: new CloudFormationClient({ region: 'us-east-1' }),
          lambda: new LambdaClient({ region: 'us-east-1' }),
          ssm: new SSMClient({ region: 'us-east-1' }),
        },
      },
    );
    const text = out.join('');
    expect(text).toContain(`FAIL  read function: ${READ_FN} failed: {"errorMessage":"boom"}`);
    expect(text).toContain('FAIL  lambda concurrency: 50 unreserved concurrent executions');
    expect(code).toBe(2);
  });

  it('with your credentials: refuses a cluster whose authentication mode ignores access entries, and an entry mapped to the wrong group', async () => {
    cfn.reset();
    lambda.reset();
    eks.reset();
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'Sluice',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'DoctorReadFunctionArn', OutputValue: READ_FN },
            { OutputKey: 'DoctorWriteFunctionArn', OutputValue: WRITE_FN },
            { OutputKey: 'KubernetesRoleArn', OutputValue: WRITER_ROLE },
            { OutputKey: 'AnalysisRoleArn', OutputValue: READER_ROLE },
          ],
        },
      ],
    });
    eks.on(DescribeClusterCommand).resolves({ cluster: { name: 'prod-eks', accessConfig: { authenticationMode: 'CONFIG_MAP' } } });
    eks
      .on(DescribeAccessEntryCommand, { principalArn: WRITER_ROLE })
      .resolves({ accessEntry: { kubernetesGroups: ['sluice:orchestrator'] } });
    eks
      .on(DescribeAccessEntryCommand, { principalArn: READER_ROLE })
      .resolves({ accessEntry: { kubernetesGroups: ['sluice:orchestrator'] } });
    lambda
      .on(InvokeCommand)
      .resolves({ StatusCode: 200, Payload: new TextEncoder().encode(JSON.stringify({ mode: 'read', checks: [] })) as never });
    lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { UnreservedConcurrentExecutions: 990 } });
    const eksSpec = join(dir, 'eks.json');
    writeFileSync(
      eksSpec,
      JSON.stringify({
        ...(JSON.parse(readFileSync(specFile(), 'utf8')) as { spec: object }),
        spec: {
          ...(JSON.parse(readFileSync(specFile(), 'utf8')) as { spec: object }).spec,
          cluster: { name: 'prod-eks', region: 'us-east-1' },
        },
      }),
    );
    const out: string[] = [];

    const code = await doctorCommand(
      { spec: eksSpec, rollouts: dir, stack: 'Sluice' },
      { stdout: (t) => out.push(t), stderr: (t) => out.push(t) },
      { aws: aws() },
    );

    const text = out.join('');
    expect(eks.commandCalls(DescribeClusterCommand).map((c) => c.args[0].input)).toEqual([{ name: 'prod-eks' }]);
    expect(eks.commandCalls(DescribeAccessEntryCommand).map((c) => c.args[0].input)).toEqual([
      { clusterName: 'prod-eks', principalArn: WRITER_ROLE },
      { clusterName: 'prod-eks', principalArn: READER_ROLE },
    ]);
    expect(text).toContain('FAIL  eks authentication mode: cluster prod-eks uses CONFIG_MAP: access entries are ignored');
    expect(text).toContain('fix: aws eks update-cluster-config --name prod-eks --access-config authenticationMode=API_AND_CONFIG_MAP');
    expect(text).toContain(
      "ok    eks access entry: the writers' role (SetWeight, Promote, Rollback, safety net) maps to sluice:orchestrator",
    );
    expect(text).toContain('FAIL  eks access entry: the analysis role (Prepare, Analyze) maps to sluice:orchestrator, not sluice:reader');
    expect(code).toBe(2);
  });
});

/**
 * Stand-ins on loopback, over real HTTP: a generic receiver that accepts only its API key (and
 * records every request), and a Slack incoming webhook answering as Slack documents (api.slack.com
 * changelog 2016-05-17): 400 `no_text` to a payload with nothing to post, 404 `no_service` for a
 * revoked URL, 200 `ok` — a posted message — to anything with text.
 */
interface Receiver {
  url: string;
  port: number;
  requests: Array<{ method: string; path: string; apiKey: string | undefined; body: string }>;
  close(): Promise<void>;
}

async function startReceiver(answer: (method: string, path: string, body: string, apiKey: string | undefined) => [number, string]) {
  const { createServer } = await import('node:http');
  const requests: Receiver['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const apiKey = req.headers['x-api-key'] as string | undefined;
      requests.push({ method: req.method ?? '', path: req.url ?? '', apiKey, body });
      const [status, text] = answer(req.method ?? '', req.url ?? '', body, apiKey);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  } satisfies Receiver;
}

describe('sluice doctor: the notification endpoints, probed without sending anything', () => {
  let slackApi: FakeSlack;
  let generic: Receiver;
  let slackHook: Receiver;
  let restore: () => void;
  const posted = () => slackHook.requests.filter((r) => r.method === 'POST' && r.body !== '{}');

  beforeAll(async () => {
    slackApi = await startFakeSlack({ tokens: ['xoxb-good'], teamId: 'T0SLUICE' });
    slackApi.channels.set('C0ALERTS', {});
    slackApi.channels.set('C0OLD', { is_archived: true });
    generic = await startReceiver((_method, _path, _body, apiKey) => (apiKey === 'k-123' ? [405, 'use POST'] : [401, 'no key']));
    slackHook = await startReceiver((method, path, body) => {
      if (path.includes('/revoked')) return [404, 'no_service'];
      if (method !== 'POST') return [405, 'invalid_method'];
      const payload = JSON.parse(body || 'null') as { text?: string; blocks?: unknown; attachments?: unknown } | null;
      if (!payload || typeof payload !== 'object') return [400, 'invalid_payload'];
      return payload.text || payload.blocks || payload.attachments ? [200, 'ok'] : [400, 'no_text'];
    });
    restore = useSecretResolver(
      defaultSecretResolver({
        env: {
          HOOK_KEY: 'k-123',
          SLACK_HOOK: `${slackHook.url}/services/T0SLUICE/B0HOOK/s3cr3tpath`,
          REVOKED_HOOK: `${slackHook.url}/services/T0SLUICE/B0HOOK/revoked`,
        },
      }),
    );
  });
  afterAll(async () => {
    restore?.();
    await Promise.all([slackApi?.close(), generic?.close(), slackHook?.close()]);
  });

  const probe = () => ({ isSlackWebhook: (u: URL) => u.port === String(slackHook.port), timeoutMs: 2000 });
  const notifications = (webhooks: unknown[], channel = 'C0ALERTS') => ({ slack: { channel }, webhooks });
  const slackEnv = (token = 'xoxb-good') => ({ SLACK_BOT_TOKEN: token, SLACK_API_URL: slackApi.url });

  it('passes when every endpoint answers: auth.test and conversations.info for the thread, an empty payload to the Slack webhook, HEAD to the others', async () => {
    // Prepare
    slackApi.calls.length = 0;
    generic.requests.length = 0;
    slackHook.requests.length = 0;
    const spec = specFile({
      notifications: notifications([
        { url: `${generic.url}/hooks/rollouts`, headers: { 'x-api-key': { secretRef: { env: 'HOOK_KEY' } } } },
        { url: { secretRef: { env: 'SLACK_HOOK' } } },
      ]),
      analysis: {
        webhooks: [
          { name: 'audit', type: 'event', url: `${generic.url}/events`, headers: { 'x-api-key': { secretRef: { env: 'HOOK_KEY' } } } },
        ],
      },
    });

    // Act
    const { code, out } = await doctor(spec, 'writer', { env: slackEnv(), probe: probe() });

    // Assess: one line per endpoint, saying what was proven.
    expect(out).toMatch(/^ok {4}notify slack: auth\.test: the bot token is live \(workspace T0SLUICE, bot user U0BOT\); nothing posted$/m);
    expect(out).toContain('ok    notify slack: conversations.info: channel C0ALERTS exists and is not archived');
    expect(out).toContain(
      `ok    notify spec.notifications.webhooks[0]: 127.0.0.1:${generic.port} answered HEAD with 405: DNS, connection, TLS and HTTP work from here; nothing was delivered`,
    );
    expect(out).toContain(
      'ok    notify spec.notifications.webhooks[1]: Slack incoming webhook (the referenced URL) is live: it answered "no_text" to an empty payload, so nothing was posted',
    );
    expect(out).toContain(`ok    notify spec.analysis.webhooks[0]: 127.0.0.1:${generic.port} answered HEAD with 405`);
    expect(code).toBe(0);
    // Nothing was sent: Slack saw only the two read methods, the receivers only HEAD (with the key) and an empty payload.
    expect(slackApi.calls.map((c) => c.method)).toEqual(['auth.test', 'conversations.info']);
    expect(generic.requests.map((r) => [r.method, r.path, r.apiKey])).toEqual([
      ['HEAD', '/events', 'k-123'],
      ['HEAD', '/hooks/rollouts', 'k-123'],
    ]);
    expect(slackHook.requests.map((r) => [r.method, r.body])).toEqual([['POST', '{}']]);
    expect(posted()).toEqual([]);
    // A Slack webhook's path is its secret: it appears nowhere in the output.
    expect(out).not.toContain('s3cr3tpath');
    expect(out).not.toContain('k-123');
  });

  it('fails each endpoint in turn with its fix: a bad bot token, an archived channel, a revoked Slack webhook, an unreachable receiver', async () => {
    const unreachable = `http://127.0.0.1:${await freePort()}/hook`;
    const spec = (channel: string, webhooks: unknown[]) => specFile({ notifications: notifications(webhooks, channel) });

    const badToken = await doctor(spec('C0ALERTS', []), 'writer', { env: slackEnv('xoxb-revoked'), probe: probe() });
    expect(badToken.out).toMatch(/^FAIL {2}notify slack: auth\.test refused the bot token: invalid_auth$/m);
    expect(badToken.out).toContain('fix: reinstall the Slack app and store its bot token');
    expect(badToken.code).toBe(2);

    const archived = await doctor(spec('C0OLD', []), 'writer', { env: slackEnv(), probe: probe() });
    expect(archived.out).toContain('FAIL  notify slack: channel C0OLD is archived: the thread cannot be posted');
    const unknown = await doctor(spec('C0GONE', []), 'writer', { env: slackEnv(), probe: probe() });
    expect(unknown.out).toContain('FAIL  notify slack: conversations.info C0GONE: channel_not_found');
    expect(unknown.out).toContain('fix: correct spec.notifications.slack.channel');

    const revoked = await doctor(spec('C0ALERTS', [{ url: { secretRef: { env: 'REVOKED_HOOK' } } }]), 'writer', {
      env: slackEnv(),
      probe: probe(),
    });
    expect(revoked.out).toContain(
      'FAIL  notify spec.notifications.webhooks[0]: Slack incoming webhook (the referenced URL) answered 404 "no_service" to an empty payload: it would not post',
    );
    expect(revoked.out).toContain('fix: the webhook was revoked or its app removed');

    const down = await doctor(spec('C0ALERTS', [{ url: unreachable }]), 'writer', { env: slackEnv(), probe: probe() });
    expect(down.out).toMatch(
      /^FAIL {2}notify spec\.notifications\.webhooks\[0\]: 127\.0\.0\.1:\d+ is unreachable from here: ECONNREFUSED$/m,
    );
    expect(down.code).toBe(2);
    expect(posted()).toEqual([]);
  });

  it('a bot without channels:read leaves the channel unproven (a note); without SLACK_BOT_TOKEN the thread is skipped, as `sluice run` skips it', async () => {
    slackApi.script('conversations.info', { error: 'missing_scope' });
    const scoped = await doctor(specFile({ notifications: notifications([]) }), 'writer', { env: slackEnv(), probe: probe() });
    expect(scoped.out).toContain(
      'note  notify slack: channel C0ALERTS not checked: the bot lacks channels:read (conversations.info); the first post proves it',
    );
    expect(scoped.code).toBe(0);

    const local = await doctor(specFile({ notifications: notifications([]) }), 'writer', { probe: probe() });
    expect(local.out).toContain('note  notify slack: Slack notifications are skipped locally without SLACK_BOT_TOKEN');
    expect(local.code).toBe(0);
  });

  it('--stack: the Slack worker probes them in doctor mode (the exact Invoke), and a stack without it fails the check', async () => {
    const cfn = mockClient(CloudFormationClient);
    const lambda = mockClient(LambdaClient);
    const READ_FN = 'arn:aws:lambda:us-east-1:123456789012:function:Sluice-PrepareFunction';
    const WRITE_FN = 'arn:aws:lambda:us-east-1:123456789012:function:Sluice-SetWeightFunction';
    const NOTIFY_FN = 'arn:aws:lambda:us-east-1:123456789012:function:Sluice-SlackWorkerFunction';
    const outputs = (notify: boolean) => [
      { OutputKey: 'DoctorReadFunctionArn', OutputValue: READ_FN },
      { OutputKey: 'DoctorWriteFunctionArn', OutputValue: WRITE_FN },
      ...(notify ? [{ OutputKey: 'DoctorNotifyFunctionArn', OutputValue: NOTIFY_FN }] : []),
    ];
    const empty = new TextEncoder().encode(JSON.stringify({ mode: 'read', checks: [] }));
    lambda.on(InvokeCommand).callsFake(async (input: { FunctionName: string; Payload: Uint8Array }) => {
      if (input.FunctionName !== NOTIFY_FN) return { StatusCode: 200, Payload: empty as never };
      // The worker's doctor mode, as deployed: its bot token and workspace from the Slack secret and SLACK_TEAM_ID.
      const answer = await runNotifyDoctor(JSON.parse(new TextDecoder().decode(input.Payload)) as unknown, async () => ({
        slackToken: 'xoxb-good',
        slackApiUrl: slackApi.url,
        slackTeamId: 'T0SLUICE',
        ...probe(),
      }));
      return { StatusCode: 200, Payload: new TextEncoder().encode(JSON.stringify(answer)) as never };
    });
    lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { UnreservedConcurrentExecutions: 990 } });
    const path = specFile({ notifications: notifications([{ url: { secretRef: { env: 'SLACK_HOOK' } } }]) });
    const run = async () => {
      const out: string[] = [];
      const code = await doctorCommand(
        { spec: path, rollouts: dir, stack: 'Sluice' },
        { stdout: (t) => out.push(t), stderr: (t) => out.push(t) },
        {
          aws: {
            cloudformation: new CloudFormationClient({ region: 'us-east-1' }),
            lambda: new LambdaClient({ region: 'us-east-1' }),
            ssm: new SSMClient({ region: 'us-east-1' }),
          },
        },
      );
      return { code, out: out.join('') };
    };
    try {
      cfn.on(DescribeStacksCommand).resolves({
        Stacks: [{ StackName: 'Sluice', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: outputs(true) }],
      });
      const withWorker = await run();

      const invokes = lambda.commandCalls(InvokeCommand).map((c) => c.args[0].input);
      const spec = JSON.parse(JSON.stringify((await import('../lambdas/core/spec.ts')).parseSpec(JSON.parse(readFileSync(path, 'utf8')))));
      expect(
        invokes.map((i) => ({
          FunctionName: i.FunctionName,
          InvocationType: i.InvocationType,
          Payload: JSON.parse(new TextDecoder().decode(i.Payload as Uint8Array)) as unknown,
        })),
      ).toEqual([
        { FunctionName: READ_FN, InvocationType: 'RequestResponse', Payload: { doctor: 'read', spec } },
        { FunctionName: WRITE_FN, InvocationType: 'RequestResponse', Payload: { doctor: 'write', spec } },
        { FunctionName: NOTIFY_FN, InvocationType: 'RequestResponse', Payload: { doctor: 'notify', spec } },
      ]);
      expect(withWorker.out).toContain('ok    notify slack: auth.test: the bot token is live (workspace T0SLUICE');
      expect(withWorker.out).toContain('ok    notify spec.notifications.webhooks[0]: Slack incoming webhook (the referenced URL) is live');
      expect(withWorker.code).toBe(0);

      cfn.reset();
      cfn.on(DescribeStacksCommand).resolves({
        Stacks: [{ StackName: 'Sluice', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: outputs(false) }],
      });
      const without = await run();
      expect(without.out).toContain('FAIL  notify: the target names notifications (spec.notifications), but this stack has no Slack bot');
      expect(without.out).toContain('fix: deploy with -c slackTeamId=T… -c slackApiAppId=A…');
      expect(without.code).toBe(2);
    } finally {
      cfn.restore();
      lambda.restore();
    }
  }, 30_000);

  it("the worker's doctor mode refuses a bot token of another workspace", async () => {
    const answer = await runNotifyDoctor(
      { doctor: 'notify', spec: JSON.parse(readFileSync(specFile({ notifications: notifications([]) }), 'utf8')) as unknown },
      async () => ({ slackToken: 'xoxb-good', slackApiUrl: slackApi.url, slackTeamId: 'T0OTHER' }),
    );
    expect(answer.checks).toEqual([
      {
        name: 'notify slack',
        status: 'failed',
        message: "the bot token belongs to workspace T0SLUICE, not T0OTHER (the stack's -c slackTeamId)",
        fix: "store the bot token of the app installed in the stack's workspace in the Slack secret",
      },
    ]);
  });
});
