/**
 * `sluice demo`: a whole canary release on one machine. The sandbox (Kubernetes API stand-in with
 * Gloo's objects, two app processes, a weighted gateway exporting Envoy's metrics, a load
 * generator, real Prometheus) plus the local engine running statemachine/rollout.asl.json with
 * the real handlers and the Gloo router. Prints each look live, then the summary and the report.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SluiceEvent, Weights } from '../../lambdas/core/records.ts';
import { abortRollout } from '../../lambdas/adapters/control/interrupt.ts';
import { EXIT } from '../exit-codes.ts';
import type { Scenario } from './demo-scenarios.ts';
import { bakeSeconds, parseSpec } from '../../lambdas/core/spec.ts';
import { formatEvent, weightBar } from '../progress.ts';
import { renderReport } from '../report/render.ts';
import { describeStickyUsers, reportDataFromSummary } from '../report/report-data.ts';
import type { ReportSummary, TimelineSample } from '../report/report-data.ts';
import { startLocalRuntime, stateDir } from '../runtime.ts';
import type { LocalRuntime } from '../runtime.ts';
import { DEMO_TRAFFIC, SANDBOX_NAMES, startSandbox } from '../sandbox/sandbox.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { formatSummary } from '../summary.ts';
import { startRollout } from './run.ts';

export interface DemoOptions {
  scenario: Scenario;
  /** Fraction (0..1) of the canary's requests that fail; default by scenario (errors: 0.1). */
  canaryErrorRate?: number;
  /** Latency added to the canary's answers; default by scenario (latency: 300 ms). */
  canaryLatencyMs?: number;
  rps?: number;
  /** Seconds per step (and per look). */
  interval?: number;
  judge?: 'threshold' | 'sequential';
  seed?: number;
  json?: boolean;
  /** Prometheus must be there (tests); by default its absence falls back to the gateway's counters. */
  prometheus?: 'required' | 'optional';
  /** Where the store, the reports and the engine's state file go (default `.sluice`). */
  dir?: string;
  /** Called once the sandbox runs (tests inject API faults through its stand-in). */
  onSandbox?: (sandbox: Sandbox) => void;
  /** The sandbox Prometheus' scrape interval (s): lookInterval becomes it, the step interval twice it. */
  scrapeInterval?: number;
  /** Seconds after the rollout starts at which the gateway is replaced (new instance, fresh counters). */
  restartGatewayAt?: number;
  /** Progressive promotion: traffic steps back to the promoted primary this much per interval (spec.strategy.stepWeightPromotion). */
  stepWeightPromotion?: number;
  /** Tests: the ASL's Wait states shortened, ms by state (WaitForCanary and WaitForPrimary wait 10 s between readiness checks). Default: the ASL's. */
  waitTimeOverrides?: Record<string, number>;
}

export interface DemoIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export type DemoSummary = ReportSummary & {
  scenario: Scenario;
  /** The judge that decided the rollout, and how often it looked (s). */
  judge: 'threshold' | 'sequential';
  lookIntervalSeconds: number;
  seed: number;
  reportPath: string;
  metricsSource: 'prometheus' | 'direct';
  /** Prometheus' scrape interval in the sandbox (s); 0 when the gateway was read directly. */
  scrapeIntervalSeconds: number;
  /** The gateway replacement, when --restart-gateway-at asked for one. */
  gatewayRestart?: { requestedAtSeconds: number; at?: string; instance?: string; error?: string };
};

/** The fault each scenario injects into the canary. */
function scenarioFaults(options: DemoOptions): { canaryErrorRate: number; canaryLatencyMs: number } {
  return {
    canaryErrorRate: options.canaryErrorRate ?? (options.scenario === 'errors' ? 0.1 : 0),
    canaryLatencyMs: options.canaryLatencyMs ?? (options.scenario === 'latency' ? 300 : 0),
  };
}

function pct(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined ? '  —  ' : `${value.toFixed(digits)}%`;
}

function ms(value: number | null | undefined): string {
  return value === null || value === undefined ? '  —  ' : `${Math.round(value)} ms`;
}

/** One line per look: step, weight bar, canary vs primary success rate and p99, verdict so far. */
export function lookLine(event: SluiceEvent, step: { index: number; of: number }, scale: number): string {
  const checks = event.verdict?.checks ?? [];
  const success = checks.find((c) => c.name === 'request-success-rate');
  const p99 = checks.find((c) => c.name === 'request-duration');
  const weights: Weights = event.weights ?? { primary: scale, canary: 0 };
  const verdict = event.verdict?.result ?? '?';
  const mark = verdict === 'pass' ? '✓' : verdict === 'fail' ? '✗' : '?';
  const parts = [
    `${event.at.slice(11, 19)} ${step.of ? `step ${step.index}/${step.of}` : 'stage'} ${weightBar(weights, scale)} ${String(Math.round((weights.canary * 100) / scale)).padStart(3)}%`,
    `success canary ${pct(success?.value)} primary ${pct(success?.primary)}`,
    `p99 canary ${ms(p99?.value)} primary ${ms(p99?.primary)}`,
    `${mark} ${verdict}${event.reason ? ` — ${event.reason}` : ''}`,
  ];
  return parts.join(' │ ');
}

