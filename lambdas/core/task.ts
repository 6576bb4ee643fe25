/**
 * The contract between the state machine and its Lambdas: what each Task receives and returns.
 * `run` is the small loop state kept in the execution (step evidence goes to the store and the
 * events, never here), so the state stays far below Step Functions' 256 KiB limit.
 */
import * as z from 'zod';
import { rolloutSpecSchema } from './spec.ts';

export const nextActionSchema = z.enum(['bake', 'advance', 'promote', 'rollback']);

export const runStateSchema = z.object({
  /** `shadow`: the canary gets a mirrored copy of the traffic (answers discarded) before any live weight (the ASL's Shadow state). */
  phase: z.enum(['shadow', 'live']).optional(),
  /** Looks the shadow stage lasts (0 without one). */
  shadowLooks: z.number().int().min(0).optional(),
  /** Approval gates (Choice states read these): absent = no gates. */
  approval: z
    .object({
      beforeStart: z.boolean(),
      beforePromotion: z.boolean(),
      timeoutSeconds: z.number().int().min(1),
      onTimeout: z.enum(['abort', 'hold']),
      /** How long the next gate waits (its TimeoutSecondsPath): the approval timeout, cut at the deadline. */
      waitSeconds: z.number().int().min(1).optional(),
      /** After a gate timed out (the ASL's *ApprovalTimedOut Choices read it): wait again, abort, or the deadline passed. */
      expired: z.enum(['wait', 'abort', 'deadline']).optional(),
    })
    .optional(),
  /** Which webhook gates the spec has: the ASL's StartGate/Decide Choices read these (absent = none). */
  hooks: z.object({ confirmRollout: z.boolean(), preRollout: z.boolean(), confirmPromotion: z.boolean() }).optional(),
  /**
   * What the last webhook gate call found (ConfirmRollout, ConfirmPromotion), as facts the gate's
   * Choice branches on: every gate hook answered 2xx; a `rollback` hook answered 2xx; the deadline
   * has passed. `run.reason` says which hooks answered what.
   */
  gate: z.object({ open: z.boolean(), rollbackHook: z.boolean(), deadlinePassed: z.boolean() }).optional(),
  /** Index into `weights` of the step the rollout is in. */
  stepIndex: z.number().int().min(0),
  /** Planned canary weights, in the router's weight scale ([0]: A/B or blue/green, no weighted share). */
  weights: z.array(z.number().int().min(0)).min(1),
  weightScale: z.number().int().positive(),
  /** Seconds of one bake (one look): the Bake task's TimeoutSecondsPath. */
  bakeSeconds: z.number().int().min(1),
  /** Looks that make one step (interval / lookInterval; 1 for the threshold judge). */
  looksPerStep: z.number().int().min(1),
  /** Looks done in the current step. */
  lookInStep: z.number().int().min(0),
  /** Failed checks so far (threshold judge: cumulative within the run). */
  failedChecks: z.number().int().min(0),
  next: nextActionSchema,
  reason: z.string().optional(),
  startedAt: z.iso.datetime(),
  deadlineAt: z.iso.datetime(),
  /** Seconds held outside the change windows: the deadline pauses for them (effective deadline = deadlineAt + heldSeconds). */
  heldSeconds: z.number().int().min(0).optional(),
  /**
   * The promotion's readiness loops (the ASL's CanaryReady?/PrimaryReady? Choices read `ready`):
   * which Deployment is awaited, until when (`readyTimeout` from the loop's start), and how many
   * checks it took. `copied`: the primary got the canary's template (from then on the canary is
   * the safe side).
   */
  promotion: z
    .object({
      side: z.enum(['canary', 'primary']),
      ready: z.boolean(),
      readyBy: z.iso.datetime(),
      checks: z.number().int().min(0),
      copied: z.boolean(),
    })
    .optional(),
  /**
   * Progressive promotion (spec.strategy.stepWeightPromotion > 0; absent: one switch). The ASL's
   * PrimaryReady? takes the PromotionStep loop when present; PromotionBake waits `bakeSeconds`
   * (one interval). `canaryWeight`: the split the loop has routed (absent before its first step).
   * `maxLooks`: the most looks it can take (validation budgets them in time and history).
   */
  promotionSteps: z
    .object({
      step: z.number().int().positive(),
      bakeSeconds: z.number().int().min(1),
      canaryWeight: z.number().int().min(0).optional(),
      looks: z.number().int().min(0),
      maxLooks: z.number().int().min(0),
    })
    .optional(),
});
export type RunState = z.infer<typeof runStateSchema>;

