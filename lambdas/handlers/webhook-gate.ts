/**
 * One call of a Flagger-style webhook gate (the ASL's ConfirmRollout, PreRollout, ConfirmPromotion).
 * Such gates are polled and never call back, so the state machine loops: wait a look (WaitToStart,
 * or Bake and a whole look for confirm-promotion) → this call → a Choice on the facts it returns
 * (`run.gate`). Nothing here waits or decides where the flow goes; it calls the hooks once, records
 * what they answered as the look did before, and honours an abort.
 */
import { confirmPromotionAnswer, confirmRolloutAnswer } from '../core/webhooks.ts';
import type { GateAnswer } from '../core/webhooks.ts';
import type { Weights } from '../core/records.ts';
import { webhookGateInputSchema } from '../core/task.ts';
import type { RunState, WebhookGateInput } from '../core/task.ts';
import type { DepsSource, StoreDeps } from '../app/deps.ts';
import { assertNotAborted, requireRollout, spendTaskToken } from '../app/guards.ts';
import { rolloutHandler } from '../app/middleware.ts';
import { awsStoreDeps } from '../wiring/aws-store.ts';
import { callHooks, publishWithHooks, runPreRolloutHooks } from '../adapters/webhooks/client.ts';

export async function callWebhookGate(deps: StoreDeps, input: WebhookGateInput): Promise<RunState> {
  const { spec, execution, run } = input;
  const target = spec.metadata.name;
  await spendTaskToken(deps.store, target, execution);
  await assertNotAborted(deps.store, execution);
  const record = await requireRollout(deps.store, execution);
  switch (input.gate) {
    case 'pre-rollout':
      // Before any traffic moves: a non-2xx refuses (Sluice.Refused, nothing moved), an unreachable hook is transient (retried).
      await runPreRolloutHooks(spec);
      return run;
    case 'confirm-rollout': {
      // Flagger polls `rollback` hooks while a canary waits too: a 2xx stops it.
      const rollbackHook = (await callHooks(spec, 'rollback', 'Waiting')).find((r) => r.ok);
      const closed = rollbackHook ? [] : (await callHooks(spec, 'confirm-rollout', 'Waiting')).filter((r) => !r.ok);
      const answer = confirmRolloutAnswer(run, rollbackHook, closed, deps.now());
      const { open, rollbackHook: stop, deadlinePassed } = answer.gate;
      // A gate open at its first call is no wait: nothing to record (the start looks as it does without the gate).
      if (run.gate !== undefined || !open || stop || deadlinePassed) await recordCall(deps, input, record.lastWeights, answer);
      return answer.run;
    }
    case 'confirm-promotion': {
      const closed = (await callHooks(spec, 'confirm-promotion', 'WaitingPromotion')).filter((r) => !r.ok);
      const answer = confirmPromotionAnswer(run, closed, deps.now());
      if (!answer.gate.open || answer.gate.deadlinePassed) await recordCall(deps, input, record.lastWeights, answer);
      return answer.run;
    }
    default: {
      const never: never = input.gate;
      throw new Error(`unknown webhook gate ${String(never)}`);
    }
  }
}

/** The call recorded as the look that polled the gate recorded it: the analysis (confirm-rollout), the decision, the event. */
async function recordCall(deps: StoreDeps, input: WebhookGateInput, weights: Weights, answer: GateAnswer): Promise<void> {
  const { spec, execution, run } = input;
  const at = deps.now().toISOString();
  const verdict = answer.verdict;
  if (verdict) await deps.store.appendStep({ execution, at, kind: 'analysis', stepIndex: run.stepIndex, weights, verdict });
  await deps.store.appendStep({ execution, at, kind: 'decision', stepIndex: run.stepIndex, detail: answer.decision });
  if (!verdict) return;
  await publishWithHooks(deps, spec, {
    detailType: 'Analysis Completed',
    target: spec.metadata.name,
    version: input.version,
    execution,
    weights,
    verdict,
    ...(answer.run.reason ? { reason: answer.run.reason } : {}),
  });
}

export function createWebhookGateHandler(deps: DepsSource<StoreDeps>) {
  return rolloutHandler(webhookGateInputSchema, async (event) => callWebhookGate(await deps(), event));
}

/** The Lambda entry point. */
export const handler = createWebhookGateHandler(awsStoreDeps);
