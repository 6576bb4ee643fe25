/**
 * The report of an A/B test or a blue/green rollout says who got what: the weights stay 100/0 through
 * the stage, so the weight chart alone would say nobody reached the new version.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../lambdas/adapters/store/sqlite.ts';
import type { RolloutStore } from '../../lambdas/core/ports.ts';
import { FIXTURE_START as START, at } from './fixtures.ts';
import { reportDataFromStore, reportDataFromSummary } from './report-data.ts';
import type { ReportSummary } from './report-data.ts';
import { renderReport } from './render.ts';

const AB_SPEC = {
  metadata: { name: 'podinfo' },
  spec: { strategy: { interval: '1m', iterations: 4, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] } },
};
const BLUE_GREEN_SPEC = {
  metadata: { name: 'podinfo' },
  spec: { strategy: { interval: '1m', iterations: 3, blueGreen: {}, shadow: { percentage: 50, duration: '2m' } } },
};

function abSummary(outcome: 'promoted' | 'rolled-back'): ReportSummary {
  return {
    execution: 'podinfo-v2-1',
    target: 'podinfo',
    version: 'v2',
    outcome,
    reason: outcome === 'promoted' ? 'promoted after 4 looks of the A/B stage' : 'analysis failed 2 times',
    exitCode: outcome === 'promoted' ? 0 : 3,
    weights: { primary: 100, canary: 0 },
    weightScale: 100,
    steps: [],
    requests: { total: 5000, canary: 1000, canaryErrors: 3 },
    durationMs: 60_000,
    transitions: 40,
    startedAt: at(0),
    spec: AB_SPEC,
  };
}

/** The cells of the "Who got what" table, row by row. */
function audienceRows(html: string): string[][] {
  const section = /<section class="card" aria-label="Who got what"[\s\S]*?<\/section>/.exec(html)?.[0];
  if (!section) throw new Error('no "Who got what" section in the report');
  return [...section.matchAll(/<tr><th scope="row">([^<]*)<\/th><td class="num">([^<]*)<\/td><td>([^<]*)<\/td><\/tr>/g)].map((m) =>
    m.slice(1).map((cell) => cell.replaceAll('&#34;', '"').replaceAll('&gt;', '>')),
  );
}

describe('the report of an A/B test', () => {
  it('says the match rule, who reached the canary and who the primary, and the requests each arm served', () => {
    // Act
    const html = renderReport(reportDataFromSummary(abSummary('promoted')));
    // Assess
    expect(html).toContain('<h2>Who got what: A/B testing</h2>');
    expect(audienceRows(html)).toEqual([
      ['A/B stage', '—', 'requests where header x-canary = "insider" → the canary (new version); everyone else → the primary, for 4 looks'],
      ['after promotion', '—', 'everyone → the new version (the primary runs it); the match route removed'],
    ]);
    expect(html).toMatch(
      /data-testid="audience-arms">Requests during the rollout: 1,000 to the canary \(new version\), 4,000 to the primary\./,
    );
  });

  it('after a rollback says everyone is back on the old version', () => {
    const html = renderReport(reportDataFromSummary(abSummary('rolled-back')));

    expect(audienceRows(html).at(-1)).toEqual([
      'after rolled-back',
      '—',
      'everyone → the primary (the old version); the match route removed',
    ]);
  });

  it('shows no such section for a weighted canary', () => {
    const html = renderReport(reportDataFromSummary({ ...abSummary('promoted'), spec: { spec: { strategy: { stepWeights: [10, 50] } } } }));

    expect(html).not.toContain('Who got what');
  });
});

describe('the report of a blue/green rollout, from the store', () => {
  let store: RolloutStore | undefined;
  afterEach(async () => {
    await store?.close();
  });

  async function recordBlueGreen(outcome: 'promoted' | 'rolled-back'): Promise<void> {
    store = openSqliteStore(':memory:');
    const execution = 'podinfo-bg-1';
    await store.createRollout({
      execution,
      target: 'podinfo',
      version: 'v2',
      requestedBy: 'alice',
      startedAt: at(0),
      safeSide: 'primary',
      lastWeights: { primary: 100, canary: 0 },
      status: 'running',
      spec: BLUE_GREEN_SPEC,
    });
    await store.appendStep({ execution, at: at(1), kind: 'note', detail: 'shadowing 50% of requests to the canary for 2m' });
    await store.appendStep({ execution, at: at(121), kind: 'weight', stepIndex: 0, weights: { primary: 100, canary: 0 } });
    if (outcome === 'promoted') {
      await store.appendStep({ execution, at: at(300), kind: 'weight', stepIndex: 0, weights: { primary: 0, canary: 100 } });
      await store.appendStep({ execution, at: at(330), kind: 'promotion', detail: 'switched', weights: { primary: 100, canary: 0 } });
    }
    await store.updateRollout(execution, {
      status: 'finished',
      outcome,
      reason: outcome,
      finishedAt: at(331),
      lastWeights: { primary: 100, canary: 0 },
    });
  }

  it('lists the mirror, the looks on green, the one switch and the move back to the promoted primary, with when each began', async () => {
    // Prepare
    await recordBlueGreen('promoted');
    // Act
    const data = await reportDataFromStore(store as RolloutStore, 'podinfo-bg-1');
    // Assess
    expect(data?.audience?.phases).toEqual([
      { name: 'mirror', who: '50% of live requests copied to green for 2m (its answers discarded); every user on blue' },
      { name: 'green judged', who: 'every user on blue; green judged on its own traffic (test or mirrored requests) for 3 looks' },
      { name: 'switch', who: 'everyone → green, in one switch of all traffic', atMs: 300_000 },
      { name: 'after promotion', who: "everyone → the primary, now running green's version", atMs: 330_000 },
    ]);
    expect(data?.startMs).toBe(START);
  });

  it('says no user reached green when it failed its looks before the switch', async () => {
    await recordBlueGreen('rolled-back');

    const data = await reportDataFromStore(store as RolloutStore, 'podinfo-bg-1');

    expect(data?.audience?.phases.map((p) => p.name)).toEqual(['mirror', 'green judged', 'after rolled-back']);
    expect(data?.audience?.phases.at(-1)?.who).toBe('every user stayed on blue: no user reached green');
  });
});
