/**
 * Flagger-compatible analysis webhooks (`spec.analysis.webhooks`): who is called when, with which
 * payload, and what an answer decides. Pure: lambdas/adapters/webhooks/client.ts does the HTTP.
 *
 * The payload is Flagger's (`{ name, namespace, phase, metadata }`), so receivers written for
 * Flagger (the load tester, its gate endpoints, chat relays) work unchanged. It never carries task
 * tokens, execution input or anything secret: only the target, its namespace, the phase and the
 * hook's own metadata.
 */
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
    name: spec.metadata.name,
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

/**
 * A look while `confirm-rollout` hooks hold the start (phase `confirm`, no traffic moved yet): wait
 * (bake again) while any answers non-2xx; once all answer 2xx the first step starts (or the shadow
 * stage). The deadline still applies: a gate nobody opens ends in a rollback, which moves nothing.
 */
export function decideConfirmRollout(run: RunState, closed: WebhookResult[], now: Date): RunState {
  const base: RunState = { ...run, reason: undefined };
  if (now.getTime() > effectiveDeadline(run)) {
    return {
      ...base,
      next: 'rollback',
      reason: `deadline passed at ${new Date(effectiveDeadline(run)).toISOString()} while waiting for ${closed.map(describeWebhookResult).join('; ') || 'confirm-rollout webhooks'}`,
    };
  }
  if (closed.length) return { ...base, next: 'bake', reason: `waiting to start: ${closed.map(describeWebhookResult).join('; ')}` };
  return {
    ...base,
    phase: run.shadowLooks ? 'shadow' : 'live',
    stepIndex: 0,
    lookInStep: 0,
    next: 'advance',
    reason: 'confirm-rollout webhooks answered 2xx: starting',
  };
}

/**
 * `confirm-promotion`: a look that would promote bakes again instead while any hook answers
 * non-2xx; the analysis (metrics and `rollout` hooks) keeps running meanwhile, as in Flagger.
 */
export function holdPromotion(next: RunState, closed: WebhookResult[]): RunState {
  if (next.next !== 'promote' || !closed.length) return next;
  return { ...next, next: 'bake', reason: `waiting to promote: ${closed.map(describeWebhookResult).join('; ')}` };
}

/** One line for the start of a rollout: what the hooks will do. */
export function webhookPlanNote(spec: RolloutSpec): string | undefined {
  const hooks = spec.spec.analysis.webhooks ?? [];
  if (!hooks.length) return undefined;
  return `webhooks: ${hooks.map((hook) => `${hook.name} (${hook.type}, timeout ${formatDuration(webhookTimeoutMs(hook))})`).join(', ')}`;
}
