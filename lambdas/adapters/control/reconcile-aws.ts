/**
 * The reconciler's AWS seams: whether an execution runs (Step Functions DescribeExecution) and the
 * EventBridge schedule that runs the reconciler only while a rollout is open (EnableRule /
 * DisableRule on one rule the stack creates disabled).
 */
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { DisableRuleCommand, EnableRuleCommand } from '@aws-sdk/client-eventbridge';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { ExecutionLiveness, LivenessAnswer, ReconcileSchedule } from '../../core/ports.ts';

/** An execution's ARN from its state machine's ARN and its name (the ARN formats Step Functions documents). */
export function executionArnOf(stateMachineArn: string, execution: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${execution}`;
}

export class SfnLiveness implements ExecutionLiveness {
  readonly #sfn: SFNClient;
  readonly #stateMachineArns: string[];

  /**
   * `more`: other state machines whose executions may hold a lock, asked in turn when the rollout
   * state machine has no such execution (the fleet state machine holds a fleet's target lock).
   */
  constructor(sfn: SFNClient, stateMachineArn: string, more: ReadonlyArray<string> = []) {
    this.#sfn = sfn;
    this.#stateMachineArns = [stateMachineArn, ...more];
  }

  /**
   * Every state machine is asked, and one that runs the name wins: a name that ended in the
   * rollout state machine (an old rollout's) may still be running in the fleet's, and a lock
   * freed under a running execution would let a second release in. Unknown anywhere stays unknown;
   * otherwise the first ended execution answers (its input serves a restore).
   */
  async of(execution: string): Promise<LivenessAnswer> {
    let ended: LivenessAnswer | undefined;
    let unknown: LivenessAnswer | undefined;
    for (const stateMachineArn of this.#stateMachineArns) {
      const answer = await this.#ask(stateMachineArn, execution);
      if (answer.state === 'running') return answer;
      if (answer.state === 'unknown') unknown ??= answer;
      else if (answer.detail !== DOES_NOT_EXIST) ended ??= answer;
    }
    return unknown ?? ended ?? { state: 'not-running', detail: DOES_NOT_EXIST };
  }

  async #ask(stateMachineArn: string, execution: string): Promise<LivenessAnswer> {
    try {
      const described = await this.#sfn.send(new DescribeExecutionCommand({ executionArn: executionArnOf(stateMachineArn, execution) }));
      const input = parseInput(described.input);
      if (described.status === 'RUNNING') return { state: 'running', detail: 'RUNNING' };
      return {
        state: 'not-running',
        detail: `ended ${described.status ?? 'in an unknown status'}`,
        ...(described.status === 'ABORTED' ? { stopped: true } : {}),
        ...(input === undefined ? {} : { input }),
      };
    } catch (error) {
      // Gone past the 90-day retention, or never started (a Prepare that never ran): it does not run.
      if ((error as { name?: string }).name === 'ExecutionDoesNotExist') return { state: 'not-running', detail: DOES_NOT_EXIST };
      return { state: 'unknown', detail: `DescribeExecution failed: ${error instanceof Error ? error.message : String(error)}` };
    }
  }
}

const DOES_NOT_EXIST = 'does not exist';

function parseInput(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The reconciler's EventBridge rule (rate 1 minute), enabled while any rollout is open. */
export class EventBridgeReconcileSchedule implements ReconcileSchedule {
  readonly #events: EventBridgeClient;
  readonly #ruleName: string;

  constructor(events: EventBridgeClient, ruleName: string) {
    this.#events = events;
    this.#ruleName = ruleName;
  }

  async setEnabled(enabled: boolean): Promise<void> {
    // Both calls are idempotent: enabling an enabled rule changes nothing.
    await this.#events.send(enabled ? new EnableRuleCommand({ Name: this.#ruleName }) : new DisableRuleCommand({ Name: this.#ruleName }));
  }
}
