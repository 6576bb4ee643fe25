import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { plannedWeights, validateSpec } from '../lambdas/core/spec.ts';
import type { SpecProblem } from '../lambdas/core/spec.ts';
import { rolloutJsonSchema, SCHEMA_PATH } from '../scripts/json-schema.ts';

const example = () => parse(readFileSync(new URL('../examples/podinfo.yaml', import.meta.url), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function problemsOf(document: unknown): SpecProblem[] {
  const result = validateSpec(document);
  return result.ok ? [] : result.problems;
}

describe('rollout spec', () => {
  it('accepts the complete example and fills Flagger-compatible defaults', () => {
    // Prepare
    const document = example();
    delete document.spec.strategy.threshold;
    // Act
    const result = validateSpec(document);
    // Assess
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.spec.spec.strategy.threshold).toBe(5);
    expect(result.spec.spec.analysis.noData).toBe('fail');
    expect(plannedWeights(result.spec.spec.strategy)).toEqual([1, 5, 10, 25, 50]);
  });

  it('plans stepWeight/maxWeight like Flagger: step, 2×step, … up to maxWeight', () => {
    const document = example();
    delete document.spec.strategy.stepWeights;
    document.spec.strategy.stepWeight = 20;
    document.spec.strategy.maxWeight = 60;
    const result = validateSpec(document);
    expect(result.ok && plannedWeights(result.spec.spec.strategy)).toEqual([20, 40, 60]);
  });

  it('reports every problem with its field path, shape and cross-field rules together', () => {
    const document = example();
    document.metadata.name = 'Not_A_Name';
    document.spec.router.canary.upstream = { ...document.spec.router.primary.upstream };
    document.spec.strategy.stepWeights = [5, 1, 150];
    document.spec.strategy.lookInterval = '5m';
    const problems = problemsOf(document);
    expect(problems.map((p) => p.path)).toEqual([
      'metadata.name',
      'spec.router.canary.upstream',
      'spec.strategy.stepWeights[1]',
      'spec.strategy.stepWeights[2]',
      'spec.strategy.lookInterval',
    ]);
    expect(problems[3]?.message).toContain('weight scale 100');
  });

  it('names the field and what was expected for wrong types and unknown fields', () => {
    const document = example();
    document.spec.strategy.interval = 'soon';
    document.spec.strategy.colour = 'blue';
    const problems = problemsOf(document);
    expect(problems).toContainEqual({ path: 'spec.strategy.interval', message: 'expected a duration such as 30s, 5m or 1h' });
    expect(problems.some((p) => p.path === 'spec.strategy' && p.message.includes('colour'))).toBe(true);
  });

  it('refuses a max weight the step cannot reach, and per-mille weights above 1000', () => {
    const document = example();
    delete document.spec.strategy.stepWeights;
    Object.assign(document.spec.strategy, { stepWeight: 15, maxWeight: 50 });
    expect(problemsOf(document)).toContainEqual({
      path: 'spec.strategy.maxWeight',
      message: 'is not reachable by steps of 15: expected a multiple of stepWeight',
    });
    const perMille = example();
    perMille.spec.router.weightScale = 1000;
    perMille.spec.strategy.stepWeights = [1, 10, 100, 500, 1200];
    expect(problemsOf(perMille).map((p) => p.path)).toEqual(['spec.strategy.stepWeights[4]']);
  });

  it('keeps a look interval / deadline pair far below the 25,000-event history limit', () => {
    const document = example();
    Object.assign(document.spec.strategy, { interval: '1s', lookInterval: '1s', deadline: '24h' });
    const problems = problemsOf(document);
    expect(problems.map((p) => p.path)).toEqual(['spec.strategy.deadline']);
    expect(problems[0]?.message).toMatch(/86400 looks/);
  });

  it("refuses a spec that could outlive the state machine's TimeoutSeconds: a deadline past 24h, a readyTimeout past 1h", () => {
    const longDeadline = example();
    Object.assign(longDeadline.spec.strategy, { interval: '10m', lookInterval: '10m', deadline: '30h' });
    expect(problemsOf(longDeadline)).toEqual([
      {
        path: 'spec.strategy.deadline',
        message: expect.stringMatching(/must be at most 24h: the state machine stops every execution after 33h/),
      },
    ]);

    const longReady = example();
    longReady.spec.workload.readyTimeout = '2h';
    expect(problemsOf(longReady)).toEqual([{ path: 'spec.workload.readyTimeout', message: expect.stringMatching(/must be at most 60m/) }]);

    const atTheBounds = example();
    Object.assign(atTheBounds.spec.strategy, { interval: '10m', lookInterval: '10m', deadline: '24h' });
    atTheBounds.spec.workload.readyTimeout = '1h';
    expect(problemsOf(atTheBounds)).toEqual([]);
  });

  it('accepts a progressive promotion (stepWeightPromotion) with a template to promote, and budgets its looks', () => {
    const document = example();
    document.spec.strategy.stepWeightPromotion = 10;
    expect(problemsOf(document)).toEqual([]);

    // Route mode: the canary upstream takes all traffic in one switch; there is no promoted primary to step back to.
    const routeMode = example();
    routeMode.spec.strategy.stepWeightPromotion = 10;
    delete routeMode.spec.workload;
    routeMode.spec.promotion = 'route';
    expect(problemsOf(routeMode)).toEqual([
      { path: 'spec.strategy.stepWeightPromotion', message: expect.stringContaining('needs template promotion (spec.workload)') },
    ]);

    // 750 looks fit the history alone; 53 promotion looks at steps of 1 (49 splits + 4 re-looks) do not fit beside them.
    const long = example();
    Object.assign(long.spec.strategy, { interval: '1m', deadline: '750m' });
    expect(problemsOf(long)).toEqual([]);
    long.spec.strategy.stepWeightPromotion = 1;
    expect(problemsOf(long)).toEqual([
      {
        path: 'spec.strategy.deadline',
        message: expect.stringMatching(/allows 750 looks and 53 promotion looks \(stepWeightPromotion 1\)/),
      },
    ]);
  });

  it('accepts Flagger-style analysis webhooks with their defaults (they are built)', () => {
    const document = example();
    document.spec.analysis.webhooks = [{ name: 'load', url: 'http://loadtester/' }];
    const result = validateSpec(document);
    expect(result.ok && result.spec.spec.analysis.webhooks).toEqual([
      { name: 'load', type: 'rollout', url: 'http://loadtester/', timeout: '10s', metadata: {} },
    ]);
  });

  it('accepts a chat-ops access policy and Slack and webhook notifications (they are built)', () => {
    const document = example() as ReturnType<typeof example> & { spec: Record<string, unknown> };
    document.spec.notifications = { slack: { channel: 'C0123456789' }, webhooks: [{ url: 'https://example.com/hook' }] };
    document.spec.access = { channels: ['C0123456789'], start: ['S0PLATFORM'], abort: ['U0ONCALL'], twoPersonRule: true };
    expect(problemsOf(document)).toEqual([]);
  });

  it('accepts every metric provider with the fields it needs (they are built)', () => {
    const document = example();
    document.spec.analysis.metrics.push(
      {
        name: 'latency-cw',
        provider: { type: 'cloudwatch', region: 'us-east-1' },
        metricDataQueries: [{ Id: 'm', Expression: 'x' }],
        thresholdRange: { max: 1 },
      },
      { name: 'alarms', provider: { type: 'cloudwatch-alarm' }, alarms: ['arn:aws:cloudwatch:us-east-1:123456789012:alarm:podinfo-5xx'] },
      {
        name: 'score',
        provider: { type: 'web', url: 'http://scores/{{target}}', jsonPath: '$.score', headers: { Authorization: 'Bearer x' } },
        thresholdRange: { min: 1 },
      },
      {
        name: 'amp-rate',
        provider: { type: 'amp', workspaceUrl: 'https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1' },
        query: 'up',
        thresholdRange: { min: 1 },
      },
    );
    expect(problemsOf(document)).toEqual([]);
  });

  it('names what a non-Prometheus metric is missing, and fields meant for another provider', () => {
    const document = example();
    document.spec.analysis.metrics = [
      { name: 'cw', provider: { type: 'cloudwatch', period: '45s' } },
      { name: 'alarms', provider: { type: 'cloudwatch-alarm' }, metricDataQueries: [{ Id: 'm' }] },
      { name: 'web', provider: { type: 'web', url: 'http://x/', jsonPath: '$.v' }, alarms: ['a'] },
    ];
    expect(problemsOf(document)).toEqual([
      {
        path: 'spec.analysis.metrics[0].metricDataQueries',
        message: 'is required for a CloudWatch metric: GetMetricData queries, exactly one with ReturnData',
      },
      { path: 'spec.analysis.metrics[0].thresholdRange', message: 'is required for a CloudWatch metric' },
      { path: 'spec.analysis.metrics[0].provider.period', message: 'expected 1s, 5s, 10s, 30s or whole minutes (CloudWatch periods)' },
      { path: 'spec.analysis.metrics[1].metricDataQueries', message: 'is only for a cloudwatch provider, not cloudwatch-alarm' },
      { path: 'spec.analysis.metrics[1].alarms', message: 'is required for a cloudwatch-alarm metric: alarm names or ARNs' },
      { path: 'spec.analysis.metrics[2].alarms', message: 'is only for a cloudwatch-alarm provider, not web' },
      { path: 'spec.analysis.metrics[2].thresholdRange', message: 'is required for a web metric' },
    ]);
  });

  it('accepts deploy-event triggers (ECR, an override allow-list) and refuses a malformed override path', () => {
    const document = example() as ReturnType<typeof example> & { spec: Record<string, unknown> };
    document.spec.triggers = { ecr: { repository: 'podinfo', tagPattern: '^v\\d+' }, overrides: ['strategy.stepWeights'] };
    expect(problemsOf(document)).toEqual([]);
    document.spec.triggers = { overrides: ['spec.strategy[0]'] };
    expect(problemsOf(document)).toEqual([
      { path: 'spec.triggers.overrides[0]', message: 'expected a field path below spec, such as strategy.stepWeights' },
    ]);
  });

  it('requires a query and a Prometheus address for custom metrics', () => {
    const document = example();
    delete document.spec.analysis.prometheus;
    document.spec.analysis.metrics = [{ name: 'my-metric', thresholdRange: { max: 1 } }];
    expect(problemsOf(document)).toEqual([
      {
        path: 'spec.analysis.metrics[0].query',
        message: 'is required: "my-metric" is not a built-in metric (request-success-rate, request-duration)',
      },
      { path: 'spec.analysis.metrics[0].provider.address', message: 'is required unless spec.analysis.prometheus names a server' },
    ]);
  });

  it('publishes a JSON Schema that matches the zod schema (run `npm run schema` when this fails)', () => {
    expect(readFileSync(SCHEMA_PATH, 'utf8')).toBe(rolloutJsonSchema());
  });
});
