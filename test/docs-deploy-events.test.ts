/**
 * The "Deploy events" page's snippets are not decoration: each marked block
 * (`<!-- snippet:NAME -->` before a fenced block) is extracted and run through the handlers —
 * the event JSON, the event the GitHub Actions job would send, a Flux event as the Provider and
 * Alert shown would deliver it, and the body the Argo CD template renders.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeExecutionCommand, ExecutionDoesNotExist, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROLLOUT_REQUESTED } from '../infra/triggers.ts';
import { staticRegistry } from '../lambdas/adapters/control/start-path.ts';
import type { StartPathDeps } from '../lambdas/adapters/control/start-path.ts';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import { parseSpec } from '../lambdas/core/spec.ts';
import { handleGitopsRequest } from '../lambdas/handlers/gitops-webhook.ts';
import { handleStartEvent } from '../lambdas/handlers/start.ts';

const README = readFileSync(join(import.meta.dirname, '..', 'docs', 'deploy-events.md'), 'utf8');

function snippet(name: string): string {
  const match = new RegExp(`<!-- snippet:${name} -->\\s*\\n\`\`\`\\w*\\n([\\s\\S]*?)\\n\`\`\``).exec(README);
  if (!match?.[1]) throw new Error(`docs/deploy-events.md has no block marked <!-- snippet:${name} -->`);
  return match[1];
}

const ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:rollout';

/** A deployed-like start path: a store, and Step Functions that records what was started. */
function startPath(): StartPathDeps & {
  started: Array<{ name: string; input: { version: string; spec: { spec: { strategy: { stepWeights?: number[] } } } } }>;
} {
  const started: Array<{ name: string; input: { version: string; spec: { spec: { strategy: { stepWeights?: number[] } } } } }> = [];
  const spec = parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'podinfo' },
    spec: {
      cluster: { name: 'prod-eks', region: 'us-east-1' },
      router: {
        name: 'podinfo',
        namespace: 'gloo-system',
        primary: { upstream: { name: 'podinfo-primary', namespace: 'gloo-system' } },
        canary: { upstream: { name: 'podinfo-canary', namespace: 'gloo-system' } },
      },
      analysis: { judge: 'threshold', prometheus: { address: 'http://prometheus:9090' } },
      triggers: { overrides: ['strategy.stepWeights'] },
    },
  });
  return {
    started,
    store: openSqliteStore(':memory:'),
    stateMachineArn: ARN,
    registry: staticRegistry([spec]),
    now: () => new Date('2026-03-02T10:00:00Z'),
    sfn: {
      send: (async (command: unknown) => {
        if (command instanceof DescribeExecutionCommand) {
          const name = String(command.input.executionArn).split(':').at(-1);
          if (!started.some((s) => s.name === name)) throw new ExecutionDoesNotExist({ message: 'none', $metadata: {} });
          return {};
        }
        if (command instanceof StartExecutionCommand) {
          started.push({ name: command.input.name ?? '', input: JSON.parse(command.input.input ?? '{}') });
          return { executionArn: `arn:execution:${command.input.name}` };
        }
        throw new Error('unexpected command');
      }) as never,
    },
  };
}

function post(path: string, body: string, headers: Record<string, string>): APIGatewayProxyEventV2 {
  return {
    rawPath: path,
    headers,
    body,
    isBase64Encoded: false,
    requestContext: { http: { method: 'POST' } },
  } as unknown as APIGatewayProxyEventV2;
}

/** The few Go-template forms the README's Argo CD template uses, evaluated against an Application. */
function renderArgoTemplate(template: string, app: Record<string, unknown>): string {
  const lookup = (path: string): unknown =>
    path
      .replace(/^\.app\.?/, '')
      .split('.')
      .filter(Boolean)
      .reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], app);
  return template
    .replace(/\{\{with (\.[\w.]+)\}\}\{\{index \. (\d+)\}\}\{\{end\}\}/g, (_m, path: string, i: string) =>
      String((lookup(path) as unknown[] | undefined)?.[Number(i)] ?? ''),
    )
    .replace(/\{\{index (\.[\w.]+) "([^"]+)"\}\}/g, (_m, path: string, key: string) =>
      String((lookup(path) as Record<string, unknown>)[key]),
    )
    .replace(/\{\{(\.[\w.]+)\}\}/g, (_m, path: string) => String(lookup(path)))
    .replace(/\{\{[^}]*\}\}/g, (unknown) => {
      throw new Error(`the test's template renderer does not know ${unknown}`);
    });
}

