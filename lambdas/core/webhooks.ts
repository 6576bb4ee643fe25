/**
 * Flagger-compatible analysis webhooks (`spec.analysis.webhooks`): who is called when, with which
 * payload, and what an answer decides. Pure: lambdas/adapters/webhooks/client.ts does the HTTP.
 *
 * The payload is Flagger's (`{ name, namespace, phase, metadata }`), so receivers written for
 * Flagger (the load tester, its gate endpoints, chat relays) work unchanged. It never carries task
 * tokens, execution input or anything secret: only the target, its namespace, the phase and the
 * hook's own metadata.
 */
import { targetOf } from './fleet-member.ts';
import { formatDuration, parseDuration } from './duration.ts';
import { effectiveDeadline } from './rollout.ts';
import type { EventType, SluiceEvent } from './records.ts';
import type { Verdict } from './verdict.ts';
import type { RolloutSpec } from './spec.ts';
import type { RunState } from './task.ts';

export type Webhook = NonNullable<RolloutSpec['spec']['analysis']['webhooks']>[number];
export type WebhookType = Webhook['type'];

/** Flagger's canary phases, as its receivers know them. */
export type WebhookPhase = 'Waiting' | 'Progressing' | 'WaitingPromotion' | 'Promoting' | 'Succeeded' | 'Failed';

export interface WebhookPayload {
  /** The target (Flagger: the Canary's name). */
  name: string;
  /** The workload's namespace, else the router's. */
  namespace: string;
  phase: WebhookPhase;
  metadata: Record<string, string>;
}

/** One hook's answer: `ok` is a 2xx; `status` absent means it could not be reached (refused, timed out). */
export interface WebhookResult {
  name: string;
  type: WebhookType;
  ok: boolean;
  status?: number;
  error?: string;
}

export function hooksOf(spec: RolloutSpec, type: WebhookType): Webhook[] {
  return (spec.spec.analysis.webhooks ?? []).filter((hook) => hook.type === type);
}

export function webhookTimeoutMs(hook: Webhook): number {
  return parseDuration(hook.timeout);
}

export function webhookPayload(spec: RolloutSpec, hook: Webhook, phase: WebhookPhase): WebhookPayload {
  return {
    name: targetOf(spec.metadata.name),
    namespace: spec.spec.workload?.namespace ?? spec.spec.router.namespace,
    phase,
    metadata: { ...hook.metadata },
  };
}

const EVENT_PHASE: Record<EventType, WebhookPhase> = {
  'Rollout Started': 'Progressing',
  'Weight Changed': 'Progressing',
  'Analysis Completed': 'Progressing',
  'Approval Requested': 'Waiting',
  'Approval Given': 'Progressing',
  'Rollout Held': 'Failed',
  'Rollout Promoted': 'Succeeded',
  'Rollout Rolled Back': 'Failed',
  'Rollout Aborted': 'Failed',
  'Command Audited': 'Progressing',
  'Rollout Stuck': 'Failed',
  'Rollout Recovered': 'Failed',
};

/** An `event` hook's payload: Flagger's event fields (`eventMessage`, `eventType`, `timestamp` in ms) over the hook's metadata. */
export function eventHookPayload(spec: RolloutSpec, hook: Webhook, event: Omit<SluiceEvent, 'sequence' | 'at'>, now: Date): WebhookPayload {
  const phase = EVENT_PHASE[event.detailType];
  const message = `${event.detailType}: ${event.target} ${event.version}${event.reason ? `: ${event.reason}` : ''}`;
  return {
    ...webhookPayload(spec, hook, phase),
    metadata: {
      ...hook.metadata,
      eventMessage: message,
      eventType: phase === 'Failed' ? 'Warning' : 'Normal',
      timestamp: String(now.getTime()),
    },
  };
}

/** "webhook load (rollout) answered 500" / "webhook load (rollout) unreachable: …". */
export function describeWebhookResult(result: WebhookResult): string {
  const head = `webhook ${result.name} (${result.type})`;
  if (result.status !== undefined) return `${head} answered ${result.status}`;
  return `${head} unreachable: ${result.error ?? 'no answer'}`;
}

/** The look's verdict when `rollout` hooks failed: a failed check, the metrics not read (as Flagger does). */
export function webhookFailureVerdict(failures: WebhookResult[]): Verdict {
  return { result: 'fail', checks: [], summary: failures.map(describeWebhookResult).join('; ') };
}

