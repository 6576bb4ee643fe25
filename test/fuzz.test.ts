/**
 * Fuzzing the edges with fast-check, 200 cases each: specs, start events, Flux
 * and Argo CD bodies, Slack form bodies and interaction payloads of any JSON shape (null, arrays,
 * numbers). The property everywhere: no crash; nothing changed (no ledger entry, no execution,
 * no Slack action); a refusal names the field it is about.
 */
import { createHmac } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateSpec } from '../lambdas/core/spec.ts';
import { handleGitopsRequest } from '../lambdas/handlers/gitops-webhook.ts';
import { respond } from '../lambdas/handlers/slack.ts';
import type { SlackHandlerDeps } from '../lambdas/handlers/slack.ts';
import { handleStartEvent } from '../lambdas/handlers/start.ts';
import type { StartPathDeps } from '../lambdas/adapters/control/start-path.ts';
import { parseSlackBody } from '../lambdas/adapters/slack/verify.ts';

const RUNS = { numRuns: 200 };

/** A valid spec to mutate: every field is then one path away from a bad value. */
const BASE = {
  apiVersion: 'sluice.dev/v1',
  kind: 'Rollout',
  metadata: { name: 'web' },
  spec: {
    cluster: { name: 'prod-eks', region: 'us-east-1' },
    router: {
      name: 'web',
      namespace: 'gloo-system',
      primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
      canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
    },
    workload: { namespace: 'default', primary: 'web-primary', canary: 'web' },
    strategy: { stepWeights: [10, 50], interval: '1m', threshold: 2 },
    analysis: {
      judge: 'threshold',
      prometheus: { address: 'https://prometheus.example.com' },
      metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 } }],
      webhooks: [{ name: 'load', url: 'https://hooks.example.com/x' }],
    },
  },
};

/** Every path to a leaf or object in BASE, as key lists. */
function paths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (typeof value !== 'object' || value === null) return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => paths(v, [...prefix, k]))];
}
const SPEC_PATHS = paths(BASE).filter((p) => p.length > 0);

function setAt(root: unknown, path: Array<string | number>, value: unknown): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path.at(-1)!] = value;
  return copy;
}

