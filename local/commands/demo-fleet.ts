/**
 * `sluice demo --fleet`: one release across three sandbox clusters in waves [a], [b], [c]. The
 * fleet sandbox (three Kubernetes API stand-ins, each with its gateway, apps and load; one shared
 * Prometheus) plus statemachine/fleet.asl.json in the local engine, nesting the real
 * statemachine/rollout.asl.json once per cluster. Prints each wave and each cluster's steps live,
 * then the fleet's summary and its report (one lane per cluster). `--scenario errors` puts the
 * fault in cluster b: a is promoted, b rolls back, c never starts, the fleet halts (exit 3).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { clusterOf } from '../../lambdas/core/fleet-member.ts';
import type { SluiceEvent } from '../../lambdas/core/records.ts';
import { EXIT } from '../exit-codes.ts';
import { abortFleet, startFleet, startLocalFleetRuntime } from '../fleet.ts';
import type { FleetRunSummary, LocalFleetRuntime, StartedFleet } from '../fleet.ts';
import { formatEvent } from '../progress.ts';
import { fleetReportData, renderFleetReport } from '../report/fleet-report.ts';
import { stateDir } from '../runtime.ts';
import { SANDBOX_NAMES } from '../sandbox/sandbox.ts';
import { startFleetSandbox } from '../sandbox/fleet-sandbox.ts';
import type { FleetSandboxOptions, FleetWaveOption } from '../sandbox/fleet-sandbox.ts';
import { formatFleetSummary } from './fleet.ts';
import type { Scenario } from './demo-scenarios.ts';

/** The scenarios a fleet demo runs: healthy everywhere, or the fault in cluster b. */
export const FLEET_SCENARIOS = ['healthy', 'errors', 'latency'] as const satisfies readonly Scenario[];
type FleetScenario = (typeof FLEET_SCENARIOS)[number];

/** Seconds per step unless --interval says otherwise. */
const DEFAULT_INTERVAL_SECONDS = 10;

/** The cluster the errors and latency scenarios break. */
export const FAULTY_CLUSTER = 'b';

/**
 * The demo's waves: a alone first, then b, then c on a shorter plan (a later wave may use a
 * shorter schedule). No bake between waves: the bake's watch halts the fleet on one reading of a
 * promoted cluster outside its threshold, and on a starved 2-core machine the sandbox's own p99
 * crosses 250 ms (measured: a healthy fleet halted in two runs of three); the flow tests cover it.
 */
export const DEMO_WAVES: FleetWaveOption[] = [{ clusters: ['a'] }, { clusters: ['b'] }, { clusters: ['c'], stepWeights: [25, 50] }];

export interface FleetDemoOptions {
  scenario: Scenario;
  canaryErrorRate?: number;
  canaryLatencyMs?: number;
  /** Requests per second per cluster (default 50: 150 in all across three clusters). */
  rpsPerCluster?: number;
  /** Seconds per step (default 10). */
  interval?: number;
  judge?: 'threshold' | 'sequential';
  seed?: number;
  json?: boolean;
  /** Where the store and the reports go (default `.sluice`). */
  dir?: string;
  /** The waves (default DEMO_WAVES); tests shorten them. */
  waves?: FleetWaveOption[];
  /** Shorter waits for tests: the stand-ins' readiness delay, the gateways' xDS delay. */
  sandbox?: Pick<FleetSandboxOptions, 'deploymentReadyDelayMs' | 'xdsDelayMs'>;
}

export interface FleetDemoIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export type FleetDemoSummary = FleetRunSummary & {
  scenario: FleetScenario;
  seed: number;
  /** What each cluster's gateway served over the whole run. */
  requests: Record<string, { total: number; canary: number; canaryErrors: number }>;
  wallMs: number;
  reportPath: string;
};

/** A path as the user would type it from here (absolute when it is elsewhere). */
function relativePath(path: string): string {
  const shown = relative(process.cwd(), path);
  return shown && !shown.startsWith('..') ? shown : path;
}

function isFleetScenario(scenario: Scenario): scenario is FleetScenario {
  return (FLEET_SCENARIOS as readonly Scenario[]).includes(scenario);
}

