/** Live progress: one line per event as the rollout runs (`run` and `demo`). */
import { formatWeights } from '../lambdas/core/rollout.ts';
import type { MetricCheck } from '../lambdas/core/verdict.ts';
import type { SluiceEvent, Weights } from '../lambdas/core/records.ts';

const BAR = 20;

export function weightBar(weights: Weights, scale: number): string {
  const filled = Math.round((weights.canary / scale) * BAR);
  const canaryMark = weights.canary > 0 ? Math.max(1, filled) : 0;
  return `[${'█'.repeat(canaryMark)}${'·'.repeat(BAR - canaryMark)}]`;
}

function formatCheck(check: MetricCheck): string {
  const value = check.value === null ? 'no data' : Number(check.value.toFixed(2)).toString();
  const bound = [check.min !== undefined ? `≥ ${check.min}` : '', check.max !== undefined ? `≤ ${check.max}` : '']
    .filter(Boolean)
    .join(' ');
  const mark = check.result === 'pass' ? '✓' : check.result === 'fail' ? '✗' : '?';
  return `${check.name} ${value} (${bound}) ${mark}`;
}

export function formatEvent(event: SluiceEvent, scale: number): string | undefined {
  const time = event.at.slice(11, 19);
  const weights = event.weights ? `${weightBar(event.weights, scale)} ${formatWeights(event.weights, scale)}` : '';
  switch (event.detailType) {
    case 'Rollout Started': {
      const notes = event.reason
        ? `\n${event.reason
            .split('\n')
            .map((line) => `           ${line}`)
            .join('\n')}`
        : '';
      return `${time} ▶ ${event.target} ${event.version}: rollout started (${event.execution})${notes}`;
    }
    case 'Weight Changed':
      return `${time} → ${weights}`;
    case 'Analysis Completed': {
      const evidence = event.verdict?.evidence;
      if (evidence?.judge === 'sequential') {
        const share = evidence.canaryShare === null ? 'no traffic' : `canary share ${(evidence.canaryShare * 100).toFixed(1)}%`;
        // The look's counts, named by what was counted: "errors 2/48 vs 0/912" (canary vs primary).
        const counts = (event.verdict?.checks ?? [])
          .flatMap((check) =>
            check.evidence
              ? [
                  `${check.evidence.counted ?? check.name} ${check.evidence.look.canary.events}/${check.evidence.look.canary.requests} vs ${check.evidence.look.primary.events}/${check.evidence.look.primary.requests}`,
                ]
              : [],
          )
          .join(', ');
        return `${time}   look ${weights ? `${weightBar(event.weights ?? { primary: scale, canary: 0 }, scale)} ` : ''}${share}${counts ? ` │ ${counts}` : ''} │ E ${evidence.eValue.toPrecision(3)} (fails at ${evidence.failAt}) │ promote E ${evidence.promotionEValue.toPrecision(3)} (at ${evidence.promoteAt}) → ${evidence.decision}${event.reason ? ` — ${event.reason}` : ''}`;
      }
      const checks = event.verdict?.checks.map(formatCheck).join(' · ') ?? '';
      const reason = event.reason ? ` — ${event.reason}` : '';
      return `${time}   look: ${checks} → ${event.verdict?.result ?? '?'}${reason}`;
    }
    case 'Rollout Promoted':
      return `${time} ✔ promoted: ${weights}`;
    case 'Rollout Rolled Back':
      return `${time} ↩ rolled back: ${event.reason ?? ''} ${weights}`;
    case 'Rollout Aborted':
      return `${time} ■ aborted: ${event.reason ?? ''} ${weights}`;
    case 'Rollout Held':
      return `${time} ‖ promotion failed, traffic held on the canary: ${event.reason ?? ''} ${weights}`;
    case 'Rollout Stuck':
      return `${time} ⚠ stuck: ${event.reason ?? ''} ${weights}`;
    case 'Rollout Recovered':
      return `${time} ✔ recovered: ${event.reason ?? ''} ${weights}`;
    default:
      return `${time} ${event.detailType}${event.reason ? `: ${event.reason}` : ''}`;
  }
}
