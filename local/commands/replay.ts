/**
 * `sluice replay <execution|summary.json> [options]`: what a judge with other settings would have
 * decided on a recorded rollout, look by look, from the counts it recorded (local/replay.ts); or,
 * with `--spec FILE --from T --to T`, on a past window whose counts are read from Prometheus (or
 * Amazon Managed Prometheus through the same API) at each look's instant. Prints the looks side by
 * side with the recorded ones, draws the replay as a report, exits 0 once it has re-decided (2 on
 * bad input, naming the flag).
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ampProvider } from '../../lambdas/adapters/metrics/amp.ts';
import { PrometheusProvider, snapshotCounters } from '../../lambdas/adapters/metrics/prometheus.ts';
import { openSqliteStore } from '../../lambdas/adapters/store/sqlite.ts';
import { deltaCounts } from '../../lambdas/core/counts.ts';
import type { CounterSnapshot } from '../../lambdas/core/counts.ts';
import { counterQueries } from '../../lambdas/core/queries.ts';
import { formatWeights } from '../../lambdas/core/rollout.ts';
import { sequentialPlan } from '../../lambdas/core/sequential/metrics.ts';
import { bakeSeconds, validateSpec } from '../../lambdas/core/spec.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import { EXIT } from '../exit-codes.ts';
import { renderReport } from '../report/render.ts';
import { parseSummaryJson, reportDataFromSummary } from '../report/report-data.ts';
import type { ReportSummary } from '../report/report-data.ts';
import { stateDir, storePath } from '../runtime.ts';
import { SpecFileError, validateSpecFile } from '../spec-file.ts';
import { recordedDecisions, replay, ReplayInputError } from '../replay.ts';
import type { Decision, Recording, Replay } from '../replay.ts';

export interface ReplayIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** The settings a replay may change, as the command line gives them (strings checked here). */
export interface ReplayOptions {
  judge?: 'threshold' | 'sequential' | undefined;
  alpha?: string | undefined;
  alphaPromote?: string | undefined;
  margin?: string | undefined;
  lookInterval?: string | undefined;
  interval?: string | undefined;
  threshold?: string | undefined;
  noData?: 'fail' | 'pass' | 'hold' | undefined;
  /** `metric=value`, repeatable. */
  min?: string[] | undefined;
  max?: string[] | undefined;
  spec?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  prometheus?: string | undefined;
  /** An Amazon Managed Prometheus workspace URL (requests signed with SigV4, credentials from the SDK's chain). */
  amp?: string | undefined;
  json?: boolean | undefined;
  out?: string | undefined;
}

/** Bad input: exit 2 with this line. */
class InputError extends Error {}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function specOf(document: unknown, where: string): RolloutSpec {
  const result = validateSpec(document);
  if (!result.ok) throw new InputError(`${where}: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  return result.spec;
}

async function specFile(path: string): Promise<RolloutSpec> {
  try {
    const result = await validateSpecFile(path);
    if (!result.ok) throw new InputError(`--spec ${path}: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
    return result.spec;
  } catch (error) {
    if (error instanceof SpecFileError) throw new InputError(`--spec: ${error.message}`);
    throw error;
  }
}

