/**
 * The reconciler on one machine: which local executions run (every live engine that shares the
 * state folder registers itself in `.sluice/engines/<pid>.json`; a dead pid's executions do not
 * run), and one pass of the same reconcile code the AWS Lambda runs. Used by `sluice recover`,
 * before start/run/retry/abort, and periodically by `sluice serve`.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { executionArnOf } from '../lambdas/adapters/control/reconcile-aws.ts';
import type { RolloutRecords } from '../lambdas/core/ports.ts';
import { formatWeights } from '../lambdas/core/rollout.ts';
import type { HandlerDeps } from '../lambdas/app/deps.ts';
import { reconcile } from '../lambdas/app/reconcile.ts';
import type { ExecutionLiveness, LivenessAnswer } from '../lambdas/core/ports.ts';
import type { ReconcileReport, ReconcileRequest, ReconcileStore } from '../lambdas/app/reconcile.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';
import { localSfnClient } from './engine/sfn-endpoint.ts';

export interface EngineRegistration {
  pid: number;
  url: string;
  stateMachineArn: string;
  startedAt: string;
}

export function enginesDir(dir: string): string {
  return join(dir, 'engines');
}

/** Registers a running engine (one file per process, written atomically). */
export function registerEngine(dir: string, registration: EngineRegistration): () => void {
  const folder = enginesDir(dir);
  mkdirSync(folder, { recursive: true });
  // pid and port: two engines of one process (tests) each get their own file.
  const path = join(folder, `${registration.pid}-${new URL(registration.url).port || '0'}.json`);
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(registration)}\n`, { mode: 0o600 });
  renameSync(temporary, path);
  return () => rmSync(path, { force: true });
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function registrations(dir: string): Array<EngineRegistration & { path: string }> {
  let names: string[];
  try {
    names = readdirSync(enginesDir(dir)).filter((name) => name.endsWith('.json'));
  } catch {
    return [];
  }
  const found: Array<EngineRegistration & { path: string }> = [];
  for (const name of names) {
    try {
      const path = join(enginesDir(dir), name);
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<EngineRegistration>;
      if (typeof parsed.pid === 'number' && typeof parsed.url === 'string' && typeof parsed.stateMachineArn === 'string') {
        found.push({
          path,
          pid: parsed.pid,
          url: parsed.url,
          stateMachineArn: parsed.stateMachineArn,
          startedAt: String(parsed.startedAt ?? ''),
        });
      }
    } catch {
      // A file half-written by a dying process says nothing: skip it.
    }
  }
  return found;
}

/** A refused connection anywhere in the cause chain (undici wraps it). */
function refused(error: unknown): boolean {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === 'ECONNREFUSED') return true;
    if (e instanceof AggregateError && e.errors.some(refused)) return true;
  }
  return false;
}

/** An engine found outside the registry folder. */
export interface ExtraEngine {
  url: string;
  stateMachineArn: string;
  pid?: number;
}

/** The engines named by `.sluice/engine.json` (older `sluice serve`) and SLUICE_ENDPOINT. */
export async function extraEngines(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<ExtraEngine[]> {
  const { readEngineStateFile } = await import('./engine/sfn-endpoint.ts');
  const state = await readEngineStateFile(join(dir, 'engine.json')).catch(() => undefined);
  const found: ExtraEngine[] = [];
  if (state?.stateMachineArn) found.push({ url: state.url, stateMachineArn: state.stateMachineArn, pid: state.pid });
  const fromEnv = env.SLUICE_ENDPOINT?.trim();
  if (fromEnv && state?.stateMachineArn && fromEnv !== state.url) found.push({ url: fromEnv, stateMachineArn: state.stateMachineArn });
  return found;
}

/**
 * An execution runs if some live engine of this state folder says RUNNING. An engine whose
 * process is gone runs nothing (its file is removed); one that is alive but does not answer makes
 * the answer `unknown`, and the reconciler leaves the rollout alone.
 */
export class LocalLiveness implements ExecutionLiveness {
  readonly #dir: string;
  readonly #extra: ExtraEngine[];

  /** `extra`: engines known another way (`.sluice/engine.json`, SLUICE_ENDPOINT); without a pid an unreachable one makes the answer unknown. */
  constructor(dir: string, extra: ExtraEngine[] = []) {
    this.#dir = dir;
    this.#extra = extra;
  }

  async of(execution: string): Promise<LivenessAnswer> {
    const ended: string[] = [];
    let input: unknown;
    let stopped = false;
    const known = registrations(this.#dir);
    const extra = this.#extra
      .filter((e) => !known.some((k) => k.url === e.url))
      .map((e) => ({
        path: '',
        pid: e.pid ?? 0,
        url: e.url,
        stateMachineArn: e.stateMachineArn,
        startedAt: '',
        unregistered: e.pid === undefined,
      }));
    for (const engine of [...known, ...extra]) {
      if (!('unregistered' in engine && engine.unregistered) && !isAlive(engine.pid)) {
        if (engine.path) rmSync(engine.path, { force: true });
        continue;
      }
      if (!isAlive(engine.pid)) {
        rmSync(engine.path, { force: true });
        continue;
      }
      const sfn = localSfnClient(engine.url);
      try {
        const described = await sfn.send(new DescribeExecutionCommand({ executionArn: executionArnOf(engine.stateMachineArn, execution) }));
        if (described.status === 'RUNNING') return { state: 'running', detail: `RUNNING in the local engine of pid ${engine.pid}` };
        ended.push(`ended ${described.status ?? '?'} in the local engine of pid ${engine.pid}`);
        if (described.status === 'ABORTED') stopped = true;
        if (described.input) input = JSON.parse(described.input) as unknown;
      } catch (error) {
        if ((error as { name?: string }).name === 'ExecutionDoesNotExist') continue;
        // Nothing listens where the engine said it would: it is gone (its pid may have been reused).
        if (refused(error)) {
          if (engine.path) rmSync(engine.path, { force: true });
          continue;
        }
        return {
          state: 'unknown',
          detail: `the local engine of pid ${engine.pid} did not answer (${error instanceof Error ? error.message : String(error)})`,
        };
      } finally {
        sfn.destroy();
      }
    }
    const detail = ended[0] ?? 'is not running (no live local engine knows it: its process was killed or ended)';
    return { state: 'not-running', detail, ...(stopped ? { stopped } : {}), ...(input === undefined ? {} : { input }) };
  }
}

/** One reconcile pass against the local store, with the cluster deps to restore through. */
export async function reconcileLocal(
  deps: HandlerDeps<ReconcileStore>,
  dir: string,
  request: ReconcileRequest = {},
  loadTarget?: (target: string) => Promise<RolloutSpec | null>,
): Promise<ReconcileReport> {
  return reconcile({ ...deps, liveness: new LocalLiveness(dir, await extraEngines(dir)), ...(loadTarget ? { loadTarget } : {}) }, request);
}

/** An open record whose execution does not run: what `status` and `history` report (they change nothing). */
export async function orphanNote(
  store: RolloutRecords,
  liveness: ExecutionLiveness,
  target: string,
  how: string,
): Promise<string | undefined> {
  const open = (await store.listOpenRollouts()).filter((record) => record.target === target);
  for (const record of open) {
    const live = await liveness.of(record.execution);
    if (live.state !== 'not-running') continue;
    const scale = record.lastWeights.primary + record.lastWeights.canary || 100;
    const writing =
      record.pendingWeights &&
      (record.pendingWeights.primary !== record.lastWeights.primary || record.pendingWeights.canary !== record.lastWeights.canary)
        ? ` (it was writing ${formatWeights(record.pendingWeights, scale)})`
        : '';
    return `orphan: ${record.execution} is open but its execution ${live.detail}; traffic as Sluice last wrote it: ${formatWeights(record.lastWeights, scale)}${writing}. Fix it with: sluice recover ${target} ${how}`;
  }
  return undefined;
}
