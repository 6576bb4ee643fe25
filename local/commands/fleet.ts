/**
 * The fleet from the command line: `sluice run <fleet spec> --local` releases it wave by wave
 * (local/fleet.ts) and prints one summary for the release (`--json`: outcome promoted|halted,
 * the reason naming wave and cluster, each cluster's wave and outcome; exit 0, 3 when halted);
 * `sluice status <target>` of a fleet target shows its waves and each cluster's step, weight and
 * last verdict. Ctrl-C aborts the whole fleet (promoted clusters stay, running ones roll back).
 */
import { formatWeights } from '../../lambdas/core/rollout.ts';
import { fleetMemberDocument, memberAddress } from '../../lambdas/core/fleet-member.ts';
import { requireFleet } from '../../lambdas/core/fleet.ts';
import type { RolloutLog, RolloutRecords } from '../../lambdas/core/ports.ts';
import type { SluiceEvent } from '../../lambdas/core/records.ts';
import { plannedWeights } from '../../lambdas/core/spec.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import { EXIT } from '../exit-codes.ts';
import { abortFleet, startFleet, startLocalFleetRuntime } from '../fleet.ts';
import type { FleetRunSummary, StartedFleet } from '../fleet.ts';
import type { LocalRuntimeOptions } from '../runtime.ts';
import { formatEvent } from '../progress.ts';

interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export function formatFleetSummary(summary: FleetRunSummary): string {
  const lines = [`${summary.target} ${summary.version}: ${summary.outcome} — ${summary.reason}`];
  for (const cluster of summary.clusters)
    lines.push(
      `  wave ${cluster.wave}  ${cluster.cluster.padEnd(12)} ${cluster.outcome.padEnd(12)} ${cluster.execution}${cluster.reason ? `  — ${cluster.reason}` : ''}`,
    );
  return `${lines.join('\n')}\n`;
}

/** Releases a fleet spec in the local engine; resolves the exit code (0 promoted, 3 halted, 2 refused). */
export async function runFleetCommand(
  spec: RolloutSpec,
  options: { version: string; json?: boolean; requestedBy?: string; runtime?: Omit<LocalRuntimeOptions, 'onEvent'> },
  io: Io,
): Promise<number> {
  const scale = spec.spec.router.weightScale;
  // Every member's events, prefixed by its address (target@cluster), as they happen.
  const progress = (event: SluiceEvent) => {
    const line = formatEvent(event, scale);
    if (line) (options.json ? io.stderr : io.stdout)(`${event.target.includes('@') ? `[${event.target}] ` : ''}${line}\n`);
  };
  const runtime = await startLocalFleetRuntime({ ...options.runtime, onEvent: progress });
  let started: StartedFleet | undefined;
  let interrupted = false;
  const stopOnSignal = () => {
    if (interrupted || !started) return;
    interrupted = true;
    io.stderr('\ninterrupted: aborting the fleet (running clusters roll back, promoted ones stay)…\n');
    void abortFleet(runtime, started, spec, 'Ctrl-C', 'interrupted from the terminal').catch((error: unknown) =>
      io.stderr(`abort failed: ${String(error)}\n`),
    );
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const signal of signals) process.on(signal, stopOnSignal);
  try {
    started = startFleet(runtime, spec, { version: options.version, ...(options.requestedBy ? { requestedBy: options.requestedBy } : {}) });
    const summary = await started.done;
    io.stdout(options.json ? `${JSON.stringify(summary)}\n` : formatFleetSummary(summary));
    return summary.exitCode;
  } finally {
    for (const signal of signals) process.off(signal, stopOnSignal);
    await runtime.close();
  }
}

export interface FleetClusterStatus {
  cluster: string;
  wave: number;
  state: string;
  version?: string;
  execution?: string;
  weights?: { primary: number; canary: number };
  /** The step the cluster's rollout reached of its wave's plan (1-based). */
  step?: { index: number; of: number };
  lastVerdict?: { at: string; result: string; summary: string };
  reason?: string;
}

/** A fleet target's waves and each cluster's latest rollout (keyed target@cluster). */
export async function fleetStatus(store: RolloutRecords & RolloutLog, spec: RolloutSpec): Promise<FleetClusterStatus[]> {
  const statuses: FleetClusterStatus[] = [];
  for (const [w, wave] of requireFleet(spec).waves.entries()) {
    for (const cluster of wave.clusters) {
      const [record] = await store.listRollouts(memberAddress(spec.metadata.name, cluster), 1);
      if (!record) {
        statuses.push({ cluster, wave: w + 1, state: 'not-started' });
        continue;
      }
      const steps = await store.listSteps(record.execution);
      const look = steps.filter((s) => s.kind === 'analysis').at(-1);
      const lastWeight = steps.filter((s) => s.kind === 'weight').at(-1);
      const plan = plannedWeights(fleetMemberDocument(spec, cluster).spec.strategy);
      statuses.push({
        cluster,
        wave: w + 1,
        state: record.status === 'running' ? 'running' : (record.outcome ?? 'finished'),
        version: record.version,
        execution: record.execution,
        weights: record.lastWeights,
        ...(lastWeight ? { step: { index: (lastWeight.stepIndex ?? 0) + 1, of: plan.length } } : {}),
        ...(look?.verdict ? { lastVerdict: { at: look.at, result: look.verdict.result, summary: look.verdict.summary } } : {}),
        ...(record.reason ? { reason: record.reason } : {}),
      });
    }
  }
  return statuses;
}

export async function fleetStatusCommand(
  store: RolloutRecords & RolloutLog,
  spec: RolloutSpec,
  options: { json?: boolean },
  io: Io,
): Promise<number> {
  const statuses = await fleetStatus(store, spec);
  if (options.json) {
    io.stdout(`${JSON.stringify({ target: spec.metadata.name, fleet: true, clusters: statuses })}\n`);
    return EXIT.ok;
  }
  const scale = spec.spec.router.weightScale;
  const lines = [`${spec.metadata.name}: a fleet of ${statuses.length} clusters in ${requireFleet(spec).waves.length} waves`];
  let wave = 0;
  for (const s of statuses) {
    if (s.wave !== wave) lines.push(`  wave ${(wave = s.wave)}`);
    const traffic = `${s.step ? `step ${s.step.index}/${s.step.of} ` : ''}${s.weights ? formatWeights(s.weights, scale) : ''}`;
    const verdict = s.lastVerdict ? `  last look: ${s.lastVerdict.result} — ${s.lastVerdict.summary}` : '';
    lines.push(`    ${s.cluster.padEnd(12)} ${s.state.padEnd(12)} ${s.version ?? ''} ${traffic}${verdict}`.trimEnd());
  }
  io.stdout(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
