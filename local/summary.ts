/**
 * The end of a rollout as a person and a script read it: the outcome, why, where traffic is, each
 * step's verdict with its numbers, and what it cost in state transitions. Built from what the
 * execution and the store say, the same way for the local engine and AWS.
 */
import type { DescribeExecutionCommandOutput } from '@aws-sdk/client-sfn';
import { formatWeights } from '../lambdas/core/rollout.ts';
import { lookWord } from '../lambdas/core/look-word.ts';
import type { MetricCheck, VerdictEvidence } from '../lambdas/core/verdict.ts';
import type { Outcome, Weights } from '../lambdas/core/records.ts';
import type { RolloutLog, RolloutRecords } from '../lambdas/core/ports.ts';
import { causeMessage } from '../lambdas/app/restore.ts';
import { EXIT } from './exit-codes.ts';

export interface StepSummary {
  stepIndex: number;
  at: string;
  weights?: Weights;
  /** pass, fail or no-data (threshold judge); continue, advance, fail or no-data (sequential judge: what the look decided). */
  verdict: string;
  summary: string;
  evidence: MetricCheck[];
  /** The sequential judge's decision, e-values with their bars, and the look's raw counts (absent for the threshold judge). */
  judged?: VerdictEvidence;
}

export interface RolloutSummary {
  execution: string;
  target: string;
  version: string;
  outcome: Outcome;
  reason: string;
  exitCode: number;
  /** Where traffic is now: read back by the restore when the rollout stopped, else what Sluice last wrote. */
  weights?: Weights;
  weightScale: number;
  steps: StepSummary[];
  requests?: { total: number; canary: number; canaryErrors: number };
  durationMs: number;
  /** When rolled back: from the first request the canary served to canary weight 0. */
  detectionMs?: number;
  transitions: number;
  /** The spec the rollout ran, as its record keeps it: `sluice replay` re-decides the looks with its settings. */
  spec?: unknown;
}

/** What stands in for a secret value in a summary (still a valid value where the spec asks for a string or a URL). */
const REDACTED = '(redacted)';
const REDACTED_URL = 'https://redacted.invalid/';

/**
 * The spec as a summary prints it: inline secret values (bearer tokens, passwords, header values,
 * webhook URLs, which may be the secret themselves) replaced, references (`secretRef`) kept. A
 * summary goes to stdout and CI logs; replay needs the settings, never the secrets.
 */
export function redactSpec(value: unknown, key = '', inWebhooks = false): unknown {
  if (Array.isArray(value)) return value.map((item) => redactSpec(item, '', key === 'webhooks'));
  if (value === null || typeof value !== 'object') {
    if (typeof value !== 'string') return value;
    if (key === 'bearerToken' || key === 'password') return REDACTED;
    if (key === 'url' && inWebhooks) return REDACTED_URL;
    return value;
  }
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => {
      if (k === 'headers' && v && typeof v === 'object' && !Array.isArray(v))
        return [k, Object.fromEntries(Object.entries(v).map(([name, h]) => [name, typeof h === 'string' ? REDACTED : h]))];
      return [k, redactSpec(v, k, inWebhooks)];
    }),
  );
}

const EXIT_FOR: Record<Outcome, number> = {
  promoted: EXIT.ok,
  refused: EXIT.invalid,
  'rolled-back': EXIT.rolledBack,
  aborted: EXIT.aborted,
  'promotion-failed': EXIT.promotionFailed,
  failed: EXIT.error,
};

export function exitCodeFor(outcome: Outcome): number {
  return EXIT_FOR[outcome];
}

/** The outcome a finished execution stands for, from its status and its Fail state's error. */
export function outcomeOf(execution: Pick<DescribeExecutionCommandOutput, 'status' | 'error'>): Outcome {
  if (execution.status === 'SUCCEEDED') return 'promoted';
  if (execution.status === 'ABORTED') return 'aborted';
  switch (execution.error) {
    case 'Sluice.RolledBack':
      return 'rolled-back';
    case 'Sluice.Aborted':
      return 'aborted';
    case 'Sluice.PromotionFailed':
      return 'promotion-failed';
    case 'Sluice.Refused':
      return 'refused';
    default:
      return 'failed';
  }
}