export async function runFleetDemo(options: FleetDemoOptions, io: FleetDemoIo): Promise<{ code: number; summary?: FleetDemoSummary }> {
  const began = Date.now();
  const say = (line: string) => (options.json ? io.stderr : io.stdout)(`${line}\n`);
  const scenario = options.scenario;
  if (!isFleetScenario(scenario)) {
    io.stderr(`--scenario: --fleet runs ${FLEET_SCENARIOS.join(', ')}; got "${scenario}"\n`);
    return { code: EXIT.invalid };
  }
  const canaryErrorRate = options.canaryErrorRate ?? (scenario === 'errors' ? 0.1 : 0);
  const canaryLatencyMs = options.canaryLatencyMs ?? (scenario === 'latency' ? 300 : 0);
  const waves = options.waves ?? DEMO_WAVES;
  say(
    `sluice demo --fleet — scenario ${scenario}: ${scenario === 'healthy' ? 'every cluster healthy' : `cluster ${FAULTY_CLUSTER}'s canary: errors ${(canaryErrorRate * 100).toFixed(1)}%, added latency ${canaryLatencyMs} ms`}`,
  );
  say(
    `waves: ${waves.map((wave, i) => `${i + 1} [${wave.clusters.join(', ')}]${wave.pause ? ` then a ${wave.pause} bake` : ''}`).join(' → ')}`,
  );
  say('starting three sandbox clusters (API stand-in, gateway, two app versions and load each) and one shared Prometheus…');
  const sandbox = await startFleetSandbox({
    waves,
    ...(scenario === 'healthy' ? {} : { faultyCluster: FAULTY_CLUSTER, canaryErrorRate, canaryLatencyMs }),
    ...(options.rpsPerCluster !== undefined ? { rpsPerCluster: options.rpsPerCluster } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    // 10 s steps (the single demo: 5 s): five looks a step, so three shared-Prometheus scrapes
    // missed on a starved 2-core machine do not read as a whole interval without evidence.
    interval: `${options.interval ?? DEFAULT_INTERVAL_SECONDS}s`,
    ...(options.judge ? { judge: options.judge } : {}),
    ...options.sandbox,
  });
  const spec = sandbox.spec;
  const dir = options.dir ?? stateDir();
  const scale = spec.spec.router.weightScale;
  const waveOf = new Map(waves.flatMap((wave, i) => wave.clusters.map((cluster) => [cluster, i + 1] as const)));
  const seenWaves = new Set<number>();
  const promoted = new Map<number, number>();
  let runtime: LocalFleetRuntime | undefined;
  let started: StartedFleet | undefined;
  let interrupted = false;

  const onEvent = (event: SluiceEvent) => {
    const cluster = clusterOf(event.target);
    if (cluster === undefined) return;
    const wave = waveOf.get(cluster);
    if (wave !== undefined && !seenWaves.has(wave)) {
      seenWaves.add(wave);
      say(`── wave ${wave}: ${waves[wave - 1]?.clusters.join(', ') ?? cluster}`);
    }
    const line = formatEvent(event, scale);
    if (line) say(`[${cluster}] ${line}`);
    // A wave promoted everywhere, with a bake after it: the promoted clusters stay watched meanwhile.
    if (event.detailType === 'Rollout Promoted' && wave !== undefined) {
      const promotedInWave = (promoted.get(wave) ?? 0) + 1;
      promoted.set(wave, promotedInWave);
      const pause = waves[wave - 1]?.pause;
      if (pause && promotedInWave === waves[wave - 1]?.clusters.length && wave < waves.length)
        say(`── wave ${wave} promoted: a ${pause} bake before wave ${wave + 1}, the promoted clusters watched`);
    }
  };
  const onSigint = () => {
    if (interrupted || !runtime || !started) return;
    interrupted = true;
    io.stderr('\ninterrupted: aborting the fleet (running clusters roll back, promoted ones stay), then tearing the sandbox down…\n');
    void abortFleet(runtime, started, spec, 'Ctrl-C', 'interrupted from the terminal').catch((error: unknown) =>
      io.stderr(`abort failed: ${String(error)}\n`),
    );
  };
  process.on('SIGINT', onSigint);
  try {
    runtime = await startLocalFleetRuntime({ dir, ...sandbox.runtimeOptions, onEvent });
    say(`metrics from the shared Prometheus at ${sandbox.prometheusUrl}; ready in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    // The fleet spec where `sluice status --local --rollouts` finds it: the waves view from another terminal while it runs.
    const registry = join(dir, 'demo-fleet');
    mkdirSync(registry, { recursive: true });
    writeFileSync(join(registry, `${spec.metadata.name}.yaml`), stringifyYaml(spec));
    say(`watch it from another terminal: npx sluice status ${spec.metadata.name} --local --rollouts ${relativePath(registry)}`);
    started = startFleet(runtime, spec, { version: SANDBOX_NAMES.versions.canary, requestedBy: 'sluice demo --fleet' });
    const base = await started.done;
    const requests = Object.fromEntries(sandbox.clusters.map((cluster) => [cluster.name, cluster.requests()]));
    const reportPath = join(dir, 'reports', `${base.execution}.html`);
    const report = await fleetReportData(runtime.deps.store, base).catch((error: unknown) => {
      io.stderr(`the fleet report was not written: ${String(error)}\n`);
      return undefined;
    });
    const summary: FleetDemoSummary = { ...base, scenario, seed: sandbox.seed, requests, wallMs: Date.now() - began, reportPath };
    mkdirSync(join(dir, 'reports'), { recursive: true });
    if (report) writeFileSync(reportPath, renderFleetReport(report));
    writeFileSync(reportPath.replace(/\.html$/, '.json'), `${JSON.stringify(summary, null, 2)}\n`);
    for (const cluster of sandbox.clusters) {
      const served = cluster.apps.primary.behaviour();
      const r = requests[cluster.name];
      say(
        `  ${cluster.name}: the primary serves ${served.version}; ${r?.total ?? 0} requests, ${r?.canary ?? 0} to the canary, ${r?.canaryErrors ?? 0} canary errors`,
      );
    }
    say(formatFleetSummary(base).trimEnd());
    say(`  took ${(summary.wallMs / 1000).toFixed(1)} s; report: ${report ? reportPath : '(not written)'}`);
    if (options.json) io.stdout(`${JSON.stringify(summary)}\n`);
    return { code: summary.exitCode, summary };
  } finally {
    process.off('SIGINT', onSigint);
    await runtime?.close();
    await sandbox.close();
  }
}
