import { describe, expect, it } from 'vitest';
import type { Verdict } from './verdict.ts';
import { afterGateTimeout, allOn, decideAfterLook, gateWaitSeconds, initialRun, maxHeldSeconds, splitWeights } from './rollout.ts';
import { MAX_DEADLINE_SECONDS } from './limits.ts';
import { parseSpec } from './spec.ts';
import type { RunState } from './task.ts';

const spec = parseSpec({
  apiVersion: 'sluice.dev/v1',
  kind: 'Rollout',
  metadata: { name: 'web' },
  spec: {
    cluster: { kubeconfigContext: 'kind' },
    router: {
      name: 'web',
      namespace: 'gloo-system',
      primary: { upstream: { name: 'web-primary', namespace: 'gloo-system' } },
      canary: { upstream: { name: 'web-canary', namespace: 'gloo-system' } },
    },
    strategy: { stepWeights: [10, 50], interval: '2s', lookInterval: '1s', threshold: 2, deadline: '10m' },
    analysis: { judge: 'threshold', prometheus: { address: 'http://127.0.0.1:9090' } },
  },
});

const verdict = (result: Verdict['result']): Verdict => ({ result, checks: [], summary: `verdict ${result}` });
const now = new Date('2026-11-27T10:00:00Z');
const look = (run: RunState, result: Verdict['result'], extra: Partial<Parameters<typeof decideAfterLook>[1]> = {}) =>
  decideAfterLook(run, { verdict: verdict(result), noData: 'fail', threshold: 2, now, ...extra });

describe('rollout decisions', () => {
  it('plans one look per interval for the threshold judge and a deadline from the spec', () => {
    const run = initialRun(spec, now);
    expect(run).toMatchObject({ stepIndex: 0, weights: [10, 50], bakeSeconds: 2, looksPerStep: 1, failedChecks: 0 });
    expect(run.deadlineAt).toBe('2026-11-27T10:10:00.000Z');
  });

  it('advances through every step on passing looks, then promotes', () => {
    const first = look(initialRun(spec, now), 'pass');
    expect(first).toMatchObject({ next: 'advance', stepIndex: 1 });
    expect(look(first, 'pass')).toMatchObject({ next: 'promote', stepIndex: 1 });
  });

  it('rolls back after exactly `threshold` failed checks, counted across steps, without advancing on a failure', () => {
    const once = look(initialRun(spec, now), 'fail');
    expect(once).toMatchObject({ next: 'bake', stepIndex: 0, failedChecks: 1 });
    const advanced = look(once, 'pass');
    expect(advanced).toMatchObject({ next: 'advance', failedChecks: 1 });
    const twice = look(advanced, 'fail');
    expect(twice).toMatchObject({ next: 'rollback', failedChecks: 2 });
    expect(twice.reason).toContain('analysis failed 2/2 checks: verdict fail');
  });

  it('treats no data per `noData`: fail counts, hold waits at the weight, pass advances', () => {
    const run = initialRun(spec, now);
    expect(look(run, 'no-data', { noData: 'fail' })).toMatchObject({ next: 'bake', failedChecks: 1 });
    expect(look(run, 'no-data', { noData: 'hold' })).toMatchObject({ next: 'bake', failedChecks: 0, stepIndex: 0 });
    expect(look(run, 'no-data', { noData: 'pass' })).toMatchObject({ next: 'advance', failedChecks: 0 });
  });

  it('rolls back once the deadline has passed', () => {
    const run = initialRun(spec, now);
    const late = look(run, 'pass', { now: new Date('2026-11-27T10:10:01Z') });
    expect(late).toMatchObject({ next: 'rollback' });
    expect(late.reason).toMatch(/deadline passed/);
  });

  it('promotes on request only when the look did not fail', () => {
    const run = initialRun(spec, now);
    expect(look(run, 'pass', { promoteNow: true })).toMatchObject({ next: 'promote' });
    expect(look(run, 'fail', { promoteNow: true })).toMatchObject({ next: 'bake' });
  });

  it('never plans a half-shifted resting state', () => {
    expect(splitWeights(5, 100)).toEqual({ primary: 95, canary: 5 });
    expect(allOn('canary', 1000)).toEqual({ primary: 0, canary: 1000 });
    expect(() => splitWeights(101, 100)).toThrow(/outside 0..100/);
  });
});

describe('approval gates and the deadline', () => {
  const gated = (onTimeout: 'abort' | 'hold', timeout = '4h') =>
    initialRun(
      parseSpec({
        ...spec,
        spec: { ...spec.spec, strategy: { ...spec.spec.strategy, approvals: { beforeStart: true, timeout, onTimeout } } },
      }),
      now,
    );
  const at = (seconds: number) => new Date(now.getTime() + seconds * 1000);

  it('waits at a gate for the approval timeout, cut at the deadline', () => {
    expect(gated('abort').approval?.waitSeconds).toBe(600);
    expect(gated('abort', '1m').approval?.waitSeconds).toBe(60);
    expect(gateWaitSeconds(gated('abort'), at(590))).toBe(10);
    expect(gateWaitSeconds(gated('abort'), at(900))).toBe(1);
  });

  it('the promotion gate after a look waits only for the deadline left then', () => {
    const run = { ...gated('hold'), stepIndex: 1 };
    expect(look(run, 'pass', { now: at(420) })).toMatchObject({ next: 'promote', approval: { waitSeconds: 180 } });
  });

  it('after a gate timed out: hold waits again within the deadline, abort aborts, at the deadline it is over', () => {
    expect(afterGateTimeout(gated('hold', '1m'), 'before-start', at(60)).approval).toMatchObject({ expired: 'wait', waitSeconds: 60 });
    expect(afterGateTimeout(gated('hold', '1m'), 'before-start', at(580)).approval).toMatchObject({ expired: 'wait', waitSeconds: 20 });
    expect(afterGateTimeout(gated('abort', '1m'), 'before-start', at(60)).approval?.expired).toBe('abort');
    const over = afterGateTimeout(gated('abort'), 'before-promotion', at(600));
    expect(over).toMatchObject({ next: 'rollback', approval: { expired: 'deadline' } });
    expect(over.reason).toMatch(
      /^deadline passed while waiting for approval \(the before-promotion gate; deadline 2026-11-27T10:10:00.000Z\)$/,
    );
  });

  it('never lets time held outside the change windows push the effective deadline past the state machine bound', () => {
    const slow = initialRun(
      parseSpec({
        ...spec,
        spec: { ...spec.spec, strategy: { ...spec.spec.strategy, interval: '10m', lookInterval: '10m', deadline: '20h' } },
      }),
      now,
    );
    expect(maxHeldSeconds(slow)).toBe(MAX_DEADLINE_SECONDS - 20 * 3600);
  });
});