/** A summary JSON (`sluice demo --json`, `sluice run --json`, the file the demo writes beside its report). */
async function fromSummary(path: string, options: ReplayOptions): Promise<{ recording: Recording; summary: ReportSummary }> {
  let summary: ReportSummary;
  try {
    summary = parseSummaryJson(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new InputError(`${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const spec = options.spec ? await specFile(options.spec) : summary.spec !== undefined ? specOf(summary.spec, `${path}: spec`) : undefined;
  if (!spec) throw new InputError(`${path} carries no spec (written before summaries kept it): pass the spec it ran with --spec FILE`);
  const firstLook = summary.steps[0]?.at;
  return {
    summary,
    recording: {
      execution: summary.execution,
      target: summary.target,
      version: summary.version,
      outcome: summary.outcome,
      reason: summary.reason,
      startedAt: summary.startedAt ?? firstLook ?? new Date(0).toISOString(),
      spec,
      looks: summary.steps.map((step) => ({
        at: step.at,
        stepIndex: step.stepIndex,
        weights: step.weights,
        word: step.verdict,
        verdict: {
          result: step.verdict === 'fail' ? 'fail' : step.verdict === 'no-data' ? 'no-data' : 'pass',
          checks: step.evidence,
          summary: step.summary,
          ...(step.judged ? { evidence: step.judged } : {}),
        },
        counts: step.judged?.counts,
      })),
    },
  };
}

/** An execution (or a target's latest rollout) in the local store. */
async function fromStore(name: string, options: ReplayOptions): Promise<Recording> {
  const dir = stateDir();
  const file = storePath(dir);
  if (!existsSync(file)) throw new InputError(`no local rollouts in ${dir} (no ${file}); pass a summary .json, or set SLUICE_STATE_DIR`);
  const store = openSqliteStore(file);
  try {
    const record = (await store.getRollout(name)) ?? (await store.listRollouts(name, 1))[0];
    if (!record) throw new InputError(`no execution or target named "${name}" in ${file}`);
    const spec = options.spec
      ? await specFile(options.spec)
      : record.spec !== undefined
        ? specOf(record.spec, `${record.execution}: spec`)
        : undefined;
    if (!spec) throw new InputError(`${record.execution} keeps no spec: pass the spec it ran with --spec FILE`);
    const steps = (await store.listSteps(record.execution)).filter((step) => step.kind === 'analysis' && step.verdict);
    return {
      execution: record.execution,
      target: record.target,
      version: record.version,
      outcome: record.status === 'finished' ? (record.outcome ?? 'failed') : 'running',
      reason: record.reason ?? '',
      startedAt: record.startedAt,
      spec,
      looks: steps.map((step) => ({
        at: step.at,
        stepIndex: step.stepIndex ?? 0,
        weights: step.weights,
        verdict: step.verdict,
        counts: step.verdict?.evidence?.counts,
      })),
    };
  } finally {
    await store.close();
  }
}

function instant(text: string | undefined, flag: string): number {
  if (text === undefined) throw new InputError(`${flag}: required with a window replay (an ISO time, e.g. 2026-12-01T10:00:00Z)`);
  const ms = Date.parse(text);
  if (Number.isNaN(ms) || !/\d{4}-\d{2}-\d{2}T/.test(text))
    throw new InputError(`${flag}: expected an ISO time with a zone, got "${text}"`);
  return ms;
}

/** The latency bounds whose counts a window replay reads: the sequential judge's (a threshold replay reads the same counters). */
function latencyBounds(spec: RolloutSpec): number[] {
  try {
    return sequentialPlan(spec).thresholdsMs;
  } catch {
    // A spec only the threshold judge can run (custom queries): its built-in latency limits, where they are bucket boundaries.
    return [];
  }
}

/** Most looks a window replay reads (each look is one set of instant queries). */
const MAX_WINDOW_LOOKS = 2000;

/**
 * A past window: both arms' raw counters read at each look's instant (the evaluation time of the
 * instant queries), differenced look by look as the live judge does (lambdas/core/counts.ts).
 */
async function fromWindow(spec: RolloutSpec, options: ReplayOptions): Promise<Recording> {
  const from = instant(options.from, '--from');
  const to = instant(options.to, '--to');
  if (to <= from) throw new InputError(`--to: must be after --from (${options.from} .. ${options.to})`);
  const step = bakeSeconds(spec) * 1000;
  const count = Math.floor((to - from) / step);
  if (count < 1) throw new InputError(`--to: the window is shorter than one look (${step / 1000}s)`);
  if (count > MAX_WINDOW_LOOKS)
    throw new InputError(`--from/--to: ${count} looks of ${step / 1000}s; at most ${MAX_WINDOW_LOOKS} (use a longer --look-interval)`);
  if (options.amp && options.prometheus) throw new InputError('--amp: either --amp or --prometheus, not both');
  const server = options.amp
    ? { address: options.amp }
    : options.prometheus
      ? { address: options.prometheus }
      : spec.spec.analysis.prometheus;
  if (!server)
    throw new InputError('--prometheus: the spec names no spec.analysis.prometheus address; pass --prometheus URL (or --amp URL)');
  let provider: PrometheusProvider;
  try {
    provider = options.amp ? ampProvider({ workspaceUrl: options.amp }) : new PrometheusProvider(server);
  } catch (error) {
    throw new InputError(`${options.amp ? '--amp' : '--prometheus'}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const queries = counterQueries(spec, latencyBounds(spec));
  let previous: CounterSnapshot = await snapshotCounters(provider, queries, new Date(from));
  if (previous.primary.requests.length === 0)
    throw new InputError(
      `--from: Prometheus at ${server.address} has no request counters of the primary at ${new Date(from).toISOString()} (check the window and spec.router)`,
    );
  const looks: Recording['looks'] = [];
  for (let i = 1; i <= count; i++) {
    const at = new Date(from + i * step);
    const current = await snapshotCounters(provider, queries, at);
    const counts = deltaCounts(previous, current, { newSourcesFrom: from });
    looks.push({
      at: at.toISOString(),
      stepIndex: 0,
      counts: {
        from: previous.at,
        to: current.at,
        canary: counts.canary,
        primary: counts.primary,
        ...(counts.clean ? { clean: counts.clean } : {}),
        ...(counts.newScrape === false ? { newScrape: false } : {}),
        ...(counts.sources ? { sources: counts.sources } : {}),
      },
    });
    previous = current;
  }
  return {
    execution: `${spec.metadata.name}-window-${new Date(from).toISOString().replace(/[:.]/g, '')}`,
    target: spec.metadata.name,
    version: 'window',
    outcome: null,
    reason: `counts from ${server.address}, ${new Date(from).toISOString()} .. ${new Date(to).toISOString()}`,
    startedAt: new Date(from).toISOString(),
    spec,
    looks,
  };
}

function numberFlag(text: string | undefined, flag: string, ok: (n: number) => boolean, expected: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || !ok(value)) throw new InputError(`${flag}: expected ${expected}, got "${text}"`);
  return value;
}

function durationFlag(text: string | undefined, flag: string): string | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+(ms|s|m|h)$/.test(text)) throw new InputError(`${flag}: expected a duration such as 1s, 30s or 2m, got "${text}"`);
  return text;
}