/** What a person or an alarm sent with SendTaskSuccess to end a bake early. */
export const wakeSchema = z
  .object({ command: z.enum(['promote', 'resume']).optional(), Error: z.string().optional(), Cause: z.string().optional() })
  .passthrough();

/** The execution input: the full resolved spec plus the version and who asked. */
export const executionInputSchema = z.object({
  spec: rolloutSpecSchema,
  version: z.string().min(1).max(128),
  requestedBy: z.string().min(1).max(256),
});
export type ExecutionInput = z.infer<typeof executionInputSchema>;

/** Prepare's input: the execution input plus the execution's name. */
export const prepareInputSchema = executionInputSchema.extend({ execution: z.string().min(1).max(80) });
export type PrepareInput = z.infer<typeof prepareInputSchema>;

/** SetWeight, Analyze, Promote, Finish: the execution input, the name and the loop state. */
export const stepInputSchema = prepareInputSchema.extend({ run: runStateSchema, wake: wakeSchema.optional() });
export type StepInput = z.infer<typeof stepInputSchema>;

/** The readiness check's input (CheckCanary, CheckPrimary): a step input and which Deployment to await. */
export const readyCheckInputSchema = stepInputSchema.extend({ side: z.enum(['canary', 'primary']) });
export type ReadyCheckInput = z.infer<typeof readyCheckInputSchema>;

/** A webhook gate's call (ConfirmRollout, PreRollout, ConfirmPromotion): a step input and which hooks to call. */
export const webhookGateInputSchema = stepInputSchema.extend({ gate: z.enum(['confirm-rollout', 'pre-rollout', 'confirm-promotion']) });
export type WebhookGateInput = z.infer<typeof webhookGateInputSchema>;

/** An approval gate that timed out (StartApprovalTimedOut, PromotionApprovalTimedOut). */
export const gateTimeoutInputSchema = stepInputSchema.extend({ gate: z.enum(['before-start', 'before-promotion']) });
export type GateTimeoutInput = z.infer<typeof gateTimeoutInputSchema>;

/** Bake's payload (lambda:invoke.waitForTaskToken). */
export const bakeInputSchema = z.object({
  taskToken: z.string().min(1),
  execution: z.string().min(1),
  target: z.string().min(1),
  version: z.string().min(1),
  bakeSeconds: z.number().int().min(1),
  /** `bake` (a look interval) or an approval gate (`before-start`, `before-promotion`). */
  gate: z.string().default('bake'),
});
export type BakeInput = z.infer<typeof bakeInputSchema>;

/** The error a Catch put in `$.error`. */
export const caughtErrorSchema = z.object({ Error: z.string(), Cause: z.string().optional() });

/** Rollback gets the whole state: it may be reached before `run` exists or without an error. */
export const rollbackInputSchema = z.object({
  execution: z.string().min(1),
  state: executionInputSchema.extend({ run: runStateSchema.optional(), error: caughtErrorSchema.optional() }),
});
export type RollbackInput = z.infer<typeof rollbackInputSchema>;

/** The outcome read from the objects after the restore (RollbackOutcome branches on it). */
export const rollbackResultSchema = z.object({
  outcome: z.enum(['promoted', 'refused', 'rolled-back', 'aborted', 'promotion-failed', 'failed']),
  reason: z.string(),
});
export type RollbackResult = z.infer<typeof rollbackResultSchema>;
