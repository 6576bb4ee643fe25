/**
 * The rollout's pure decisions: the weight plan, the loop state, and what comes after a look.
 * The state machine branches on `run.next`; nothing else re-decides the flow.
 */
import { formatDuration, parseDuration } from './duration.ts';
import type { RolloutSpec } from './spec.ts';
import { bakeSeconds, HISTORY_EVENTS_PER_LOOK, plannedWeights } from './spec.ts';
import { HISTORY_EVENTS_FOR_LOOKS, HISTORY_EVENTS_PER_GATE_CALL, MAX_DEADLINE_SECONDS } from './limits.ts';
import { HISTORY_EVENTS_PER_PROMOTION_LOOK, promotionLooks } from './spec-checks.ts';
import type { Side, Weights } from './records.ts';
import type { Verdict } from './verdict.ts';
import type { RunState } from './task.ts';

/** Weights with `canary` on the canary and the rest on the primary. */
export function splitWeights(canary: number, scale: number): Weights {
  if (!Number.isInteger(canary) || canary < 0 || canary > scale) throw new Error(`canary weight ${canary} is outside 0..${scale}`);
  return { primary: scale - canary, canary };
}

/** All traffic on one side: the only states a rollout may be left in. */
export function allOn(side: Side, scale: number): Weights {
  return side === 'primary' ? { primary: scale, canary: 0 } : { primary: 0, canary: scale };
}

export function sameWeights(a: Weights, b: Weights): boolean {
  return a.primary === b.primary && a.canary === b.canary;
}

export function formatWeights(weights: Weights, scale: number): string {
  const pct = (w: number) => `${Number(((w * 100) / scale).toFixed(scale === 1000 ? 1 : 0))}%`;
  return `primary ${pct(weights.primary)} / canary ${pct(weights.canary)}`;
}

/** When a readiness loop that starts now gives up. */
export function readyByFrom(spec: RolloutSpec, now: Date): string {
  return new Date(now.getTime() + parseDuration(spec.spec.workload?.readyTimeout ?? '5m')).toISOString();
}

/** The loop state at the start of a rollout (Prepare's result). */
export function initialRun(spec: RolloutSpec, now: Date): RunState {
  const { strategy } = spec.spec;
  const bake = bakeSeconds(spec);
  const shadowLooks = strategy.shadow ? Math.max(1, Math.ceil(parseDuration(strategy.shadow.duration) / (bake * 1000))) : 0;
  const approvals = strategy.approvals;
  const timeoutSeconds = Math.max(1, Math.ceil(parseDuration(approvals?.timeout ?? '4h') / 1000));
  const hookTypes = new Set((spec.spec.analysis.webhooks ?? []).map((hook) => hook.type));
  const weights = plannedWeights(strategy);
  const promotionStep = strategy.stepWeightPromotion;
  return {
    // Progressive promotion: the PrimaryReady? Choice takes the PromotionStep loop only when this is present.
    ...(promotionStep > 0
      ? {
          promotionSteps: {
            step: promotionStep,
            bakeSeconds: Math.max(1, Math.ceil(parseDuration(strategy.interval) / 1000)),
            looks: 0,
            maxLooks: promotionLooks(Math.max(0, ...weights), promotionStep, strategy.threshold),
          },
        }
      : {}),
    // The webhook gates' Choices read these: the gates a spec has not cost no state.
    hooks: {
      confirmRollout: hookTypes.has('confirm-rollout'),
      preRollout: hookTypes.has('pre-rollout'),
      confirmPromotion: hookTypes.has('confirm-promotion'),
    },
    // Always present: the gates' Choice states read it (a missing path is a States.Runtime error).
    approval: {
      beforeStart: approvals?.beforeStart ?? false,
      beforePromotion: approvals?.beforePromotion ?? false,
      timeoutSeconds,
      onTimeout: approvals?.onTimeout ?? 'abort',
      // A gate never outlives the deadline (the before-start gate opens right after Prepare).
      waitSeconds: Math.max(1, Math.min(timeoutSeconds, Math.ceil(parseDuration(strategy.deadline) / 1000))),
    },
    phase: shadowLooks ? 'shadow' : 'live',
    shadowLooks,
    stepIndex: 0,
    weights,
    weightScale: spec.spec.router.weightScale,
    bakeSeconds: bake,
    // A/B and blue/green: one stage of `iterations` intervals.
    looksPerStep: Math.max(1, Math.round(parseDuration(strategy.interval) / (bake * 1000))) * (strategy.iterations ?? 1),
    lookInStep: 0,
    failedChecks: 0,
    next: 'bake',
    startedAt: now.toISOString(),
    deadlineAt: new Date(now.getTime() + parseDuration(strategy.deadline)).toISOString(),
  };
}

/** The canary weight the current step routes. */
export function currentCanaryWeight(run: RunState): number {
  const weight = run.weights[run.stepIndex];
  if (weight === undefined) throw new Error(`step ${run.stepIndex} is outside the plan of ${run.weights.length} steps`);
  return weight;
}