/** A `rollback` hook answered 2xx: the rollout stops and rolls back. */
export function rollbackByWebhook(run: RunState, hook: WebhookResult): RunState {
  return { ...run, next: 'rollback', reason: `rollback webhook ${hook.name} answered ${hook.status ?? 'ok'}` };
}

/** What one call of a webhook gate found: the run with the facts its Choice branches on, and what to record. */
export interface GateAnswer {
  /** The run with `gate` set (and `reason` when the gate holds or stops). */
  run: RunState;
  gate: NonNullable<RunState['gate']>;
  /** The decision step's detail, as a look records it ("bake: waiting to start: …"). */
  decision: string;
  /** confirm-rollout only: the wait recorded as a look (no traffic, no metrics read). */
  verdict?: Verdict;
}

function deadlineLine(run: RunState, closed: WebhookResult[], type: WebhookType): string {
  const waitingFor = closed.map(describeWebhookResult).join('; ') || `${type} webhooks`;
  return `deadline passed at ${new Date(effectiveDeadline(run)).toISOString()} while waiting for ${waitingFor}`;
}

/**
 * A call of the `confirm-rollout` gate (the ASL's ConfirmRollout, before any traffic moves), with
 * the `rollback` hooks Flagger also polls while a canary waits. Facts only: the gate is open once
 * every hook answers 2xx; a `rollback` hook answering 2xx and a passed deadline are facts too. The
 * RolloutConfirmed Choice decides (rollback hook, then deadline, then open, else wait a look).
 */
export function confirmRolloutAnswer(
  run: RunState,
  rollbackHook: WebhookResult | undefined,
  closed: WebhookResult[],
  now: Date,
): GateAnswer {
  const deadlinePassed = now.getTime() > effectiveDeadline(run);
  // With a rollback hook's 2xx the confirm-rollout hooks are not asked: the gate is not open.
  const gate = { open: !rollbackHook && closed.length === 0, rollbackHook: rollbackHook !== undefined, deadlinePassed };
  if (rollbackHook) {
    const reason = `rollback webhook ${rollbackHook.name} answered ${rollbackHook.status ?? 'ok'}`;
    return {
      run: { ...run, gate, reason },
      gate,
      decision: `rollback: ${reason}`,
      verdict: { result: 'fail', checks: [], summary: reason },
    };
  }
  const verdict: Verdict = {
    result: 'no-data',
    checks: [],
    summary: closed.length ? 'waiting for confirm-rollout webhooks' : 'confirm-rollout webhooks answered 2xx',
  };
  const reason = deadlinePassed
    ? deadlineLine(run, closed, 'confirm-rollout')
    : closed.length
      ? `waiting to start: ${closed.map(describeWebhookResult).join('; ')}`
      : 'confirm-rollout webhooks answered 2xx: starting';
  const decision = `${deadlinePassed ? 'rollback' : closed.length ? 'bake' : 'advance'}: ${reason}`;
  return { run: { ...run, gate, reason }, gate, decision, verdict };
}

/**
 * A call of the `confirm-promotion` gate (the ASL's ConfirmPromotion, after a look that would
 * promote). Closed, the PromotionConfirmed Choice goes back to Bake: the analysis (metrics and
 * `rollout` hooks) keeps running at the top weight and the next look asks again, as in Flagger.
 * Open, the run goes on unchanged (its reason, e.g. "promoted on request", is the promotion's).
 */
export function confirmPromotionAnswer(run: RunState, closed: WebhookResult[], now: Date): GateAnswer {
  const deadlinePassed = now.getTime() > effectiveDeadline(run);
  const gate = { open: closed.length === 0, rollbackHook: false, deadlinePassed };
  if (deadlinePassed) {
    const reason = deadlineLine(run, closed, 'confirm-promotion');
    return { run: { ...run, gate, reason }, gate, decision: `rollback: ${reason}` };
  }
  if (!closed.length) return { run: { ...run, gate }, gate, decision: 'promote: confirm-promotion webhooks answered 2xx' };
  const reason = `waiting to promote: ${closed.map(describeWebhookResult).join('; ')}`;
  return { run: { ...run, gate, reason }, gate, decision: `bake: ${reason}` };
}

/** One line for the start of a rollout: what the hooks will do. */
export function webhookPlanNote(spec: RolloutSpec): string | undefined {
  const hooks = spec.spec.analysis.webhooks ?? [];
  if (!hooks.length) return undefined;
  return `webhooks: ${hooks.map((hook) => `${hook.name} (${hook.type}, timeout ${formatDuration(webhookTimeoutMs(hook))})`).join(', ')}`;
}
