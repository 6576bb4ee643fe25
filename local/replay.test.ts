/**
 * `sluice replay` on recorded rollouts. The recordings are produced by the production code path —
 * the sequential judge behind its seam (start in Prepare, rebase in SetWeight, look in Analyze,
 * the flow's decision after each look) on seeded traffic at virtual time — and written as the
 * summary JSON the demo writes beside its report; the replay then reads that file.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ArmCounters, CounterSnapshot } from '../lambdas/core/counts.ts';
import { createSequentialJudge } from '../lambdas/core/judge-sequential.ts';
import { lookWord } from '../lambdas/core/look-word.ts';
import { initialRun, splitWeights } from '../lambdas/core/rollout.ts';
import { seededRandom } from '../lambdas/core/sequential/random.ts';
import { parseSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import { replayCommand } from './commands/replay.ts';
import type { ReportSummary } from './report/report-data.ts';
import { storePath } from './runtime.ts';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import type { Weights } from '../lambdas/core/records.ts';
import type { Verdict } from '../lambdas/core/verdict.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.parse('2026-12-01T10:00:00Z');

function demoLikeSpec(): RolloutSpec {
  return parseSpec({
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
      strategy: { stepWeights: [5, 10, 25, 50], interval: '5s', lookInterval: '1s', deadline: '5m' },
      analysis: {
        judge: 'sequential',
        noData: 'fail',
        prometheus: { address: 'http://prometheus.invalid' },
        metrics: [
          { name: 'request-success-rate', thresholdRange: { min: 99 } },
          { name: 'request-duration', thresholdRange: { max: 250 } },
        ],
      },
    },
  });
}

interface Traffic {
  rps: number;
  canaryErrorRate: number;
  primaryErrorRate: number;
  /** Share of requests over 250 ms, both arms. */
  slowRate: number;
  /** Seconds between scrapes: looks in between see no new sample. */
  scrapeSeconds: number;
  seed: number;
}

/** Cumulative Envoy-like counters of one scrape source, grown request by request. */
function counters(traffic: Traffic) {
  const rng = seededRandom(traffic.seed);
  const random = () => rng.next();
  const totals = { canary: { ok: 0, errors: 0, slow: 0 }, primary: { ok: 0, errors: 0, slow: 0 } };
  let scrapedAt = T0;
  let scraped = structuredClone(totals);
  const labels = { job: 'gateway', instance: '10.0.0.1:8081' };
  const arm = (side: 'canary' | 'primary'): ArmCounters => {
    const t = scraped[side];
    return {
      requests: [
        { labels: { ...labels, envoy_response_code: '200' }, value: t.ok, timestamp: scrapedAt },
        { labels: { ...labels, envoy_response_code: '503' }, value: t.errors, timestamp: scrapedAt },
      ],
      errors: [{ labels: { ...labels, envoy_response_code: '503' }, value: t.errors, timestamp: scrapedAt }],
      slow: { '250': [{ labels, value: t.slow, timestamp: scrapedAt }] },
    };
  };
  return {
    /** One second of traffic at this canary share; a scrape when one is due. */
    serve(second: number, canaryShare: number) {
      for (let i = 0; i < traffic.rps; i++) {
        const side = random() < canaryShare ? 'canary' : 'primary';
        const rate = side === 'canary' ? traffic.canaryErrorRate : traffic.primaryErrorRate;
        if (random() < rate) totals[side].errors += 1;
        else totals[side].ok += 1;
        if (random() < traffic.slowRate) totals[side].slow += 1;
      }
      if (second % traffic.scrapeSeconds === 0) {
        scraped = structuredClone(totals);
        scrapedAt = T0 + second * 1000;
      }
    },
    snapshot(now: number): CounterSnapshot {
      return {
        at: new Date(now).toISOString(),
        canary: arm('canary'),
        primary: arm('primary'),
        uptime: [{ labels, value: 1e6 + now / 1000 }],
      };
    },
  };
}