export interface LookContext {
  verdict: Verdict;
  noData: RolloutSpec['spec']['analysis']['noData'];
  threshold: number;
  now: Date;
  /** A person asked to promote now (SendTaskSuccess with `{command: 'promote'}`). */
  promoteNow?: boolean;
  /** The change windows at this look (windows.ts `windowState`); absent means open. Closed: the rollout holds. */
  window?: { open: boolean; reason: string };
}

/** The deadline in force: the planned one, pushed back by the time held outside the change windows. */
export function effectiveDeadline(run: RunState): number {
  return Date.parse(run.deadlineAt) + (run.heldSeconds ?? 0) * 1000;
}

/**
 * How long a rollout may hold: held looks still cost execution history, and Step Functions stops an
 * execution at 25,000 events; the events kept for the promotion loops and Rollback's retries
 * (limits.ts) stay free. The effective deadline never passes MAX_DEADLINE_SECONDS, which the state
 * machine's own TimeoutSeconds is built on.
 */
export function maxHeldSeconds(run: RunState): number {
  const deadlineSeconds = (Date.parse(run.deadlineAt) - Date.parse(run.startedAt)) / 1000;
  const deadlineLooks = Math.ceil(deadlineSeconds / run.bakeSeconds);
  const perLook = HISTORY_EVENTS_PER_LOOK + (run.hooks?.confirmPromotion ? HISTORY_EVENTS_PER_GATE_CALL : 0);
  // A progressive promotion's looks come after, and are kept free too.
  const promotionLooksAsLooks = Math.ceil(((run.promotionSteps?.maxLooks ?? 0) * HISTORY_EVENTS_PER_PROMOTION_LOOK) / perLook);
  const looks = Math.floor(HISTORY_EVENTS_FOR_LOOKS / perLook) - deadlineLooks - promotionLooksAsLooks;
  return Math.max(0, Math.min(looks * run.bakeSeconds, MAX_DEADLINE_SECONDS - deadlineSeconds));
}

/** How long the next approval gate waits: its timeout, cut at the (effective) deadline; at least 1 s. */
export function gateWaitSeconds(run: RunState, now: Date): number {
  const timeout = run.approval?.timeoutSeconds ?? 1;
  const left = Math.ceil((effectiveDeadline(run) - now.getTime()) / 1000);
  return Math.max(1, Math.min(timeout, left));
}

/** The reason a rollout ends when its deadline passes at an approval gate. */
export const DEADLINE_AT_GATE = 'deadline passed while waiting for approval';

/**
 * What follows an approval gate that timed out: the deadline passed (the gate waited until it at
 * most), or `onTimeout: hold` waits again (never past the deadline), or `abort` ends the rollout.
 */
export function afterGateTimeout(run: RunState, gate: 'before-start' | 'before-promotion', now: Date): RunState {
  const approval = run.approval;
  if (!approval) throw new Error(`the ${gate} gate timed out but the run has no approval settings`);
  const deadline = effectiveDeadline(run);
  // The gate's wait was rounded up to whole seconds: under a second left is the deadline.
  if (deadline - now.getTime() < 1000) {
    return {
      ...run,
      approval: { ...approval, expired: 'deadline' },
      next: 'rollback',
      reason: `${DEADLINE_AT_GATE} (the ${gate} gate; deadline ${new Date(deadline).toISOString()})`,
    };
  }
  if (approval.onTimeout === 'hold') return { ...run, approval: { ...approval, expired: 'wait', waitSeconds: gateWaitSeconds(run, now) } };
  return { ...run, approval: { ...approval, expired: 'abort' } };
}

/**
 * What follows a look, with Flagger's threshold semantics: a failed check (or no data, unless
 * `noData` says otherwise) adds one to a count kept for the whole run; `threshold` of them roll
 * back; the weight advances only after a step's looks all pass.
 */
/** What every judge's decision starts with: the deadline (paused while held) and the change windows. */
function lookPrelude(run: RunState, look: Pick<LookContext, 'now' | 'window'>): { base: RunState; held: boolean; stop?: RunState } {
  // Outside a change window the rollout holds: judged as usual, never advanced, its deadline paused.
  const held = look.window !== undefined && !look.window.open;
  const heldSeconds = (run.heldSeconds ?? 0) + (held ? run.bakeSeconds : 0);
  const withHeld: RunState = { ...run, reason: undefined, ...(heldSeconds ? { heldSeconds } : {}) };
  // The promotion gate (if any) follows some look: it waits no longer than the deadline left then.
  const base: RunState = withHeld.approval
    ? { ...withHeld, approval: { ...withHeld.approval, waitSeconds: gateWaitSeconds(withHeld, look.now) } }
    : withHeld;
  const deadline = effectiveDeadline(base);
  if (look.now.getTime() > deadline) {
    const paused = heldSeconds ? ` (extended by ${formatDuration(heldSeconds * 1000)} held outside the change windows)` : '';
    return {
      base,
      held,
      stop: {
        ...base,
        next: 'rollback',
        reason: `deadline passed at ${new Date(deadline).toISOString()}${paused} before the rollout finished`,
      },
    };
  }
  if (held && heldSeconds > maxHeldSeconds(run)) {
    return {
      base,
      held,
      stop: {
        ...base,
        next: 'rollback',
        reason: `held outside the change windows for ${formatDuration(heldSeconds * 1000)}, longer than Step Functions' execution history allows at one look every ${run.bakeSeconds}s: ${look.window?.reason ?? ''}`,
      },
    };
  }
  return { base, held };
}