/** "spec.strategy.stepWeights[1]" for ['spec', 'strategy', 'stepWeights', 1]. */
const dotted = (path: Array<string | number>) =>
  path
    .map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`))
    .join('')
    .replace(/^\./, '');

/** Deps whose every use is recorded: the property "nothing changed" is that none was written. */
function recordingStartDeps(): { deps: StartPathDeps; writes: string[] } {
  const writes: string[] = [];
  const store = new Proxy({}, { get: (_t, name) => async () => void writes.push(`store.${String(name)}`) });
  const deps = {
    store,
    sfn: { send: async () => void writes.push('sfn.send') },
    stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:sluice',
    registry: { get: async () => null, targetsForRepository: async () => [] },
    now: () => new Date('2026-12-07T00:00:00Z'),
  } as unknown as StartPathDeps;
  return { deps, writes };
}

describe('fuzzing (fast-check, 200 cases each)', () => {
  it('specs of any JSON shape: validateSpec never throws; an invalid one lists problems, each naming a field', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (document) => {
        const result = validateSpec(document);
        if (!result.ok) {
          expect(result.problems.length).toBeGreaterThan(0);
          for (const p of result.problems) {
            expect(typeof p.path === 'string' && p.path.length > 0).toBe(true);
            expect(p.message.length).toBeGreaterThan(0);
          }
        }
      }),
      RUNS,
    );
  });

  it('a valid spec with one field replaced by anything: no throw, and a refusal names that field or one inside it', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SPEC_PATHS), fc.jsonValue(), (path, value) => {
        const result = validateSpec(setAt(BASE, path, value));
        if (result.ok) return;
        const field = dotted(path);
        // The field itself, something inside it, or (for a container replaced wholesale) its parent's rules.
        const parent = dotted(path.slice(0, -1));
        expect(
          result.problems.some(
            (p) =>
              p.path.startsWith(field) || p.path === '(root)' || (parent !== '' && p.path.startsWith(parent)) || field.startsWith(p.path),
          ),
        ).toBe(true);
      }),
      RUNS,
    );
  });

  it('start events of any shape: a clear error naming the field, or a refusal; never a crash, nothing recorded or started', async () => {
    const event = fc.oneof(
      fc.jsonValue(),
      fc.record({
        source: fc.constantFrom('sluice', 'aws.ecr'),
        'detail-type': fc.constantFrom('Rollout Requested', 'ECR Image Action'),
        detail: fc.jsonValue(),
      }),
      fc.record({
        source: fc.constant('sluice'),
        'detail-type': fc.constant('Rollout Requested'),
        detail: fc.record({ target: fc.string(), version: fc.string({ maxLength: 400 }) }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(event, async (e) => {
        const { deps, writes } = recordingStartDeps();
        try {
          const result = await handleStartEvent(e, deps);
          for (const answer of result.answers) expect(answer.outcome).toBe('refused');
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          expect((error as Error).name).toBe('Error');
          expect((error as Error).message).toMatch(/^not a start event .*: /);
        }
        expect(writes).toEqual([]);
      }),
      RUNS,
    );
  });

  const FLUX_KEY = 'flux-key-0123456789';
  const ARGO_TOKEN = 'argo-token-0123456789';
  const webhook = (path: string, body: string, headers: Record<string, string>) =>
    ({
      version: '2.0',
      routeKey: '$default',
      rawPath: path,
      rawQueryString: '',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      isBase64Encoded: false,
      requestContext: { http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'fuzz' } },
    }) as unknown as APIGatewayProxyEventV2;

  it('Flux and Argo CD bodies of any shape (signed): 400 or 200-ignored naming the field; never 202, never a crash, nothing recorded', async () => {
    const body = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string(),
      fc
        .record({ target: fc.string(), version: fc.string({ maxLength: 600 }), revision: fc.string({ minLength: 1 }) })
        .map((v) => JSON.stringify(v)),
      fc
        .record({
          involvedObject: fc.record({ kind: fc.constant('Kustomization'), name: fc.string({ minLength: 1 }) }),
          severity: fc.constant('info'),
          reason: fc.constant('ReconciliationSucceeded'),
          message: fc.string(),
          metadata: fc.record({ target: fc.string(), revision: fc.string({ minLength: 1 }), version: fc.string({ maxLength: 600 }) }),
        })
        .map((v) => JSON.stringify(v)),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('flux', 'argocd'), body, async (kind, text) => {
        const { deps, writes } = recordingStartDeps();
        const headers: Record<string, string> =
          kind === 'flux'
            ? { 'x-signature': `sha256=${createHmac('sha256', FLUX_KEY).update(text).digest('hex')}` }
            : { authorization: `Bearer ${ARGO_TOKEN}` };
        const answer = await handleGitopsRequest(webhook(`/${kind}`, text, headers), {
          start: deps,
          secrets: async () => ({ flux: FLUX_KEY, argocd: ARGO_TOKEN }),
        });
        expect([200, 400]).toContain(answer.statusCode);
        const parsed = JSON.parse(String(answer.body)) as { error?: string; outcome?: string; reason?: string };
        if (answer.statusCode === 400) expect(parsed.error?.length ?? 0).toBeGreaterThan(0);
        else expect(['ignored', 'refused']).toContain(parsed.outcome);
        // A refusal at the start path happens before anything is recorded; a 500-character version never gets that far.
        expect(writes).toEqual([]);
      }),
      RUNS,
    );
  });

  it('Slack form bodies and interaction payloads of any JSON shape (payload=null, arrays, numbers): a 400, never a crash, no action taken', async () => {
    const acked: string[] = [];
    const ack = new Proxy({}, { get: (_t, name) => async () => void acked.push(String(name)) });
    const deps = { ack, signingSecret: 's', afterAck: async () => void acked.push('afterAck') } as unknown as SlackHandlerDeps;
    const body = fc.oneof(
      fc.jsonValue().map((v) => new URLSearchParams({ payload: JSON.stringify(v) }).toString()),
      fc.constantFrom('payload=null', 'payload=[]', 'payload=5', 'payload="x"', 'payload=true', 'payload={}'),
      fc
        .dictionary(fc.constantFrom('team_id', 'command', 'text', 'payload', 'x'), fc.string())
        .map((d) => new URLSearchParams(d).toString()),
      fc.string(),
    );
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const parsed = parseSlackBody(text);
        if (parsed.ok) return; // a well-formed request is the Slack flow tests' business
        const answer = await respond(deps, text);
        expect(answer.statusCode).toBe(400);
        expect(String(answer.body).length).toBeGreaterThan(0);
        expect(acked).toEqual([]);
      }),
      RUNS,
    );
    expect(parseSlackBody('payload=null')).toEqual({ ok: false, reason: 'interaction payload is not a JSON object' });
  });
});