export async function summarize(args: {
  store: RolloutRecords & RolloutLog;
  execution: DescribeExecutionCommandOutput;
  target: string;
  version: string;
  weightScale: number;
  transitions: number;
}): Promise<RolloutSummary> {
  const { store, execution } = args;
  const name = execution.name ?? '';
  const record = await store.getRollout(name);
  // Outcomes are read, not assumed: the record closed by restore.ts says what the objects
  // showed; a record still open after the execution ended means traffic may not be on a safe side.
  const stranded = record?.status === 'running' && execution.status !== 'RUNNING';
  const outcome: Outcome = stranded ? 'failed' : record?.status === 'finished' && record.outcome ? record.outcome : outcomeOf(execution);
  const history = await store.listSteps(name);
  // Where traffic is: what the restore read back (its closing step), else what Sluice last wrote.
  const readBack = history.filter((step) => step.kind === 'rollback' && step.weights).at(-1)?.weights;
  const steps: StepSummary[] = history
    .filter((step) => step.kind === 'analysis' && step.verdict)
    .map((step) => ({
      stepIndex: step.stepIndex ?? 0,
      at: step.at,
      ...(step.weights ? { weights: step.weights } : {}),
      verdict: step.verdict ? lookWord(step.verdict) : 'no-data',
      summary: step.verdict?.summary ?? '',
      evidence: step.verdict?.checks ?? [],
      ...(step.verdict?.evidence ? { judged: step.verdict.evidence } : {}),
    }));
  const started = execution.startDate?.getTime() ?? Date.now();
  const stopped = execution.stopDate?.getTime() ?? Date.now();
  // On AWS a Lambda error's Cause is JSON ({errorType, errorMessage, trace}); locally it is the message.
  const strandedReason =
    stranded && record
      ? `the execution ended ${execution.status ?? ''}${execution.cause ? ` (${causeMessage(execution.cause)})` : ''} but traffic was not restored: ${formatWeights(record.lastWeights, args.weightScale)} as Sluice last wrote it; run \`sluice recover ${record.target}\``
      : undefined;
  const stated =
    strandedReason ??
    record?.reason ??
    (execution.cause ? causeMessage(execution.cause) : undefined) ??
    (outcome === 'failed' ? (execution.error ?? 'failed') : outcome);
  // noData: pass counts a look without data as passed: a promotion must say how many looks had no evidence.
  const empty = steps.filter((s) => s.verdict === 'no-data').length;
  const reason =
    outcome === 'promoted' && empty > 0
      ? `${stated}; promoted without evidence at ${empty} look${empty === 1 ? '' : 's'} (noData: pass)`
      : stated;
  return {
    execution: name,
    target: args.target,
    version: args.version,
    outcome,
    reason,
    exitCode: exitCodeFor(outcome),
    ...(record ? { weights: readBack ?? record.lastWeights } : {}),
    weightScale: args.weightScale,
    steps,
    durationMs: stopped - started,
    transitions: args.transitions,
    ...(record?.spec !== undefined ? { spec: redactSpec(record.spec) } : {}),
  };
}

/** "3 passed" for the threshold judge; "6 continue, 1 fail" when looks decided other things. */
function lookTally(steps: StepSummary[]): string {
  const words = [...new Set(steps.map((s) => s.verdict))];
  if (words.every((w) => w === 'pass' || w === 'fail' || w === 'no-data'))
    return `${steps.filter((s) => s.verdict === 'pass').length} passed`;
  return words.map((word) => `${steps.filter((s) => s.verdict === word).length} ${word}`).join(', ');
}

export function formatSummary(summary: RolloutSummary): string {
  const where = summary.weights ? formatWeights(summary.weights, summary.weightScale) : 'unchanged (no traffic was moved)';
  const lines = [
    '',
    `${summary.outcome.toUpperCase()}: ${summary.target} ${summary.version} (${summary.execution})`,
    `  why:         ${summary.reason}`,
    `  traffic:     ${where}`,
    `  looks:       ${summary.steps.length} (${lookTally(summary.steps)})`,
    `  took:        ${(summary.durationMs / 1000).toFixed(1)} s, ${summary.transitions} state transitions ($${((summary.transitions * 0.025) / 1000).toFixed(5)} on Step Functions Standard)`,
  ];
  if (summary.requests)
    lines.push(
      `  requests:    ${summary.requests.total} total, ${summary.requests.canary} to the canary, ${summary.requests.canaryErrors} canary errors`,
    );
  if (summary.detectionMs !== undefined)
    lines.push(`  detection:   ${(summary.detectionMs / 1000).toFixed(1)} s from the canary's first request to weight 0`);
  return `${lines.join('\n')}\n`;
}
