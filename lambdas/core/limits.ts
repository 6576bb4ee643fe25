/**
 * The time and history bounds of one rollout execution, in one place: the state machine's
 * top-level `TimeoutSeconds` is derived from them (test/asl.test.ts holds the file to it), and
 * `sluice validate` refuses a spec that could outlive it (spec.ts `lifetimeProblems`).
 *
 * Why a backstop at all: every wait in the flow is bounded on its own (looks by the deadline,
 * gates by the deadline, the readiness loops by `readyTimeout`, Rollback by the recovery window),
 * but a bug in one bound must still end the execution, so the safety net's TIMED_OUT branch runs.
 * Pure: no I/O.
 */

/** Step Functions Standard keeps at most 25,000 events per execution. */
export const MAX_HISTORY_EVENTS = 25_000;

/** The longest effective deadline: `strategy.deadline` plus time held outside the change windows. */
export const MAX_DEADLINE_SECONDS = 24 * 3600;

/** The readiness loops' Wait (statemachine/rollout.asl.json WaitForCanary/WaitForPrimary: `Seconds`). */
export const READY_CHECK_SECONDS = 10;

/** The longest `spec.workload.readyTimeout`; each of the two readiness loops is bounded by it. */
export const MAX_READY_TIMEOUT_SECONDS = 3600;

/**
 * How long Rollback and the safety net keep retrying a live split (owned by the recovery work; the
 * bound here is what the state machine's backstop and the history budget assume).
 */
export const RECOVERY_WINDOW_DEFAULT_SECONDS = 2 * 3600;
export const RECOVERY_WINDOW_MAX_SECONDS = 6 * 3600;

/** The longest pause between two Rollback retries (its Retry's MaxDelaySeconds). */
export const ROLLBACK_RETRY_CAP_SECONDS = 60;

/** Slack for the Tasks themselves: Prepare, SetWeight, Switch, Finish, their timeouts and retries. */
export const TASK_SLACK_SECONDS = 3600;

/**
 * The state machine's top-level TimeoutSeconds: longer than the longest rollout `sluice validate`
 * accepts (effective deadline, which also bounds the approval gates, plus both readiness loops),
 * plus the longest recovery window, plus the Tasks' own slack.
 */
export const EXECUTION_TIMEOUT_SECONDS =
  MAX_DEADLINE_SECONDS + 2 * MAX_READY_TIMEOUT_SECONDS + RECOVERY_WINDOW_MAX_SECONDS + TASK_SLACK_SECONDS;

/** History events of one readiness check: Wait (entered, exited), Task (entered, scheduled, started, succeeded, exited), Choice (entered, exited). */
export const HISTORY_EVENTS_PER_READY_CHECK = 9;

/** History events of one call of a webhook gate: its Task (entered, scheduled, started, succeeded, exited) and its Choice (entered, exited). */
export const HISTORY_EVENTS_PER_GATE_CALL = 7;

/** History events of one Rollback attempt that failed and is retried (scheduled, started, failed). */
export const HISTORY_EVENTS_PER_ROLLBACK_RETRY = 3;

/**
 * Events kept free of looks, for what follows them: both readiness loops at their longest, and
 * Rollback retrying through the whole recovery window (with FULL jitter a pause averages half the
 * cap, hence twice the attempts), plus 200 for the fixed states around them. The deadline check
 * (spec.ts) and the hold limit outside change windows (rollout.ts `maxHeldSeconds`) leave these free.
 */
export const HISTORY_EVENTS_FOR_ROLLBACK =
  Math.ceil((2 * RECOVERY_WINDOW_MAX_SECONDS) / ROLLBACK_RETRY_CAP_SECONDS) * HISTORY_EVENTS_PER_ROLLBACK_RETRY;
export const HISTORY_EVENTS_RESERVED =
  2 * Math.ceil(MAX_READY_TIMEOUT_SECONDS / READY_CHECK_SECONDS) * HISTORY_EVENTS_PER_READY_CHECK + HISTORY_EVENTS_FOR_ROLLBACK + 200;

/** Events left for looks (Bake + Analyze + Decide, and held looks), with 10% kept spare. */
export const HISTORY_EVENTS_FOR_LOOKS = Math.floor(MAX_HISTORY_EVENTS * 0.9) - HISTORY_EVENTS_RESERVED;
