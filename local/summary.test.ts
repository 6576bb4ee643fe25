/**
 * The summary and the console of a sequential rollout: looks the judge did not decide read
 * "continue", never "pass", and the console names each count by what was counted.
 */
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import { judgeLook } from '../lambdas/core/sequential/judge.ts';
import type { SequentialMetric, SequentialState } from '../lambdas/core/sequential/judge.ts';
import type { Verdict } from '../lambdas/core/verdict.ts';
import { formatEvent } from './progress.ts';
import { formatSummary, redactSpec, summarize } from './summary.ts';
import { validateSpec } from '../lambdas/core/spec.ts';

const ERRORS: SequentialMetric = { name: 'request-success-rate', kind: 'errors', thresholdRange: { min: 99 } };
const at = (s: number) => new Date(Date.parse('2026-03-12T10:00:00Z') + s * 1000).toISOString();

/** The real judge's verdicts for a canary failing 12% of 50 requests per look, until it fails. */
function verdicts(): Verdict[] {
  const out: Verdict[] = [];
  let state: SequentialState | null = null;
  for (let i = 0; i < 20; i++) {
    const counts = {
      canary: { requests: 50, errors: i === 0 ? 0 : 6, slow: {} },
      primary: { requests: 950, errors: 1, slow: {} },
      resets: 0,
      gaps: [],
    };
    const r = judgeLook(state, counts, { stepIndex: 0, lookInStep: i, secondsInStep: 5 * (i + 1), atTopWeight: false, metrics: [ERRORS] });
    state = r.state;
    out.push(r.verdict);
    if (r.decision === 'fail') break;
  }
  return out;
}

describe('a sequential rollout in the summary and the console', () => {
  it('counts undecided looks as "continue", not as passed', async () => {
    // Prepare: the looks as the Analyze handler records them.
    const store = openSqliteStore(':memory:');
    const looks = verdicts();
    expect(looks.at(-1)?.result).toBe('fail');
    expect(looks.slice(0, -1).every((v) => v.result === 'pass')).toBe(true);
    await store.createRollout({
      execution: 'podinfo-v2-1',
      target: 'podinfo',
      version: 'v2',
      requestedBy: 'alice',
      startedAt: at(0),
      safeSide: 'primary',
      lastWeights: { primary: 100, canary: 0 },
      status: 'running',
    });
    for (const [i, verdict] of looks.entries())
      await store.appendStep({
        execution: 'podinfo-v2-1',
        at: at(5 * (i + 1)),
        kind: 'analysis',
        stepIndex: 0,
        weights: { primary: 95, canary: 5 },
        verdict,
      });
    await store.updateRollout('podinfo-v2-1', {
      status: 'finished',
      outcome: 'rolled-back',
      reason: 'sequential judge: canary worse',
      finishedAt: at(60),
    });

    // Act
    const summary = await summarize({
      store,
      execution: {
        name: 'podinfo-v2-1',
        status: 'FAILED',
        startDate: new Date(at(0)),
        stopDate: new Date(at(60)),
        executionArn: 'x',
        stateMachineArn: 'y',
        $metadata: {},
      },
      target: 'podinfo',
      version: 'v2',
      weightScale: 100,
      transitions: 20,
    });

    // Assess
    expect(summary.steps.map((s) => s.verdict)).toEqual([...looks.slice(0, -1).map(() => 'continue'), 'fail']);
    expect(summary.steps.at(-1)?.judged).toMatchObject({ judge: 'sequential', decision: 'fail', failAt: 100, promoteAt: 20 });
    expect(formatSummary(summary)).toContain(`looks:       ${looks.length} (${looks.length - 1} continue, 1 fail)`);
    expect(formatSummary(summary)).not.toContain('passed');
  });

  it('prints each look with counts named by what was counted and its decision', () => {
    const [first] = verdicts();
    const line = formatEvent(
      {
        detailType: 'Analysis Completed',
        target: 'podinfo',
        version: 'v2',
        execution: 'podinfo-v2-1',
        sequence: 4,
        at: at(5),
        weights: { primary: 95, canary: 5 },
        verdict: first,
      },
      100,
    );
    expect(line).toContain('│ errors 0/50 vs 1/950 │ E ');
    expect(line).toMatch(/→ continue$/);
  });
});

describe('the spec a summary carries', () => {
  it('replaces inline secret values and keeps references, and stays a valid spec', () => {
    // Prepare: a spec with a bearer token, basic auth, secret headers and webhook URLs inline.
    const spec = {
      apiVersion: 'sluice.dev/v1',
      kind: 'Rollout',
      metadata: { name: 'web' },
      spec: {
        cluster: { kubeconfigContext: 'test' },
        router: {
          name: 'web',
          namespace: 'gloo-system',
          primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
          canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
        },
        strategy: { stepWeights: [10, 50], interval: '30s', lookInterval: '10s', deadline: '10m' },
        analysis: {
          judge: 'sequential',
          prometheus: { address: 'https://prom.example', bearerToken: 'tok-123', basicAuth: { username: 'u', password: 'pw-456' } },
          metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 } }],
          webhooks: [
            {
              name: 'gate',
              type: 'confirm-rollout',
              url: 'https://hooks.example/abc?key=s3cret',
              headers: { Authorization: 'Bearer h-789' },
            },
          ],
        },
        notifications: {
          webhooks: [{ url: 'https://hooks.slack.com/services/T/B/XYZ', headers: { 'X-Key': { secretRef: { env: 'KEY' } } } }],
        },
      },
    };

    // Act
    const redacted = redactSpec(spec);
    const text = JSON.stringify(redacted);

    // Assess
    for (const secret of ['tok-123', 'pw-456', 's3cret', 'h-789', 'XYZ']) expect(text).not.toContain(secret);
    expect(text).toContain('{"secretRef":{"env":"KEY"}}');
    expect(text).toContain('"username":"u"');
    const result = validateSpec(redacted);
    expect(result.ok, JSON.stringify(result)).toBe(true);
  });
});
