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
import { abortFleet, abortFleetRelease, runningFleet, setFleetControl, startFleet, startLocalFleetRuntime } from '../fleet.ts';
import type { FleetRunSummary, FleetVerb, StartedFleet } from '../fleet.ts';
import type { ControlPlane } from '../control.ts';
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

/**
 * `sluice abort | pause | resume | promote <target>` when the target's lock is a running fleet's,
 * from any process that shares its store and engine: undefined when no fleet runs for the target
 * (abort and promote then act on a single rollout as before).
 */
export async function fleetVerbCommand(
  control: Pick<ControlPlane, 'store' | 'sfn'>,
  target: string,
  verb: 'abort' | FleetVerb,
  options: { by: string; reason?: string },
  io: Io,
): Promise<number | undefined> {
  const release = await runningFleet(control.store, target);
  if (!release) return undefined;
  const { execution } = release;
  switch (verb) {
    case 'abort': {
      const result = await abortFleetRelease(control, release, options.by, options.reason ?? 'aborted from the command line');
      const rolling = result.aborted.map((a) => `${a.cluster} (${a.interruptedBake ? 'bake interrupted' : 'at its next step'})`);
      io.stdout(
        `aborted fleet ${execution}: no further cluster starts; ${rolling.length ? `rolling back ${rolling.join(', ')}` : 'no cluster was rolling'}; promoted clusters follow spec.fleet.onHalt\n`,
      );
      return EXIT.ok;
    }
    case 'pause':
      await setFleetControl(control.store, execution, 'pause', options.by);
      io.stdout(
        `paused fleet ${execution}: the running wave finishes, the next waits (promoted clusters stay watched) until \`sluice resume ${target}\`\n`,
      );
      return EXIT.ok;
    case 'resume':
      await setFleetControl(control.store, execution, 'resume', options.by);
      io.stdout(`resumed fleet ${execution}: the next wave starts at the next look once the spec's own pause has passed\n`);
      return EXIT.ok;
    case 'promote-rest':
      await setFleetControl(control.store, execution, 'promote-rest', options.by);
      io.stdout(
        `promoting the rest of fleet ${execution}: every remaining wave runs at once with no more pauses (each cluster still canaried and judged)\n`,
      );
      return EXIT.ok;
    default: {
      const never: never = verb;
      throw new Error(`unknown fleet command ${String(never)}`);
    }
  }
}

/** `sluice pause | resume <target>`: only a fleet pauses between waves. */
export async function pauseResumeCommand(control: ControlPlane, target: string, verb: 'pause' | 'resume', io: Io): Promise<number> {
  const by = `${process.env.USER ?? 'someone'}@cli`;
  const answered = await fleetVerbCommand(control, target, verb, { by }, io);
  if (answered !== undefined) return answered;
  io.stderr(
    `no fleet release of ${target} is running: ${verb} acts on a fleet between its waves (a single rollout has \`sluice abort\` and \`sluice promote\`)\n`,
  );
  return EXIT.invalid;
}