/** The group's weights as the gateway follows them (100/0 before it has seen the group). */
function currentWeights(sandbox: Sandbox): Weights {
  const byUpstream = sandbox.gateway.weights() ?? {};
  const { upstreams } = SANDBOX_NAMES;
  return { primary: byUpstream[upstreams.primary] ?? 100, canary: byUpstream[upstreams.canary] ?? 0 };
}

/** Samples what the gateway served each second, for the report's timeline. */
function startSampling(sandbox: Sandbox): { stop: () => TimelineSample[] } {
  const samples: TimelineSample[] = [];
  const { upstreams } = SANDBOX_NAMES;
  const timer = setInterval(() => {
    const canary = sandbox.gateway.window(upstreams.canary, 1);
    const primary = sandbox.gateway.window(upstreams.primary, 1);
    samples.push({
      at: new Date().toISOString(),
      weights: currentWeights(sandbox),
      canary: { requests: canary.requests, errors: canary.errors, p99Ms: canary.p99Ms },
      primary: { requests: primary.requests, errors: primary.errors, p99Ms: primary.p99Ms },
    });
  }, 1000);
  return {
    stop: () => {
      clearInterval(timer);
      return samples;
    },
  };
}

export async function runDemo(options: DemoOptions, io: DemoIo): Promise<{ code: number; summary?: DemoSummary }> {
  const say = (line: string) => (options.json ? io.stderr : io.stdout)(`${line}\n`);
  const faults = scenarioFaults(options);
  say(
    `sluice demo — scenario ${options.scenario}: canary errors ${(faults.canaryErrorRate * 100).toFixed(1)}%, added latency ${faults.canaryLatencyMs} ms`,
  );
  say('starting the sandbox: Kubernetes API stand-in with Gloo objects, two app versions, a weighted gateway, load, Prometheus…');
  const sandbox = await startSandbox({
    ...faults,
    ...(options.rps !== undefined ? { rps: options.rps } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    // With a scrape interval S the steps are 2S long (two looks of S each): a look between scrapes sees nothing new.
    ...(options.scrapeInterval !== undefined
      ? { interval: `${2 * options.scrapeInterval}s`, scrapeIntervalSeconds: options.scrapeInterval }
      : options.interval !== undefined
        ? { interval: `${options.interval}s` }
        : {}),
    shadow: options.scenario === 'shadow',
    ...(options.scenario === 'ab' || options.scenario === 'blue-green' || options.scenario === 'affinity'
      ? { strategy: options.scenario }
      : {}),
    prometheus: options.prometheus ?? 'optional',
    signals: 'ignore',
  });
  if (sandbox.notice) say(sandbox.notice);
  if (options.scenario === 'ab')
    say(
      `A/B: ${DEMO_TRAFFIC.ab.share * 100}% of requests carry ${DEMO_TRAFFIC.ab.header}: ${DEMO_TRAFFIC.ab.value}; those go to the canary, all others to the primary, for ${sandbox.spec.spec.strategy.iterations} looks`,
    );
  if (options.scenario === 'blue-green')
    say(
      `blue/green: users stay on blue; ${DEMO_TRAFFIC.blueGreen.share * 100}% of requests are test traffic (${DEMO_TRAFFIC.blueGreen.header}: ${DEMO_TRAFFIC.blueGreen.value}) to green for ${sandbox.spec.spec.strategy.iterations} looks, then one switch`,
    );
  if (options.scenario === 'affinity')
    say(
      `session affinity: ${Math.round((options.rps ?? 100) * DEMO_TRAFFIC.affinity.usersPerRps)} simulated users, each with its own cookies; the canary's answers set ${DEMO_TRAFFIC.affinity.cookieName}, and its holders stay on the canary (judged by thresholds: sticky users are not a per-request random split)`,
    );
  options.onSandbox?.(sandbox);
  const dir = options.dir ?? stateDir();
  const judge = options.judge ?? sandbox.spec.spec.analysis.judge;
  // The sequential judge looks every second (its evidence is the requests themselves), or once per
  // scrape with --scrape-interval; the threshold judge once per interval. Without Prometheus it
  // reads the gateway's counters directly (direct-metrics.ts), as Prometheus would scrape them.
  const lookInterval = options.scrapeInterval !== undefined ? `${options.scrapeInterval}s` : '1s';
  const spec = parseSpec({
    ...sandbox.spec,
    spec: {
      ...sandbox.spec.spec,
      strategy: {
        ...sandbox.spec.spec.strategy,
        ...(judge === 'sequential' || options.scrapeInterval !== undefined ? { lookInterval } : {}),
        ...(options.stepWeightPromotion !== undefined ? { stepWeightPromotion: options.stepWeightPromotion } : {}),
      },
      analysis: { ...sandbox.spec.spec.analysis, judge },
    },
  });
  if (options.scrapeInterval !== undefined) {
    say(
      `Prometheus scrapes every ${options.scrapeInterval}s: lookInterval raised to ${spec.spec.strategy.lookInterval}, interval to ${spec.spec.strategy.interval}`,
    );
  }
  const scale = spec.spec.router.weightScale;
  const steps = spec.spec.strategy.stepWeights ?? [];
  let step = { index: 0, of: steps.length };
  let weightChanges = 0;
  let runtime: LocalRuntime | undefined;
  let interrupted = false;

  const abort = (by: string, reason: string) => {
    if (!runtime) return;
    void abortRollout({ store: runtime.deps.store, sfn: runtime.sfn, target: spec.metadata.name, by, reason }).catch((error: unknown) =>
      io.stderr(`abort failed: ${String(error)}\n`),
    );
  };
  const onEvent = (event: SluiceEvent) => {
    if (event.detailType === 'Weight Changed') {
      weightChanges += 1;
      step = { index: Math.min(weightChanges, steps.length), of: steps.length };
      // The abort scenario: a person stops the rollout mid-bake, through the Step Functions API.
      if (options.scenario === 'abort' && weightChanges === 2)
        setTimeout(() => abort('demo', 'the abort scenario stopped it mid-bake'), 1500);
    }
    const line =
      event.detailType === 'Analysis Completed' && judge === 'threshold' ? lookLine(event, step, scale) : formatEvent(event, scale);
    if (line) say(line);
  };
  const onSigint = () => {
    if (interrupted) return;
    interrupted = true;
    io.stderr('\ninterrupted: aborting the rollout (traffic back to the primary), then tearing the sandbox down…\n');
    abort('Ctrl-C', 'interrupted from the terminal');
  };
  process.on('SIGINT', onSigint);
  const sampling = startSampling(sandbox);
  try {
    runtime = await startLocalRuntime({
      dir,
      ...sandbox.runtimeOptions,
      onEvent,
      ...(options.waitTimeOverrides ? { waitTimeOverrides: options.waitTimeOverrides } : {}),
    });
    say(
      `metrics from ${sandbox.metricsSource === 'prometheus' ? `Prometheus at ${sandbox.prometheusUrl}` : 'the gateway (direct)'}; state machine at ${runtime.endpoint}`,
    );
    const startedAt = new Date().toISOString();
    const rollout = await startRollout(runtime, spec, { version: SANDBOX_NAMES.versions.canary, requestedBy: 'sluice demo' });
    let gatewayRestart: DemoSummary['gatewayRestart'];
    let restartTimer: NodeJS.Timeout | undefined;
    if (options.restartGatewayAt !== undefined) {
      const requestedAtSeconds = options.restartGatewayAt;
      gatewayRestart = { requestedAtSeconds };
      restartTimer = setTimeout(() => {
        sandbox
          .restartGateway()
          .then((done) => {
            gatewayRestart = { requestedAtSeconds, ...done };
            say(`${done.at.slice(11, 19)} the gateway was replaced: new instance ${done.instance}, every counter from zero`);
          })
          .catch((error: unknown) => {
            gatewayRestart = { requestedAtSeconds, error: String(error) };
            io.stderr(`gateway restart failed: ${String(error)}\n`);
          });
      }, requestedAtSeconds * 1000);
    }
    const base = await rollout.done;
    if (restartTimer) clearTimeout(restartTimer);
    // The last weight change reaches the gateway's data plane after its xDS delay: wait for it, so
    // the summary's timings include it (a rollout that ended on the canary keeps its weight).
    await sandbox.gateway.waitForWeights((w) => (w[SANDBOX_NAMES.upstreams.canary] ?? 0) === 0, 5000).catch(() => undefined);
    const timeline = sampling.stop();
    const traffic = sandbox.traffic();
    const rolledBack = base.outcome !== 'promoted';
    const summary: DemoSummary = {
      ...base,
      requests: { total: traffic.requests.total, canary: traffic.requests.canary, canaryErrors: traffic.requests.canaryErrors },
      ...(rolledBack && traffic.detectionMs !== undefined ? { detectionMs: traffic.detectionMs } : {}),
      timeline,
      startedAt,
      plannedWeights: steps,
      scenario: options.scenario,
      judge,
      lookIntervalSeconds: bakeSeconds(spec),
      seed: sandbox.seed,
      metricsSource: sandbox.metricsSource,
      scrapeIntervalSeconds: sandbox.scrapeIntervalSeconds,
      ...(gatewayRestart ? { gatewayRestart } : {}),
      ...(spec.spec.strategy.sessionAffinity
        ? { affinity: { cookieName: spec.spec.strategy.sessionAffinity.cookieName, ...(traffic.users ? { users: traffic.users } : {}) } }
        : {}),
      reportPath: join(dir, 'reports', `${base.execution}.html`),
    };
    mkdirSync(join(dir, 'reports'), { recursive: true });
    writeFileSync(summary.reportPath, renderReport(reportDataFromSummary(summary)));
    writeFileSync(summary.reportPath.replace(/\.html$/, '.json'), `${JSON.stringify(summary, null, 2)}\n`);
    if (base.outcome === 'promoted') {
      const served = await sandbox.apps.primary
        .waitForBehaviour((b) => b.version === SANDBOX_NAMES.versions.canary, 10_000)
        .catch(() => sandbox.apps.primary.behaviour());
      say(`the primary now serves ${served.version} (the canary's template was promoted)`);
    }
    say(formatSummary(summary).trimEnd());
    if (traffic.marked) {
      const versions = Object.entries(traffic.marked.versions)
        .map(([version, count]) => `${version} ${count}`)
        .join(', ');
      say(
        `  ${options.scenario === 'ab' ? 'matched users' : 'test traffic'}: ${traffic.marked.sent} requests, answered by ${versions || 'none'}`,
      );
    }
    if (summary.affinity?.users) say(`  affinity:    ${describeStickyUsers(summary.affinity.cookieName, summary.affinity.users)}`);
    say(`  report:      ${summary.reportPath}`);
    if (options.json) io.stdout(`${JSON.stringify(summary)}\n`);
    return { code: summary.exitCode, summary };
  } finally {
    sampling.stop();
    process.off('SIGINT', onSigint);
    await runtime?.close();
    await sandbox.close();
  }
}

/** Step Functions Standard: $0.025 per 1,000 state transitions. */
const DOLLARS_PER_TRANSITION = 0.025 / 1000;

/** The side-by-side table of `sluice demo --compare`: one column per judge. */
export function compareTable(runs: ReadonlyArray<{ judge: string; summary: DemoSummary }>): string {
  const rows: Array<[string, (s: DemoSummary) => string]> = [
    ['outcome', (s) => s.outcome],
    ['canary errors served', (s) => String(s.requests?.canaryErrors ?? '—')],
    [
      "detection (canary's first request → weight 0)",
      (s) => (s.detectionMs === undefined ? '—' : `${(s.detectionMs / 1000).toFixed(1)} s`),
    ],
    ['looks', (s) => `${s.steps.length} of ${s.lookIntervalSeconds} s`],
    ['state transitions (cost)', (s) => `${s.transitions} ($${(s.transitions * DOLLARS_PER_TRANSITION).toFixed(5)})`],
  ];
  const table = [['', ...runs.map((run) => run.judge)], ...rows.map(([label, cell]) => [label, ...runs.map((run) => cell(run.summary))])];
  const widths = (table[0] ?? []).map((_, col) => Math.max(...table.map((row) => (row[col] ?? '').length)));
  return `${table
    .map((row) =>
      row
        .map((cell, col) => cell.padEnd(widths[col] ?? 0))
        .join('   ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

/**
 * `sluice demo --compare`: the same seeded traffic judged by each judge, one run after the other,
 * then the table. Exit 0 when both runs finished (whatever they decided), else the failing run's code.
 */
export async function compareDemos(options: DemoOptions, io: DemoIo): Promise<number> {
  const seed = options.seed ?? Math.floor(Math.random() * 1_000_000);
  const runs: Array<{ judge: 'threshold' | 'sequential'; summary: DemoSummary }> = [];
  for (const judge of ['threshold', 'sequential'] as const) {
    io.stderr(`\n── sluice demo --judge ${judge} --seed ${seed}\n`);
    const quiet: DemoIo = { stdout: options.json ? () => undefined : io.stdout, stderr: io.stderr };
    const { code, summary } = await runDemo({ ...options, judge, seed, json: false }, quiet);
    if (!summary) return code === EXIT.ok ? EXIT.error : code;
    runs.push({ judge, summary });
  }
  if (options.json) io.stdout(`${JSON.stringify({ seed, runs: runs.map((run) => run.summary) })}\n`);
  else io.stdout(`\nboth judges on the same traffic (scenario ${options.scenario}, seed ${seed}):\n${compareTable(runs)}`);
  return EXIT.ok;
}

export async function demoCommand(options: DemoOptions & { compare?: boolean }, io: DemoIo): Promise<number> {
  if (options.compare) return compareDemos(options, io);
  return (await runDemo(options, io)).code;
}