function ranges(entries: string[] | undefined, flag: '--min' | '--max', spec: RolloutSpec): Map<string, number> {
  const out = new Map<string, number>();
  const names = spec.spec.analysis.metrics.map((m) => m.name);
  for (const entry of entries ?? []) {
    const match = /^([^=]+)=(.+)$/.exec(entry);
    const value = match ? Number(match[2]) : Number.NaN;
    if (!match || !Number.isFinite(value))
      throw new InputError(`${flag}: expected metric=value (e.g. request-success-rate=99.5), got "${entry}"`);
    const name = match[1] ?? '';
    if (!names.includes(name)) throw new InputError(`${flag}: no metric "${name}" in the spec (metrics: ${names.join(', ')})`);
    out.set(name, value);
  }
  return out;
}

/** The recorded spec with the settings the flags change, validated like any spec. */
export function variantSpec(recorded: RolloutSpec, options: ReplayOptions): RolloutSpec {
  const alpha = numberFlag(options.alpha, '--alpha', (n) => n > 0 && n < 1, 'a probability between 0 and 1 (exclusive)');
  const alphaPromote = numberFlag(
    options.alphaPromote,
    '--alpha-promote',
    (n) => n > 0 && n < 1,
    'a probability between 0 and 1 (exclusive)',
  );
  const margin = numberFlag(options.margin, '--margin', (n) => n > 1, 'a rate ratio above 1');
  const threshold = numberFlag(
    options.threshold,
    '--threshold',
    (n) => Number.isInteger(n) && n >= 1,
    'a whole number of failed checks, 1 or more',
  );
  const lookInterval = durationFlag(options.lookInterval, '--look-interval');
  const interval = durationFlag(options.interval, '--interval');
  const mins = ranges(options.min, '--min', recorded);
  const maxes = ranges(options.max, '--max', recorded);
  const { strategy, analysis } = recorded.spec;
  const document = {
    ...recorded,
    spec: {
      ...recorded.spec,
      strategy: {
        ...strategy,
        ...(lookInterval ? { lookInterval } : {}),
        ...(interval ? { interval } : {}),
        ...(threshold !== undefined ? { threshold } : {}),
      },
      analysis: {
        ...analysis,
        ...(options.judge ? { judge: options.judge } : {}),
        ...(options.noData ? { noData: options.noData } : {}),
        sequential: {
          ...analysis.sequential,
          ...(alpha !== undefined ? { alpha } : {}),
          ...(alphaPromote !== undefined ? { alphaPromote } : {}),
          ...(margin !== undefined ? { margin } : {}),
        },
        metrics: analysis.metrics.map((metric) =>
          mins.has(metric.name) || maxes.has(metric.name)
            ? {
                ...metric,
                thresholdRange: {
                  ...metric.thresholdRange,
                  ...(mins.has(metric.name) ? { min: mins.get(metric.name) } : {}),
                  ...(maxes.has(metric.name) ? { max: maxes.get(metric.name) } : {}),
                },
              }
            : metric,
        ),
      },
    },
  };
  const result = validateSpec(document);
  if (!result.ok)
    throw new InputError(`these settings make the spec invalid: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  return result.spec;
}

/** What the settings are, next to the recorded ones where they differ. */
function settingsOf(spec: RolloutSpec): Record<string, unknown> {
  const { analysis, strategy } = spec.spec;
  const base = {
    judge: analysis.judge,
    noData: analysis.noData,
    metrics: analysis.metrics.map((m) => ({ name: m.name, thresholdRange: m.thresholdRange })),
  };
  if (analysis.judge === 'threshold') return { ...base, interval: strategy.interval, threshold: strategy.threshold };
  return { ...base, lookInterval: strategy.lookInterval, interval: strategy.interval, sequential: analysis.sequential ?? {} };
}

function settingsLine(variant: RolloutSpec, recorded: RolloutSpec): string {
  const a = settingsOf(variant);
  const b = settingsOf(recorded);
  const flat = (o: Record<string, unknown>) =>
    Object.entries(o).flatMap(([k, v]) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.entries(v).map(([k2, v2]) => [`${k2}`, JSON.stringify(v2)] as const)
        : [[k, JSON.stringify(v)] as const],
    );
  const recordedBy = new Map(flat(b));
  const ranges = variant.spec.analysis.metrics.flatMap((metric) => {
    const before = recorded.spec.analysis.metrics.find((m) => m.name === metric.name)?.thresholdRange;
    return (['min', 'max'] as const).flatMap((end) => {
      const now = metric.thresholdRange?.[end];
      return now !== undefined && now !== before?.[end] ? [`${metric.name} ${end} ${now} (recorded ${before?.[end] ?? 'none'})`] : [];
    });
  });
  return [
    ...flat(a)
      .filter(([k]) => k !== 'metrics')
      .map(([k, v]) =>
        recordedBy.get(k) !== undefined && recordedBy.get(k) !== v ? `${k} ${v} (recorded ${recordedBy.get(k)})` : `${k} ${v}`,
      ),
    ...ranges,
  ]
    .join(', ')
    .replaceAll('"', '');
}

function cell(decision: Decision | undefined): string {
  return decision ? `${decision.decision} → ${decision.next}` : '';
}

function sameDecision(a: Decision | undefined, b: Decision | undefined): boolean {
  return a !== undefined && b !== undefined && a.stepIndex === b.stepIndex && a.decision === b.decision && a.next === b.next;
}

/** The text a person reads: one line per look, recorded beside replayed, then what changed. */
function formatReplay(recording: Recording, variant: RolloutSpec, result: Replay, original: Decision[], reportPath: string): string {
  const window = recording.outcome === null;
  const steps = variant.spec.strategy.stepWeights?.length ?? 0;
  const lines = [
    window
      ? `replay of ${recording.target} over a window (${recording.reason}): ${recording.looks.length} looks`
      : `replay of ${recording.execution} (${recording.target} ${recording.version}: ${recording.outcome} after ${recording.looks.length} looks)`,
    `  settings: ${settingsLine(variant, recording.spec)}`,
    '',
    window ? ' look  time      step  replay' : ' look  time      step  recorded                replay',
  ];
  result.looks.forEach((look) => {
    const recorded = original[look.recorded.to - 1];
    const step = `${look.stepIndex + 1}/${steps || '?'}`;
    const mark = !window && recorded && !sameDecision(recorded, look) ? '  ≠' : '';
    const aside = look.recorded.stepIndex !== look.stepIndex ? ` (traffic recorded at step ${look.recorded.stepIndex + 1})` : '';
    lines.push(
      `${String(look.look).padStart(5)}  ${look.at.slice(11, 19)}  ${step.padEnd(4)}  ${window ? '' : cell(recorded).padEnd(22)}  ${cell(look)}${mark}${aside}`,
    );
  });
  lines.push('');
  if (result.endOfData) lines.push(`replay: ${result.endOfData}`);
  else lines.push(`replay: ${result.outcome} at look ${result.looks.length}: ${result.reason}`);
  if (!window) {
    const at = original.length;
    lines.push(`recorded: ${recording.outcome} at look ${at}: ${recording.reason}`);
    const last = result.looks.at(-1);
    const recordedLast = recording.looks.at(-1);
    if (result.outcome === 'rolled-back' && recording.outcome === 'rolled-back' && last && recordedLast) {
      const earlier = Date.parse(recordedLast.at) - Date.parse(last.at);
      if (earlier > 0)
        lines.push(`the replay rolls back ${(earlier / 1000).toFixed(1)} s earlier (recorded look ${last.recorded.to} of ${at})`);
      else if (earlier < 0) lines.push(`the replay rolls back ${(-earlier / 1000).toFixed(1)} s later`);
    }
    const first = firstDifference(original, result.decisions);
    lines.push(first === null ? 'same decisions as recorded' : `decisions differ from look ${first} on`);
    if (result.looks.some((look) => look.recorded.stepIndex !== look.stepIndex))
      lines.push('(looks marked "traffic recorded at step N" are judged on the traffic the recorded rollout routed then)');
  }
  const weights = result.looks.at(-1)?.weights;
  if (weights) lines.push(`last look at ${formatWeights(weights, variant.spec.router.weightScale)}`);
  lines.push(`report: ${reportPath}`);
  return `${lines.join('\n')}\n`;
}

function firstDifference(original: Decision[], replayed: Decision[]): number | null {
  const n = Math.max(original.length, replayed.length);
  for (let i = 0; i < n; i++) if (!sameDecision(original[i], replayed[i])) return i + 1;
  return null;
}

/** The replay drawn as a report: its looks, its decisions, its weights. */
function replaySummary(recording: Recording, variant: RolloutSpec, result: Replay): ReportSummary {
  const last = result.looks.at(-1);
  const end = last ? Date.parse(last.at) : Date.parse(recording.startedAt);
  return {
    execution: `${recording.execution}-replay`,
    target: recording.target,
    version: recording.version,
    outcome: result.outcome === 'undecided' ? 'aborted' : result.outcome,
    reason: `replay (${settingsLine(variant, recording.spec)}): ${result.reason}`,
    exitCode: EXIT.ok,
    weightScale: variant.spec.router.weightScale,
    steps: result.looks.map((look) => ({
      stepIndex: look.stepIndex,
      at: look.at,
      weights: look.weights,
      verdict: look.decision,
      summary: look.verdict.summary,
      evidence: look.verdict.checks,
      ...(look.verdict.evidence ? { judged: look.verdict.evidence } : {}),
    })),
    durationMs: Math.max(0, end - Date.parse(recording.startedAt)),
    transitions: 0,
    startedAt: recording.startedAt,
    plannedWeights: variant.spec.strategy.stepWeights ?? [],
  };
}

function fileName(execution: string): string {
  const safe = execution.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '');
  return `${safe || 'rollout'}.html`;
}

async function load(arg: string | undefined, options: ReplayOptions): Promise<Recording> {
  if (arg === undefined) {
    if (!options.spec)
      throw new InputError('<execution|summary.json>: name a recorded rollout, or replay a window with --spec FILE --from T --to T');
    return fromWindow(variantSpec(await specFile(options.spec), options), options);
  }
  if (options.from !== undefined || options.to !== undefined)
    throw new InputError('--from/--to: a window replay takes no execution or summary (only --spec)');
  if (arg.toLowerCase().endsWith('.json') || isFile(arg)) {
    if (!isFile(arg)) throw new InputError(`no such summary file: ${arg}`);
    return (await fromSummary(arg, options)).recording;
  }
  return fromStore(arg, options);
}

export async function replayCommand(arg: string | undefined, options: ReplayOptions, io: ReplayIo): Promise<number> {
  let recording: Recording;
  let variant: RolloutSpec;
  let result: Replay;
  try {
    recording = await load(arg, options);
    variant = variantSpec(recording.spec, options);
    result = replay(recording, variant);
  } catch (error) {
    if (error instanceof InputError || error instanceof ReplayInputError) {
      io.stderr(`${error.message}\n`);
      return EXIT.invalid;
    }
    throw error;
  }
  const original = recording.outcome === null ? [] : recordedDecisions(recording);
  const out = resolve(options.out ?? join(stateDir(), 'reports', fileName(`${recording.execution}-replay`)));
  mkdirSync(dirname(out), { recursive: true });
  const data = reportDataFromSummary(replaySummary(recording, variant, result));
  // Undecided: the replay ran out of data, it did not end the rollout.
  writeFileSync(
    out,
    renderReport(result.outcome === 'undecided' ? { ...data, outcome: 'running', outcomeMs: null, finalPercent: null } : data),
  );
  const shown = relative(process.cwd(), out);
  const reportPath = shown && !shown.startsWith('..') ? shown : out;
  if (options.json) {
    const first = recording.outcome === null ? null : firstDifference(original, result.decisions);
    io.stdout(
      `${JSON.stringify({
        execution: recording.execution,
        target: recording.target,
        judge: variant.spec.analysis.judge,
        settings: settingsOf(variant),
        outcome: result.outcome,
        reason: result.reason,
        ...(result.endOfData ? { endOfData: result.endOfData } : {}),
        decisions: result.decisions,
        original: recording.outcome === null ? null : { outcome: recording.outcome, reason: recording.reason, decisions: original },
        same: first === null && recording.outcome !== null,
        firstDifference: first,
        report: reportPath,
      })}\n`,
    );
  } else io.stdout(formatReplay(recording, variant, result, original, reportPath));
  return EXIT.ok;
}
