/**
 * Puts traffic on the safe side and closes the rollout: shared by Rollback (the state machine's
 * catch-all) and the safety net (executions stopped, failed or timed out, where no Catch runs).
 * Idempotent: a rollout already closed is left as it is.
 */
import { allOn, formatWeights, sameWeights } from '../core/rollout.ts';
import type { Outcome, Weights } from '../core/ports.ts';
import type { RolloutSpec } from '../core/spec.ts';
import type { HandlerDeps } from './deps.ts';
import { fireHooks, publishWithHooks } from '../adapters/webhooks.ts';

export interface Closure {
  outcome: Extract<Outcome, 'rolled-back' | 'aborted' | 'promotion-failed'>;
  reason: string;
}

const EVENT_FOR = {
  'rolled-back': 'Rollout Rolled Back',
  aborted: 'Rollout Aborted',
  'promotion-failed': 'Rollout Held',
} as const;

export async function restoreSafeSide(deps: HandlerDeps, spec: RolloutSpec, execution: string, closure: Closure): Promise<Closure & { weights?: Weights }> {
  const target = spec.metadata.name;
  const record = await deps.store.getRollout(execution);
  if (!record) {
    // Prepare never recorded this rollout: it moved no traffic, and the target may belong to another run.
    await deps.store.releaseLock(target, execution);
    return closure;
  }
  if (record.status === 'finished') {
    return { outcome: (record.outcome ?? closure.outcome) as Closure['outcome'], reason: record.reason ?? closure.reason, weights: record.lastWeights };
  }
  const scale = spec.spec.router.weightScale;
  const safe = allOn(record.safeSide, scale);
  const router = await deps.routerFor(spec);
  if (spec.spec.strategy.shadow) await router.setShadow(null);
  const current = await router.getWeights();
  // The safe side wins even over someone else's weights: half-shifted is never a resting state.
  if (!sameWeights(current, safe)) await router.setWeights(safe, current);
  await deps.store.updateRollout(execution, { lastWeights: safe });

  const workload = await deps.workloadFor(spec);
  if (workload && record.safeSide === 'primary' && spec.spec.workload?.scaleCanaryToZero) await workload.scale('canary', 0);

  const at = deps.now().toISOString();
  await deps.store.appendStep({ execution, at, kind: 'rollback', weights: safe, detail: `${closure.outcome}: ${closure.reason} (${formatWeights(safe, scale)})` });
  await deps.store.updateRollout(execution, { status: 'finished', outcome: closure.outcome, reason: closure.reason, finishedAt: at });
  const pending = await deps.store.getTaskToken(target);
  if (pending?.execution === execution) await deps.store.clearTaskToken(target, pending.token);
  await deps.store.releaseLock(target, execution);
  await publishWithHooks(deps, spec, { detailType: EVENT_FOR[closure.outcome], target, version: record.version, execution, weights: safe, outcome: closure.outcome, reason: closure.reason });
  // post-rollout hooks only inform: their failures are logged, never change how the rollout closed.
  await fireHooks(spec, 'post-rollout', 'Failed');
  return { ...closure, weights: safe };
}

/** The readable message inside a Step Functions error Cause (Lambda errors arrive as JSON). */
export function causeMessage(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // not JSON: the cause is the message
  }
  return cause;
}