/**
 * A rollout recorded as the flow runs it: Prepare starts the judge, SetWeight rebases it (300 ms
 * after the look that advanced), Bake waits a look interval, Analyze looks and decides. Returns the
 * summary as the demo writes it (steps with their verdicts, evidence and counts; the spec).
 */
async function recordRollout(
  name: string,
  traffic: Traffic,
): Promise<{ path: string; summary: ReportSummary; looks: Array<{ at: string; stepIndex: number; weights: Weights; verdict: Verdict }> }> {
  const spec = demoLikeSpec();
  const source = counters(traffic);
  let now = T0;
  const memory = new Map<string, unknown>();
  const judge = createSequentialJudge(spec, {
    now: () => new Date(now),
    snapshotCounters: async () => source.snapshot(now),
    readMetrics: async () => [],
    store: {
      getAnalysisState: async (execution) => memory.get(execution) ?? null,
      putAnalysisState: async (execution, state) => void memory.set(execution, structuredClone(state)),
    },
  });
  const execution = `${name}-exec`;
  source.serve(0, 0);
  let run = (await judge.start(execution, initialRun(spec, new Date(now)))).run;
  now += 200;
  await judge.rebase(execution);
  const steps: ReportSummary['steps'] = [];
  const looks: Array<{ at: string; stepIndex: number; weights: Weights; verdict: Verdict }> = [];
  let second = 0;
  let outcome: ReportSummary['outcome'] = 'failed';
  let reason = '';
  for (let look = 0; look < 100; look++) {
    const share = (run.weights[run.stepIndex] ?? 0) / 100;
    second += 1;
    source.serve(second, share);
    now = T0 + second * 1000 + 50;
    const { verdict, next } = await judge.look(execution, run, { noData: 'fail', now: new Date(now) });
    looks.push({
      at: new Date(now + 20).toISOString(),
      stepIndex: run.stepIndex,
      weights: splitWeights(run.weights[run.stepIndex] ?? 0, 100),
      verdict,
    });
    steps.push({
      stepIndex: run.stepIndex,
      at: new Date(now + 20).toISOString(),
      weights: splitWeights(run.weights[run.stepIndex] ?? 0, 100),
      verdict: lookWord(verdict),
      summary: verdict.summary,
      evidence: verdict.checks,
      ...(verdict.evidence ? { judged: verdict.evidence } : {}),
    });
    if (next.next === 'rollback' || next.next === 'promote') {
      outcome = next.next === 'promote' ? 'promoted' : 'rolled-back';
      reason = next.reason ?? (next.next === 'promote' ? `promoted after ${run.weights.length} steps` : 'rolled back');
      break;
    }
    if (next.next === 'advance') {
      now += 300;
      await judge.rebase(execution);
    }
    run = next;
  }
  const summary: ReportSummary = {
    execution,
    target: 'web',
    version: 'v2',
    outcome,
    reason,
    exitCode: outcome === 'promoted' ? 0 : 3,
    weightScale: 100,
    steps,
    durationMs: now - T0,
    transitions: 0,
    startedAt: new Date(T0).toISOString(),
    plannedWeights: [5, 10, 25, 50],
    spec,
  };
  const path = join(dir, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(summary, null, 2)}\n`);
  return { path, summary, looks };
}

interface ReplayJson {
  outcome: string;
  reason: string;
  endOfData?: string;
  decisions: Array<{ look: number; stepIndex: number; decision: string; next: string }>;
  original: { outcome: string; reason: string; decisions: Array<{ look: number; stepIndex: number; decision: string; next: string }> };
  same: boolean;
  firstDifference: number | null;
  report: string;
}

async function replayJson(path: string, options: Parameters<typeof replayCommand>[1] = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await replayCommand(
    path,
    { json: true, out: join(dir, 'replay.html'), ...options },
    {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
    },
  );
  return { code, json: code === 0 ? (JSON.parse(out.join('')) as ReplayJson) : undefined, stderr: err.join('') };
}

const BAD: Traffic = { rps: 100, canaryErrorRate: 0.06, primaryErrorRate: 0.002, slowRate: 0.002, scrapeSeconds: 1, seed: 7 };
const HEALTHY: Traffic = { rps: 100, canaryErrorRate: 0.002, primaryErrorRate: 0.002, slowRate: 0.002, scrapeSeconds: 2, seed: 3 };

describe('sluice replay on a recorded rollout', () => {
  it('reproduces the recorded decisions exactly with the recording’s own settings', async () => {
    // Prepare: a bad canary rolled back, and a healthy one (scrapes every 2 s: every other look sees no new sample) promoted.
    const bad = await recordRollout('bad', BAD);
    const healthy = await recordRollout('healthy', HEALTHY);
    expect(bad.summary.outcome).toBe('rolled-back');
    expect(healthy.summary.outcome).toBe('promoted');
    expect(healthy.summary.steps.some((step) => step.judged?.decision === 'no-new-scrape')).toBe(true);

    // Act
    const badReplay = await replayJson(bad.path);
    const healthyReplay = await replayJson(healthy.path);

    // Assess: look by look the same decision and the same next action, the same outcome and reason.
    for (const [replayed, recorded] of [
      [badReplay, bad],
      [healthyReplay, healthy],
    ] as const) {
      expect(replayed.code, replayed.stderr).toBe(0);
      expect(replayed.json?.decisions).toEqual(replayed.json?.original.decisions);
      expect(replayed.json?.decisions).toHaveLength(recorded.summary.steps.length);
      expect(replayed.json?.same).toBe(true);
      expect(replayed.json?.outcome).toBe(recorded.summary.outcome);
      expect(replayed.json?.reason).toBe(recorded.summary.reason);
    }
    expect(healthyReplay.json?.decisions.map((d) => d.next)).toContain('advance');
  });

  it('rolls back earlier on the same data with --alpha 0.2, and prints where the decisions part', async () => {
    // Prepare
    const bad = await recordRollout('bad-alpha', BAD);
    const recordedLooks = bad.summary.steps.length;

    // Act
    const { code, json } = await replayJson(bad.path, { alpha: '0.2' });
    const text: string[] = [];
    await replayCommand(
      bad.path,
      { alpha: '0.2', out: join(dir, 'alpha.html') },
      { stdout: (t) => text.push(t), stderr: (t) => text.push(t) },
    );

    // Assess
    expect(code).toBe(0);
    expect(json?.outcome).toBe('rolled-back');
    expect(json?.decisions.length).toBeLessThan(recordedLooks);
    expect(json?.decisions.at(-1)).toMatchObject({ decision: 'fail', next: 'rollback' });
    expect(json?.reason).toMatch(/>= 5\.00/);
    expect(json?.firstDifference).toBe(json?.decisions.length);
    expect(text.join('')).toMatch(/the replay rolls back \d+\.\d s earlier/);
    expect(text.join('')).toMatch(/alpha 0\.2/);
    expect(readFileSync(join(dir, 'alpha.html'), 'utf8')).toContain('data-testid="evalue-chart"');
  });

  it('stops at the end of the recording when a variant would have gone on, and says so', async () => {
    // Prepare
    const bad = await recordRollout('bad-end', BAD);

    // Act: an alpha so small the variant would not have rolled back by the recording's last look.
    const { code, json } = await replayJson(bad.path, { alpha: '0.000001' });

    // Assess
    expect(code).toBe(0);
    expect(json?.outcome).toBe('undecided');
    expect(json?.endOfData).toMatch(new RegExp(`^no data beyond look ${bad.summary.steps.length}: the recorded rollout rolled-back there`));
    expect(json?.decisions.at(-1)?.next).toBe('stop');
  });

  it('re-decides with the threshold judge from the recorded counts, and with a longer look interval', async () => {
    // Prepare
    const bad = await recordRollout('bad-threshold', BAD);

    // Act
    const threshold = await replayJson(bad.path, { judge: 'threshold', threshold: '1' });
    const slower = await replayJson(bad.path, { lookInterval: '2s' });

    // Assess: one threshold look per 5-second interval (five recorded looks each), one failed check rolls back; looks of two recorded looks.
    expect(threshold.json?.outcome).toBe('rolled-back');
    expect(threshold.json?.decisions.length).toBeLessThanOrEqual(Math.floor(bad.summary.steps.length / 5));
    expect(threshold.json?.decisions.every((d) => ['pass', 'fail', 'no-data'].includes(d.decision))).toBe(true);
    expect(threshold.json?.reason).toMatch(/request-success-rate \d+\.\d+ < min 99/);
    expect(slower.json?.decisions.length).toBeLessThanOrEqual(Math.ceil(bad.summary.steps.length / 2));
  });

  it('reads the rollout from the local store, by its execution or its target, as Analyze recorded it', async () => {
    // Prepare: the looks written as Analyze writes them, the record as Prepare opens it and restore closes it.
    const bad = await recordRollout('bad-store', BAD);
    const state = join(dir, 'state');
    mkdirSync(state, { recursive: true });
    const store = openSqliteStore(storePath(state));
    const execution = bad.summary.execution;
    await store.createRollout({
      execution,
      target: 'web',
      version: 'v2',
      requestedBy: 'test',
      startedAt: new Date(T0).toISOString(),
      safeSide: 'primary',
      lastWeights: { primary: 100, canary: 0 },
      status: 'running',
      spec: bad.summary.spec,
    });
    for (const look of bad.looks) await store.appendStep({ execution, kind: 'analysis', ...look });
    await store.updateRollout(execution, { status: 'finished', outcome: 'rolled-back', reason: bad.summary.reason });
    await store.close();
    process.env.SLUICE_STATE_DIR = state;
    try {
      // Act
      const byExecution = await replayJson(execution);
      const byTarget = await replayJson('web');

      // Assess
      for (const replayed of [byExecution, byTarget]) {
        expect(replayed.code, replayed.stderr).toBe(0);
        expect(replayed.json?.same).toBe(true);
        expect(replayed.json?.decisions).toHaveLength(bad.summary.steps.length);
        expect(replayed.json?.outcome).toBe('rolled-back');
      }
    } finally {
      delete process.env.SLUICE_STATE_DIR;
    }
  });

  it('refuses bad input with exit 2 and a line naming the flag, writing nothing', async () => {
    // Prepare
    const bad = await recordRollout('bad-input', BAD);
    const noSpec = join(dir, 'no-spec.json');
    const { spec: _spec, ...withoutSpec } = JSON.parse(readFileSync(bad.path, 'utf8')) as Record<string, unknown>;
    writeFileSync(noSpec, JSON.stringify(withoutSpec));

    // Act / Assess
    const cases: Array<[string, Parameters<typeof replayCommand>[1], RegExp]> = [
      [bad.path, { alpha: '2' }, /^--alpha: expected a probability between 0 and 1/],
      [bad.path, { lookInterval: '1500ms' }, /^--look-interval: .*a multiple of 1s/],
      [bad.path, { max: ['request-duration=500'] }, /^--max: the recording counted requests over 250 ms only/],
      [bad.path, { min: ['nope=1'] }, /^--min: no metric "nope"/],
      [join(dir, 'missing.json'), {}, /^no such summary file/],
      [noSpec, {}, /carries no spec .*--spec FILE/],
    ];
    for (const [path, options, message] of cases) {
      const { code, stderr } = await replayJson(path, { ...options, out: join(dir, 'never.html') });
      expect(code, path).toBe(2);
      expect(stderr).toMatch(message);
    }
    const err: string[] = [];
    const io = { stdout: () => undefined, stderr: (t: string) => err.push(t) };
    await expect(replayCommand(undefined, { out: join(dir, 'never.html') }, io)).resolves.toBe(2);
    await expect(replayCommand(bad.path, { from: '2026-12-01T10:00:00Z', out: join(dir, 'never.html') }, io)).resolves.toBe(2);
    expect(err.join('')).toMatch(
      /^<execution\|summary\.json>: name a recorded rollout, or replay a window with --spec FILE --from T --to T\n--from\/--to: a window replay takes no execution/,
    );
    expect(() => readFileSync(join(dir, 'never.html'))).toThrow();
  });
});
