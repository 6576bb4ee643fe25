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
import { parseSpec } from '../../lambdas/core/spec.ts';
import { formatEvent, weightBar } from '../progress.ts';
import { renderReport } from '../report/render.ts';
import { reportDataFromSummary } from '../report/report-data.ts';
import type { ReportSummary, TimelineSample } from '../report/report-data.ts';
import { startLocalRuntime, stateDir } from '../runtime.ts';
import type { LocalRuntime } from '../runtime.ts';
import { SANDBOX_NAMES, startSandbox } from '../sandbox/sandbox.ts';
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
}

export interface DemoIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export type DemoSummary = ReportSummary & {
  scenario: Scenario;
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
    `${event.at.slice(11, 19)} step ${step.index}/${step.of} ${weightBar(weights, scale)} ${String(Math.round((weights.canary * 100) / scale)).padStart(3)}%`,
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
    prometheus: options.prometheus ?? 'optional',
    signals: 'ignore',
  });
  if (sandbox.notice) say(sandbox.notice);
  options.onSandbox?.(sandbox);
  const dir = options.dir ?? stateDir();
  const judge = options.judge ?? sandbox.spec.spec.analysis.judge;
  if (judge === 'sequential' && sandbox.metricsSource !== 'prometheus') {
    io.stderr('--judge sequential reads Envoy counters from Prometheus, which is not installed here (apt-get install prometheus)\n');
    await sandbox.close();
    return { code: EXIT.invalid };
  }
  // The sequential judge looks every second (its evidence is the requests themselves), or once per
  // scrape with --scrape-interval; the threshold judge once per interval.
  const lookInterval = options.scrapeInterval !== undefined ? `${options.scrapeInterval}s` : '1s';
  const spec =
    judge === sandbox.spec.spec.analysis.judge && options.scrapeInterval === undefined && options.stepWeightPromotion === undefined
      ? sandbox.spec
      : parseSpec({
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
    runtime = await startLocalRuntime({ dir, ...sandbox.runtimeOptions, onEvent });
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
      seed: sandbox.seed,
      metricsSource: sandbox.metricsSource,
      scrapeIntervalSeconds: sandbox.scrapeIntervalSeconds,
      ...(gatewayRestart ? { gatewayRestart } : {}),
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

export async function demoCommand(options: DemoOptions, io: DemoIo): Promise<number> {
  return (await runDemo(options, io)).code;
}