/** A look that neither failed nor held: the step's schedule decides (next look, next step, or promotion). */
function onSchedule(run: RunState, base: RunState): RunState {
  const lookInStep = run.lookInStep + 1;
  if (run.phase === 'shadow') {
    // The shadow stage passed: live traffic starts at the first step (SetWeight removes the mirror).
    if (lookInStep < (run.shadowLooks ?? 1)) return { ...base, lookInStep, next: 'bake' };
    return { ...base, phase: 'live', stepIndex: 0, lookInStep: 0, next: 'advance' };
  }
  if (lookInStep < run.looksPerStep) return { ...base, lookInStep, next: 'bake' };
  if (run.stepIndex + 1 >= run.weights.length) return { ...base, lookInStep, next: 'promote' };
  return { ...base, stepIndex: run.stepIndex + 1, lookInStep: 0, next: 'advance' };
}

function holdLine(look: Pick<LookContext, 'window' | 'promoteNow'>): string {
  // promote-now does not skip a closed window (an override is a separate, audited command).
  const waiting = look.promoteNow ? '; promote now waits for the window' : '';
  return `holding at this weight outside the change windows: ${look.window?.reason ?? ''}${waiting}`;
}

export function decideAfterLook(run: RunState, look: LookContext): RunState {
  const { base, held, stop } = lookPrelude(run, look);
  if (stop) return stop;
  const { result } = look.verdict;
  const counted = result === 'fail' || (result === 'no-data' && look.noData === 'fail');
  if (counted) {
    const failedChecks = run.failedChecks + 1;
    if (failedChecks >= look.threshold) {
      const why = result === 'fail' ? look.verdict.summary : `no metric data (${look.verdict.summary})`;
      return { ...base, failedChecks, next: 'rollback', reason: `analysis failed ${failedChecks}/${look.threshold} checks: ${why}` };
    }
    return { ...base, failedChecks, next: 'bake', reason: `failed check ${failedChecks}/${look.threshold}: ${look.verdict.summary}` };
  }
  if (held) return { ...base, next: 'bake', reason: holdLine(look) };
  if (look.promoteNow) return { ...base, next: 'promote', reason: 'promoted on request' };
  if (result === 'no-data' && look.noData === 'hold') {
    return { ...base, next: 'bake', reason: `holding at this weight: no metric data (${look.verdict.summary})` };
  }
  return onSchedule(run, base);
}

export interface SequentialLookContext extends Omit<LookContext, 'threshold'> {
  /** The sequential judge's decision for this look. */
  decision: 'fail' | 'advance-early' | 'continue' | 'no-evidence';
  /** Consecutive looks without evidence, this one included. */
  emptyLooks: number;
}

/**
 * What follows a look of the sequential judge. It fails as soon as the evidence says so; ends a
 * step early only on its promotion evidence; otherwise keeps the schedule, so it is never slower
 * than the fixed intervals. No evidence is never a pass: `noData: fail` rolls back after a whole
 * interval without evidence (a single empty look is not a failure), `hold` stays at the weight,
 * `pass` keeps the schedule.
 */
export function decideSequentialLook(run: RunState, look: SequentialLookContext): RunState {
  const { base, held, stop } = lookPrelude(run, look);
  if (stop) return stop;
  if (look.decision === 'fail') return { ...base, next: 'rollback', reason: `sequential judge: ${look.verdict.summary}` };
  if (held) return { ...base, next: 'bake', reason: holdLine(look) };
  if (look.promoteNow) return { ...base, next: 'promote', reason: 'promoted on request' };
  if (look.decision === 'no-evidence') {
    const interval = run.phase === 'shadow' ? (run.shadowLooks ?? 1) : run.looksPerStep;
    if (look.noData === 'fail' && look.emptyLooks >= interval) {
      return { ...base, next: 'rollback', reason: `no evidence for a whole interval (${look.emptyLooks} looks): ${look.verdict.summary}` };
    }
    if (look.noData !== 'pass')
      return { ...base, next: 'bake', reason: `no evidence at this look (${look.emptyLooks} in a row): ${look.verdict.summary}` };
  }
  if (look.decision === 'advance-early' && run.phase !== 'shadow') {
    if (run.stepIndex + 1 >= run.weights.length)
      return { ...base, lookInStep: run.lookInStep + 1, next: 'promote', reason: `ended the last step early: ${look.verdict.summary}` };
    return {
      ...base,
      stepIndex: run.stepIndex + 1,
      lookInStep: 0,
      next: 'advance',
      reason: `ended the step early: ${look.verdict.summary}`,
    };
  }
  return onSchedule(run, base);
}