describe('docs/deploy-events.md snippets', () => {
  it('the Rollout Requested JSON starts one rollout with the allow-listed override, and only once', async () => {
    const deps = startPath();
    const event = JSON.parse(snippet('rollout-requested'));

    const first = await handleStartEvent(event, deps);
    const again = await handleStartEvent(event, deps);

    expect(first.answers).toEqual([expect.objectContaining({ outcome: 'started', execution: 'podinfo-6-5-1' })]);
    expect(again.answers).toEqual([expect.objectContaining({ outcome: 'duplicate' })]);
    expect(deps.started).toHaveLength(1);
    expect(deps.started[0]?.input.spec.spec.strategy.stepWeights).toEqual([10, 50]);
  });

  it('the GitHub Actions job sends a Rollout Requested the OIDC role allows and the handler starts', async () => {
    const job = parseYaml(snippet('github-actions')) as {
      jobs: { canary: { permissions: Record<string, string>; steps: Array<{ env?: Record<string, string>; run?: string }> } };
    };
    const step = job.jobs.canary.steps.find((s) => s.env?.['DETAIL']);
    const github: Record<string, string> = { ref_name: '6.5.2', repository: 'acme/podinfo', run_id: '4242', repository_id: '99' };
    const detail = String(step?.env?.['DETAIL']).replace(/\$\{\{\s*github\.(\w+)\s*\}\}/g, (_m, key: string) => github[key] ?? `<${key}?>`);
    const deps = startPath();

    const result = await handleStartEvent(
      { id: 'evt-1', account: '111122223333', source: 'sluice', 'detail-type': 'Rollout Requested', detail: JSON.parse(detail) },
      deps,
    );

    expect(job.jobs.canary.permissions['id-token']).toBe('write');
    expect(step?.run).toContain(`Source: "${ROLLOUT_REQUESTED.source}", DetailType: "${ROLLOUT_REQUESTED.detailType}"`);
    expect(result.answers).toEqual([expect.objectContaining({ outcome: 'started', execution: 'podinfo-6-5-2' })]);
  });

  it('a Flux event delivered by the Provider and Alert shown is verified and starts one rollout', async () => {
    const docs = parseAllDocuments(snippet('flux')).map(
      (d) => d.toJS() as { kind: string; spec: Record<string, unknown>; stringData?: Record<string, string> },
    );
    const provider = docs.find((d) => d.kind === 'Provider')!;
    const alert = docs.find((d) => d.kind === 'Alert')!;
    expect(provider.spec).toMatchObject({ type: 'generic-hmac', secretRef: { name: 'sluice-webhook' } });
    const path = new URL(String(provider.spec['address']).replace(/<[^>]+>/g, 'placeholder')).pathname;
    // What notification-controller sends: the Event, with the Alert's eventMetadata merged into metadata.
    const body = JSON.stringify({
      involvedObject: { kind: 'Kustomization', namespace: 'flux-system', name: 'podinfo' },
      severity: 'info',
      timestamp: '2026-03-02T10:00:00Z',
      message: 'Deployment/default/podinfo configured',
      reason: 'ReconciliationSucceeded',
      metadata: {
        revision: 'main@sha1:5a7d3c9e1f0b2a4c6e8d0f1a3b5c7d9e0f2a4b6c',
        ...(alert.spec['eventMetadata'] as Record<string, string>),
      },
      reportingController: 'kustomize-controller',
    });
    const key = 'the-shared-token';
    const deps = startPath();

    const answer = await handleGitopsRequest(
      post(path, body, { 'x-signature': `sha256=${createHmac('sha256', key).update(body).digest('hex')}` }),
      { start: deps, secrets: async () => ({ flux: key }) },
    );

    expect(answer.statusCode).toBe(202);
    expect(JSON.parse(String(answer.body))).toMatchObject({ outcome: 'started', target: 'podinfo', version: '6.5.1' });
    expect(deps.started).toHaveLength(1);
  });

  it('the Argo CD template renders a body the handler accepts with the bearer header shown', async () => {
    const config = parseYaml(snippet('argocd')) as { data: Record<string, string> };
    const service = parseYaml(config.data['service.webhook.sluice'] ?? '') as {
      url: string;
      headers: Array<{ name: string; value: string }>;
    };
    const template = parseYaml(config.data['template.sluice-rollout'] ?? '') as {
      webhook: { sluice: { method: string; path: string; body: string } };
    };
    const trigger = parseYaml(config.data['trigger.on-sluice-deployed'] ?? '') as Array<{ send: string[]; oncePer: string }>;
    const token = 'argo-token';
    const app = {
      metadata: { name: 'podinfo', annotations: { 'sluice.dev/target': 'podinfo' } },
      status: {
        summary: { images: ['ghcr.io/stefanprodan/podinfo:6.5.3'] },
        operationState: { syncResult: { revision: '9d1e3b5c7a9f0e2d4c6b8a0f1e3d5c7b9a1f3e5d' } },
      },
    };
    const headers = Object.fromEntries(service.headers.map((h) => [h.name.toLowerCase(), h.value.replace('$sluice-token', token)]));
    const body = renderArgoTemplate(template.webhook.sluice.body, app);
    const deps = startPath();

    const answer = await handleGitopsRequest(post(template.webhook.sluice.path, body, headers), {
      start: deps,
      secrets: async () => ({ argocd: token }),
    });
    const again = await handleGitopsRequest(post(template.webhook.sluice.path, body, headers), {
      start: deps,
      secrets: async () => ({ argocd: token }),
    });

    expect(trigger[0]).toMatchObject({ send: ['sluice-rollout'], oncePer: 'app.status.operationState.syncResult.revision' });
    expect(template.webhook.sluice.method).toBe('POST');
    expect(answer.statusCode).toBe(202);
    expect(JSON.parse(String(answer.body))).toMatchObject({ outcome: 'started', execution: 'podinfo-6-5-3' });
    expect(JSON.parse(String(again.body))).toMatchObject({ outcome: 'duplicate' });
    expect(deps.started).toHaveLength(1);
  });

  it("the Argo CD Application ignores the group's weights and makes self-heal respect it", () => {
    const app = parseYaml(snippet('argocd-ignore-differences')) as {
      metadata: { annotations: Record<string, string> };
      spec: { ignoreDifferences: Array<Record<string, unknown>>; syncPolicy: { syncOptions: string[] } };
    };
    expect(app.spec.ignoreDifferences).toEqual([
      {
        group: 'gloo.solo.io',
        kind: 'UpstreamGroup',
        name: 'podinfo',
        namespace: 'gloo-system',
        jqPathExpressions: ['.spec.destinations[].weight'],
      },
    ]);
    expect(app.spec.syncPolicy.syncOptions).toContain('RespectIgnoreDifferences=true');
    expect(app.metadata.annotations['notifications.argoproj.io/subscribe.on-sluice-deployed.sluice']).toBe('');
  });
});
